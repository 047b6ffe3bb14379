"""The "Your face" page under AppTest: webcam snapshot and upload, one card per face found, the
manual box when none is, the runs trained on real faces only, and clear refusals."""
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer import CLASS_NAMES

pytest.importorskip("streamlit.testing.v1")
ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
REAL = ("fer2013-mobilenet-w0.25-leg2", "fer2013-cnn-w0.125-leg3")  # small shipped runs trained on FER2013


def _your_face_page(store, monkeypatch, runs):
    """The Your face page of the app on the demo faces, with `runs` copied from models/ into `store`."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    for run in runs:
        shutil.copytree(ROOT / "models" / run, store / run)
    monkeypatch.setenv("FER_MODELS_DIR", str(store))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=240)
    at.switch_page("views/your_face.py")
    at.run()
    return at


@pytest.fixture
def app(tmp_path, monkeypatch):
    """The app on the demo faces with a store holding a demo run and two shipped FER2013 runs."""
    return _your_face_page(tmp_path, monkeypatch, (*REAL, "demo-cnn-w0.125"))


def _png(array) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(array) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _two_faces():
    """A 480x800 grey photo with the demo faces' test faces #0 and #1 pasted at 4x (the detector
    finds them as it finds real ones; FER2013's pasted faces are tested in test_detect.py)."""
    import cv2

    from fer.data import load_dataset

    x, y = load_dataset("synthetic").split("test")
    photo = np.full((480, 800), 120, np.uint8)
    photo[100:292, 60:252] = cv2.resize(x[0], (192, 192), interpolation=cv2.INTER_CUBIC)
    photo[150:342, 500:692] = cv2.resize(x[1], (192, 192), interpolation=cv2.INTER_CUBIC)
    return photo


def _errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_page_waits_for_a_snapshot_and_offers_only_runs_trained_on_real_faces(app):
    _errors(app)
    assert app.radio(key="you_source").value == "Webcam snapshot"
    assert any("Take Photo" in i.value for i in app.info)
    app.radio(key="you_source").set_value("Upload a photo")
    app.run()
    _errors(app)
    assert any("Upload a photo" in i.value for i in app.info)


@pytest.mark.slow
def test_an_uploaded_photo_with_two_faces_gets_two_cards_with_predictions_and_maps(app):
    from fer.photo import faces_in

    photo = _two_faces()
    assert len(faces_in(photo)) == 2  # what the page should show
    app.radio(key="you_source").set_value("Upload a photo")
    app.run()
    app.file_uploader(key="you_upload").set_value(("two.jpg", _jpeg(np.stack([photo] * 3, -1)), "image/jpeg"))
    app.run()
    _errors(app)
    assert sorted(o.split(" — ")[0] for o in app.multiselect(key="you_runs").options) == sorted(REAL)  # no demo run
    assert sorted(app.multiselect(key="you_runs").value) == sorted(REAL)
    assert [s.value for s in app.main.subheader] == ["Face 1", "Face 2"]
    assert len(app.dataframe) == 2  # one prediction table per face
    for table in app.dataframe:
        assert list(table.value.index) == list(REAL) or sorted(table.value.index) == sorted(REAL)
        probs = table.value[list(CLASS_NAMES)].to_numpy(float)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    captions = [img.caption for el in app.get("image") for img in el.proto.imgs]
    assert any("2 face(s) found" in c for c in captions), captions
    assert any("never seen a real face" in c.value for c in app.caption)
    assert "you_box_size" not in [s.key for s in app.slider]


@pytest.mark.slow
def test_a_webcam_snapshot_is_read_like_an_upload_and_can_be_mirrored(app):
    photo = _two_faces()[:, :400]  # one face
    app.camera_input(key="you_camera").set_value(("snapshot.jpg", _jpeg(photo), "image/jpeg"))
    app.run()
    _errors(app)
    assert [s.value for s in app.main.subheader] == ["Face 1"]
    first = app.dataframe[0].value[list(CLASS_NAMES)].to_numpy(float)
    app.toggle(key="you_mirror").set_value(True)
    app.run()
    _errors(app)
    assert [s.value for s in app.main.subheader] == ["Face 1"]
    mirrored = app.dataframe[0].value[list(CLASS_NAMES)].to_numpy(float)
    assert not np.allclose(first, mirrored, atol=1e-6)  # the mirrored face is a different input


@pytest.mark.slow
def test_a_photo_without_a_face_offers_the_box_by_hand(app):
    app.radio(key="you_source").set_value("Upload a photo")
    app.run()
    ramp = np.add.outer(np.arange(300), np.arange(400)).astype(np.uint8)  # no face in it
    app.file_uploader(key="you_upload").set_value(("wall.png", _png(ramp), "image/png"))
    app.run()
    _errors(app)
    assert any("No face found" in w.value for w in app.warning)
    assert app.slider(key="you_box_size").value == 0.8
    assert [s.value for s in app.main.subheader] == ["Face (box placed by hand)"]
    assert len(app.dataframe) == 1


@pytest.mark.parametrize("name,data,says", [
    ("notes.txt", b"this is not a photo\n", "not an image"),
    ("IMG_0001.HEIC", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(512), "HEIC photo"),
    ("empty.jpg", b"", "empty"),
])
def test_bad_uploads_get_one_clear_message(app, name, data, says):
    app.radio(key="you_source").set_value("Upload a photo")
    app.run()
    app.file_uploader(key="you_upload").set_value((name, data, "application/octet-stream"))
    app.run()
    assert not app.exception
    assert any(says in e.value and name in e.value for e in app.error), [e.value for e in app.error]
    assert not app.main.subheader  # nothing half-shown


def test_no_run_trained_on_real_faces_says_so(tmp_path, monkeypatch):
    at = _your_face_page(tmp_path, monkeypatch, ("demo-cnn-w0.125",))
    _errors(at)
    assert any("No run trained on real faces" in w.value for w in at.warning)
