"""Compression: how small can the model get? The size ladder, distillation, and the
parameters-vs-accuracy scatter with a background width sweep. The work is in fer/compress/
and fer/sweep.py; this page only draws it."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer import figures
from fer import sweep as _sweep
from fer.cluster.sweep import choose_sweep
from fer.errors import FerError
from fer.settings import ray_address
from ui.cache import load_model, model_mtime, model_summary, per_run
from ui.data import get_dataset
from ui.errors import show_unexpected
from ui.pickers import offer_quick_training, pick_run, runs_for_dataset
from ui.store import get_store
from ui.widgets import widget_defaults

CNN_WIDTHS = (0.0625, 0.125, 0.25, 0.5, 0.75, 1.0)
MOBILENET_WIDTHS = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
STUDENT_WIDTHS = (0.125, 0.25, 0.5, 0.75, 1.0)

widget_defaults({
    "compress_sparsity": 0.5,
    "distill_width": 0.5, "distill_epochs": 3, "distill_images": 2000, "distill_temperature": 4.0, "distill_alpha": 0.3,
    "sweep_cnn_widths": [0.0625, 0.125, 0.25], "sweep_mobilenet_widths": [0.25, 0.5, 1.0],
    "sweep_epochs": 3, "sweep_images": 2000, "sweep_augment": True,
})

st.title("Compression")
st.markdown(
    "How small can a facial-expression model get? For one run, every compressed form is **written to disk, "
    "measured in bytes, loaded back and scored on the test split** — nothing is estimated. Below: "
    "distillation into a MobileNet student, and accuracy against parameters over all your runs."
)

dataset = get_dataset()


@per_run(show_spinner=False, max_entries=16, persist="disk")
def _base_ladder(model, workdir: str, fingerprint: str, _dataset):
    """Every step that does not depend on the sparsity (Keras, .npz, TFLite): once per run, kept on
    disk (~/.streamlit/cache) so a restarted app shows it at once; `get_ladder` redoes it when the
    files it lists are gone."""
    from fer.compress.ladder import base_ladder

    return base_ladder(model, _dataset, workdir)


@per_run(show_spinner=False, max_entries=64, persist="disk")
def _pruned_row(model, workdir: str, fingerprint: str, sparsity: float, _dataset):
    """The pruning step at one sparsity (prune, fine-tune, sparse float16 file, score)."""
    from fer.compress.ladder import pruned_rows

    return pruned_rows(model, _dataset, workdir, sparsity)


def get_ladder(run, sparsity, kept_ok: bool = True):
    """The whole ladder for (run, sparsity): the figures kept beside the run (`ladder.json`, no
    files) when they match its model and data, else measured; the sparsity-free steps are cached
    per run, so moving the slider only redoes the pruning step."""
    from fer.compress.ladder import files_present, join_ladder, work_folder
    from fer.compress.shipped import kept_ladder

    if kept_ok:
        kept = kept_ladder(run.path, dataset.fingerprint, sparsity)
        if kept is not None:
            return kept
    mtime = model_mtime(run)
    for attempt in range(2):
        base = _base_ladder(run, str(work_folder(run.id, mtime, "base")), dataset.fingerprint, dataset)
        pruned, real_sparsity = _pruned_row(run, str(work_folder(run.id, mtime, f"s{round(sparsity * 100):02d}")),
                                            dataset.fingerprint, sparsity, dataset)
        df = join_ladder(base, pruned, sparsity, real_sparsity)
        if files_present(df) or attempt:
            return df
        _base_ladder.clear()  # temp files cleaned up since: write them again
        _pruned_row.clear()
    return df


def ladder_table(df, run_id):
    from fer.compress import format_bytes

    widths = [3.2, 1.3, 1.0, 1.0, 1.1, 1.1, 2.8, 1.1]
    head = st.columns(widths)
    for col, text in zip(head, ("step", "size", "ratio", "× smaller", "accuracy", "maps ρ", "notes", "file")):
        col.markdown(f"**{text}**", help="Mean Spearman rank correlation of the artefact's occlusion maps with the "
                                         "float32 model's, on 16 fixed test faces: 1.00 = it looks where the original "
                                         "does." if text == "maps ρ" else None)
    for row in df.itertuples():
        c = st.columns(widths)
        c[0].write(row.step)
        c[1].write(f"{format_bytes(row.bytes)}  \n`{row.bytes:,}` B")
        c[2].write(f"{row.ratio:.3f}")
        c[3].write(f"{row.smaller_x:.1f}×")
        c[4].write(f"{100 * row.accuracy:.1f}%  \n({row.delta_points:+.1f})")
        rho = getattr(row, "maps_rho", float("nan"))
        c[5].write("—" if rho != rho else f"{rho:.2f}")
        c[6].caption(row.note)
        path = Path(row.file)
        try:
            data = path.read_bytes() if row.file else None
        except OSError:
            data = None
        if data is None:
            c[7].caption("kept figures" if not row.file else "file gone")
            continue
        c[7].download_button("⬇", data, file_name=f"{run_id}-{path.name}", key=f"dl_{row.key}", on_click="ignore",
                             help=f"{path.name}, {row.bytes:,} bytes")


def ladder_section(run):
    sparsity = st.slider("Pruning sparsity (fraction of all Conv/Dense kernel weights set to zero, smallest first)",
                         0.0, 0.95, step=0.05, key="compress_sparsity")
    try:
        kept_ok = not st.session_state.get(f"compress_write_{run.id}")
        with st.spinner(f"Writing, reloading and scoring every artefact of {run.id} (pruned to {sparsity:.0%})…"):
            ladder = get_ladder(run, float(sparsity), kept_ok=kept_ok)
    except Exception as exc:  # noqa: BLE001 - a readable message, never a traceback
        show_unexpected(exc, "the size ladder")
        return
    distilled = st.session_state.get("distill_result")
    if distilled and distilled.get("teacher") == run.id and distilled.get("row") is not None:
        from fer.compress.ladder import with_row

        ladder = with_row(ladder, distilled["row"])
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Parameters", f"{ladder.attrs.get('params', run.meta.get('params', 0)):,}")
    m2.metric(".keras file", f"{ladder.attrs.get('keras_bytes', 0):,} B")
    best = ladder.loc[ladder["bytes"].idxmin()]
    m3.metric("Smallest artefact", f"{best['bytes']:,} B", f"{best['smaller_x']:.1f}× smaller", delta_color="off")
    m4.metric("float32 test accuracy", f"{100 * ladder.attrs.get('reference_accuracy', 0):.1f}%")
    size_chart, acc_chart = figures.ladder_charts(ladder)
    left, right = st.columns(2)
    left.altair_chart(size_chart, width="stretch")
    right.altair_chart(acc_chart, width="stretch")
    ladder_table(ladder, run.id)
    if not ladder["file"].astype(bool).any():
        st.info("These figures were measured once and kept beside the run (`python -m fer compress RUN --keep`): "
                "the artefacts themselves are not shipped.")
        minutes = max(1, round(float(ladder["seconds"].sum()) / 60)) if "seconds" in ladder else 1  # as measured
        took = "about a minute" if minutes == 1 else f"about {minutes} minutes"
        if st.button(f"Write the artefacts to download them ({took})", key=f"compress_write_btn_{run.id}"):
            st.session_state[f"compress_write_{run.id}"] = True
            st.rerun()
    st.caption(
        f"Ratio = bytes / bytes of the float32 `.keras` file; accuracy in brackets = points vs the in-memory float32 "
        f"model. Real kernel sparsity after pruning: {ladder.attrs.get('kernel_sparsity') or 0:.1%} (one magnitude "
        "threshold over all kernels, 1 fine-tune epoch with the masks held, BatchNorm statistics re-estimated: on a "
        "briefly trained run that alone can *raise* accuracy). The `.npz` files hold weights only: rebuild the "
        "architecture with `fer.models.build_model(arch, width, **options)` (from the run's `run.json`) and load them "
        "with `fer.compress.load_weights_file(path, model)`; `.tflite` files run with `fer.compress.TFLiteModel(path)`. "
        "Cached per run (and per sparsity for the pruning step)."
    )


# -- 1. the size ladder ----------------------------------------------------------------
st.header("Size ladder")
run = None
if runs_for_dataset(dataset, keras_only=True):
    run = pick_run("Run to compress", key="compress_run", dataset=dataset, keras_only=True)
    ladder_section(run)
elif runs_for_dataset(dataset):
    st.info("The runs here are imported TFLite or ONNX models: the ladder compresses a Keras model's layers. "
            "Train a model here, or import a Keras file.")
else:
    st.warning(f"No trained model for this data set yet ({dataset.name}): train one, or start a sweep below.")
    offer_quick_training(dataset, key="compress_quick")

# -- 2. distillation -------------------------------------------------------------------
st.header("Knowledge distillation")
st.markdown(
    "A MobileNet **student** learns from a CNN **teacher**'s temperature-softened probabilities "
    "(KL divergence × T²) plus the labels (cross-entropy). The same student, same seed and data, is also "
    "trained on the labels alone: the difference is what distillation bought."
)
teachers = runs_for_dataset(dataset, arch=("cnn",))
if not teachers:
    st.info("Distillation needs a trained CNN run on this data set as the teacher (train one on the Train page).")
else:
    labels = {r.id: r.label for r in teachers}
    ids = list(labels)
    default = run.id if run is not None and run.id in labels else ids[0]
    c1, c2, c3 = st.columns([3, 1.5, 1.5])
    teacher_id = c1.selectbox("Teacher (CNN run)", ids, index=ids.index(default), format_func=labels.get, key="distill_teacher")
    width = c2.select_slider("Student MobileNet width", STUDENT_WIDTHS, key="distill_width")
    epochs = c3.number_input("Epochs", 1, 30, key="distill_epochs")
    c4, c5, c6 = st.columns(3)
    n_images = c4.number_input("Training images (at most)", 200, 100000, step=500, key="distill_images")
    temperature = c5.slider("Temperature T", 1.0, 10.0, step=0.5, key="distill_temperature")
    alpha = c6.slider("Weight of the label loss (alpha)", 0.0, 1.0, step=0.05, key="distill_alpha")
    if st.button("Run distillation", type="primary", key="distill_go",
                 help="Trains the student twice (alone, then distilled) in this session; a minute or two on a laptop CPU."):
        from fer.compress import DistillOptions, distill_compare, size_ladder
        from fer.compress.ladder import work_folder

        try:
            with st.spinner(f"Training MobileNet w{width:g} alone, then distilled from {teacher_id}…"):
                teacher = load_model(teacher_id)
                x_train, y_train = dataset.split("train")
                x_test, y_test = dataset.split("test")
                result = distill_compare(teacher, x_train, y_train, x_test, y_test, width=float(width), epochs=int(epochs),
                                         temperature=float(temperature), alpha=float(alpha), max_train_images=int(n_images))
                workdir = work_folder(f"distill-{teacher_id}", 0, f"w{width:g}")
                rows = size_ladder(teacher, x_test, y_test, workdir, steps=("keras", "distilled"),
                                   distill=DistillOptions(width=float(width), student=result["student"]))
            row = rows[rows["key"] == "distilled"].iloc[0].to_dict()
            keep = {k: v for k, v in result.items() if k not in ("student", "alone")}
            st.session_state["distill_result"] = {**keep, "teacher": teacher_id, "row": row}
        except Exception as exc:  # noqa: BLE001
            show_unexpected(exc, "the distillation")
    result = st.session_state.get("distill_result")
    if result:
        st.caption(f"Last distillation: teacher `{result['teacher']}`, MobileNet w{result['width']:g}, {result['epochs']} epoch(s) "
                   f"on {result['train_images']:,} images, T={result['temperature']:g}, alpha={result['alpha']:g}.")
        d1, d2, d3, d4 = st.columns(4)
        d1.metric("Teacher (CNN)", f"{100 * result['teacher_accuracy']:.1f}%", f"{result['teacher_params']:,} params", delta_color="off")
        d2.metric("Student alone", f"{100 * result['alone_accuracy']:.1f}%", f"{result['student_params']:,} params", delta_color="off")
        d3.metric("Student distilled", f"{100 * result['distilled_accuracy']:.1f}%", f"{result['gain_points']:+.1f} points vs alone")
        row = result.get("row")
        if row:
            d4.metric("Distilled student on disk", f"{row['bytes']:,} B", "float16 flat, compressed", delta_color="off")
            try:
                st.download_button("⬇ Download the distilled student (.npz)", Path(row["file"]).read_bytes(),
                                   file_name=f"{result['teacher']}-{Path(row['file']).name}", key="dl_distilled_student",
                                   on_click="ignore")
            except OSError:
                pass
            if run is not None and result["teacher"] == run.id:
                st.caption("Added to the ladder above as its last row.")

# -- 3. parameters vs accuracy, and the sweep -----------------------------------------
st.header("Parameters vs accuracy")
sweep = choose_sweep(get_store())  # on a Ray cluster when FER_RAY_ADDRESS is set


def sweep_status(snap):
    state = snap["state"]
    if state == _sweep.IDLE:
        return
    text = f"Sweep: {snap['message']} — {snap['finished']}/{snap['total']} done"
    cur = snap.get("current")
    if cur is not None and cur.epochs:
        text += f"; {cur.config.arch} w{cur.config.width:g} epoch {max(cur.epoch, 1)}/{cur.epochs}"
        if cur.eta_s is not None:
            text += f", about {cur.eta_s:.0f} s left for this run"
    if state in (_sweep.RUNNING, _sweep.WAITING):
        st.progress(snap["fraction"], text=text)
    elif state == _sweep.DONE:
        st.success(text)
    else:
        st.warning(text)
    for err in snap["errors"]:
        st.error(err)


@st.fragment(run_every=2 if sweep.running else None)
def scatter_section():
    snap = sweep.snapshot()
    frame = _sweep.scatter_frame(runs_for_dataset(dataset))
    sweep_status(snap)
    variants = frame[frame.variant != ""]
    if len(variants) and not st.toggle(f"Include {len(variants)} ablation run(s)", key="scatter_variants",
                                       help="Runs with BatchNorm or augmentation off or another depth ("
                                            + ", ".join(variants.run) + "). They differ in more than width, "
                                            "so they are left out of the width scatter unless you ask."):
        frame = frame[frame.variant == ""]
    if frame.empty:
        st.info("No runs with a test accuracy on this data set yet: start a sweep below.")
    else:
        st.altair_chart(figures.scatter_chart(frame), width="stretch")
        pairs = _sweep.equal_params_pairs(frame)
        if pairs:
            lines = []
            seen = set()
            for c, m, diff in pairs:
                if c.run in seen or m.run in seen:
                    continue
                seen.update((c.run, m.run))
                lines.append(f"- ~{(c.params + m.params) / 2:,.0f} params: MobileNet w{m.width:g} **{100 * m.test_accuracy:.1f}%** "
                             f"vs CNN w{c.width:g} **{100 * c.test_accuracy:.1f}%** ({diff:+.1f} points for MobileNet)")
            st.markdown("**Equal-parameter comparison** (CNN and MobileNet runs within 35% of each other's size):\n" + "\n".join(lines[:6]))
        else:
            st.caption("No CNN and MobileNet runs of similar size yet: sweep small CNN widths (0.0625–0.125) and "
                       "larger MobileNet widths (0.5–1.0) to get equal-parameter pairs.")
        with st.expander("Points as a table"):
            st.dataframe(frame, hide_index=True, width="stretch")
    # a finished sweep: refresh the whole page once so the run pickers see the new runs
    seen = st.session_state.get("_sweep_seen")
    now = (snap["generation"], snap["state"], snap["finished"])
    if seen is not None and seen != now and not sweep.running and seen[1] in (_sweep.RUNNING, _sweep.WAITING):
        st.session_state["_sweep_seen"] = now
        st.rerun()
    st.session_state["_sweep_seen"] = now


scatter_section()


with st.expander("Sweep: train several widths of CNN and MobileNet in the background", expanded=not sweep.running):
    cluster = ray_address()
    st.caption((f"Each width is a task on the Ray cluster at `{cluster}` (`FER_RAY_ADDRESS`): as many train at once as "
                "the cluster has CPUs, and each finished run is saved here as a normal run" if cluster else
                "Each width is trained in turn (one at a time, holding the run store's training lock) and saved as a "
                "normal run") + "; its point appears above when it finishes. The course asks for at least 3 "
               "well-spread points per architecture. A MobileNet has ~5× fewer parameters than a CNN of the same "
               "width: pick small CNN and larger MobileNet widths to compare them at equal size.")
    s1, s2 = st.columns(2)
    cnn_widths = s1.multiselect("CNN widths", CNN_WIDTHS, key="sweep_cnn_widths")
    mob_widths = s2.multiselect("MobileNet widths", MOBILENET_WIDTHS, key="sweep_mobilenet_widths")
    s1.caption(" · ".join(f"w{w:g}: {model_summary('cnn', w)[1]['total']:,} params" for w in sorted(cnn_widths)))
    s2.caption(" · ".join(f"w{w:g}: {model_summary('mobilenet', w)[1]['total']:,} params" for w in sorted(mob_widths)))
    s3, s4, s5 = st.columns(3)
    sweep_epochs = s3.number_input("Epochs per run", 1, 100, key="sweep_epochs")
    sweep_images = s4.number_input("Training images per run (at most)", 200, 1_000_000, step=1000, key="sweep_images")
    augment = s5.checkbox("Augmentation", key="sweep_augment")
    b1, b2 = st.columns([1, 1])
    if sweep.running:
        if b2.button("Cancel the sweep", key="sweep_cancel"):
            sweep.cancel()
            st.rerun()
    n = len(cnn_widths) + len(mob_widths)
    if b1.button(f"Sweep ({n} run{'s' if n != 1 else ''})", type="primary", key="sweep_go", disabled=sweep.running or n == 0):
        configs = []
        try:
            if cnn_widths:
                configs += _sweep.sweep_configs(cnn_widths, archs=("cnn",), epochs=int(sweep_epochs),
                                                max_train_images=int(sweep_images), augment=bool(augment), patience=0)
            if mob_widths:
                configs += _sweep.sweep_configs(mob_widths, archs=("mobilenet",), epochs=int(sweep_epochs),
                                                max_train_images=int(sweep_images), augment=bool(augment), patience=0)
            started = sweep.start(configs, dataset)  # a cluster that cannot be reached raises here
        except FerError as exc:
            st.error(f"Cannot start the sweep: {exc}")
        else:
            if started:
                st.session_state["_sweep_seen"] = None
                st.rerun()
            else:
                st.warning("A sweep is already running.")
