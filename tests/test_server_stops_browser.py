"""A real server stopped with Ctrl-C or SIGTERM: during the warm-up, during a training.

Each test opens the app in headless Chromium (Debian's chromium and the playwright package;
skipped without them), signals `streamlit run` and expects it gone within 10 s with status 0
and no abort or traceback in its log; a training in progress keeps its last whole epoch and
resumes from it.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from browser_harness import (CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser,
                             start_streamlit)

ROOT = Path(__file__).resolve().parents[1]
STOP_WITHIN_S = 10.0
CRASH_SIGNS = ("terminate called", "FATAL", "Traceback", "Segmentation fault", "Aborted", "core dumped")
sync_api = playwright_sync_api()
pytestmark = [pytest.mark.browser, skip_without_browser()]


def _stop(proc, sig) -> tuple:
    """Send `sig`; (exit status, seconds it took), or (None, seconds) if still running after 30 s."""
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        status = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        status = None
    return status, time.monotonic() - start


def _crash_lines(log_path: Path) -> list:
    return [line for line in log_path.read_text(errors="replace").splitlines() if any(s in line for s in CRASH_SIGNS)]


def _assert_clean_stop(status, seconds: float, log: Path) -> None:
    assert status == 0, f"exit status {status}; log:\n{log.read_text()[-3000:]}"
    assert seconds <= STOP_WITHIN_S, f"stopped after {seconds:.1f} s"
    assert not _crash_lines(log), _crash_lines(log)


def _open_app(pw, url: str, path: str = ""):
    browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(180_000)
    runs = RunWatcher(page)
    page.goto(url + path, wait_until="domcontentloaded")
    runs.wait_next(page, 0, 180)
    return browser, page, runs


@pytest.mark.parametrize("sig,after_s", [(signal.SIGINT, 2.0), (signal.SIGTERM, 12.0), (signal.SIGINT, 25.0)],
                         ids=["sigint-at-2s", "sigterm-at-12s", "sigint-at-25s"])
def test_the_server_stops_cleanly_while_the_warm_up_works(sig, after_s, tmp_path):
    """The shipped runs and fresh caches: the warm-up imports TensorFlow, loads and traces the
    default runs and scores the test split in the seconds after the first page."""
    env = {"HOME": str(tmp_path), "FER_CACHE_DIR": str(tmp_path / "cache")}
    proc, url, log = start_streamlit(ROOT / "models", env=env, log_path=tmp_path / "server.log")
    try:
        with sync_api.sync_playwright() as pw:
            browser, _, _ = _open_app(pw, url)
            time.sleep(after_s)
            status, seconds = _stop(proc, sig)
            browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_clean_stop(status, seconds, log)


def _epochs_done(store: Path) -> tuple:
    """(run id, epochs recorded) of the one training in the store's work folder, or (None, 0)."""
    for status_file in (store / ".work").glob("*/status.json"):
        status = json.loads(status_file.read_text())
        return status_file.parent.name, len(status.get("history", {}).get("val_accuracy", []))
    return None, 0


def _press_train(page, runs, epochs: int, cap: int) -> None:
    for label, value in (("Epochs", epochs), ("Max training images (0 = all)", cap)):
        box = page.get_by_label(label, exact=True).first
        box.fill(str(value))
        seen = len(runs.finished)
        box.press("Enter")
        runs.wait_next(page, seen, 120)
    page.get_by_role("button", name="Train", exact=True).click()


def test_a_training_stopped_with_the_server_keeps_its_last_epoch_and_resumes(tmp_path):
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import resume

    store_dir = tmp_path / "models"
    epochs = 6
    proc, url, log = start_streamlit(store_dir, env={"FER_WARMUP": "0", "HOME": str(tmp_path)},
                                     log_path=tmp_path / "server.log")
    try:
        with sync_api.sync_playwright() as pw:
            browser, page, runs = _open_app(pw, url, "/train")
            _press_train(page, runs, epochs=epochs, cap=2000)
            deadline = time.monotonic() + 300
            run_id, done = _epochs_done(store_dir)
            while done < 1 and time.monotonic() < deadline:  # signal early in the second epoch
                time.sleep(0.1)
                run_id, done = _epochs_done(store_dir)
            assert done >= 1, f"no epoch finished in 300 s; log:\n{log.read_text()[-3000:]}"
            status, seconds = _stop(proc, signal.SIGTERM)
            browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    _assert_clean_stop(status, seconds, log)

    store = RunStore(store_dir)
    unfinished = dict(store.interrupted())
    assert unfinished[run_id]["state"] == "interrupted"
    kept = len(unfinished[run_id]["history"]["val_accuracy"])
    assert 1 <= kept < epochs  # whole epochs only: the one under way is not recorded as done
    run = resume(run_id, load_dataset("synthetic"), store)
    assert len(run.meta["history"]["val_accuracy"]) == epochs  # the kept epochs and the rest, once each


def test_the_server_stops_cleanly_while_its_sweep_trains_on_a_ray_cluster(tmp_path):
    """FER_RAY_ADDRESS set: the Compression page's sweep trains on the cluster's workers, and
    stopping the server (Ray's driver) ends it cleanly and stops those trainings too."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from cluster_harness import training_workers

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    env = {"FER_WARMUP": "0", "HOME": str(tmp_path), "FER_RAY_ADDRESS": cluster.address}
    proc, url, log = start_streamlit(tmp_path / "models", env=env, log_path=tmp_path / "server.log")
    try:
        with sync_api.sync_playwright() as pw:
            browser, page, _ = _open_app(pw, url, "/compression")
            page.get_by_role("button", name="Sweep (").click()
            deadline = time.monotonic() + 180
            while not training_workers() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert training_workers(), f"no training started on the cluster; log:\n{log.read_text()[-3000:]}"
            time.sleep(3)  # inside the training
            status, seconds = _stop(proc, signal.SIGTERM)
            browser.close()
        _assert_clean_stop(status, seconds, log)
        assert "SIGTERM received" not in log.read_text()  # Ray's crash handler stays out of the server
        deadline = time.monotonic() + 20
        while training_workers() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not training_workers()  # the stopped driver's trainings ended with it
    finally:
        if proc.poll() is None:
            proc.kill()
        cluster.shutdown()
