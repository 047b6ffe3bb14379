"""Models and results keyed by a run's model file: a retrained run is loaded and scored afresh.

`per_run` turns `fn(model, ...)` into a Streamlit-cached `fn(run, ...)` whose key is the run
id, its model file's path and mtime and fn's other arguments (those named `_x` are not hashed,
Streamlit's rule). It replaces a hand-written `(run_id, mtime, ...)` wrapper per result.
"""
from __future__ import annotations

import functools
import hashlib
import inspect

import streamlit as st

from fer.runs import MODEL_FILE, Run, RunError
from ui.store import get_store


def resolve(run) -> Run:
    return run if isinstance(run, Run) else get_store().get(run)


def model_mtime(run: Run) -> float:
    try:
        return run.model_path.stat().st_mtime
    except OSError as exc:
        raise RunError(f"run {run.id}: cannot read {MODEL_FILE} ({exc.strerror or exc})") from None


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _load_model(run_id: str, model_path: str, mtime: float):
    return get_store().get(run_id).load_model()


def load_model(run):
    """The Keras model of a run or run id (cached); raises RunError for a missing or broken run."""
    run = resolve(run)
    return _load_model(run.id, str(run.model_path), model_mtime(run))


def per_run(**cache_options):
    """`st.cache_data(**cache_options)` for `fn(model, ...)`, called as `fn(run_or_id, ...)`."""

    def decorate(fn):
        signature = inspect.signature(fn)
        code = hashlib.sha1(inspect.getsource(fn).encode()).hexdigest()  # a changed fn is a new cache

        def keyed(run_id, model_path, mtime, code, hashed, _unhashed):
            return fn(load_model(run_id), **dict(hashed), **_unhashed)

        keyed.__module__, keyed.__qualname__ = fn.__module__, fn.__qualname__  # one cache per fn
        cached = st.cache_data(**cache_options)(keyed)

        @functools.wraps(fn)
        def call(run, *args, **kwargs):
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            values = list(bound.arguments.items())[1:]  # all but the model
            hashed = tuple((k, v) for k, v in values if not k.startswith("_"))
            run = resolve(run)
            return cached(run.id, str(run.model_path), model_mtime(run), code, hashed,
                          {k: v for k, v in values if k.startswith("_")})

        call.clear = cached.clear
        return call

    return decorate


# persist="disk" (in ~/.streamlit/cache): a restarted app does not score every run again.
@per_run(show_spinner="Scoring the test split…", max_entries=64, persist="disk")
def _test_probs(model, fingerprint: str, _dataset):
    from fer.evaluate import predict_proba

    images, _ = _dataset.split("test")
    return predict_proba(model, images)


def test_probs(run, dataset):
    """Class probabilities (N_test, 7) of `run` on `dataset`'s test split (cached per run and data)."""
    return _test_probs(run, dataset.fingerprint, dataset)


def test_probs_or_stop(run, dataset):
    """test_probs, or a clear message and a stopped page when the run's model cannot be used."""
    try:
        return test_probs(run, dataset)
    except RunError as exc:
        st.error(f"This run cannot be used: {exc}")
        st.info("Pick another run, or delete the broken folder from the run store.")
        st.stop()
    except Exception as exc:  # noqa: BLE001 - e.g. a model that does not fit 48x48 input
        st.error(f"Scoring run {run.id} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        st.stop()


@st.cache_data(show_spinner="Building the model…", max_entries=256)
def model_summary(arch: str, width: float, depth: int | None = None, batchnorm: bool = True, match_params: int | None = None):
    """(layer table, counts dict) of an untrained model; cached per configuration."""
    from fer.models import build_model, summary_table

    opts = {"depth": depth, "batchnorm": batchnorm}
    if arch == "dnn" and match_params:
        opts["match_params"] = int(match_params)
    return summary_table(build_model(arch, float(width), **opts))
