"""Train: pick a configuration, train in the background (fer.jobs), watch live progress."""
import streamlit as st

from fer import estimates, figures
from fer import jobs as fjobs
from fer.architectures import ARCH_NAMES, ARCHITECTURES, MOBILENET_DESIGNS
from fer.errors import FerError
from fer.train import TrainConfig
from ui import nav
from ui.data import get_dataset
from ui.errors import show_unexpected
from ui.store import get_jobs, get_store, list_runs, refresh_runs, session_tag
from ui.widgets import widget_defaults

st.title("Train")
ds = get_dataset()
manager = get_jobs()
n_train_all = int(len(ds.indices("train")))

DEPTHS = {a: spec.depth_range for a, spec in ARCHITECTURES.items()}
WIDTHS = {a: spec.slider_width[1] for a, spec in ARCHITECTURES.items()}
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]

d = TrainConfig()  # the form opens on TrainConfig's own defaults
widget_defaults({
    "train_arch": d.arch, "train_width": d.width, "train_bn": d.batchnorm, "train_aug": d.augment,
    "train_match": d.match_params or 0, "train_epochs": d.epochs, "train_lr": d.learning_rate, "train_batch": d.batch_size,
    "train_smoothing": d.label_smoothing, "train_erasing": d.erasing, "train_cap": d.max_train_images or 0,
    "train_patience": d.patience, "train_description": d.description, "train_teacher": d.teacher or "",
    "train_alpha": d.distill_alpha, "train_temperature": d.distill_temperature, "train_design": "course",
    **{f"train_depth_{a}": spec.depth for a, spec in ARCHITECTURES.items()},
})

# A request from the Models page ("Retrain at this width") pre-fills the form.
request = st.session_state.pop("train_request", None)
if request:
    arch = request.get("arch", "cnn")
    st.session_state["train_arch"] = arch
    st.session_state["train_width"] = min(max(float(request.get("width", 0.5)), 0.1), WIDTHS[arch])
    if request.get("depth"):
        lo, hi = DEPTHS[arch]
        st.session_state[f"train_depth_{arch}"] = min(max(int(request["depth"]), lo), hi)
    st.session_state["train_bn"] = bool(request.get("batchnorm", True))
    st.session_state["train_match"] = int(request.get("match_params") or 0)
    design_key = request.get("design") if arch == "mobilenet" and request.get("design") in MOBILENET_DESIGNS else None
    if design_key:
        st.session_state["train_design"] = design_key
    st.info(f"Settings from the Models page: {arch} width {st.session_state['train_width']:g}"
            + (f", {MOBILENET_DESIGNS[design_key][0]}" if design_key else "")
            + (f", {request['match_params']:,} parameters matched" if request.get("match_params") else "")
            + ". Check the rest and press **Train**.", icon="📥")

st.caption(f"Training data: {ds.name} — {n_train_all:,} training images. Runs are saved to `{get_store().root}` "
           "and appear on every page when they finish. You can switch pages while it trains.")
if st.session_state["train_cap"] > n_train_all:
    st.session_state["train_cap"] = 0

