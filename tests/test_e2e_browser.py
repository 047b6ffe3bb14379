"""End to end: the real app in headless Chromium, every page in the navigation, with screenshots.

Needs Debian's `chromium` (/usr/bin/chromium; `apt-get install -y chromium`) and the `playwright`
Python package (requirements-dev.txt); it never downloads Playwright's own browsers. Skips
cleanly when either is missing. Screenshots go to test-artifacts/e2e/ (git-ignored) or to
$FER_E2E_ARTIFACTS.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser_harness import (CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser,
                             streamlit_server, wait_idle)

ROOT = Path(__file__).resolve().parents[1]
PAGE_TIMEOUT_MS = 180_000  # a cold TensorFlow import and first predictions on 2 shared cores


CHROMIUM = chromium_path()
sync_api = playwright_sync_api()
pytestmark = [pytest.mark.browser, skip_without_browser()]


def screenshot(page, path: Path, width: int = 1400) -> None:
    """The whole page: Streamlit scrolls inside its main container, so grow the viewport to fit it."""
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 1000; }")
    page.set_viewport_size({"width": width, "height": max(1000, min(int(height) + 40, 8000))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 1000})


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """A tmp run store with one tiny DNN trained on the built-in data (the sidebar's default)."""
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import TrainConfig, train

    root = tmp_path_factory.mktemp("e2e-models")
    train(TrainConfig(arch="dnn", width=0.25, epochs=1, max_train_images=300, patience=0, description="e2e fixture"),
          load_dataset("synthetic"), RunStore(root))
    return root


def test_click_through_every_page_in_chromium(seeded_store, tmp_path):
    executable = CHROMIUM
    artifacts = Path(os.environ.get("FER_E2E_ARTIFACTS") or ROOT / "test-artifacts" / "e2e")
    artifacts.mkdir(parents=True, exist_ok=True)
    with streamlit_server(seeded_store, log_path=tmp_path / "streamlit.log") as url, sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a chromium that cannot start here is an environment problem
            pytest.skip(f"chromium would not start: {str(exc).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS)  # a loaded 2-core machine serves slowly
            problems = []
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            runs = RunWatcher(page)
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("heading", name="FER workbench").first.wait_for(timeout=60_000)
            runs.wait_next(page, 0, PAGE_TIMEOUT_MS / 1000)
            wait_idle(page)
            screenshot(page, artifacts / "00-overview.png")

            nav = page.locator('[data-testid="stSidebarNav"] a')
            labels = [nav.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(nav.count())]
            assert len(labels) >= 10, labels
            for k, label in enumerate(labels, start=1):
                seen = len(runs.finished)
                page.locator('[data-testid="stSidebarNav"] a').nth(k - 1).click()
                runs.wait_next(page, seen, PAGE_TIMEOUT_MS / 1000)
                wait_idle(page)
                page.locator("h1").first.wait_for(timeout=PAGE_TIMEOUT_MS)
                name = "".join(ch if ch.isalnum() else "-" for ch in label.lower()).strip("-")
                screenshot(page, artifacts / f"{k:02d}-{name}.png")
                exceptions = page.locator('[data-testid="stException"]')
                if exceptions.count():
                    problems.append(f"{label}: traceback shown: {exceptions.first.inner_text()[:300]}")
                body = page.locator('[data-testid="stMain"]').inner_text()
                if "Something went wrong" in body:
                    problems.append(f"{label}: {body[body.index('Something went wrong'):][:300]}")
            assert not problems, "\n".join(problems)
        finally:
            browser.close()
