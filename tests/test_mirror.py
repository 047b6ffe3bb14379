"""Mirror averaging as layers (fer.mirror): the saved model, its run, and explanations of it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_RUNS = ("demo-cnn-w0.125", "demo-dnn-matched")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A run store with copies of two shipped demo runs and their mirror-averaged runs."""
    from fer.data import load_dataset
    from fer.mirror import mirror_run
    from fer.runs import RunStore

    root = tmp_path_factory.mktemp("mirror-runs")
    for run_id in DEMO_RUNS:
        shutil.copytree(ROOT / "models" / run_id, root / run_id)
    store = RunStore(root)
    data = load_dataset(None)
    for run_id in DEMO_RUNS:
        mirror_run(store, run_id, data, f"{run_id}-mirror")
    return store


@pytest.fixture(scope="module")
def faces():
    from fer.data import load_dataset

    x, _ = load_dataset(None).split("test")
    return x[:6]


def _views_mean(network, x):
    x = x[..., None].astype("float32")
    return 0.5 * (network.predict(x, verbose=0) + network.predict(x[:, :, ::-1], verbose=0))


@pytest.mark.slow
def test_saved_model_averages_both_views_and_loads_without_this_package(store, faces, tmp_path):
    from fer.mirror import is_mirror_average, network_of

    run = store.get("demo-cnn-w0.125-mirror")
    model = run.load_model()
    assert is_mirror_average(model) and not is_mirror_average(network_of(model))
    plain = store.get("demo-cnn-w0.125").load_model()
    np.testing.assert_allclose(model.predict(faces[..., None].astype("float32"), verbose=0), _views_mean(plain, faces),
                               atol=1e-6)
    assert model.count_params() == plain.count_params()  # one copy of the weights
    # the file alone: plain Keras in a fresh interpreter, safe mode, none of fer imported
    np.save(tmp_path / "x.npy", faces)
    code = ("import sys, numpy as np, keras; m = keras.models.load_model(sys.argv[1], compile=False, safe_mode=True); "
            "x = np.load(sys.argv[2])[..., None].astype('float32'); np.save(sys.argv[3], m.predict(x, verbose=0)); "
            "assert not any(k.startswith('fer') for k in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(run.model_path), str(tmp_path / "x.npy"), str(tmp_path / "p.npy")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), _views_mean(plain, faces), atol=1e-6)


def test_run_keeps_the_source_recipe_and_scores_the_averaged_model(store):
    plain, mirrored = store.get("demo-cnn-w0.125").meta, store.get("demo-cnn-w0.125-mirror").meta
    assert mirrored["mirror"]["run"] == "demo-cnn-w0.125"
    assert mirrored["mirror"]["test_accuracy"] == plain["test_accuracy"]
    assert mirrored["config"] == plain["config"] and mirrored["history"] == plain["history"]
    assert mirrored["test_accuracy"] != plain["test_accuracy"]  # scored afresh
    assert sum(map(sum, mirrored["confusion_matrix"])) == 1000
    assert "mirror-averaged" in store.get("demo-cnn-w0.125-mirror").label
    assert "mirror" not in store.get("demo-cnn-w0.125").label


def test_refuses_a_second_mirror_and_other_data(store, tmp_path):
    from fer.data import load_dataset
    from fer.errors import DataError
    from fer.mirror import mirror_run
    from fer.runs import RunError

    with pytest.raises(RunError, match="already mirror-averaged"):
        mirror_run(store, "demo-cnn-w0.125-mirror", load_dataset(None), "twice")
    other = load_dataset(None, seed=1)
    with pytest.raises(DataError, match="same data"):
        mirror_run(store, "demo-cnn-w0.125", other, "elsewhere")
    assert not (Path(store.root) / "twice").exists() and not (Path(store.root) / "elsewhere").exists()


@pytest.mark.parametrize("method", ["Saliency", "Grad-CAM", "Grad-CAM++", "Score-CAM"])
@pytest.mark.slow
def test_maps_explain_the_averaged_model_so_a_mirrored_face_gets_the_mirrored_map(store, faces, method):
    """The averaged model is symmetric: its map of the mirrored face is the mirror of its map.
    The plain network's is not, so this fails if the methods explained one view only."""
    from fer.explain import METHODS

    mirrored = store.get("demo-cnn-w0.125-mirror").load_model()
    plain = store.get("demo-cnn-w0.125").load_model()
    flipped = faces[:, :, ::-1]
    for cls in (3, 5):
        a, b = METHODS[method](mirrored, faces, cls), METHODS[method](mirrored, flipped, cls)
        np.testing.assert_allclose(a, b[:, :, ::-1], atol=1e-4)
    a, b = METHODS[method](plain, faces, 3), METHODS[method](plain, flipped, 3)
    assert np.abs(a - b[:, :, ::-1]).max() > 0.05


def test_predictions_and_dnn_maps_through_the_prepared_copy(store, faces):
    from fer.explain import applicable_methods, compute_maps, predict

    for run_id in DEMO_RUNS:
        model = store.get(f"{run_id}-mirror").load_model()
        np.testing.assert_allclose(predict(model, faces), model.predict(faces[..., None].astype("float32"), verbose=0),
                                   atol=1e-5)
    dnn = store.get("demo-dnn-matched-mirror").load_model()
    assert applicable_methods(dnn)["Grad-CAM"] is not None  # still no conv layer inside
    maps = compute_maps(dnn, faces, 2, methods=["Saliency"])["Saliency"]
    flipped = compute_maps(dnn, faces[:, :, ::-1], 2, methods=["Saliency"])["Saliency"]
    np.testing.assert_allclose(maps, flipped[:, :, ::-1], atol=1e-4)


def test_filters_and_feature_maps_are_the_networks(store, faces):
    from fer.explain.filters import conv_layers, feature_maps
    from fer.models import count_flops

    mirrored = store.get("demo-cnn-w0.125-mirror").load_model()
    plain = store.get("demo-cnn-w0.125").load_model()
    assert conv_layers(mirrored) == conv_layers(plain)
    layer = conv_layers(plain)[-1]["name"]
    np.testing.assert_allclose(feature_maps(mirrored, layer, faces), feature_maps(plain, layer, faces), atol=1e-5)
    assert count_flops(mirrored) == 2 * count_flops(plain)


@pytest.mark.slow
def test_cli_mirror_prints_both_scores_and_errors_in_one_line(store, tmp_path):
    env = {**os.environ, "FER_MODELS_DIR": str(tmp_path), "FER_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", tmp_path / "demo-cnn-w0.125")
    run = lambda *a: subprocess.run([sys.executable, "-m", "fer", *a], capture_output=True, text=True, env=env, cwd=ROOT,
                                    timeout=600)
    out = run("mirror", "demo-cnn-w0.125", "--run-id", "m")
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "m" / "run.json").read_text())
    plain = meta["mirror"]["test_accuracy"]
    assert f"m: test {100 * meta['test_accuracy']:.2f}% (plain demo-cnn-w0.125: {100 * plain:.2f}%)" in out.stdout
    assert meta["command"] == "python -m fer mirror demo-cnn-w0.125 --run-id m"
    again = run("mirror", "m", "--run-id", "m2")
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines()[-1] == "error: run m is already mirror-averaged (from demo-cnn-w0.125)"
    assert "data:" not in again.stderr  # refused before loading any data


