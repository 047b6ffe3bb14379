"""The "Your face" page in headless Chromium: a fake webcam fed from a photo, and a two-face upload.

Chromium's fake camera (`--use-fake-device-for-media-stream --use-file-for-fake-video-capture=`)
plays a Y4M file made from test faces pasted onto a grey frame (FER2013's when ../shared is there,
else the generated demo faces, which the detector finds too); `--use-fake-ui-for-media-stream`
answers the camera prompt. Needs /usr/bin/chromium and playwright; skips cleanly without them.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from browser_harness import CHROMIUM_ARGS, RunWatcher, chromium_path, playwright_sync_api, skip_without_browser, streamlit_server

ROOT = Path(__file__).resolve().parents[1]
FER2013 = ROOT.parent / "shared" / "data" / "fer2013"
REAL = ("fer2013-mobilenet-w0.25-leg2", "fer2013-cnn-w0.125-leg3")
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
TIMEOUT_S = 240

pytestmark = [pytest.mark.browser, skip_without_browser()]


def _frame(faces, width=640, height=480) -> np.ndarray:
    """A grey frame with the faces pasted at 4x, side by side."""
    import cv2

    frame = np.full((height, width), 110, np.uint8)
    for k, face in enumerate(faces):
        left = 40 + k * (width // max(1, len(faces)))
        frame[120:312, left:left + 192] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
    return frame


def write_y4m(path: Path, gray: np.ndarray, frames: int = 30) -> None:
    """A grayscale frame as a 4:2:0 Y4M video (neutral chroma), the fake camera's input format."""
    h, w = gray.shape
    chroma = np.full((h // 2) * (w // 2), 128, np.uint8).tobytes()
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n" + gray.tobytes() + chroma + chroma)


@pytest.fixture(scope="module")
def faces():
    from fer.data import load_dataset

    x, _ = load_dataset(FER2013 if (FER2013 / "test").is_dir() else "synthetic").split("test")
    return x[0], x[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("your-face-models")
    for run in REAL:
        shutil.copytree(ROOT / "models" / run, root / run)
    return root


def _open(pw, url, extra_args=()):
    browser = pw.chromium.launch(executable_path=chromium_path(), args=[*CHROMIUM_ARGS, *extra_args])
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.set_default_timeout(TIMEOUT_S * 1000)
    watcher = RunWatcher(page)
    page.goto(f"{url}/your_face")
    watcher.wait_next(page, 0, TIMEOUT_S)
    return browser, page, watcher


def _artifacts() -> Path:
    import os

    path = Path(os.environ.get("FER_E2E_ARTIFACTS") or ROOT / "test-artifacts" / "e2e")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cards(page) -> list:
    return [t.strip() for t in page.locator('[data-testid="stHeadingWithActionElements"] h3').all_inner_texts()]


def test_a_snapshot_from_a_fake_webcam_is_read(store, faces, tmp_path):
    from fer.photo import faces_in

    frame = _frame(faces[:1])
    assert len(faces_in(frame)) == 1
    video = tmp_path / "camera.y4m"
    write_y4m(video, frame)
    sync_api = playwright_sync_api()
    with streamlit_server(store, log_path=tmp_path / "server.log") as url, sync_api.sync_playwright() as pw:
        browser, page, watcher = _open(pw, url, ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                                 f"--use-file-for-fake-video-capture={video}"])
        try:
            button = page.get_by_role("button", name="Take Photo")
            button.wait_for(state="visible")
            page.wait_for_function("() => { const v = document.querySelector('video');"
                                   " return v && v.readyState >= 2 && v.videoWidth > 0; }")
            seen = len(watcher.finished)
            button.click()
            watcher.wait_next(page, seen, TIMEOUT_S)
            page.get_by_text("Face 1", exact=True).wait_for()
            page.wait_for_timeout(1000)
            assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
            assert _cards(page) == ["Face 1"]
            assert page.locator('[data-testid="stDataFrame"]').count() == 1  # the runs' predictions
            assert page.locator('[data-testid="stImage"] img').count() >= 3  # photo, crop, maps
            assert page.get_by_text("1 face(s) found", exact=False).count() >= 1
            page.screenshot(path=str(_artifacts() / "your-face-webcam.png"), full_page=True)
        finally:
            browser.close()


def test_an_uploaded_photo_with_two_faces_gets_two_cards(store, faces, tmp_path):
    from PIL import Image

    photo = tmp_path / "two.jpg"
    frame = _frame(faces, width=800)
    from fer.photo import faces_in

    assert len(faces_in(frame)) == 2
    Image.fromarray(np.stack([frame] * 3, -1)).save(photo, quality=92)
    sync_api = playwright_sync_api()
    with streamlit_server(store, log_path=tmp_path / "server.log") as url, sync_api.sync_playwright() as pw:
        browser, page, watcher = _open(pw, url)
        try:
            seen = len(watcher.finished)
            page.get_by_text("Upload a photo", exact=True).click()
            watcher.wait_next(page, seen, TIMEOUT_S)
            seen = len(watcher.finished)
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo))
            watcher.wait_next(page, seen, TIMEOUT_S)
            page.get_by_text("Face 2", exact=True).wait_for()
            page.wait_for_timeout(1000)
            assert page.locator(ERRORS).count() == 0, page.locator(ERRORS).all_inner_texts()
            assert _cards(page) == ["Face 1", "Face 2"]
            assert page.locator('[data-testid="stDataFrame"]').count() == 2
            page.screenshot(path=str(_artifacts() / "your-face-upload.png"), full_page=True)
        finally:
            browser.close()
