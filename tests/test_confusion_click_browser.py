"""Clicking a cell of Evaluate's confusion chart in headless Chromium opens that cell on another page.

The chart is Vega-Lite (SVG): the test clicks the centre of the "fear predicted as sad" rectangle
and expects the Class maps page on that cell; with "its faces" chosen above the chart, the same
click opens the Misclassified browser filtered to it. Runs on the shipped demo runs and the
built-in faces (no ../shared needed). Needs /usr/bin/chromium and playwright; skips without them.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from browser_harness import CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser, streamlit_server

ROOT = Path(__file__).resolve().parents[1]
DEMO = ("demo-cnn-w0.125", "demo-dnn-matched", "demo-mobilenet-w0.5")
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
TIMEOUT_S = 240
CELL = '[data-testid="stVegaLiteChart"] g.mark-rect path[aria-label*="predicted class: sad; true class: fear;"]'

pytestmark = [pytest.mark.browser, skip_without_browser()]


def _settled(page, runs, seen: int) -> None:
    runs.wait_next(page, seen, TIMEOUT_S)
    page.wait_for_timeout(1500)  # a switch_page starts a second run: let it finish too
    while page.locator('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stSpinner"]').count():
        page.wait_for_timeout(200)


def _click_cell(page, runs) -> None:
    cell = page.locator(CELL).first
    cell.wait_for(timeout=TIMEOUT_S * 1000)
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = cell.bounding_box()
    seen = len(runs.finished)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    _settled(page, runs, seen)


def test_a_click_on_evaluates_confusion_chart_opens_the_cells_maps_or_faces(tmp_path):
    root = tmp_path / "models"
    for run in DEMO:
        shutil.copytree(ROOT / "models" / run, root / run)
    sync_api = playwright_sync_api()
    with streamlit_server(root, env={"FER_WARMUP": "0"}, log_path=tmp_path / "streamlit.log") as url, \
            sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a chromium that cannot start here is an environment problem
            pytest.skip(f"chromium would not start: {str(exc).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_S * 1000)
            runs = RunWatcher(page)
            page.goto(url + "/evaluate")
            _settled(page, runs, 0)
            _click_cell(page, runs)
            page.get_by_text("fear predicted as sad", exact=False).first.wait_for()
            assert page.url.endswith("/class_maps")
            assert "(the largest confusion" not in page.locator('[data-testid="stMain"]').inner_text()
            assert not page.locator(ERRORS).count()

            seen = len(runs.finished)
            page.goto(url + "/evaluate")
            _settled(page, runs, seen)
            seen = len(runs.finished)
            page.get_by_text("its faces (Misclassified)", exact=True).click()
            _settled(page, runs, seen)
            _click_cell(page, runs)
            page.locator("h1", has_text="Misclassified").wait_for()
            assert page.get_by_role("combobox", name="True class").input_value() == "fear"
            assert page.get_by_role("combobox", name="Predicted class").input_value() == "sad"
            assert not page.locator(ERRORS).count()
        finally:
            browser.close()
