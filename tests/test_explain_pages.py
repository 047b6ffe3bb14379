"""The Saliency and Filters pages render under Streamlit's AppTest for a CNN, a DNN and a MobileNet run."""
import io
from pathlib import Path

import numpy as np
import pytest

from fer import CLASS_NAMES

pytest.importorskip("streamlit.testing.v1")
APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A temporary run store with one tiny run per architecture, trained 1 epoch on the app's
    default data (the generated faces), so the pages match them by fingerprint."""
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import TrainConfig, train

    root = tmp_path_factory.mktemp("explain-models")
    ds = load_dataset("synthetic")
    runs = {}
    for arch in ("cnn", "dnn", "mobilenet"):
        cfg = TrainConfig(arch=arch, width=0.25, epochs=1, max_train_images=300, patience=0)
        runs[arch] = train(cfg, ds, RunStore(root), run_id=f"tiny-{arch}").id
    return root, runs


@pytest.fixture
def app(store, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    root, runs = store
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    st.cache_resource.clear()  # the run store and models are process-wide caches
    st.cache_data.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    return at, runs


def _messages(at):
    return [e.value for kind in ("info", "warning", "error", "success") for e in getattr(at, kind)]


def _no_errors(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.slow
def test_saliency_page_shows_every_run_and_says_why_the_dnn_has_no_cam(app):
    at, runs = app
    at.switch_page("views/saliency.py")
    at.run()
    _no_errors(at)
    assert sorted(at.multiselect(key="sal_runs").value) == sorted(runs.values())
    assert "no convolutional layer" in " ".join(_messages(at)), _messages(at)
    assert len(at.get("image")) >= 2  # the face, probabilities and the map grid
    # the trust table under the maps, measured on these runs, says how many faces each check saw
    assert any("How far to trust" in m.value for m in at.markdown)
    assert any("Randomised ρ (7 test faces, one per class)" in c.value for c in at.caption), [c.value for c in at.caption]
    # a face the models never trained on, as on Filters and Misclassified
    assert at.selectbox(key="sal_split").value == "test"
    assert at.number_input(key="sal_index").label.startswith("Index in test")


@pytest.mark.slow
def test_saliency_page_takes_the_face_handed_over_by_the_misclassified_page(app):
    at, runs = app
    at.session_state["saliency_face"] = {"split": "test", "index": 5, "run": runs["mobilenet"]}
    at.switch_page("views/saliency.py")
    at.run()
    _no_errors(at)
    assert at.radio(key="sal_source").value == "From the Misclassified page"
    assert at.multiselect(key="sal_runs").value[0] == runs["mobilenet"]


@pytest.mark.slow
def test_saliency_page_measures_the_maps(app):
    at, runs = app
    at.switch_page("views/saliency.py")
    at.run()
    at.multiselect(key="sal_runs").set_value([runs["cnn"]])
    at.slider(key="sal_samples").set_value(4)
    at.run()
    at.slider(key="sal_q_per_class").set_value(1)
    at.button(key="sal_q_region_go").click()
    at.run()
    _no_errors(at)
    at.slider(key="sal_q_n").set_value(2)
    at.slider(key="sal_q_steps").set_value(5)
    at.button(key="sal_q_del_go").click()
    at.run()
    _no_errors(at)
    at.slider(key="sal_q_rand_n").set_value(1)
    at.button(key="sal_q_rand_go").click()
    at.run()
    _no_errors(at)
    assert len(at.dataframe) >= 4  # probabilities, regions, deletion / insertion, randomisation


@pytest.mark.slow
def test_saliency_page_crops_an_uploaded_photo_and_refuses_a_non_image(app):
    from PIL import Image

    at, _ = app
    at.switch_page("views/saliency.py")
    at.run()
    at.radio(key="sal_source").set_value("Upload a photo")
    at.run()
    assert any("Upload a photo" in m for m in _messages(at))
    at.file_uploader(key="sal_upload").set_value(("notes.txt", b"this is not a photo\n", "text/plain"))
    at.run()
    assert not at.exception
    assert any("not an image" in e.value for e in at.error), [e.value for e in at.error]
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    at.file_uploader(key="sal_upload").set_value(("face.png", buf.getvalue(), "image/png"))
    at.run()
    _no_errors(at)
    assert at.selectbox(key="sal_upload_true").options[1] == CLASS_NAMES[0]


@pytest.mark.slow
def test_filters_page_renders_preferred_inputs_and_feature_maps(app):
    at, runs = app
    at.switch_page("views/filters.py")
    at.run()
    _no_errors(at)
    assert not any(runs["dnn"] in o for o in at.selectbox(key="filters_run").options)  # no filters in a DNN
    at.slider(key="filters_steps").set_value(20)
    at.run()
    _no_errors(at)
    at.selectbox(key="filters_run").set_value(runs["mobilenet"])
    at.run()
    layers = at.selectbox(key="filters_layer").options
    depthwise = next(x for x in layers if "depthwise" in x).split(" — ")[0]
    at.selectbox(key="filters_layer").set_value(depthwise)
    at.radio(key="filters_engine").set_value("tfkv")
    at.run()
    at.slider(key="filters_tfkv_n").set_value(1)
    at.run()
    _no_errors(at)
    assert len(at.get("image")) >= 2


@pytest.mark.fer2013
@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "test").is_dir(),
                    reason="needs ../shared/data/fer2013")
def test_saliency_page_finds_the_face_in_an_uploaded_photo(app, store):
    """The photo's face is found and shown to the runs trained on real faces (a shipped FER2013
    run copied into the store), not to the runs trained on the demo faces the sidebar is on."""
    import shutil

    import cv2
    from PIL import Image

    from fer.data import load_dataset
    from fer.detect import crop_like_fer2013, detect_faces

    x, _ = load_dataset(Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013").split("test")
    photo = np.full((360, 480), 120, np.uint8)
    photo[60:252, 150:342] = cv2.resize(x[0], (192, 192), interpolation=cv2.INTER_CUBIC)  # test face #0, found at 4x
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "PNG")
    at, _ = app
    real = "fer2013-mobilenet-w0.25-leg2"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / real, store[0] / real)
    try:
        at.switch_page("views/saliency.py")
        at.run()
        at.radio(key="sal_source").set_value("Upload a photo")
        at.run()
        at.file_uploader(key="sal_upload").set_value(("two.png", buf.getvalue(), "image/png"))
        at.run()
        _no_errors(at)
        assert at.multiselect(key="sal_runs_photo").value == [real]  # not the runs trained on the demo faces
        assert len(at.multiselect(key="sal_runs_photo").options) == 1
        assert any("never seen a real face" in c.value for c in at.caption)
        assert at.radio(key="sal_upload_face").options == ["Face 1", "Place the box by hand"]  # one face found
        [box] = detect_faces(photo)
        assert "sal_box_size" not in [s.key for s in at.slider]  # no manual box while a found face is shown
        assert at.dataframe  # the runs' predictions for the found face
        at.radio(key="sal_upload_face").set_value("Place the box by hand")
        at.run()
        _no_errors(at)
        assert at.slider(key="sal_box_size").value == 0.8  # the manual box is still there
        assert crop_like_fer2013(photo, box).shape == (48, 48)
    finally:
        shutil.rmtree(store[0] / real)


@pytest.mark.slow
def test_filters_page_ranks_real_test_faces_for_each_filter(app):
    import re

    at, runs = app
    at.switch_page("views/filters.py")
    at.run()
    at.slider(key="filters_steps").set_value(20)
    at.run()
    _no_errors(at)
    [metric] = [m for m in at.metric if "preferred input drives them harder" in m.label]
    assert any("pixel-space" in m.label for m in at.metric)
    assert re.fullmatch(r"\d+%", metric.value)
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    ranked = [c for c in captions if re.fullmatch(r"#\d+ -?\d+\.\d+", c)]
    k = at.slider(key="filters_k").value
    assert len(ranked) >= k and len(ranked) % k == 0
    first_row = [float(c.split()[1]) for c in ranked[:k]]
    assert first_row == sorted(first_row, reverse=True)  # the strongest face first
    # each filter's verdict is its Fourier image's activation against its strongest test face (as shown, 2 decimals)
    verdicts = [m.value for m in at.markdown if re.match(r"\*\*#\d+\*\*", m.value)]
    fourier = [float(c.split()[1]) for c in captions if c.startswith("Fourier ")]
    assert verdicts and len(verdicts) == len(fourier) == len(ranked) // k
    for verdict, shown, top in zip(verdicts, fourier, ranked[::k]):
        top = float(top.split()[1])
        if "💤 silent" in verdict:
            assert shown == top == 0, (verdict, shown, top)
        else:
            assert shown >= top if "✅ beats" in verdict else ("⚠️ loses" in verdict and shown <= top), (verdict, shown, top)
