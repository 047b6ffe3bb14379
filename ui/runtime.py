"""Two adjustments to Streamlit's script runner for a process that trains models in threads."""
from __future__ import annotations

import sys

from ui.store import get_jobs


def keep_keras_state_between_runs():
    """Stop Streamlit from resetting Keras after every script run.

    After each run (every fragment tick of every open tab included) Streamlit calls
    `keras.backend.clear_session()`, which swaps Keras' global state, clears TensorFlow's kernel
    cache and runs a full garbage collection. With a training running in a background thread of
    the same process that starves it (measured: still tracing its first batch after 2.5 min with
    two Train tabs open) and pulls Keras state from under it. This app builds models on purpose
    and caches them (st.cache_resource), so there is nothing to clear; matplotlib figures are
    still closed as before. Idempotent; a Streamlit without this hook is left alone.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner as _runner
    except ImportError:
        return
    current = getattr(_runner, "_clean_problem_modules", None)
    if current is None or getattr(current, "_fer_keeps_keras", False):
        return

    def _clean_problem_modules():
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            try:
                plt.close("all")
            except Exception:  # noqa: BLE001 - as Streamlit's own version
                pass

    _clean_problem_modules._fer_keeps_keras = True
    _runner._clean_problem_modules = _clean_problem_modules


def no_full_gc_while_training(manager=None):
    """Streamlit runs gc.collect(2) after every script run (config runner.postScriptGC); with
    TensorFlow loaded that holds the GIL for a long time on every fragment tick. Skip it while
    a training runs (Python's automatic collection still works); restore it when idle."""
    try:
        from streamlit import config as _config

        busy = (manager or get_jobs()).busy
        if _config.get_option("runner.postScriptGC") == busy:
            _config.set_option("runner.postScriptGC", not busy, "fer app: no full GC while a training runs")
    except Exception:  # noqa: BLE001 - a tuning knob, never an error for the user
        pass
