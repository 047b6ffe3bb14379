"""Results kept beside a run: served only for the model file, data set and settings they were made
with; the kept probabilities and CAM maps equal what the pages compute; the Class maps page reads
them without computing a map; `python -m fer keep` refuses bad input with one line."""
import shutil
from pathlib import Path

import numpy as np
import pytest

from fer.kept import keep_arrays, kept_arrays, kept_path

ROOT = Path(__file__).resolve().parents[1]


def _run_folder(tmp_path, content=b"model v1"):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "model.keras").write_bytes(content)
    return run


def test_kept_arrays_come_back_only_for_the_same_model_file_data_and_settings(tmp_path):
    run = _run_folder(tmp_path)
    probs = np.random.default_rng(0).random((5, 7)).astype(np.float32)
    keep_arrays(run, "probs", {"fingerprint": "abc", "n": 3}, probs=probs)
    np.testing.assert_array_equal(kept_arrays(run, "probs", {"fingerprint": "abc", "n": 3})["probs"], probs)
    assert kept_arrays(run, "probs", {"fingerprint": "other", "n": 3}) is None  # other data
    assert kept_arrays(run, "probs", {"fingerprint": "abc", "n": 4}) is None  # other settings
    assert kept_arrays(run, "maps", {"fingerprint": "abc", "n": 3}) is None  # nothing kept by that name
    import os

    os.utime(run / "model.keras", ns=(1, 1))  # same bytes, new version: still served (the hash keys)
    assert kept_arrays(run, "probs", {"fingerprint": "abc", "n": 3}) is not None
    _run_folder(tmp_path, b"model v2")  # retrained: never served stale
    assert kept_arrays(run, "probs", {"fingerprint": "abc", "n": 3}) is None


def test_an_unreadable_kept_file_reads_as_none_and_no_temp_file_is_left(tmp_path):
    run = _run_folder(tmp_path)
    keep_arrays(run, "probs", {"fingerprint": "abc"}, probs=np.zeros((2, 7), np.float32))
    assert [p.name for p in kept_path(run, "probs").parent.iterdir()] == ["probs.npz"]
    kept_path(run, "probs").write_bytes(b"not an npz")
    assert kept_arrays(run, "probs", {"fingerprint": "abc"}) is None


class _Split:
    """A data set of a few test faces (the kept functions need its test split and fingerprint)."""

    def __init__(self, x, y, fingerprint="demo-subset"):
        self.x, self.y, self.fingerprint = x, y, fingerprint

    def split(self, name):
        assert name == "test"
        return self.x, self.y


@pytest.fixture(scope="module")
def demo_cnn(tmp_path_factory):
    from fer.data import load_dataset
    from fer.runs import RunStore

    root = tmp_path_factory.mktemp("models")
    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", root / "demo-cnn-w0.125")
    run = RunStore(root).get("demo-cnn-w0.125")
    x, y = load_dataset("synthetic").split("test")
    return run, run.load_model(), _Split(x[:150], y[:150])


@pytest.mark.slow
def test_kept_probabilities_and_maps_equal_the_computed_ones(demo_cnn):
    from fer.evaluate import predict_proba
    from fer.explain import aggregate
    from fer.explain.kept import keep_test_maps, keep_test_probs, kept_test_maps, kept_test_probs

    run, model, data = demo_cnn
    probs = keep_test_probs(run.path, model, data)
    np.testing.assert_array_equal(kept_test_probs(run.path, data.fingerprint), predict_proba(model, data.x))
    pred = probs.argmax(1)
    assert (pred != data.y).any() and (pred == data.y).any()  # both kinds of face are exercised
    keep_test_maps(run.path, model, data, "Grad-CAM++", pred)
    for target, classes in (("true", data.y), ("predicted", pred)):
        kept = kept_test_maps(run.path, data.fingerprint, "Grad-CAM++", target, pred)
        computed = aggregate.face_maps(model, data.x, "Grad-CAM++", class_index=classes)
        assert kept.dtype == computed.dtype == np.float16
        np.testing.assert_allclose(kept.astype(np.float32), computed.astype(np.float32), atol=2e-3)
    other = pred.copy()
    other[0] = (other[0] + 1) % 7  # predictions that differ from the kept ones: not served
    assert kept_test_maps(run.path, data.fingerprint, "Grad-CAM++", "true", other) is None
    assert kept_test_maps(run.path, "other data", "Grad-CAM++", "true", pred) is None
    assert kept_test_maps(run.path, data.fingerprint, "Grad-CAM", "true", pred) is None  # not kept


