"""Models trained elsewhere imported as runs (`python -m fer import`, fer.guests): each kind is built
here, imported, scored, predicted on a photo and explained; bad files are refused in one line."""
import json
from pathlib import Path

import numpy as np
import pytest

from fer import CLASS_NAMES

SHUFFLED = ("happy", "sad", "angry", "neutral", "surprise", "fear", "disgust")


@pytest.fixture(scope="module")
def demo():
    from fer.data import load_dataset

    return load_dataset(None)


@pytest.fixture(scope="module")
def faces(demo):
    return demo.split("test")[0][:8]


def _keras_guest(shape, outputs=7, softmax=True, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape)
    x = keras.layers.Conv2D(6, 3, strides=2, activation="relu", name="guest_conv")(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(outputs, activation="softmax" if softmax else None, name="guest_out")(x)
    return keras.Model(inp, out)


def _resized(faces, size, low, high):
    import tensorflow as tf

    x = faces[..., None].astype("float32")
    if size != (48, 48):
        x = tf.image.resize(x, size, method="bilinear").numpy()
    return x * ((high - low) / 255.0) + low


def _softmax(z):
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _import(tmp_path, path, run_id, demo, **options):
    from fer.importing import import_run
    from fer.runs import RunStore

    store = RunStore(tmp_path / "runs")
    return store, import_run(store, path, run_id, demo, **options)


def test_keras2_h5_at_64x64_in_minus_one_to_one_is_scored_and_explained_through_its_own_layers(tmp_path, demo, faces):
    from fer.evaluate import evaluate
    from fer.explain import cam_layer, compute_maps

    guest = _keras_guest((64, 64, 1))
    guest.save(tmp_path / "guest.h5")
    store, run = _import(tmp_path, tmp_path / "guest.h5", "h5", demo, pixel_range="-1,1")
    adapter = run.meta["guest"]["adapter"]
    assert (adapter["size"], adapter["channels"], adapter["layout"], adapter["low"], adapter["high"]) == ([64, 64], 1, "NHWC", -1.0, 1.0)
    assert run.meta["params"] == guest.count_params() and run.meta["guest"]["format"] == "keras-h5"
    model = store.get("h5").load_model()
    expected = guest.predict(_resized(faces, (64, 64), -1.0, 1.0), verbose=0)
    np.testing.assert_allclose(model.predict(faces[..., None].astype("float32"), verbose=0), expected, atol=1e-5)
    x, y = demo.split("test")
    assert run.meta["test_accuracy"] == pytest.approx(evaluate(model, x, y)["accuracy"])
    assert cam_layer(model) == "guest_conv"  # the guest's layers sit in the run's model, not nested in one
    maps = compute_maps(model, faces[:2], 3, ["Saliency", "Grad-CAM"])
    assert all(m.shape == (2, 48, 48) and np.isfinite(m).all() and m.max() > 0 for m in maps.values())


def test_a_three_channel_keras_model_gets_the_grey_face_in_every_channel(tmp_path, demo, faces):
    guest = _keras_guest((48, 48, 3), seed=1)
    guest.save(tmp_path / "rgb.keras")
    store, run = _import(tmp_path, tmp_path / "rgb.keras", "rgb", demo)
    assert run.meta["guest"]["adapter"]["channels"] == 3
    x = np.repeat(faces[..., None].astype("float32"), 3, axis=-1)
    np.testing.assert_allclose(store.get("rgb").load_model().predict(faces[..., None].astype("float32"), verbose=0),
                               guest.predict(x, verbose=0), atol=1e-5)


def test_outputs_in_another_class_order_are_matched_to_fer2013_by_name(tmp_path, demo, faces):
    guest = _keras_guest((48, 48, 1), seed=2)
    guest.save(tmp_path / "shuffled.keras")
    store, run = _import(tmp_path, tmp_path / "shuffled.keras", "shuffled", demo, classes=",".join(SHUFFLED))
    probs = store.get("shuffled").load_model().predict(faces[..., None].astype("float32"), verbose=0)
    raw = guest.predict(faces[..., None].astype("float32"), verbose=0)
    for k, name in enumerate(SHUFFLED):
        np.testing.assert_allclose(probs[:, CLASS_NAMES.index(name)], raw[:, k], atol=1e-5)


def test_a_tflite_file_giving_logits_is_run_by_its_interpreter_and_softmaxed(tmp_path, demo, faces):
    from fer.compress.tflite import export_saved_model, tflite_convert
    from fer.guests import ForwardOnly
    from fer.runtimes import TFLiteModel

    guest = _keras_guest((48, 48, 1), softmax=False, seed=3)
    bias = guest.get_layer("guest_out")
    bias.set_weights([bias.get_weights()[0], np.full(7, 0.1, np.float32)])  # a converter drops a bias of zeros
    flat = tflite_convert(export_saved_model(guest, tmp_path / "saved"), "float32")
    (tmp_path / "guest.tflite").write_bytes(flat)
    store, run = _import(tmp_path, tmp_path / "guest.tflite", "lite", demo, pixel_range="0,1")
    assert run.meta["guest"]["adapter"]["softmax"] is True and run.model_path.name == "model.tflite"
    assert run.meta["params"] == guest.count_params()
    model = store.get("lite").load_model()
    assert isinstance(model, ForwardOnly)
    expected = _softmax(TFLiteModel(flat)(faces[..., None].astype("float32") / 255.0).astype("float64"))
    np.testing.assert_allclose(model(faces[..., None].astype("float32")), expected, atol=1e-5)
    assert "lite" in [r.id for r in store.list()]


def _onnx_linear(path, outputs, seed=0):
    """An NCHW (N,1,48,48) -> Flatten -> Gemm model, as PyTorch's export lays it out; its logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.05, (48 * 48, outputs)).astype(np.float32)
    b = rng.normal(0, 0.1, outputs).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixels"], ["flat"], axis=1), helper.make_node("Gemm", ["flat", "w", "b"], ["scores"])],
        "linear", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 1, 48, 48])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", outputs])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return w, b


def test_an_nchw_onnx_model_reads_its_names_from_the_file_and_its_extra_class_stays_its_own(tmp_path, demo, faces, capsys):
    w, b = _onnx_linear(tmp_path / "fer_plus.onnx", 8)
    classes = "neutral,happiness,surprise,sadness,anger,disgust,fear,contempt"  # FER+'s order and names
    store, run = _import(tmp_path, tmp_path / "fer_plus.onnx", "ferplus", demo, pixel_range="0,1", classes=classes)
    adapter = run.meta["guest"]["adapter"]
    assert (adapter["layout"], adapter["softmax"], run.meta["params"]) == ("NCHW", True, w.size + b.size)
    assert run.model_path.name == "model.onnx"
    model = store.get("ferplus").load_model()
    full = _softmax(faces.reshape(len(faces), -1).astype("float64") / 255.0 @ w + b)
    probs = model(faces[..., None].astype("float32"))
    order = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear"]
    for k, name in enumerate(order):
        np.testing.assert_allclose(probs[:, CLASS_NAMES.index(name)], full[:, k], atol=1e-5)
    np.testing.assert_allclose(1 - probs.sum(axis=1), full[:, 7], atol=1e-5)  # contempt's share, not folded in
    np.testing.assert_allclose(model.adapter.others(model.runner(model.adapter.prepare(faces)))[:, 0], full[:, 7], atol=1e-5)
    from fer.photo import read_faces

    photo_probs = read_faces(model, list(faces[:1])).probs[0]
    assert 0 < 1 - photo_probs.sum() == pytest.approx(full[0, 7], abs=1e-5)
    import cv2
    from PIL import Image

    from fer.cli import main

    photo = np.full((300, 300), 120, np.uint8)
    photo[50:242, 50:242] = cv2.resize(faces[0], (192, 192), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(photo).convert("RGB").save(tmp_path / "face.jpg", quality=95)
    assert main(["--models", str(store.root), "predict", str(tmp_path / "face.jpg"), "--run", "ferplus", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sum(line["probs"].values()) + line["other_classes"]["contempt"] == pytest.approx(1, abs=1e-3)


def test_an_imported_onnx_run_predicts_a_photo_explains_it_by_rise_and_says_why_gradients_do_not_apply(tmp_path, demo):
    from PIL import Image

    from fer.cli import main

    _onnx_linear(tmp_path / "m.onnx", 7, seed=4)
    assert main(["--models", str(tmp_path / "runs"), "import", str(tmp_path / "m.onnx"), "--run-id", "onnx", "--range", "0,1"]) == 0
    from fer.explain import applicable_methods
    from fer.photo import read_faces
    from fer.runs import RunStore

    model = RunStore(tmp_path / "runs").get("onnx").load_model()
    x = demo.split("test")[0][:2]
    reading = read_faces(model, list(x), methods=["Grad-CAM", "Saliency", "RISE"])
    assert reading.probs.shape == (2, 7) and np.allclose(reading.probs.sum(axis=1), 1, atol=1e-5)
    reasons = applicable_methods(model)
    assert reasons["RISE"] is None and reasons["Occlusion"] is None
    assert all("ONNX" in why for m, why in reasons.items() if m not in ("RISE", "Occlusion"))
    assert all(isinstance(reading.maps[m], str) for m in ("Grad-CAM", "Saliency"))
    assert reading.maps["RISE"].shape == (2, 48, 48) and reading.maps["RISE"].max() == 1.0
    photo = np.full((300, 300), 120, np.uint8)
    import cv2

    photo[50:242, 50:242] = cv2.resize(x[0], (192, 192), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(photo).convert("RGB").save(tmp_path / "face.jpg", quality=95)
    assert main(["--models", str(tmp_path / "runs"), "predict", str(tmp_path / "face.jpg"), "--run", "onnx", "--json"]) == 0


@pytest.mark.parametrize("case", ["truncated", "text", "five_outputs", "reversed_range", "words_range", "unknown_suffix"])
def test_bad_files_and_options_are_refused_in_one_line_with_exit_2(tmp_path, capsys, case):
    from fer.cli import main

    args = []
    if case == "truncated":
        _keras_guest((48, 48, 1)).save(tmp_path / "m.h5")
        data = (tmp_path / "m.h5").read_bytes()
        (tmp_path / "m.h5").write_bytes(data[: len(data) // 3])
        path = tmp_path / "m.h5"
    elif case == "text":
        path = tmp_path / "m.onnx"
        path.write_text("this is not a model\n")
    elif case == "five_outputs":
        _onnx_linear(tmp_path / "m.onnx", 5)
        path = tmp_path / "m.onnx"
    else:
        _onnx_linear(tmp_path / "m.onnx", 7)
        path = tmp_path / ("m.onnx" if case != "unknown_suffix" else "m.pt")
        if case == "unknown_suffix":
            path.write_bytes(b"\x80\x02")
        args = {"reversed_range": ["--range", "1,0"], "words_range": ["--range", "zero,one"]}.get(case, [])
    code = main(["--models", str(tmp_path / "runs"), "import", str(path), "--run-id", "bad", *args])
    err = capsys.readouterr().err.strip().splitlines()
    message = [line for line in err if line.startswith("error:")]
    assert code == 2 and len(message) == 1 and "Traceback" not in "\n".join(err)
    expect = {"truncated": "cannot load", "text": "cannot load", "five_outputs": "5 outputs",
              "reversed_range": "LO must be below HI", "words_range": "two numbers", "unknown_suffix": "unknown model format"}[case]
    assert expect in message[0]
    assert not (tmp_path / "runs" / "bad").exists()


def test_an_imported_run_json_names_its_source_and_adapter_and_lists_like_a_trained_one(tmp_path, demo, capsys):
    from fer.runs import RunStore

    _onnx_linear(tmp_path / "m.onnx", 7, seed=5)
    store, run = _import(tmp_path, tmp_path / "m.onnx", "listed", demo, title="a linear model")
    meta = json.loads((run.path / "run.json").read_text())
    import hashlib

    assert meta["guest"]["source_sha256"] == hashlib.sha256((tmp_path / "m.onnx").read_bytes()).hexdigest()
    assert meta["model_file"] == "model.onnx" and meta["arch"] == "imported" and meta["history"] == {}
    listed = RunStore(tmp_path / "runs").get("listed")
    assert listed.model_path.is_file() and f"{48 * 48 * 7 + 7:,} params" in listed.label and "imported ONNX" in listed.label
    from fer.cli import main

    assert main(["--models", str(store.root), "list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("listed "))
    assert line.split()[1:4] == ["imported", "onnx", f"{48 * 48 * 7 + 7:,}"] and "a linear model" in line


def _window_model(tmp_path, cls=3):
    """An NCHW ONNX model whose class `cls` reads only a 12x12 window of the face (rows and columns
    18..29); every other logit is 0."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((48, 48, 7), np.float32)
    w[18:30, 18:30, cls] = 0.02
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["x"], ["f"], axis=1), helper.make_node("MatMul", ["f", "w"], ["y"])], "window",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 48, 48])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 7])], [numpy_helper.from_array(w.reshape(-1, 7), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "window.onnx"))
    return tmp_path / "window.onnx"


