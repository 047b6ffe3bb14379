"""Data-set-level explanations on a small model: class and confusion-cell maps, agreement between
models' maps (a model with itself agrees fully; with a randomised copy it does not), and filter
exemplars ordered by activation."""
import numpy as np
import pytest

from fer.explain import aggregate


@pytest.fixture(scope="module")
def trained():
    """The shipped demo CNN (trained on the generated faces), and 300 of their test faces."""
    from pathlib import Path

    from fer.data import load_dataset
    from fer.runs import RunStore

    x, y = load_dataset("synthetic").split("test")
    run = RunStore(Path(__file__).resolve().parents[1] / "models").get("demo-cnn-w0.125")
    return run.load_model(), x[:300], y[:300]


@pytest.mark.slow
def test_face_maps_are_one_normalised_map_per_face(trained):
    model, x, _ = trained
    maps = aggregate.face_maps(model, x[:40], "Grad-CAM", chunk=16)
    assert maps.shape == (40, 48, 48) and maps.dtype == np.float16
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0
    from fer.explain import METHODS, predict

    direct = METHODS["Grad-CAM"](model, x[:5], predict(model, x[:5]).argmax(1))
    np.testing.assert_allclose(maps[:5], direct, atol=2e-3)  # the chunks change nothing


def test_class_and_cell_maps_average_the_right_faces():
    rng = np.random.default_rng(0)
    maps = rng.random((60, 48, 48)).astype(np.float16)
    labels = np.repeat(np.arange(6), 10)  # class 6 has no face
    predicted = labels.copy()
    predicted[::5] = 0
    faces = rng.integers(0, 255, (60, 48, 48)).astype(np.uint8)
    cls = aggregate.class_maps(maps, labels, faces)
    assert cls.mean.shape == (7, 48, 48) and list(cls.count) == [10] * 6 + [0]
    np.testing.assert_allclose(cls.mean[3], maps[30:40].astype(np.float32).mean(0), atol=1e-6)
    np.testing.assert_allclose(cls.std[3], maps[30:40].astype(np.float32).std(0), atol=1e-6)
    np.testing.assert_allclose(cls.mean_face[3], faces[30:40].mean(0), atol=1e-4)
    assert np.isnan(cls.mean[6]).all()
    cells = aggregate.cell_maps(maps, labels, predicted)
    assert cells.mean.shape == (7, 7, 48, 48)
    assert cells.count.sum() == 60 and cells.count[2, 0] == 2 and cells.count[2, 2] == 8
    np.testing.assert_allclose(cells.mean[2, 0], maps[[20, 25]].astype(np.float32).mean(0), atol=1e-6)


@pytest.mark.slow
def test_a_model_agrees_with_itself_and_not_with_a_randomised_copy(trained):
    import keras

    model, x, y = trained
    maps = aggregate.face_maps(model, x[:60], "Saliency")
    same = aggregate.agreement(maps, maps.copy(), labels=y[:60])
    assert np.allclose(same["spearman"], 1.0) and np.allclose(same["top_overlap"], 1.0)
    per_class = aggregate.agreement_per_class(same)
    assert list(per_class.columns) == ["spearman", "top_overlap"] and np.allclose(per_class.to_numpy(), 1.0)
    random_copy = keras.models.clone_model(model)  # same architecture, fresh random weights
    random_copy.build((None, 48, 48, 1))
    other = aggregate.face_maps(random_copy, x[:60], "Saliency")
    diff = aggregate.agreement(maps, other)
    assert diff["spearman"].mean() < 0.5 and diff["top_overlap"].mean() < 0.5
    assert -1.0 <= diff["spearman"].min() and diff["spearman"].max() <= 1.0


def test_spearman_and_overlap_on_constructed_maps():
    a = np.arange(48 * 48, dtype=np.float64).reshape(1, 48, 48)
    assert aggregate.spearman(a, -a)[0] == pytest.approx(-1.0)
    assert aggregate.spearman(a, a ** 2)[0] == pytest.approx(1.0)  # ranks, not values
    assert aggregate.top_overlap(a, -a)[0] == 0.0
    empty = np.zeros_like(a)
    assert np.isnan(aggregate.spearman(a, empty)[0]) and np.isnan(aggregate.top_overlap(empty, a)[0])


