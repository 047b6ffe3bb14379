"""The process is stopping: one question every long loop asks, and an exit that waits for the work threads.

    for batch in batches:
        stopping.check()          # raises Stopped once the process is ending
        ...
    stopping.watch(thread)        # the exit waits (a few seconds) for this thread to end

Why: a thread still inside TensorFlow when the interpreter finalises aborts the process
("terminate called after throwing an instance of ..."): Python ends a daemon thread that wants
the interpreter back by unwinding it through C++ frames that forbid it. The app's background
threads (warm-up, training queue) and Streamlit's script threads are daemon threads that spend
their time in TensorFlow. So: once the main thread has ended (Ctrl-C or SIGTERM stopped the
server, or a script that imported the app returned) or `request()` was called, `check()` raises
`Stopped` in whichever thread reaches a loop's next step, and the exit joins the watched threads
(at most a few seconds: one long TensorFlow call is not waited for). A process that knows its
exit status (the Streamlit server: 0 once stopped; `end_without_finalising`) then ends at once,
without the finalisation that can crash with TensorFlow half used; any other process (a test
run, a script) finalises as usual, so its own exit status is kept. A thread of a script's own
that uses these loops and is still working when the main thread ends is stopped too: join it
before the main thread returns if it must finish.

No TensorFlow or Streamlit import here: every layer may ask.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref

JOIN_DEADLINE_S = 6.0  # with Streamlit's own stop (about a second) inside a 10 s budget

_REQUESTED = threading.Event()
_WATCHED: "weakref.WeakSet[threading.Thread]" = weakref.WeakSet()
_status_without_finalising: int | None = None


class Stopped(BaseException):
    """Raised by `check()` while the process stops. A BaseException, like KeyboardInterrupt, so
    the handlers that keep a page or the warm-up alive (`except Exception`) let it through."""


def requested() -> bool:
    """True once the process is stopping: `request()` was called or the main thread has ended
    (Python marks it stopped before it joins other threads or runs exit handlers)."""
    return _REQUESTED.is_set() or not threading.main_thread().is_alive()


def check() -> None:
    """Raise `Stopped` when the process is stopping; call it between the steps of long work."""
    if requested():
        raise Stopped("the process is stopping")


def request() -> None:
    """Ask every loop that calls `check()` to stop (the exit does this by itself)."""
    _REQUESTED.set()


def end_without_finalising(status: int = 0) -> None:
    """Declare this process's exit status: when watched threads were busy at its exit, it ends with
    `status` as soon as they stopped, without finalising (the Streamlit server, stopped by a signal)."""
    global _status_without_finalising
    _status_without_finalising = status


def watch(thread: threading.Thread) -> threading.Thread:
    """Have the exit wait for `thread` (at most JOIN_DEADLINE_S for all of them); returns it."""
    _WATCHED.add(thread)
    return thread


def busy_threads() -> list:
    """The watched threads still running, this one excluded."""
    me = threading.current_thread()
    return [t for t in list(_WATCHED) if t.is_alive() and t is not me]


def _finish_threads() -> list:
    """Request the stop and join the watched threads until the deadline; the ones left running."""
    request()
    end = time.monotonic() + JOIN_DEADLINE_S
    for thread in busy_threads():
        thread.join(max(0.0, end - time.monotonic()))
    return busy_threads()


_busy_at_exit = False


def _stop_watched_threads() -> None:
    """Request the stop and wait for the watched threads to reach a `check()`. It runs among the
    first things the exit does: every exit handler registered after this module's import (those
    of TensorFlow and the libraries around it, which tear their state down) runs before an
    `atexit` handler of ours, and a thread still inside TensorFlow then fails with a bogus error
    (measured: a Keras layer handed a tuple where a tensor was) before it reaches its next check."""
    global _busy_at_exit
    request()
    if _busy_at_exit or not busy_threads():
        return
    _busy_at_exit = True
    left = _finish_threads()
    if left:
        names = ", ".join(sorted({t.name for t in left}))
        logging.getLogger(__name__).info("stopping without waiting for %s (busy in one long call)", names)


def _at_exit() -> None:
    """When watched threads were busy at the exit, a process with a declared status ends at once.
    Why: a thread stopped part-way through TensorFlow leaves it half set up (an import that
    finished during the exit was measured to end the server in a segmentation fault), and one
    still inside it aborts the process. Others finalise: only they know their status."""
    _stop_watched_threads()  # done already where the early exit hook exists
    if not _busy_at_exit or _status_without_finalising is None:
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(_status_without_finalising)


def _register() -> None:
    """The stop, and the wait for the watched threads, as the first thing the interpreter does at
    exit, before it waits for any other thread or runs any `atexit` handler.

    `threading._register_atexit` (what `concurrent.futures` uses) runs before Python joins the
    non-daemon threads, and a thread pool's exit handler waits for every task already queued
    (a data set's decode would run to its end); registered after it, ours runs first, so the
    queued tasks stop at their first `check()`. Where it is missing, the main thread's end
    still counts (`requested`), and `atexit` joins the watched threads."""
    import concurrent.futures.thread  # noqa: F401 - its exit handler first, so that ours runs before it

    register_early = getattr(threading, "_register_atexit", None)
    if register_early is not None:
        register_early(_stop_watched_threads)
    atexit.register(_at_exit)
    threading.excepthook = _quiet_when_stopped(threading.excepthook)


def _quiet_when_stopped(previous):
    """A thread that `Stopped` ended did what was asked: no traceback for it, others as before."""

    def hook(args):
        if not issubclass(args.exc_type, Stopped):
            previous(args)

    return hook


_register()
