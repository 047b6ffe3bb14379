"""Running a page's independent computations on a small thread pool, inside its script run."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, List


def map_in_threads(fn: Callable, items: Iterable, workers: int = 2) -> List:
    """`[fn(item) for item in items]` on `workers` threads, in order; the first exception is raised.

    Why: one face's maps are many small TensorFlow calls (a few ms of kernels each, wrapped in
    Python); two threads keep both cores busy while the other holds the GIL. Each worker gets the
    script run's context, so Streamlit's caches inside `fn` behave as in the script thread.
    """
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    ctx = get_script_run_ctx()

    def attach():
        if ctx is not None:
            add_script_run_ctx(threading.current_thread(), ctx)

    with ThreadPoolExecutor(max_workers=workers, initializer=attach) as pool:
        return list(pool.map(fn, items))


def without_page_elements() -> None:
    """Let a background thread use Streamlit's caches without drawing anything on any page.

    Why: a cache miss draws its spinner, and a thread outside a script run has no page to draw
    on: Streamlit logs "missing ScriptRunContext" for each one. Streamlit draws no spinner for
    a cached function called from inside another cached function; marking the thread so (a
    context variable, this thread's own) gives its cache calls that behaviour and nothing else.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function

    in_cached_function.set(True)