PAGES = sorted(p.stem for p in (ROOT / "views").glob("*.py"))


@pytest.fixture(scope="module")
def mirror_only_store(store, tmp_path_factory):
    """A run store holding mirror-averaged runs only, so every page's default run is one."""
    root = tmp_path_factory.mktemp("mirror-only")
    for run_id in DEMO_RUNS:
        shutil.copytree(Path(store.root) / f"{run_id}-mirror", root / f"{run_id}-mirror")
    return root


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.slow
def test_every_page_works_on_mirror_averaged_runs(mirror_only_store, monkeypatch, page):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(mirror_only_store))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]
    assert at.title


@pytest.mark.slow
def test_a_mirror_run_warm_starts_a_plain_training_from_its_networks_weights(store):
    """--init-from takes a mirror-averaged run: its weights are its network's."""
    from fer.data import load_dataset
    from fer.train import TrainConfig, train

    data = load_dataset(None)
    model, meta = train(TrainConfig(arch="cnn", width=0.125, epochs=1, max_train_images=256, learning_rate=1e-9,
                                    schedule="constant", augment=False, init_from="demo-cnn-w0.125-mirror"),
                        data, store, run_id="warm", save=False)
    source = store.get("demo-cnn-w0.125").load_model()
    kernel = next(w for w in source.weights if "kernel" in w.path)
    np.testing.assert_allclose(next(w for w in model.weights if w.path == kernel.path).numpy(), kernel.numpy(), atol=1e-5)
    assert meta["init_from"]["run"] == "demo-cnn-w0.125-mirror"
    # the chain of commands reaches the training behind the averaging, not only the averaging
    assert meta["init_from"]["command"].startswith("python -m fer mirror")
    assert meta["init_from"]["mirror"]["command"] == store.get("demo-cnn-w0.125").meta["command"]
