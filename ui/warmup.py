"""Warm the process up in the background once the first page has been drawn.

A fresh server spends its first visits importing TensorFlow, Keras and tf-keras-vis, loading the
default runs and tracing their explanation functions: seconds on the Models and Saliency pages of a
2-core machine, paid by whichever page the user opens second. One low-priority thread, started
once per process after the first script run, does that work while the user reads the Overview;
the data set and the models go into the same caches the pages read (`ui.data`, `ui.cache.load_model`),
so a page opened later finds them loaded and traced. Nothing here may fail a page: errors only end the warm-up.
"""
from __future__ import annotations

import logging
import os
import threading

from fer import settings, stopping
from ui.store import get_store
from ui.threads import without_page_elements

LOG = logging.getLogger(__name__)


def _runs_to_warm(fingerprint: str) -> list:
    """The runs the pages open on by default: the most accurate CNN, DNN and MobileNet trained on
    the current data and on real faces (Saliency, Your face, Filters, Evaluate...)."""
    from fer.runs import on_real_faces
    from ui.pickers import default_runs

    runs = get_store().list()
    on_data = [r for r in runs if (r.meta.get("dataset") or {}).get("fingerprint") == fingerprint]
    real = [r for r in runs if on_real_faces(r)]
    chosen = []
    for group in (on_data, real):
        if group:
            chosen += [rid for rid in default_runs(group) if rid not in chosen]
    return chosen


def _warm(source) -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: this thread only
    except (AttributeError, OSError):
        pass
    without_page_elements()
    try:
        import numpy as np

        from fer.explain import METHOD_NAMES, compute_maps, predict  # TensorFlow, Keras, tf-keras-vis
        from fer.data.access import check_allowed
        from ui.cache import load_model, test_probs
        from ui.data import _load, _source_stamp

        check_allowed(source)
        dataset = _load(source, _source_stamp(source))  # the data set the pages will ask for
        face = np.full((1, 48, 48), 128, np.uint8)
        runs = _runs_to_warm(dataset.fingerprint)
        for run_id in runs:  # every default run's predictions first: what a page shows before any map
            predict(load_model(run_id), face)
        import altair  # noqa: F401 - the charts' first import
        import sklearn.metrics  # noqa: F401

        on_data = [r for r in get_store().list() if (r.meta.get("dataset") or {}).get("fingerprint") == dataset.fingerprint]
        for run in on_data:  # Evaluate, Compare, Misclassified: the test split's scores (kept on disk)
            test_probs(run, dataset)
        _warm_class_maps_and_filters(on_data, dataset)
        for run_id in runs:  # last: Saliency opens on kept maps; these serve the next faces
            compute_maps(load_model(run_id), face, 0, list(METHOD_NAMES))  # traces each method's functions once
    except stopping.Stopped:  # the process is ending; its exit waits for this thread
        return
    except Exception as exc:  # noqa: BLE001 - warming is an optimisation, never an error
        LOG.info("warm-up stopped: %s", exc)


def _warm_class_maps_and_filters(on_data: list, dataset) -> None:
    """What the Class maps and Filters pages compute first for their default runs (featured first)."""
    from fer.explain.filters import AscentSettings
    from fer.explain.kept import default_filter_layer
    from ui.cache import (comparison_runs, exemplars, load_model, map_methods, map_sample, maps_agreement, preferred_inputs,
                          test_maps)

    if not on_data or not len(dataset.split("test")[1]):
        return
    first = on_data[0]
    method = map_methods(first)[2]  # the method Class maps opens the run on
    if method:
        test_maps(first, dataset.fingerprint, method, "predicted", dataset, map_sample(method))
        others = comparison_runs(first, method, on_data)
        if others and map_sample(method) is None:  # the side-by-side default: both runs' maps and their agreement
            maps_agreement(first, others[0], dataset, method)
    convolutional = [r for r in on_data if r.meta.get("arch") != "dnn"]
    if convolutional:
        run = convolutional[0]
        layer = default_filter_layer(load_model(run))
        exemplars(run, layer, dataset.fingerprint, 6, dataset)
        for engine in ("batched", "fourier"):
            preferred_inputs(run, layer, engine, AscentSettings().key(), 0, dataset)


_STARTED = threading.Event()  # once per process, whatever Streamlit's caches go through


def warm_up_in_background(source) -> None:
    """Start the warm-up thread once per process (later calls do nothing; `FER_WARMUP=0`: never)."""
    if settings.warmup() and not _STARTED.is_set():
        _STARTED.set()
        stopping.watch(threading.Thread(target=_warm, args=(source,), name="fer-warmup", daemon=True)).start()
