"""Filters: what each filter of a conv layer responds to (gradient ascent) and what it outputs for a face."""
from __future__ import annotations

import numpy as np
import streamlit as st

from fer import CLASS_NAMES
from fer.data import SPLITS
from fer.explain import plots
from fer.explain.filters import AscentSettings, conv_layers
from fer.explain.filters.sharpen import CONTINUED, ENGINE, FROM_FACE
from fer.explain.kept import default_filter_layer
from ui import nav
from ui.cache import exemplars, load_model, per_run, preferred_inputs
from ui.data import get_dataset
from ui.pickers import runs_for_dataset

ENGINES = {
    "batched": "Pixel space, batched (all filters at once)",
    "fourier": "Fourier space + random moves (Lucid-style), batched",
    "tfkv": "tf-keras-vis ActivationMaximization (pixel space, one filter at a time, slow)",
}


ORIGIN_MARKS = {ENGINE: "", CONTINUED: " ⇡", FROM_FACE: " ⇡face"}


def sharpened_note(res, settings: str) -> str:
    """What the marks on the images mean, with how many of this layer's images carry each."""
    losing = int((res.activation <= res.rival_activation).sum())
    return (f"With {settings}, a real test face drove some filters harder than the ascent's image. Where it did, the "
            f"image shown went on with the same ascent, without the smoothing penalties and the jitter, until it won: "
            f"from the ascent's image (⇡, {int((res.origin == CONTINUED).sum())} filters) or, where that was not enough, "
            f"from the test face that beat it (⇡face, {int((res.origin == FROM_FACE).sum())})."
            + (f" {losing} filter(s) still lose to a test face: their images are the ascent's own." if losing else ""))


def _with_patch(face, patch, scale: int = 3):
    """The face upscaled, the filter's receptive field at its peak drawn in red."""
    import cv2

    rgb = cv2.cvtColor(cv2.resize(np.asarray(face, np.uint8), (48 * scale, 48 * scale),
                                  interpolation=cv2.INTER_NEAREST), cv2.COLOR_GRAY2RGB)
    top, left, bottom, right = (int(v) * scale for v in patch)
    cv2.rectangle(rgb, (left, top), (max(left, right - 1), max(top, bottom - 1)), (255, 40, 40), 2)
    return rgb


@per_run(show_spinner=False, max_entries=256)
def _feature_maps(model, layer: str, face_key: bytes):
    from fer.explain.filters import feature_maps

    face = np.frombuffer(face_key, np.uint8).reshape(48, 48)
    return feature_maps(model, layer, face[None])[0]


st.title("🔍 Filters")
st.caption("Each filter's preferred input, found by gradient ascent from a mean-grey face, and the layer's "
           "feature maps for a face.")

ds = get_dataset()
runs = [r for r in runs_for_dataset(ds, keras_only=True) if r.meta.get("arch") != "dnn"]
if not runs:
    if runs_for_dataset(ds):
        st.info("Only dense (DNN) runs and imported TFLite or ONNX models here: a DNN has no convolutional filters "
                "to show, and an imported TFLite or ONNX model no layers to read. Train a CNN or a MobileNet.")
    else:
        st.warning("No trained model for this data set yet.")
    st.page_link(nav.TRAIN, label="Train a quick model", icon="🏋️")
    st.stop()

labels = {r.id: r.label for r in runs}
run_id = st.selectbox("Run (CNN or MobileNet)", list(labels), format_func=labels.get, key="filters_run")
model = load_model(run_id)
if {r.id: r for r in runs}[run_id].meta.get("mirror"):
    st.caption("This run averages each face with its mirror image inside the model: the filters and feature maps "
               "here are its network's, which sees one view at a time.")
layers = conv_layers(model)
layer_names = [x["name"] for x in layers]
info = {x["name"]: x for x in layers}
layer = st.selectbox("Conv layer", layer_names, index=layer_names.index(default_filter_layer(model)), key="filters_layer",
                     format_func=lambda n: f"{n} — {info[n]['type']}, {info[n]['filters']} filters, "
                                           f"{info[n]['output'][0]}x{info[n]['output'][1]} output")