def test_filter_exemplars_are_the_faces_that_drive_each_filter_most(trained):
    from fer.explain.filters import conv_layers, filter_activation

    model, x, _ = trained
    layer = conv_layers(model)[0]["name"]
    ex = aggregate.filter_exemplars(model, layer, x, k=5, chunk=128)
    act = filter_activation(model, layer, x)  # (N, C)
    assert ex.indices.shape == (act.shape[1], 5) and ex.patches.shape == (act.shape[1], 5, 4)
    for f in range(act.shape[1]):
        np.testing.assert_allclose(ex.activations[f], np.sort(act[:, f])[::-1][:5], rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(ex.activations[f]) <= 0)
    top, left, bottom, right = ex.patches[..., 0], ex.patches[..., 1], ex.patches[..., 2], ex.patches[..., 3]
    assert (top >= 0).all() and (bottom <= 48).all() and (bottom > top).all() and (right > left).all()
    assert ex.receptive_field == 3  # the first 3x3 conv sees 3x3 pixels


def test_receptive_fields_are_in_face_pixels_when_the_model_upsamples_the_face():
    from fer.models import build_model

    plain = build_model("mobilenet", 1.1, depth=4, blocks="xception")
    fine = build_model("mobilenet", 1.1, depth=4, blocks="xception", upsample=64)
    assert aggregate.receptive_field(plain, "stem2_conv") == (5, 1)
    assert aggregate.receptive_field(fine, "stem2_conv") == (4, 0.75)  # 5 steps of 3/4 pixel: 4 pixels
    size, stride = aggregate.receptive_field(fine, "module1_pool")
    assert stride == 1.5 and size < aggregate.receptive_field(plain, "module1_pool")[0]
    ex = aggregate.filter_exemplars(fine, "stem2_conv", np.random.default_rng(0).integers(0, 256, (6, 48, 48)), k=2)
    top, left, bottom, right = np.moveaxis(ex.patches, -1, 0)
    assert (top >= 0).all() and (bottom <= 48).all() and ((bottom - top) <= 4).all() and (right > left).all()


# ----------------------------------------------------------------------------------------------
# python -m fer explain


@pytest.fixture
def demo_store(tmp_path):
    import shutil
    from pathlib import Path

    root = tmp_path / "models"
    for run in ("demo-cnn-w0.125", "demo-dnn-matched", "demo-mobilenet-w0.5"):
        shutil.copytree(Path(__file__).resolve().parents[1] / "models" / run, root / run)
    return root


@pytest.mark.slow
def test_explain_cli_writes_every_file_with_its_shape(demo_store, tmp_path, capsys):
    import json

    import pandas as pd

    from fer.cli import main
    from fer.explain.filters.sharpen import ENGINE, ORIGINS

    out = tmp_path / "report"
    assert main(["--models", str(demo_store), "explain", "demo-cnn-w0.125", "--out", str(out), "--steps", "5",
                 "--layers", "block1_conv1", "block4_conv2", "--top-k", "4"]) == 0
    err = capsys.readouterr().err
    assert "Grad-CAM maps of 1000 test faces" in err and "written:" in err  # progress on stderr
    assert np.load(out / "class_average_Grad-CAM.npy").shape == (7, 48, 48)
    assert np.load(out / "class_std_Grad-CAM.npy").shape == (7, 48, 48)
    assert np.load(out / "cells_Grad-CAM.npy").shape == (7, 7, 48, 48)
    counts = pd.read_csv(out / "cells_Grad-CAM_count.csv", index_col=0)
    assert counts.to_numpy().sum() == 1000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(np.trace(counts.to_numpy()) / 1000)
    agreement = pd.read_csv(out / "agreement_Grad-CAM.csv")
    assert set(agreement["compared_run"]) == {"demo-mobilenet-w0.5"}  # the DNN has no conv layer for Grad-CAM
    assert len(agreement) == 1000 and agreement["spearman"].dropna().between(-1, 1).all()
    assert agreement["spearman"].isna().sum() == summary["agreement"]["demo-mobilenet-w0.5"]["faces_with_an_empty_map"]
    for layer, n in (("block1_conv1", 4), ("block4_conv2", 32)):
        images = np.load(out / f"filters_{layer}.npy")
        meta = json.loads((out / f"filters_{layer}.json").read_text())
        assert images.shape[1:] == (48, 48) and len(images) == len(meta["filters"])
        assert images.min() >= 0 and images.max() <= 255
        first = meta["filters"][0]
        assert len(first["top_test_faces"]) == 4 and first["top_activations"] == sorted(first["top_activations"], reverse=True)
        assert summary["filters"][layer]["filters"] == len(meta["filters"])
        for f in meta["filters"]:  # what each image is, and whether it wins, as the Filters page says
            assert f["beats_every_test_face"] == (f["preferred_input_activation"] > f["top_activations"][0])
            pushed = f["preferred_input_origin"] != ORIGINS[ENGINE]
            assert pushed == (f["preferred_input_activation"] != f["ascent_activation"]), f
        share = summary["filters"][layer]
        assert share["share_beating_every_test_face"] >= share["ascent_alone_share_beating_every_test_face"]
    assert set(summary["class_map_share_in_region"]) == set(summary["random_map_share_in_region"])  # generated faces
    regions = pd.read_csv(out / "regions.csv")
    assert set(regions["region"]) == {"eyes", "brows", "nose and cheeks", "mouth", "elsewhere"} and len(regions) == 7 * 5
    tcav = json.loads((out / "tcav.json").read_text())
    assert {r["concept"] for r in tcav} == {"mouth open", "brows raised", "eyes wide", "random faces (control)"}
    assert all(0 <= r["p_value"] <= 1 and r["significant"] == (r["p_value"] < 0.05 / 7) for r in tcav)
    assert summary["tcav"]["significant"] == sum(r["significant"] for r in tcav)
    happy = json.loads((out / "concepts_happy.json").read_text())
    assert len(happy["concepts"]) == 5 and (out / "concepts_happy.png").is_file()
    assert all(set(c["top_test_faces"]) <= set(happy["faces"]) for c in happy["concepts"])
    assert np.allclose([c["importance"] for c in happy["concepts"]], summary["discovered"]["happy"], atol=1e-4)
    assert not list(tmp_path.glob(".report.tmp-*"))


