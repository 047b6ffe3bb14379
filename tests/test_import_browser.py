"""A model uploaded on the Models page, in headless Chromium: imported, then offered by the run
pickers and explained. Needs /usr/bin/chromium and playwright; skips cleanly without them."""
from __future__ import annotations

import pytest

from browser_harness import (CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser, streamlit_server,
                             wait_idle)
from test_import import _onnx_linear

ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
TIMEOUT_S = 240
PICKER_PAGES = ("evaluate", "compare", "misclassified", "class_maps", "saliency")  # Your face shows its pickers once it has a photo

pytestmark = [pytest.mark.browser, skip_without_browser()]


def test_an_uploaded_onnx_model_appears_in_the_run_pickers_and_its_maps_show(tmp_path):
    """An empty run store: the ONNX file uploaded on the Models page is scored on the demo faces and
    becomes the run every picker opens on; Saliency shows its occlusion and RISE maps."""
    _onnx_linear(tmp_path / "browser_guest.onnx", 7, seed=20)
    sync_api = playwright_sync_api()
    with streamlit_server(tmp_path / "runs", log_path=tmp_path / "server.log") as url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.set_default_timeout(TIMEOUT_S * 1000)
        watcher = RunWatcher(page)
        try:
            page.goto(f"{url}/models")
            watcher.wait_next(page, 0, TIMEOUT_S)
            seen = len(watcher.finished)
            page.get_by_text("Import a model", exact=True).click()
            watcher.wait_next(page, seen, TIMEOUT_S)
            seen = len(watcher.finished)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tmp_path / "browser_guest.onnx"))
            watcher.wait_next(page, seen, TIMEOUT_S)
            page.get_by_role("button", name="Import and score it").click()
            page.get_by_text("Imported browser_guest").wait_for()
            assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
            for name in PICKER_PAGES:
                seen = len(watcher.finished)
                page.goto(f"{url}/{name}")
                watcher.wait_next(page, seen, TIMEOUT_S)
                wait_idle(page, TIMEOUT_S)
                assert "browser_guest — imported ONNX" in page.content(), name  # the chosen run, as its picker labels it
                assert page.locator(ERRORS).count() == 0, (name, page.locator(ERRORS).all_inner_texts())
            # Saliency (the last page): the forward methods, chosen by default for an ONNX model, drawn
            page.get_by_text("RISE", exact=True).first.wait_for()
            assert page.get_by_text("does not apply").count() == 0
            assert page.locator('[data-testid="stImage"] img').count() >= 3  # the face, the maps' strip, the colour bar
        finally:
            browser.close()
