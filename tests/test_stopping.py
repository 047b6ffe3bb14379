"""Clean stops: a process that ends while its work threads compute exits with its own status.

The fast tests run small scripts in subprocesses (the exit handlers only run when a process
ends); the slow one ends a script that rendered the app under `AppTest` while the warm-up
computes; the browser tests signal a real server (tests/test_server_stops_browser.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CRASH_SIGNS = ("terminate called", "FATAL", "Traceback", "Segmentation fault", "Aborted", "core dumped")


def _run(script: str, *args, timeout: float = 120.0, env: dict | None = None):
    """Run `script` with the repository on sys.path; (exit status, output, seconds)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *map(str, args)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


WORKER = """
import sys, threading, time
from fer import stopping

def work(out):
    try:
        while True:
            stopping.check()
            time.sleep(0.01)
    except stopping.Stopped:
        time.sleep(0.3)  # tidying up: the exit waits for it
        with open(out, "w") as fh:
            fh.write("stopped at a check")

stopping.watch(threading.Thread(target=work, args=(sys.argv[1],), daemon=True)).start()
time.sleep(0.2)
"""


def test_a_script_ends_with_status_0_after_its_work_thread_stopped_at_a_check(tmp_path):
    out = tmp_path / "worker.txt"
    status, output, _ = _run(WORKER, out)
    assert status == 0, output
    assert out.read_text() == "stopped at a check"  # the daemon thread finished its tidying before the exit


@pytest.mark.parametrize("ending, status", [("1 / 0", 1), ("raise SystemExit(3)", 3)])
def test_a_script_keeps_its_own_exit_status_while_a_thread_works(ending, status, tmp_path):
    """A test run that failed must not exit 0 because a background thread was busy at its end."""
    out = tmp_path / "worker.txt"
    code, output, _ = _run(WORKER + ending + "\n", out)
    assert code == status, output
    assert out.read_text() == "stopped at a check"


def test_a_server_that_declared_its_status_ends_with_it_once_the_threads_stopped(tmp_path):
    out = tmp_path / "worker.txt"
    code, output, _ = _run(WORKER + "stopping.end_without_finalising(0)\nraise SystemExit(5)\n", out)
    assert code == 0, output  # the declared status, not finalising (where TensorFlow may crash)
    assert out.read_text() == "stopped at a check"


def test_a_thread_in_one_long_call_is_not_waited_for_past_the_deadline(tmp_path):
    script = """
    import threading, time
    from fer import stopping
    stopping.JOIN_DEADLINE_S = 0.5
    stopping.watch(threading.Thread(target=time.sleep, args=(60,), daemon=True, name="long-call")).start()
    """
    status, output, seconds = _run(script)
    assert status == 0, output
    assert seconds < 20  # not the thread's 60 s


def test_unwatched_or_finished_threads_leave_the_exit_as_it_was(tmp_path):
    script = """
    import threading
    from fer import stopping
    t = stopping.watch(threading.Thread(target=lambda: None))
    t.start(); t.join()
    assert stopping.busy_threads() == []
    assert not stopping.requested()
    print("normal exit")
    """
    status, output, _ = _run(script)
    assert status == 0 and "normal exit" in output, output


MAPS_WORKER = """
import sys, threading, time
import numpy as np
from fer import stopping
from fer.explain import METHOD_NAMES, compute_maps
from fer.models import build_model

model = build_model("cnn", 0.25)
faces = np.random.default_rng(0).integers(0, 255, (64, 48, 48)).astype(np.uint8)
busy = threading.Event()

def work(out):
    try:
        while True:
            compute_maps(model, faces, 0, list(METHOD_NAMES))
            busy.set()
    except stopping.Stopped:
        with open(out, "w") as fh:
            fh.write("stopped between batches")

stopping.watch(threading.Thread(target=work, args=(sys.argv[1],), daemon=True)).start()
busy.wait()
time.sleep(1.0)
"""


@pytest.mark.slow
def test_a_script_ends_cleanly_while_a_thread_computes_maps_in_tensorflow(tmp_path):
    """Without the stop, Python's finalisation meets the thread inside TensorFlow and aborts
    ("terminate called ...", status 134) in a share of the runs; with it, the thread stops at
    its next batch and the exit waits for that, every time."""
    out = tmp_path / "worker.txt"
    status, output, _ = _run(MAPS_WORKER, out, timeout=300)
    assert status == 0, output[-3000:]
    assert not [s for s in CRASH_SIGNS if s in output], output[-3000:]
    assert out.read_text() == "stopped between batches"


APPTEST = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("streamlit_app.py", default_timeout=300)
at.run()
assert not at.exception, at.exception
print("rendered", flush=True)
import time; time.sleep(20)  # the warm-up is inside TensorFlow by now (imports done, maps being traced)
"""


@pytest.mark.slow
def test_a_script_that_rendered_the_app_exits_0_while_the_warm_up_computes(tmp_path):
    """The warm-up thread starts after the first page and works in TensorFlow for a minute: the
    script's end must neither abort (status 134) nor wait for it."""
    status, output, seconds = _run(APPTEST, timeout=600, env={"FER_CACHE_DIR": str(tmp_path / "cache"),
                                                             "HOME": str(tmp_path)})
    assert "rendered" in output, output[-3000:]
    assert status == 0, output[-3000:]
    assert not [s for s in CRASH_SIGNS if s in output], output[-3000:]


def test_only_a_streamlit_run_server_declares_its_status():
    script = """
    from streamlit.testing.v1 import AppTest
    from ui.runtime import served_by_streamlit_run
    print("script:", served_by_streamlit_run())
    import streamlit.web.bootstrap  # what `streamlit run` runs the server with
    print("server:", served_by_streamlit_run())
    """
    code, output, _ = _run(script)
    assert code == 0 and "script: False" in output and "server: True" in output, output