@pytest.mark.slow
def test_explain_cli_refuses_bad_input_with_one_line_and_leaves_nothing(demo_store, tmp_path, capsys):
    from fer.cli import main

    base = ["--models", str(demo_store), "explain"]
    assert main([*base, "no-such-run", "--out", str(tmp_path / "a")]) == 2
    assert "no-such-run" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main([*base, "demo-cnn-w0.125", "--out", str(full)]) == 2
    assert "not an empty folder" in capsys.readouterr().err and (full / "keep.txt").read_text() == "mine"
    assert main([*base, "demo-cnn-w0.125", "--out", str(tmp_path / "missing" / "deeper")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*base, "demo-cnn-w0.125", "--out", str(tmp_path / "b"), "--layers", "nope"]) == 2
    assert "no conv layer nope" in capsys.readouterr().err
    assert main([*base, "demo-dnn-matched", "--out", str(tmp_path / "c")]) == 2
    assert "does not apply" in capsys.readouterr().err
    csv = tmp_path / "fer2013.csv"  # Kaggle's format with no PublicTest rows: an empty test split
    rows = ["emotion,pixels,Usage"] + [f"{i % 7},{' '.join(['128'] * 2304)},Training" for i in range(14)]
    csv.write_text("\n".join(rows) + "\n")
    assert main([*base, "demo-cnn-w0.125", "--data", str(csv), "--out", str(tmp_path / "d")]) == 2
    assert "test split is empty" in capsys.readouterr().err
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or p.name in ("a", "b", "c", "d")]


@pytest.mark.slow
def test_fourier_preferred_inputs_beat_the_real_faces_at_least_as_often_as_pixel_ascent(trained):
    """The Fourier-space ascent with random moves beats the best test face for most filters of
    every layer, and never less often than the pixel-space ascent (TV and L2 towards grey). The
    first layer's images are both its exact optimum."""
    from fer.explain.filters import FourierSettings, conv_layers, visualize_filters, visualize_filters_fourier

    model, x, _ = trained
    shares = {}
    for layer in [c["name"] for c in conv_layers(model)][:3]:
        best = aggregate.filter_exemplars(model, layer, x, k=1).activations[:, 0]
        fourier = visualize_filters_fourier(model, layer, settings=FourierSettings(steps=60))
        pixel = visualize_filters(model, layer)
        assert fourier.images.shape == pixel.images.shape and fourier.images.min() >= 0 and fourier.images.max() <= 255
        shares[layer] = (float((fourier.activation > best).mean()), float((pixel.activation > best).mean()))
    print(shares)
    assert all(f >= 0.5 for f, _ in shares.values()), shares
    assert all(f >= p for f, p in shares.values()), shares


