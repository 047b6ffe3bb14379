"""Adjustments to Streamlit's runtime for a process that trains models and explains them in threads.

(The other one, no full garbage collection after every script run, is `runner.postScriptGC =
false` in .streamlit/config.toml: with TensorFlow and a few models loaded, `gc.collect(2)` takes
a large part of a second and delayed every rerun by as much; Python's own generational collection still runs.)
"""
from __future__ import annotations

import sys

from fer import stopping


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


def served_by_streamlit_run() -> bool:
    """True in a server started by `streamlit run` (its bootstrap module runs the server), False
    under AppTest or in a script that imports the app. (`streamlit run` replaces `sys.argv[0]` and
    `__main__` with the app's script, so neither tells.)"""
    return "streamlit.web.bootstrap" in sys.modules


def stop_as_a_server() -> None:
    """Under `streamlit run`: a stop that found the app's threads busy ends with status 0 once they
    have stopped, without finalising TensorFlow (`fer.stopping`). Elsewhere the process keeps its
    own exit status (a test run that failed must not exit 0)."""
    if served_by_streamlit_run():
        stopping.end_without_finalising(0)
