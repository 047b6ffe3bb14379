"""Models: the three families' layer tables and parameter counts (width sliders update instantly),
and each saved run's model card."""
import streamlit as st

from fer import CLASS_NAMES
from fer.architectures import ARCHITECTURES, DEFAULT_DEPTH, MOBILENET_DESIGNS
from fer.documents import model_card
from fer.errors import ModelConfigError
from ui import nav
from ui.cache import model_summary
from ui.store import list_runs
from ui.widgets import set_widget, widget_defaults

st.title("Models")
st.markdown(
    "Every model takes a raw 48×48 grayscale face and returns 7 class probabilities. Move the sliders: "
    "the layer table and the parameter counts update at once (no training); **Retrain at this width** "
    "sends the configuration to the Train page."
)

widget_defaults({
    **{f"models_{a}_width": spec.slider_width[2] for a, spec in ARCHITECTURES.items()},
    **{f"models_{a}_depth": spec.depth for a, spec in ARCHITECTURES.items()},
    **{f"models_{a}_bn": True for a in ARCHITECTURES},
    "models_pair_cnn_width": 0.5, "models_pair_dnn_depth": DEFAULT_DEPTH["dnn"], "models_mobilenet_design": "course",
})


def send_to_train(**request):
    st.session_state["train_request"] = request
    st.switch_page(nav.TRAIN)


def counts_row(counts):
    a, b, c = st.columns(3)
    a.metric("Total parameters", f"{counts['total']:,}")
    b.metric("Trainable", f"{counts['trainable']:,}")
    c.metric("Non-trainable", f"{counts['non_trainable']:,}")


def summary_or_error(arch, width, depth, batchnorm, match_params=None, design="course"):
    try:
        return model_summary(arch, float(width), int(depth), bool(batchnorm), match_params, design)
    except ModelConfigError as exc:
        st.error(f"Cannot build this model: {exc}")
        return None


def arch_tab(arch):
    spec = ARCHITECTURES[arch]
    (dmin, dmax), (wmin, wmax, _) = spec.depth_range, spec.slider_width
    st.caption(spec.description)
    c1, c2, c3 = st.columns([3, 2, 1])
    width = c1.slider("Width multiplier", wmin, wmax, step=0.05, key=f"models_{arch}_width",
                      help="Scales the number of channels (units for the DNN).")
    depth = c2.slider("Depth", dmin, dmax, key=f"models_{arch}_depth",
                      help=spec.depth_unit)
    batchnorm = c3.checkbox("BatchNorm", key=f"models_{arch}_bn")
    design = "course"
    if arch == "mobilenet":
        design = st.selectbox("Design", list(MOBILENET_DESIGNS), key="models_mobilenet_design",
                              format_func=lambda k: MOBILENET_DESIGNS[k][0])
    result = summary_or_error(arch, width, depth, batchnorm, design=design)
    if result is None:
        return
    table, counts = result
    counts_row(counts)
    if st.button(f"Retrain {spec.title} at width {width:g}", key=f"models_{arch}_retrain", type="primary"):
        send_to_train(arch=arch, width=float(width), depth=int(depth), batchnorm=bool(batchnorm), design=design)
    st.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 520))


def cards_view():
    """The card of any saved run, written from its records as `python -m fer cards` writes it."""
    runs = list_runs()
    if not runs:
        st.info("No saved runs yet: a card appears here for each run once it is trained.")
        return
    labels = {r.id: r.label for r in runs}
    run_id = st.selectbox("Run", list(labels), key="models_card_run", format_func=labels.get)
    card = model_card(next(r for r in runs if r.id == run_id))
    st.markdown("\n".join(line for line in card.splitlines() if not line.startswith("<!--")))  # markdown shows a comment


FIELD_OF_FLAG = {"--range": "the pixel range", "--classes": "“Its classes”"}  # the command's words for this form's fields


def _in_field_names(message: str) -> str:
    """An import refusal worded for the command line (`--classes`), in this form's field names."""
    for flag, field in FIELD_OF_FLAG.items():
        message = message.replace(flag, field)
    return message