with st.container(border=True):
    c1, c2, c3, c4 = st.columns(4)
    arch = c1.selectbox("Architecture", ARCH_NAMES, key="train_arch")
    if st.session_state["train_width"] > WIDTHS[arch]:
        st.session_state["train_width"] = WIDTHS[arch]
    width = c2.slider("Width", 0.1, WIDTHS[arch], step=0.05, key="train_width")
    dmin, dmax = DEPTHS[arch]
    depth = c3.slider("Depth", dmin, dmax, key=f"train_depth_{arch}",
                      help=ARCHITECTURES[arch].depth_unit)
    with c4:
        batchnorm = st.checkbox("BatchNorm", key="train_bn")
        augment = st.checkbox("Augmentation", key="train_aug", help="flip, shift, zoom, rotation")
    match, design = 0, {}
    if arch == "mobilenet":
        design = MOBILENET_DESIGNS[st.selectbox("MobileNet design", list(MOBILENET_DESIGNS), key="train_design",
                                                format_func=lambda k: MOBILENET_DESIGNS[k][0])][1]
    if arch == "dnn":
        match = st.number_input("Match this many parameters (0 = use the width)", 0, 50_000_000, step=10_000,
                                key="train_match", help="Solves the hidden width so the DNN has this parameter count.")
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 300, key="train_epochs")
    lr = c2.select_slider("Learning rate", LRS, key="train_lr", format_func=lambda v: f"{v:g}")
    batch_size = c3.selectbox("Batch size", [32, 64, 128, 256], key="train_batch")
    smoothing = c4.slider("Label smoothing", 0.0, 0.3, step=0.05, key="train_smoothing")
    c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
    cap = c1.number_input("Max training images (0 = all)", 0, max(n_train_all, 1), step=500, key="train_cap")
    patience = c2.number_input("Early-stop patience (0 = off)", 0, 100, key="train_patience")
    erasing = c3.slider("Random erasing", 0.0, 0.5, step=0.05, key="train_erasing", disabled=not augment,
                        help="Chance that a training face gets a random patch blanked out (part of the augmentation). "
                             "Meant for a model that overfits; costs accuracy while it underfits.")
    description = c4.text_input("Description (optional)", key="train_description", placeholder="e.g. no BatchNorm ablation")

    runs = list_runs()
    teachers = {r.id: r.label for r in runs if r.meta.get("dataset", {}).get("fingerprint") == ds.fingerprint}
    if st.session_state["train_teacher"] not in teachers:
        st.session_state["train_teacher"] = ""
    with st.expander("Knowledge distillation: learn from a trained model too", expanded=bool(st.session_state["train_teacher"])):
        teacher = st.selectbox("Teacher", ["", *teachers], key="train_teacher",
                               format_func=lambda i: teachers.get(i, "none: learn from the labels only"),
                               help="The student also learns the teacher's softened probabilities on every "
                                    "(augmented) training face: which wrong classes look plausible, not just the right one.")
        c1, c2 = st.columns(2)
        alpha = c1.slider("Weight of the labels (alpha)", 0.0, 1.0, step=0.05, key="train_alpha", disabled=not teacher,
                          help="loss = alpha x cross-entropy with the labels + (1 - alpha) x T² x KL(teacher ‖ student)")
        temperature = c2.slider("Temperature T", 1.0, 10.0, step=0.5, key="train_temperature", disabled=not teacher,
                                help="Higher T softens both models' probabilities, so the small ones count more.")
        if not teachers:
            st.caption(f"No trained model on {ds.name} yet: train one first to use it as a teacher.")

    config = TrainConfig(arch=arch, width=float(width), depth=int(depth), batchnorm=bool(batchnorm), augment=bool(augment),
                         epochs=int(epochs), learning_rate=float(lr), batch_size=int(batch_size),
                         label_smoothing=float(smoothing), erasing=float(erasing) if augment else 0.0,
                         max_train_images=int(cap) or None, patience=int(patience),
                         match_params=int(match) or None, description=description.strip(), teacher=teacher or None,
                         distill_alpha=float(alpha), distill_temperature=float(temperature), **design)
    n_train = min(n_train_all, int(cap)) if cap else n_train_all
    st.caption(f"⏱️ On this machine this takes {estimates.estimate_text(config, n_train, runs, **estimates.split_sizes(ds))}"
               + (" or less with early stopping." if patience else "."))
    quick = fjobs.quick_config()
    quick_n = min(n_train_all, quick.max_train_images)
    b1, b2, _ = st.columns([1, 2, 2])
    start = b1.button("Train", type="primary", key="train_start")
    start_quick = b2.button(f"Quick default ({estimates.format_duration(estimates.estimate_seconds(quick, quick_n, runs, **estimates.split_sizes(ds)))})",
                            key="train_quick", help=f"{quick.arch} width {quick.width:g}, {quick.epochs} epochs, {quick_n:,} training images")


def submit(cfg):
    try:
        job = manager.submit(cfg, ds, owner=session_tag())
    except FerError as exc:
        st.error(f"Cannot train this configuration: {exc}")
        return
    st.session_state["train_job"] = job.id
    ahead = manager.position(job.id)
    if ahead:
        st.toast(f"Queued: {ahead} training(s) ahead of yours. It starts by itself.", icon="⏳")
    else:
        st.toast("Training started in the background.", icon="🏋️")


if start:
    submit(config)
if start_quick:
    submit(quick)


