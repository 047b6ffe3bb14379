"""Helpers the browser test and bench/app_latency.py share: Chromium, a free port, run watching."""
from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path():
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


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