def import_view():
    """A model trained elsewhere, uploaded and imported as a run (`python -m fer import`)."""
    from fer.errors import FerError
    from fer.importing import import_upload, suggested_run_id
    from ui.data import get_dataset
    from ui.store import get_store, refresh_runs

    dataset = get_dataset()
    st.markdown("Explain a model trained elsewhere beside ours: a Keras file (`.keras`, or Keras 2 `.h5` / `.hdf5` "
                "as the `fer` package ships its model), a `.tflite` file or an `.onnx` file (PyTorch's export). Its "
                "input size, channels and layout are read from the file; it is scored on "
                f"**{dataset.name}** and appears in every page's run picker. A SavedModel folder: "
                "`python -m fer import FOLDER --run-id ID`.")
    upload = st.file_uploader("Model file", type=["keras", "h5", "hdf5", "tflite", "onnx"], key="models_import_file")
    if upload is not None and st.session_state.get("_models_import_for") != upload.name:  # a new file: its own id
        set_widget("models_import_id", suggested_run_id(upload.name))
        st.session_state["_models_import_for"] = upload.name
    c1, c2 = st.columns(2)
    run_id = c1.text_input("Run id", key="models_import_id")
    pixel_range = c2.selectbox("Pixel range it expects", ["0,255", "0,1", "-1,1"], key="models_import_range",
                               accept_new_options=True, help="0..255 mapped linearly onto this range, LO,HI.")
    classes = st.text_input("Its classes, in its output order", value=",".join(CLASS_NAMES), key="models_import_classes",
                            help="Matched to FER2013's by name (happiness = happy, ...); a class FER2013 lacks, such as "
                                 "contempt, keeps its own probability.")
    title = st.text_input("Description (optional)", key="models_import_title")
    if not st.button("Import and score it", type="primary", disabled=upload is None, key="models_import_go"):
        return
    try:
        with st.spinner(f"Importing {upload.name} and scoring it on {dataset.name}…"):
            run = import_upload(get_store(), upload.getvalue(), upload.name, run_id.strip(), dataset, pixel_range,
                                classes, title.strip() or None)
    except FerError as exc:
        st.error(_in_field_names(str(exc)))
        return
    refresh_runs()
    acc = run.meta.get("test_accuracy")
    st.success(f"Imported **{run.id}**: test accuracy {100 * acc:.2f}% on {dataset.name}." if acc is not None
               else f"Imported **{run.id}**.")


VIEWS = {**{spec.title: a for a, spec in ARCHITECTURES.items()}, "CNN vs matched DNN": "pair", "Model cards": "cards",
         "Import a model": "import"}
widget_defaults({"models_view": "CNN"})
# a segmented control rather than tabs: only the chosen view builds its models (a cold start
# imports TensorFlow and builds each model once; tabs would build all five)
view = st.segmented_control("Model family", list(VIEWS), key="models_view", required=True,
                            label_visibility="collapsed") or "CNN"
if VIEWS[view] == "cards":
    cards_view()
elif VIEWS[view] == "import":
    import_view()
elif VIEWS[view] != "pair":
    arch_tab(VIEWS[view])
else:
    st.markdown(
        "The course's comparison: a DNN whose hidden width is solved so its parameter count matches the CNN's. "
        "Students found the DNN far worse at equal size (≈42% vs ≈65% on FER2013) — train both to see it here."
    )
    c1, c2 = st.columns(2)
    cnn_width = c1.slider("CNN width", 0.1, 2.0, step=0.05, key="models_pair_cnn_width")
    dnn_depth = c2.slider("DNN dense layers", *ARCHITECTURES["dnn"].depth_range, key="models_pair_dnn_depth")
    left, right = st.columns(2)
    cnn = summary_or_error("cnn", cnn_width, DEFAULT_DEPTH["cnn"], True)
    if cnn is not None:
        target = cnn[1]["total"]
        dnn = summary_or_error("dnn", 1.0, dnn_depth, True, target)
        with left:
            st.subheader(f"CNN width {cnn_width:g}")
            counts_row(cnn[1])
            if st.button("Train this CNN", key="models_pair_train_cnn"):
                send_to_train(arch="cnn", width=float(cnn_width), depth=DEFAULT_DEPTH["cnn"], batchnorm=True)
            st.dataframe(cnn[0], hide_index=True, width="stretch", height=520)
        if dnn is not None:
            with right:
                diff = dnn[1]["total"] - target
                st.subheader(f"DNN, {dnn_depth} dense layers")
                counts_row(dnn[1])
                st.caption(f"{diff:+,} parameters vs the CNN ({100 * diff / max(target, 1):+.2f}%).")
                if st.button("Train this matched DNN", key="models_pair_train_dnn"):
                    send_to_train(arch="dnn", width=1.0, depth=int(dnn_depth), batchnorm=True, match_params=int(target))
                st.dataframe(dnn[0], hide_index=True, width="stretch", height=520)