@pytest.mark.parametrize("method", ["Occlusion", "RISE"])
def test_forward_methods_find_the_only_pixels_a_model_reads(tmp_path, demo, method):
    from fer.explain import METHODS, applicable_methods

    store, _ = _import(tmp_path, _window_model(tmp_path), "window", demo, pixel_range="0,1")
    model = store.get("window").load_model()
    assert applicable_methods(model)[method] is None
    window = np.zeros((48, 48), bool)
    window[18:30, 18:30] = True
    face = np.where(window, 230, 60).astype(np.uint8)[None]  # occlusion fills a patch with the face's mean grey
    maps = METHODS[method](model, face, 3)
    inside, outside = maps[0][window].mean(), maps[0][~window].mean()
    peak = np.unravel_index(maps[0].argmax(), (48, 48))
    assert maps.shape == (1, 48, 48) and window[peak] and inside > 2.5 * outside, (peak, inside, outside)
    np.testing.assert_array_equal(METHODS[method](model, face, 3), maps)  # seeded: a rerun gives the same map


def _window_in_class_maps(maps) -> tuple:
    """(inside, far) per class map: its mean departure from the level it has far from the window
    model's window (no patch there touches the window), inside the window and far from it.

    Why a departure, not the map itself: an occluding patch of the face's mean grey can raise the
    class's probability as well as lower it, and each face's map is scaled to [0,1], so what the
    model ignores sits at a middle level, not at 0."""
    window = np.zeros((48, 48), bool)
    window[18:30, 18:30] = True
    far = np.ones((48, 48), bool)
    far[10:38, 10:38] = False
    maps = np.asarray(maps, np.float64)
    departure = np.abs(maps - np.median(maps[:, far], axis=1)[:, None, None])
    return departure[:, window].mean(1), departure[:, far].mean(1)