@pytest.mark.slow
def test_a_cam_map_does_not_need_the_gradient_below_its_layer(demo_cnn, monkeypatch):
    from fer.explain import METHODS, saliency

    _, model, data = demo_cnn
    for method in ("Grad-CAM", "Grad-CAM++"):
        stopped = METHODS[method](model, data.x[:20], data.y[:20])
        with monkeypatch.context() as m:  # the gradient back-propagated through the whole trunk
            m.setattr(saliency, "_gradient_stops_at_layer", __import__("contextlib").nullcontext)
            through = METHODS[method](model, data.x[:20], data.y[:20])
        np.testing.assert_array_equal(stopped, through)
    saliency_maps = METHODS["Saliency"](model, data.x[:5], data.y[:5])  # the same stand-in: its gradient intact
    assert float(saliency_maps.max()) > 0


def _fresh_page(monkeypatch, models_dir, page: str):
    """`page` run once under AppTest on the run store `models_dir`, every cache empty."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(models_dir))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.switch_page(page)
    at.run()
    return at


@pytest.mark.slow
def test_the_class_maps_page_reads_kept_maps_without_computing_one(tmp_path, monkeypatch):
    from fer import cli
    from fer.explain import aggregate

    for run in ("demo-cnn-w0.125", "demo-mobilenet-w0.5"):
        shutil.copytree(ROOT / "models" / run, tmp_path / run)
    assert cli.main(["--models", str(tmp_path), "keep", "demo-cnn-w0.125", "demo-mobilenet-w0.5",
                     "--methods", "Grad-CAM"]) == 0

    def no_computing(*args, **kwargs):
        raise AssertionError("a map was computed although it is kept")

    monkeypatch.setattr(aggregate, "face_maps", no_computing)
    at = _fresh_page(monkeypatch, tmp_path, "views/class_maps.py")
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert at.selectbox(key="cm_method").value == "Grad-CAM" and len(at.metric) == 2  # both sections drawn


@pytest.mark.slow
def test_keep_cli_refuses_an_unknown_method_and_skips_a_dnn(tmp_path, capsys):
    from fer import cli

    shutil.copytree(ROOT / "models" / "demo-dnn-matched", tmp_path / "demo-dnn-matched")
    assert cli.main(["--models", str(tmp_path), "keep", "demo-dnn-matched", "--methods", "Saliency"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--methods" in err[0] and "Grad-CAM++" in err[0]
    assert not (tmp_path / "demo-dnn-matched" / "kept").exists()
    assert cli.main(["--models", str(tmp_path), "keep", "demo-dnn-matched", "--faces", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--faces" in err[0] and not (tmp_path / "demo-dnn-matched" / "kept").exists()
    assert cli.main(["--models", str(tmp_path), "keep", "demo-dnn-matched", "--methods", "Grad-CAM"]) == 0
    out = capsys.readouterr().out
    assert "does not apply" in out and (tmp_path / "demo-dnn-matched" / "kept" / "probs.npz").is_file()


def test_the_shipped_runs_kept_results_are_for_their_model_files_and_data():
    """A shipped model replaced without `python -m fer keep` again would silently lose its kept
    results (they are never served stale): caught here."""
    import json

    from fer.runs import RunStore, model_sha256

    checked = 0
    for run in RunStore(ROOT / "models").list():
        for path in sorted((run.path / "kept").glob("*.npz")):
            with np.load(path, allow_pickle=False) as data:
                key = json.loads(str(data["__key__"]))
            assert key["model_sha256"] == model_sha256(run.path), f"{path} is for another model file"
            if "fingerprint" in key:  # preferred inputs depend on the model alone
                assert key["fingerprint"] == run.meta["dataset"]["fingerprint"], f"{path} is for other data"
            checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_kept_filters_equal_the_computed_ones_and_the_filters_page_reads_them(demo_cnn, monkeypatch):
    from fer.explain import aggregate, filters
    from fer.explain.filters import AscentSettings, preferred_inputs
    from fer.explain.kept import (EXEMPLARS_K, default_filter_layer, keep_default_filters, kept_exemplars,
                                  kept_preferred_inputs)

    from fer.explain.filters.sharpen import against_faces

    run, model, data = demo_cnn
    layer = keep_default_filters(run.path, model, data)
    assert layer == default_filter_layer(model)
    settings = AscentSettings().key()
    best = aggregate.filter_exemplars(model, layer, data.x, k=1)
    for engine in ("batched", "fourier"):
        kept = kept_preferred_inputs(run.path, layer, engine, settings, data.fingerprint)
        computed = against_faces(model, layer, preferred_inputs(model, layer, engine, settings), best, data.x)
        np.testing.assert_array_equal(kept.filters, computed.filters)
        np.testing.assert_array_equal(kept.origin, computed.origin)
        np.testing.assert_allclose(kept.activation, computed.activation, rtol=1e-4)
        np.testing.assert_allclose(kept.images, computed.images, atol=1e-2)
        assert kept_preferred_inputs(run.path, layer, engine, settings, "other data") is None
    assert kept_preferred_inputs(run.path, layer, "batched", AscentSettings(steps=7).key(), data.fingerprint) is None
    direct = aggregate.filter_exemplars(model, layer, data.x, k=6)
    kept = kept_exemplars(run.path, layer, data.fingerprint, 6)
    np.testing.assert_array_equal(kept.indices, direct.indices)  # the first 6 of the kept 12 are the top 6
    np.testing.assert_array_equal(kept.patches, direct.patches)
    assert kept_exemplars(run.path, layer, data.fingerprint, EXEMPLARS_K + 1) is None
    assert kept_exemplars(run.path, layer, "other data", 6) is None

    # the page on the run store holding this run, its filters kept for the demo faces' test split
    from fer.data import load_dataset

    demo = load_dataset("synthetic")
    keep_default_filters(run.path, model, demo)

    def no_ascent(*args, **kwargs):
        raise AssertionError("computed although kept")

    for name in ("visualize_filters", "visualize_filters_fourier"):
        monkeypatch.setattr(filters, name, no_ascent)
    monkeypatch.setattr(aggregate, "filter_exemplars", no_ascent)
    at = _fresh_page(monkeypatch, run.path.parent, "views/filters.py")
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert at.selectbox(key="filters_layer").value == layer
    assert len(at.metric) == 2  # the share of filters whose preferred input beats the faces: from kept results


@pytest.mark.slow
def test_the_saliency_page_opens_on_kept_maps_equal_to_the_computed_ones(tmp_path, monkeypatch):
    from fer import cli
    from fer.data import load_dataset
    from fer.explain import METHODS, applicable_methods, map_targets, predict, shared
    from fer.explain.kept import face_key, saliency_settings
    from fer.runs import RunStore
    from ui.cache import kept_face_maps

    runs = ("demo-cnn-w0.125", "demo-dnn-matched", "demo-mobilenet-w0.5")
    for run in runs:
        shutil.copytree(ROOT / "models" / run, tmp_path / run)
    assert cli.main(["--models", str(tmp_path), "keep", *runs, "--methods", "", "--faces", "2"]) == 0
    x, y = load_dataset("synthetic").split("test")
    settings = saliency_settings()
    for run in RunStore(tmp_path).list():
        model = run.load_model()
        for face, true in zip(x[:2], y[:2]):
            classes = [c for _, c in map_targets(int(predict(model, face[None]).argmax()), int(true))]
            for method, why in applicable_methods(model).items():
                kept = kept_face_maps(run, face_key(face), method, classes, METHODS[method].pick(settings))
                # the page's default methods are kept where they apply; occlusion and RISE, chosen by hand, computed
                assert (kept is None) == (why is not None or METHODS[method].forward_only), (run.id, method)
                if kept is not None:  # what the page computes without them
                    page = shared.shared_maps(model, method, np.repeat(face[None], len(classes), 0), classes,
                                              METHODS[method].pick(settings))
                    np.testing.assert_allclose(kept, page, atol=2e-3)
        other = METHODS["SmoothGrad"].pick({**settings, "samples": 8})
        assert kept_face_maps(run, face_key(x[0]), "SmoothGrad", classes, other) is None  # other settings: computed
        assert kept_face_maps(run, face_key(x[5]), "Saliency", [int(y[5])], {}) is None  # a face not kept

    def no_computing(*args, **kwargs):
        raise AssertionError("a map was computed although it is kept")

    monkeypatch.setattr(shared, "shared_maps", no_computing)  # the page imports it from there on each run
    at = _fresh_page(monkeypatch, tmp_path, "views/saliency.py")
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert len(at.multiselect(key="sal_runs").value) == 3
