"""Choosing a run trained on the current data, or offering a quick training when there is none."""
from __future__ import annotations

import streamlit as st

from fer import estimates
from fer import jobs as _jobs
from fer.architectures import ARCH_NAMES
from ui import nav
from ui.data import get_dataset
from ui.store import get_jobs, list_runs, session_tag


def runs_for_dataset(dataset=None, arch: tuple | None = None, keras_only: bool = False):
    """Runs trained on the current data set (by fingerprint), featured first, then newest first;
    `keras_only`: without imported TFLite and ONNX models (no layers, no gradients)."""
    dataset = dataset or get_dataset()
    runs = [r for r in list_runs() if (r.meta.get("dataset") or {}).get("fingerprint") == dataset.fingerprint]
    return [r for r in runs if (arch is None or r.meta.get("arch") in arch) and (r.is_keras or not keras_only)]


def offer_quick_training(dataset=None, key: str = "quick"):
    """A one-click button that queues the quick default training and opens the Train page."""
    manager = get_jobs()
    config = _jobs.quick_config()
    n_train = config.max_train_images
    if dataset is not None:
        n_train = min(n_train, int(len(dataset.indices("train"))))
    sizes = estimates.split_sizes(dataset) if dataset is not None else {}
    estimate = estimates.estimate_text(config, n_train, list_runs(), **sizes)
    active = [j for j in manager.jobs() if j.active]
    if active:
        st.info(f"A training is running or queued ({active[0].label}); it appears here when it finishes.")
        st.page_link(nav.TRAIN, label="Watch its progress on the Train page", icon="🏋️")
        return
    if st.button(f"Train a quick default model ({estimate.split(' (')[0]})", key=f"{key}_quick_train", type="primary",
                 help=f"{config.arch} width {config.width:g}, {config.epochs} epochs on {n_train:,} training images: {estimate}"):
        dataset = dataset or get_dataset()
        job = manager.submit(config, dataset, owner=session_tag())
        st.session_state["train_job"] = job.id
        st.switch_page(nav.TRAIN)
    st.caption(f"Estimated {estimate}. Or choose your own settings on the Train page.")


def pick_run(label="Run", key="run", dataset=None, arch=None, help=None, keras_only=False):
    """A run selector; on no runs it says so, offers a quick training, then stops the page."""
    dataset = dataset or get_dataset()
    runs = runs_for_dataset(dataset, arch, keras_only)
    if not runs and keras_only and runs_for_dataset(dataset, arch):
        st.info("The runs on this data set are imported TFLite or ONNX models: they give predictions only, and this "
                "page reads a Keras model's layers or gradients. Train a model here, or import a Keras file.")
        st.stop()
    if not runs:
        what = f" ({'/'.join(arch)})" if arch else ""
        st.warning(f"No trained model{what} for this data set yet ({dataset.name}). This page needs one.")
        offer_quick_training(dataset, key=f"{key}_pick")
        st.page_link(nav.TRAIN, label="Open the Train page", icon="🏋️")
        st.stop()
    ids = [r.id for r in runs]
    default = st.session_state.get(key)
    index = ids.index(default) if default in ids else 0
    labels = {r.id: r.label for r in runs}
    chosen = st.selectbox(label, ids, index=index, key=f"_{key}_select", format_func=lambda i: labels.get(i, i), help=help)
    st.session_state[key] = chosen
    return next(r for r in runs if r.id == chosen)


def default_runs(runs, handed_run=None):
    """The handed run, then the most accurate CNN, DNN and MobileNet (newest first among equals)."""
    chosen = [handed_run] if handed_run in [r.id for r in runs] else []
    by_accuracy = sorted(runs, key=lambda r: -(r.meta.get("test_accuracy") or 0.0))  # stable: keeps newest first
    for arch in ARCH_NAMES:
        for r in by_accuracy:
            if r.meta.get("arch") == arch:
                if r.id not in chosen and not any(get_arch(runs, c) == arch for c in chosen):
                    chosen.append(r.id)
                break
    return chosen or [runs[0].id]


def get_arch(runs, run_id):
    return next((r.meta.get("arch") for r in runs if r.id == run_id), None)