tab_pref, tab_real, tab_maps = st.tabs(["Preferred inputs (gradient ascent)", "Real faces that drive each filter",
                                        "Feature maps of a face"])

with tab_pref:
    engine = st.radio("Method", list(ENGINES), format_func=ENGINES.get, key="filters_engine", horizontal=True)
    d = AscentSettings()
    c1, c2, c3 = st.columns(3)
    steps = c1.slider("Steps", 0, 400, d.steps, 10, key="filters_steps")
    lr = c2.slider("Step size (Adam, grey levels)", 0.5, 16.0, d.learning_rate, 0.5, key="filters_lr")
    jitter = c3.slider("Jitter (pixels)", 0, 6, d.jitter, key="filters_jitter")
    c1, c2, c3 = st.columns(3)
    tv = c1.slider("Total-variation weight", 0.0, 30.0, d.tv_weight, 0.25, key="filters_tv",
                   help="Penalises differences between neighbouring pixels (smoother images).")
    l2 = c2.slider("L2 weight (towards mean grey)", 0.0, 10.0, d.l2_weight, 0.25, key="filters_l2",
                   help="Penalises distance from mean grey (keeps contrast where it matters).")
    seed = c3.number_input("Seed", 0, 10_000, d.seed, key="filters_seed")
    n_filters = info[layer]["filters"]
    if engine == "tfkv":
        n_filters = st.slider("Filters to visualise (tf-keras-vis is slow: one ascent per filter)", 1,
                              info[layer]["filters"], min(4, info[layer]["filters"]), key="filters_tfkv_n")
    settings = AscentSettings(steps=steps, learning_rate=lr, jitter=jitter, tv_weight=tv, l2_weight=l2, seed=int(seed))
    contrast = st.checkbox("Stretch each image's contrast", True, key="filters_stretch")
    with st.spinner(f"Gradient ascent for {n_filters} filters…"):
        res = preferred_inputs(run_id, layer, engine, settings.key(), n_filters, ds)
    gain = res.activation - res.gray_activation
    st.caption(f"{len(res.filters)} filters x {settings.steps} steps took {res.seconds:.1f} s (cached for these settings). "
               f"Titles: filter index and its mean activation on its image (on a mean-grey face: median "
               f"{np.median(res.gray_activation):.2f}); {int((gain > 0).sum())}/{len(gain)} filters respond more than to "
               f"mean grey.")
    if res.analytic is not None and res.analytic.any():
        st.info(f"{layer}'s mean activation is a linear function of the face (the first convolution), so its best "
                f"input needs no search: white where the filter's summed weights are positive, black elsewhere. "
                f"{int(res.analytic.sum())} of {len(res.analytic)} images shown are that exact optimum.")
    origin = res.origin if res.origin is not None else np.zeros(len(res.filters), np.int8)
    if res.origin is not None and ((origin != ENGINE).any() or (res.activation <= res.rival_activation).any()):
        st.info(sharpened_note(res, "these settings"))
    images = plots.stretch(res.images) if contrast else res.images / 255.0
    st.image(plots.tiles(images, vmin=0, vmax=1), width=80,
             caption=[f"#{f}  {a:.2f}{ORIGIN_MARKS[o]}" for f, a, o in zip(res.filters, res.activation, origin)])

