"""The server log in normal use: every page visited in Chromium, on the demo faces and on FER2013.

A teacher serving a class reads this log for what went wrong; warnings from the app's own code
or from TensorFlow about it (threads without a script context, functions traced again and again,
NumPy's empty-slice warnings) bury what matters. The one thing allowed is TensorFlow's notice at
its first import that oneDNN is on (the app turns oneDNN on, measured faster here, and
TensorFlow prints that notice before its logging can be configured).
"""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from browser_harness import (CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser,
                             streamlit_server, wait_idle)

ROOT = Path(__file__).resolve().parents[1]
FER2013 = ROOT.parent / "shared" / "data" / "fer2013"
sync_api = playwright_sync_api()
pytestmark = [pytest.mark.browser, skip_without_browser()]

NOISE = re.compile(r"warn|error|traceback|deprecat|retracing|exception|missing scriptruncontext", re.IGNORECASE)
TENSORFLOW_IMPORT_NOTICE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on.",
)



def noisy_lines(log: str) -> list:
    """The log's lines that warn or report an error, TensorFlow's import notice left out."""
    return [line for line in log.splitlines()
            if NOISE.search(line) and not any(notice in line for notice in TENSORFLOW_IMPORT_NOTICE)]


def test_noisy_lines_finds_what_the_issue_saw_and_keeps_the_import_notice():
    log = "\n".join([
        "2026-12-07 05:13:29.239 Thread 'fer-warmup': missing ScriptRunContext! This warning can be ignored",
        "WARNING:tensorflow:5 out of the last 16 calls to <function f> triggered tf.function retracing.",
        "/work/main/fer/explain/measure.py:86: RuntimeWarning: Mean of empty slice",
        TENSORFLOW_IMPORT_NOTICE[0],
        "I0000 00:00:1796608615.001711   11458 port.cc:153] " + TENSORFLOW_IMPORT_NOTICE[1] + " You may see ...",
        "  You can now view your Streamlit app in your browser.",
        "  Stopping...",
    ])
    assert len(noisy_lines(log)) == 3


@pytest.mark.parametrize("data", ["demo", "fer2013"])
def test_visiting_every_page_leaves_no_warning_in_the_server_log(data, tmp_path):
    env = {"HOME": str(tmp_path), "FER_CACHE_DIR": str(tmp_path / "cache")}
    if data == "fer2013":
        if not (FER2013 / "train").is_dir():
            pytest.skip("needs ../shared/data/fer2013")
        env["FER_DATA"] = str(FER2013)
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)  # pages may keep results beside the runs
    log_path = tmp_path / "server.log"
    with streamlit_server(models, env=env, log_path=log_path) as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            runs = RunWatcher(page)
            page.goto(url, wait_until="domcontentloaded")
            runs.wait_next(page, 0, 300)
            wait_idle(page, timeout_s=600)
            links = page.locator('[data-testid="stSidebarNav"] a')
            for k in range(links.count()):
                seen = len(runs.finished)
                page.locator('[data-testid="stSidebarNav"] a').nth(k).click()
                runs.wait_next(page, seen, 600)
                wait_idle(page, timeout_s=600)
        finally:
            browser.close()
        time.sleep(2)  # what the warm-up logs while the last page settles
    assert not noisy_lines(log_path.read_text(errors="replace")), "\n".join(noisy_lines(log_path.read_text()))
