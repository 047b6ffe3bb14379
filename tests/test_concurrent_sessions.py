"""Several headless-Chromium sessions on one server, and a real >5 MB upload through the browser.

Drives bench/concurrent_sessions.py (`run_load`): 4 browser sessions rerun the Saliency page on
the same cached model while two of them press **Train** on the Train page at the same moment.
Needs Debian's `chromium` and the `playwright` package (requirements-dev.txt), like
tests/test_e2e_browser.py; skips cleanly when either is missing. About 2-3 minutes on a loaded
2-core machine; latency figures are printed (run with -s), never asserted.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from browser_harness import (CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser,
                             streamlit_server)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import concurrent_sessions as bench  # noqa: E402

CHROMIUM = chromium_path()
sync_api = playwright_sync_api()
pytestmark = [pytest.mark.browser, skip_without_browser()]

LOAD_SECONDS = 30  # after every session has opened the Saliency page
STARTED = "Training started in the background."
QUEUED = "Queued: 1 training(s) ahead of yours. It starts by itself."
TOO_LARGE = "File must be 25.0MB or smaller."  # Streamlit's own uploader text for maxUploadSize = 25


def _chromium_starts() -> str | None:
    try:
        with sync_api.sync_playwright() as pw:
            pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS).close()
    except Exception as exc:  # noqa: BLE001 - a chromium that cannot start here is an environment problem
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server on a tmp run store seeded with one tiny DNN (the gradient maps: quick to compute)."""
    problem = _chromium_starts()
    if problem:
        pytest.skip(f"chromium would not start: {problem}")
    root = tmp_path_factory.mktemp("concurrent-models")
    cache = tmp_path_factory.getbasetemp() / "fer-cache"  # as conftest's, which module fixtures run before
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("FER_DATA", raising=False)
        mp.setenv("FER_CACHE_DIR", str(cache))
        seeded = bench.seed_store(root, ("dnn",))
        with streamlit_server(root, env={"FER_CACHE_DIR": str(cache)}, log_path=root.parent / "streamlit.log") as url:
            yield SimpleNamespace(url=url, root=root, seeded=seeded)


def test_four_sessions_share_the_saliency_model_and_the_training_queue(server):
    r = bench.run_load(4, LOAD_SECONDS, models_dir=server.root, url=server.url, train_wait_s=150)
    print("\n" + bench.report(r))

    # every session rendered the Saliency page (cold open, then new faces) and no page showed an error
    assert all(v is not None for v in r["first_open_s"].values()), r["first_open_s"]
    assert all(n >= 1 for n in r["renders_per_session"].values()), r["renders_per_session"]
    assert not r["errors"], "\n".join(r["errors"])

    # two Train presses at the same moment: one starts, the other is told it is queued ...
    training = r["training"]
    assert len(training) == 2, training
    toasts = sorted(t.get("toast", "") for t in training.values())
    assert any(STARTED in t for t in toasts) and any(QUEUED in t for t in toasts), toasts
    assert any("1 training(s) queued; they run one at a time" in t.get("panel", "") for t in training.values()), training
    # ... they never trained at the same time, both finished and told their session so
    assert r["max_concurrent_trainings"] == 1 and len(r["trainings_seen"]) == 2, (r["max_concurrent_trainings"], r["trainings_seen"])
    assert r["overlap_s"] <= 1.0, r["training_intervals"]  # run.json times are to the second
    assert all("Your last training finished: saved run" in t.get("final", "") for t in training.values()), training
    # the store is intact: the seeded run and both new runs list and load
    assert len(r["new_runs"]) == 2 and set(server.seeded) <= set(r["store"]["runs"]), r["store"]["runs"]
    assert not r["store"]["broken"], r["store"]["broken"]
    assert all(v is True for v in r["store"]["loadable"].values()), r["store"]["loadable"]
    print(f"saliency rerun latency with 4 sessions: p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s, max {r['max']:.2f} s "
          f"({r['renders']} reruns, load average {r['load_average'][1]:.1f})")


def test_upload_over_the_size_limit_is_refused_in_the_browser(server, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(26 * 1024 * 1024))  # over maxUploadSize = 25 (MB); content never reaches the server
    small = tmp_path / "face.png"
    from PIL import Image

    Image.new("L", (100, 120), 128).save(small)
    # a photo is shown to the runs trained on real faces: add a shipped FER2013 run to the store
    real = "fer2013-mobilenet-w0.25-leg2"
    shutil.copytree(ROOT / "models" / real, server.root / real, dirs_exist_ok=True)

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(180_000)
            runs = RunWatcher(page)
            page.goto(f"{server.url}/saliency", wait_until="domcontentloaded")
            runs.wait_next(page, 0, 180)
            seen = len(runs.finished)
            page.get_by_text("Upload a photo", exact=True).click()
            runs.wait_next(page, seen, 180)
            uploader = page.locator('[data-testid="stFileUploader"]')

            seen = len(runs.finished)
            uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(big))
            alert = uploader.locator('[role="alert"]')
            alert.wait_for(state="attached", timeout=30_000)
            assert alert.inner_text().strip() == f"Error: {TOO_LARGE}"
            chip = uploader.locator('[data-testid="stFileChip"]')
            assert chip.get_attribute("aria-invalid") == "true" and "big.jpg" in chip.inner_text()
            chip.hover()  # the chip is red with an error icon; the message is its tooltip
            page.wait_for_timeout(1000)
            print(f"\ntooltip on hover: {page.get_by_text(TOO_LARGE).last.is_visible()}")
            assert len(runs.finished) == seen  # refused in the browser: no script run got the file
            main = page.locator('[data-testid="stMain"]')
            assert "Upload a photo: its faces are found, boxed and framed" in main.inner_text()

            # the page keeps working: a small photo is cropped and explained
            seen = len(runs.finished)
            uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(small))
            runs.wait_next(page, seen, 180)
            text = main.inner_text()
            assert "48x48 face" in text and "upload face.png" in text and "Each map is scaled" in text, text[:2000]
            assert page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count() == 0
        finally:
            browser.close()