with tab_real:
    x_test = ds.split("test")[0]
    if len(x_test) == 0:
        st.info("The test split is empty: no real faces to rank.")
    else:
        k = st.slider("Test faces per filter", 3, 12, 6, key="filters_k")
        with st.spinner(f"Ranking the {len(x_test):,} test faces for every filter of {layer}…"):
            ex = exemplars(run_id, layer, ds.fingerprint, k, ds)
        shared = settings.key() if engine != "tfkv" else AscentSettings().key()
        pixel = preferred_inputs(run_id, layer, "batched", shared, info[layer]["filters"], ds)
        pref = preferred_inputs(run_id, layer, "fourier", shared, info[layer]["filters"], ds)
        beats = ex.beaten_by(pref.activation)
        m1, m2 = st.columns(2)
        m1.metric("Filters whose Fourier-space preferred input drives them harder than every test face",
                  f"{beats.mean():.0%}", help="Activation = the filter's mean output over the layer's positions. A "
                  "preferred input that loses to real faces is not what the filter prefers: the ascent did not find it.")
        m2.metric("... with the pixel-space ascent", f"{ex.beaten_by(pixel.activation).mean():.0%}")
        if any(r.origin is not None and (r.origin != ENGINE).any() for r in (pref, pixel)):
            counts = {o: " and ".join(f"{int((r.origin == o).sum())} {n}" for n, r in (("Fourier", pref), ("pixel", pixel)))
                      for o in (CONTINUED, FROM_FACE)}
            st.caption(f"⇡: the ascent's image lost to a test face and went on without the smoothing penalties and the "
                       f"jitter until it won ({counts[CONTINUED]}); ⇡face: that was not enough, so the same ascent started "
                       f"from the test face that beat it ({counts[FROM_FACE]}).")
        st.caption(f"Each row: filter #, its preferred inputs by the Fourier-space and the pixel-space ascent (activation), "
                   f"then the {k} test faces with the highest "
                   f"activation, the {ex.receptive_field}x{ex.receptive_field}-pixel patch of its strongest position "
                   "boxed in red.")
        first = st.number_input("First filter shown", 0, max(0, len(beats) - 1), 0, 8, key="filters_first")
        for f in range(int(first), min(len(beats), int(first) + 8)):
            cols = st.columns([1.2] + [1] * (k + 2))
            if not beats[f] and pref.activation[f] == 0 and ex.activations[f, 0] == 0:  # a ReLU that never fires
                verdict = "💤 silent: no test face and no image drives it (a dead filter)"
            else:
                verdict = ("✅ beats the test faces" if beats[f] else
                           "⚠️ loses to the test faces: the faces on its right drive it harder, boxed where")
            cols[0].markdown(f"**#{f}**  \n{verdict}")
            for c, name, shown in ((cols[1], "Fourier", pref), (cols[2], "pixel", pixel)):
                o = ENGINE if shown.origin is None else int(shown.origin[f])
                c.image(np.clip(shown.images[f], 0, 255).astype(np.uint8), width="stretch",
                        caption=f"{name} {shown.activation[f]:.2f}{ORIGIN_MARKS[o]}")
            for c, i, a, patch in zip(cols[3:], ex.indices[f], ex.activations[f], ex.patches[f]):
                c.image(_with_patch(x_test[i], patch), caption=f"#{i} {a:.2f}", width="stretch")

with tab_maps:
    handed = st.session_state.get("saliency_face")
    c1, c2 = st.columns(2)
    default_split = handed.get("split") if isinstance(handed, dict) and handed.get("split") in SPLITS else "test"
    split = c1.selectbox("Split", list(SPLITS), index=list(SPLITS).index(default_split), key="filters_split")
    idx = ds.indices(split)
    if len(idx) == 0:
        st.warning(f"The {split} split is empty.")
        st.stop()
    default_index = int(handed.get("index", 0)) if isinstance(handed, dict) and handed.get("split") == split else 0
    index = c2.number_input(f"Index in {split} (0..{len(idx) - 1})", 0, len(idx) - 1, min(default_index, len(idx) - 1),
                            key="filters_index")
    i = int(idx[int(index)])
    face = np.ascontiguousarray(ds.images[i], np.uint8)
    fmap = _feature_maps(run_id, layer, face.tobytes())
    c1, c2 = st.columns([1, 5])
    c1.image(face, caption=f"{split} #{index}: {CLASS_NAMES[int(ds.labels[i])]}", width=144)
    chans = np.moveaxis(fmap, -1, 0)
    c2.caption(f"{layer}: {len(chans)} feature maps, {fmap.shape[0]}x{fmap.shape[1]} (each scaled on its own)")
    c2.image(plots.tiles(chans, cmap="viridis", scale=max(1, 96 // max(1, fmap.shape[0]))),
             caption=[f"#{k}  {chans[k].mean():.2f}" for k in range(len(chans))], width=64)