def test_explain_writes_an_onnx_models_class_maps_by_occlusion_and_they_find_the_pixels_it_reads(tmp_path, demo, capsys):
    """Every class's mean occlusion map over the whole test split sits on the one window the model
    reads; the report has no filters (no layers) and refuses gradient methods and layers in one line."""
    from fer.cli import main

    models = ["--models", str(tmp_path / "runs")]
    assert main([*models, "import", str(_window_model(tmp_path)), "--run-id", "window", "--range", "0,1"]) == 0
    assert main([*models, "explain", "window", "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["method"] == "Occlusion" and summary["test_faces"] == len(demo.split("test")[1]) and not summary["filters"]
    assert sum(summary["class_counts"].values()) == summary["test_faces"]
    import pandas as pd

    regions = pd.read_csv(tmp_path / "report" / "regions.csv")
    assert list(regions.columns[:8]) == ["run", "method", "class", "region", "energy_share", "area_share", "low", "high"]
    assert set(regions["run"]) == {"window"} and set(regions["method"]) == {"Occlusion"} and len(regions) == 7 * 5
    inside, far = _window_in_class_maps(np.load(tmp_path / "report" / "class_average_Occlusion.npy"))
    assert np.all(inside > 0.05) and np.all(far < 1e-3), (inside, far)
    capsys.readouterr()
    for flags in (["--method", "Grad-CAM"], ["--layers", "conv1"]):
        assert main([*models, "explain", "window", "--out", str(tmp_path / "other"), *flags]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
        assert len(errors) == 1 and "ONNX" in errors[0], errors
    assert not (tmp_path / "other").exists()


def test_class_maps_page_maps_a_sample_of_each_class_for_an_onnx_model_and_sets_ours_beside_it(tmp_path, monkeypatch, demo):
    import shutil

    _import(tmp_path, _window_model(tmp_path), "window", demo, pixel_range="0,1")
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "demo-cnn-w0.125", tmp_path / "runs" / "demo-cnn-w0.125")
    at = _app_on(tmp_path, monkeypatch, "class_maps", cm_run="window")
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.selectbox(key="cm_method").value == "Occlusion" and at.selectbox(key="cm_method").options == ["Occlusion", "RISE"]
    per_class = at.select_slider(key="cm_per_class").value
    expected = int(np.minimum(np.bincount(demo.split("test")[1], minlength=7), per_class).sum())
    assert any(f"maps {expected:,} of the {len(demo.split('test')[1]):,} test faces" in c.value for c in at.caption)
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert sum(int(c[2:]) for c in captions if c.startswith("n=")) == expected  # the 7x7 grid covers the sample
    at.toggle(key="cm_compare_forward").set_value(True)
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.selectbox(key="cm_other").value == "demo-cnn-w0.125"
    assert any(m.label.startswith("Rank correlation") for m in at.metric)


@pytest.mark.slow
def test_every_page_works_on_imported_runs_and_saliency_shows_their_forward_maps(tmp_path, monkeypatch, demo):
    """A store with an imported ONNX model and a Keras 2 .h5 at 64x64: every page renders without an
    error; Saliency shows the ONNX model's occlusion and RISE maps and the .h5's gradient maps."""
    from streamlit.testing.v1 import AppTest

    from fer.importing import import_run
    from fer.runs import RunStore

    store = RunStore(tmp_path / "runs")
    _onnx_linear(tmp_path / "m.onnx", 7, seed=6)
    import_run(store, tmp_path / "m.onnx", "guest-onnx", demo, pixel_range="0,1")
    _keras_guest((64, 64, 1), seed=7).save(tmp_path / "g.h5")
    import_run(store, tmp_path / "g.h5", "guest-h5", demo, pixel_range="-1,1")
    monkeypatch.setenv("FER_MODELS_DIR", str(store.root))
    monkeypatch.setenv("HOME", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=300)
    at.run()
    for page in ("data", "models", "evaluate", "compare", "misclassified", "your_face", "class_maps", "filters", "compression"):
        at.switch_page(f"views/{page}.py")
        at.run()
        assert not at.exception and not at.error, (page, [e.value for e in [*at.exception, *at.error]])
    at.session_state["sal_runs"] = ["guest-onnx"]
    at.switch_page("views/saliency.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.multiselect(key="sal_methods").value == ["Occlusion", "RISE"]
    assert {"**Occlusion**", "**RISE**"} <= {m.value for m in at.markdown}
    assert not any("do not apply" in i.value for i in at.info), [i.value for i in at.info]  # both maps computed


def _app_on(tmp_path, monkeypatch, page: str, **state):
    """The app over the run store `tmp_path/runs`, run on `views/<page>.py` with `state` set first."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HOME", str(tmp_path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=300)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    return at


def _import_form(tmp_path, monkeypatch):
    """The app on the Models page's "Import a model" view."""
    return _app_on(tmp_path, monkeypatch, "models", models_view="Import a model")


def _upload_and_import(at, name: str, data: bytes):
    at.file_uploader(key="models_import_file").set_value((name, data, "application/octet-stream"))
    at.run()
    at.button(key="models_import_go").click()
    at.run()


def test_a_model_uploaded_on_the_models_page_is_imported_and_offered_by_the_run_pickers(tmp_path, monkeypatch):
    _onnx_linear(tmp_path / "m.onnx", 7, seed=8)
    at = _import_form(tmp_path, monkeypatch)
    _upload_and_import(at, "notes.onnx", b"not a model")
    assert not at.exception and len(at.error) == 1 and "cannot load it as a onnx model" in at.error[0].value
    at.file_uploader(key="models_import_file").set_value(("my_linear.onnx", (tmp_path / "m.onnx").read_bytes(), "application/octet-stream"))
    at.run()
    assert at.text_input(key="models_import_id").value == "my_linear"
    at.selectbox(key="models_import_range").set_value("0,1")
    at.button(key="models_import_go").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert any("Imported **my_linear**" in s.value for s in at.success)
    at.switch_page("views/evaluate.py")
    at.run()
    assert any(o.startswith("my_linear — imported ONNX") for o in at.selectbox(key="_run_select").options)
    at.session_state["models_view"] = "Model cards"
    at.switch_page("views/models.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]


def test_an_upload_refused_on_the_models_page_names_the_forms_fields_not_the_commands_flags(tmp_path, monkeypatch):
    _onnx_linear(tmp_path / "eight.onnx", 8, seed=9)
    at = _import_form(tmp_path, monkeypatch)
    _upload_and_import(at, "eight.onnx", (tmp_path / "eight.onnx").read_bytes())
    assert not at.exception and len(at.error) == 1, [e.value for e in [*at.exception, *at.error]]
    message = at.error[0].value
    assert "gives 8 outputs" in message and "“Its classes”" in message and "--" not in message, message


def _guest_file(tmp_path, kind):
    """(path, import flags) of a guest of each kind the import takes, built here."""
    from fer.compress.tflite import export_saved_model, tflite_convert

    if kind == "h5":
        _keras_guest((64, 64, 1), seed=10).save(tmp_path / "g.h5")
        return tmp_path / "g.h5", ["--range", "-1,1"]
    if kind == "rgb":
        _keras_guest((48, 48, 3), seed=11).save(tmp_path / "g.keras")
        return tmp_path / "g.keras", []
    if kind == "shuffled":
        _keras_guest((48, 48, 1), seed=12).save(tmp_path / "g.keras")
        return tmp_path / "g.keras", ["--classes", ",".join(SHUFFLED)]
    if kind == "tflite":
        guest = _keras_guest((48, 48, 1), seed=13)
        (tmp_path / "g.tflite").write_bytes(tflite_convert(export_saved_model(guest, tmp_path / "saved"), "float32"))
        return tmp_path / "g.tflite", ["--range", "0,1"]
    if kind == "savedmodel":
        return export_saved_model(_keras_guest((56, 56, 1), seed=14), tmp_path / "saved"), []
    _onnx_linear(tmp_path / "g.onnx", 7, seed=15)
    return tmp_path / "g.onnx", ["--range", "0,1"]


@pytest.mark.parametrize("kind", ["h5", "rgb", "shuffled", "tflite", "savedmodel", "onnx"])
def test_each_kind_is_imported_evaluated_predicted_on_a_photo_and_explained_from_the_command_line(tmp_path, capsys, kind):
    import cv2
    from PIL import Image

    from fer.cli import main
    from fer.data import load_dataset
    from fer.explain import compute_maps, default_methods
    from fer.runs import RunStore

    path, flags = _guest_file(tmp_path, kind)
    models = ["--models", str(tmp_path / "runs")]
    assert main([*models, "import", str(path), "--run-id", "guest", *flags]) == 0
    assert "saved in" in capsys.readouterr().out
    assert main([*models, "evaluate", "guest"]) == 0
    out = capsys.readouterr().out
    run = RunStore(tmp_path / "runs").get("guest")
    assert f"accuracy {100 * run.meta['test_accuracy']:.2f}%" in out  # the import's score, computed again
    face = load_dataset(None).split("test")[0][0]
    photo = np.full((300, 300), 120, np.uint8)
    photo[50:242, 50:242] = cv2.resize(face, (192, 192), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(photo).convert("RGB").save(tmp_path / "face.jpg", quality=95)
    assert main([*models, "predict", str(tmp_path / "face.jpg"), "--run", "guest", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert abs(sum(line["probs"].values()) - 1) < 1e-4
    model = run.load_model()
    maps = compute_maps(model, face, 0)
    assert set(maps) == set(default_methods(model)) and maps and all(m.shape == (1, 48, 48) for m in maps.values())
    if kind == "savedmodel":
        assert run.model_path.name == "model.tflite" and run.meta["guest"]["adapter"]["size"] == [56, 56]


def test_a_sequential_keras_model_is_replayed_layer_by_layer(tmp_path, demo, faces):
    import keras

    from fer.explain import cam_layer

    keras.utils.set_random_seed(21)
    guest = keras.Sequential([keras.Input((40, 40, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="seq_conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    guest.save(tmp_path / "seq.keras")
    store, run = _import(tmp_path, tmp_path / "seq.keras", "seq", demo, pixel_range="0,1")
    model = store.get("seq").load_model()
    np.testing.assert_allclose(model.predict(faces[..., None].astype("float32"), verbose=0),
                               guest.predict(_resized(faces, (40, 40), 0.0, 1.0), verbose=0), atol=1e-5)
    assert cam_layer(model) == "seq_conv"


def _app_with_a_ferplus_model(tmp_path, monkeypatch, demo, seed):
    """The app (not yet run) over a store holding one imported FER+-style ONNX model: 8 outputs,
    contempt last."""
    from streamlit.testing.v1 import AppTest

    _onnx_linear(tmp_path / "plus.onnx", 8, seed=seed)
    _import(tmp_path, tmp_path / "plus.onnx", "ferplus", demo, pixel_range="0,1",
            classes="neutral,happiness,surprise,sadness,anger,disgust,fear,contempt")
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HOME", str(tmp_path))
    return AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=300)


def test_saliency_shows_the_probability_of_a_class_fer2013_lacks_as_its_own_column(tmp_path, monkeypatch, demo):
    at = _app_with_a_ferplus_model(tmp_path, monkeypatch, demo, seed=22)
    at.session_state["sal_methods"] = ["Occlusion"]
    at.run()
    at.switch_page("views/saliency.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    table = at.dataframe[0].value
    assert "other classes" in table.columns
    row = table.loc["ferplus"]
    assert 0 < row["other classes"] < 100 and row[list(CLASS_NAMES)].sum() + row["other classes"] == pytest.approx(100, abs=1e-3)
    assert any("ferplus: contempt" in c.value for c in at.caption)


def test_evaluate_says_how_a_model_with_a_class_fer2013_lacks_is_scored(tmp_path, monkeypatch, demo, capsys):
    from fer.cli import main

    at = _app_with_a_ferplus_model(tmp_path, monkeypatch, demo, seed=24)
    at.run()
    at.switch_page("views/evaluate.py")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    note = [c.value for c in at.caption if c.value.startswith("Imported:")]
    assert len(note) == 1 and "contempt" in note[0] and "most probable of FER2013's seven" in note[0]
    capsys.readouterr()
    assert main(["--models", str(tmp_path / "runs"), "evaluate", "ferplus"]) == 0
    assert any(line.strip().startswith("note: the model also has contempt") for line in capsys.readouterr().out.splitlines())


def test_your_face_reads_a_photo_with_an_imported_onnx_model_its_occlusion_map_and_its_other_class(tmp_path, monkeypatch, demo):
    import io

    import cv2
    from PIL import Image

    at = _app_with_a_ferplus_model(tmp_path, monkeypatch, demo, seed=23)
    photo = np.full((400, 400), 120, np.uint8)
    photo[100:292, 100:292] = cv2.resize(demo.split("test")[0][0], (192, 192), interpolation=cv2.INTER_CUBIC)
    buf = io.BytesIO()
    Image.fromarray(np.stack([photo] * 3, -1)).save(buf, "JPEG", quality=92)
    at.run()
    at.switch_page("views/your_face.py")
    at.run()
    at.radio(key="you_source").set_value("Upload a photo")
    at.run()
    at.file_uploader(key="you_upload").set_value(("face.jpg", buf.getvalue(), "image/jpeg"))
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.multiselect(key="you_methods").value == ["Occlusion"]
    table = at.dataframe[0].value
    row = table.loc["ferplus"]
    assert 0 < row["other classes"] < 1 and row[list(CLASS_NAMES)].sum() + row["other classes"] == pytest.approx(1, abs=1e-4)
    assert "**Occlusion**" in [m.value for m in at.markdown]