@pytest.mark.slow
def test_the_first_convolutions_preferred_input_is_its_exact_optimum(trained):
    """A first convolution's mean activation is affine in the face, so its maximum over faces in
    0..255 is at 255 where the gradient is positive and 0 elsewhere: no real face, and no random
    face, beats it; a later layer (after a ReLU) gets the ascent's images."""
    from fer.explain.filters import conv_layers, filter_activation, visualize_filters, visualize_filters_fourier

    model, x, _ = trained
    first, second = [c["name"] for c in conv_layers(model)][:2]
    for engine in (visualize_filters, visualize_filters_fourier):
        res = engine(model, first)
        assert res.analytic.all() and set(np.unique(res.images)) <= {0.0, 255.0}
        rivals = np.concatenate([x, np.random.default_rng(1).uniform(0, 255, (50, 48, 48)).astype(np.float32)])
        best_rival = filter_activation(model, first, rivals).max(0)
        assert (res.activation >= best_rival - 1e-3 * np.abs(best_rival).max()).all()
        # affine: the gain over mean grey is the gradient's L1 norm times 127.5
        flipped = np.where(res.images > 0, 0.0, 255.0).astype(np.float32)  # the exact minimum
        low = filter_activation(model, first, flipped, res.filters)
        grey = filter_activation(model, first, np.full((1, 48, 48), 127.5, np.float32))[0, res.filters]
        np.testing.assert_allclose((res.activation + low) / 2, grey, rtol=1e-3,
                                   atol=1e-3 * float(np.abs(res.activation - low).max()))
    assert not visualize_filters(model, second, settings=__import__("fer.explain.filters", fromlist=["x"])
                                 .AscentSettings(steps=5)).analytic.any()


@pytest.mark.slow
def test_the_ascents_objective_is_each_layers_real_activation_in_a_residual_network():
    """The ascents run a Conv2D layer through a shortcut of their own (`_folded_chain`): on the
    featured MobileNet's residual modules it must follow each layer's own inputs, not the order
    the layers are listed in (a shortcut's input is a module's input, not the layer listed before)."""
    from pathlib import Path

    import tensorflow as tf

    from fer.explain.filters import conv_layers, filter_activation
    from fer.explain.filters.common import own_filter_activation
    from fer.explain.filters.layers import _extractor
    from fer.runs import RunStore

    model = RunStore(Path(__file__).resolve().parents[1] / "models").get("fer2013-mobilenet-w1.1-xception-mirror").load_model()
    faces = np.random.default_rng(0).uniform(0, 255, (4, 48, 48)).astype(np.float32)
    shortcuts = 0
    for layer in conv_layers(model):
        ex = _extractor(model, layer["name"])
        filters = np.arange(4) % layer["filters"]
        own = own_filter_activation(ex, tf.constant(faces[..., None]), tf.constant(filters, tf.int32))
        np.testing.assert_allclose(np.asarray(own), filter_activation(model, layer["name"], faces, filters),
                                   rtol=1e-4, atol=1e-4, err_msg=layer["name"])
        shortcuts += "shortcut" in layer["name"]
    assert shortcuts >= 2
    cnn = RunStore(Path(__file__).resolve().parents[1] / "models").get("demo-cnn-w0.125").load_model()
    assert callable(_extractor(cnn, conv_layers(cnn)[2]["name"]).pre)  # a plain chain is still folded
    assert not hasattr(_extractor(cnn, conv_layers(cnn)[2]["name"]).pre, "layers")


def test_a_per_class_sample_keeps_at_most_n_faces_of_each_class_and_the_same_ones_each_time():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 30 + [0] * 10)
    picked = aggregate.per_class_sample(labels, 20)
    counts = np.bincount(labels[picked], minlength=3)
    assert list(counts) == [20, 3, 20] and np.all(np.diff(picked) > 0)  # a class with fewer keeps them all; sorted
    np.testing.assert_array_equal(aggregate.per_class_sample(labels, 20), picked)
    assert not np.array_equal(aggregate.per_class_sample(labels, 20, seed=1), picked)
    np.testing.assert_array_equal(aggregate.per_class_sample(labels, None), np.arange(len(labels)))