def job_table(jobs, mine):
    rows = []
    for j in jobs:
        rows.append({"job": j.id, "who": "you" if j.owner == session_tag() else (j.owner or "?"),
                     "config": j.label, "data": j.dataset_name, "status": j.status,
                     "run": j.run_id if j.status == fjobs.DONE else "",
                     "time": estimates.format_duration(j.elapsed_s) if j.started else "",
                     "message": j.error or j.message})
    return rows


def show_job(job, mine: bool):
    who = "Your training" if mine else f"Training from another session ({job.owner or 'unknown'})"
    st.markdown(f"**{who}: {job.label}** on {job.dataset_name}")
    if job.status == fjobs.WAITING:
        st.warning(job.message)
    st.progress(job.fraction, text=f"{job.message or job.status} — {100 * job.fraction:.0f}%")
    c = st.columns(4)
    c[0].metric("Epoch", f"{job.epoch}/{job.epochs}" if job.epoch else f"0/{job.epochs}")
    c[1].metric("ETA", estimates.format_duration(job.eta_s) if job.eta_s is not None else
                (f"≈{estimates.format_duration(job.estimate_s)}" if job.estimate_s else "?"))
    c[2].metric("Elapsed", estimates.format_duration(job.elapsed_s))
    batch = job.batch_metrics
    c[3].metric("Batch loss / acc", f"{batch['loss']:.3f} / {batch.get('accuracy', float('nan')):.2f}" if "loss" in batch else "—")
    chart = figures.curves_chart({job.run_id or job.id: job.history}) if job.history else None
    if chart is not None:
        st.altair_chart(chart, width="stretch")
    else:
        st.caption("Curves appear after the first epoch.")
    if st.button("Cancel this training", key=f"cancel_{job.id}"):
        manager.cancel(job.id)
        st.toast("Cancelling after the current batch…")


def progress_body():
    mine = st.session_state.get("train_job")
    seen = st.session_state.get("_train_seen_finished")
    if seen is not None and seen != manager.finished_count:
        st.session_state["_train_seen_finished"] = manager.finished_count
        refresh_runs()
        st.rerun(scope="app")  # a run finished: refresh the run lists and the sidebar
    st.session_state["_train_seen_finished"] = manager.finished_count
    st.subheader("Progress")
    current = manager.current()
    if current is not None:
        show_job(current, current.id == mine)
    queued = manager.queued()
    if queued:
        st.info(f"⏳ {len(queued)} training(s) queued; they run one at a time, in order.")
        for pos, j in enumerate(queued, start=1):
            cols = st.columns([4, 1])
            who = "yours" if j.id == mine or j.owner == session_tag() else f"from {j.owner}"
            cols[0].write(f"{pos}. {j.label} on {j.dataset_name} ({who}), about {estimates.format_duration(j.estimate_s)}")
            if cols[1].button("Cancel", key=f"cancel_{j.id}"):
                manager.cancel(j.id)
                st.rerun(scope="fragment")
    if current is None and not queued:
        st.caption("No training running. Choose settings above and press **Train**.")
    job = manager.get(mine) if mine else None
    if job is not None and not job.active:
        if job.status == fjobs.DONE:
            st.success(f"Your last training finished: {job.message}.", icon="✅")
            c1, c2 = st.columns(2)
            if c1.button("Evaluate it", key=f"eval_{job.id}"):
                st.session_state["run"] = job.run_id
                st.switch_page(nav.EVALUATE)
            c2.page_link(nav.COMPARE, label="Compare runs", icon="⚖️")
            chart = figures.curves_chart({job.run_id: job.history}) if job.history else None
            if chart is not None:
                st.altair_chart(chart, width="stretch")
        elif job.status == fjobs.FAILED:
            st.error(f"Your last training failed: {job.error}")
        elif job.status == fjobs.CANCELLED:
            st.warning(f"Your last training was cancelled: {job.message}")


@st.fragment(run_every=1.0 if manager.busy else 3.0)  # idle: still notices other tabs' trainings
def progress_panel():
    try:
        progress_body()
    except Exception as exc:  # noqa: BLE001 - no tracebacks, even in the live panel
        show_unexpected(exc, "the progress panel")


progress_panel()

history = manager.jobs()
if history:
    with st.expander(f"All trainings this server has run or queued ({len(history)})"):
        st.dataframe(job_table(reversed(history), st.session_state.get("train_job")), hide_index=True, width="stretch")
