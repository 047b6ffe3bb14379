"""Helpers the browser test and bench/app_latency.py share: Chromium, a free port, run watching."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path():
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def playwright_sync_api():
    """Playwright's sync API, or None when the package is not installed (the browser tests skip)."""
    try:
        from playwright import sync_api
    except ImportError:
        return None
    return sync_api


def skip_without_browser():
    """A pytest mark that skips a browser test when Chromium or playwright is missing."""
    import pytest

    return pytest.mark.skipif(
        chromium_path() is None or playwright_sync_api() is None,
        reason="needs /usr/bin/chromium (apt-get install -y chromium) and playwright (requirements-dev.txt)",
    )


BUSY_JS = """() => !!document.querySelector(
    '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"],'
    + ' [data-testid="stSpinner"], [data-testid="stSkeleton"], [data-testid="stAppSkeleton"], [data-stale="true"]')"""


def wait_idle(page, timeout_s: float = 180.0, settle_s: float = 1.5) -> None:
    """Wait until the script run has finished: no running icon, spinner or skeleton for `settle_s`."""
    deadline = time.time() + timeout_s
    quiet_since = None
    while time.time() < deadline:
        if page.evaluate(BUSY_JS):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since >= settle_s:
            return
        page.wait_for_timeout(200)
    raise TimeoutError(f"page still running after {timeout_s:.0f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunWatcher:
    """Sees each finished script run by decoding Streamlit's websocket messages (ForwardMsg)."""

    def __init__(self, page):
        self.finished = []  # time.perf_counter() of each full script run that finished
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload):
        if isinstance(payload, str):
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg
            return
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
            self.finished.append(time.perf_counter())

    def wait_next(self, page, seen: int, timeout_s: float) -> float:
        """Wait for the first full run finishing after `seen` runs; returns when it finished."""
        deadline = time.perf_counter() + timeout_s
        while len(self.finished) <= seen:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no script run finished within {timeout_s:.0f} s")
            page.wait_for_timeout(20)
        return self.finished[seen]


def start_streamlit(models_dir, env: dict | None = None, log_path=None, timeout_s: float = 120.0, poll_s: float = 0.3):
    """`streamlit run streamlit_app.py` on a free 127.0.0.1 port with FER_MODELS_DIR=models_dir,
    once it answers: (process, url, log path). The caller stops the process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "FER_MODELS_DIR": str(models_dir), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
                **(env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    log_path = Path(log_path or Path(tempfile.mkdtemp(prefix="fer-streamlit-log-")) / "streamlit.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; log: {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url, log_path
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise TimeoutError(f"streamlit did not answer within {timeout_s:.0f} s; log: {log_path}") from None
            time.sleep(poll_s)


@contextlib.contextmanager
def streamlit_server(models_dir, env: dict | None = None, log_path=None, timeout_s: float = 120.0, poll_s: float = 0.3):
    """`streamlit run streamlit_app.py` on a free 127.0.0.1 port with FER_MODELS_DIR=models_dir; yields its URL."""
    proc, url, _ = start_streamlit(models_dir, env, log_path, timeout_s, poll_s)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
