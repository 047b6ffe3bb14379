"""Explanations: attribution maps, filter visualisation, measures of the maps, uploaded photos."""
import dataclasses
import io

import numpy as np
import pytest

from fer import CLASS_NAMES
from fer.data.synthetic import generate
from fer.explain import METHODS, applicable_methods, compute_maps, predict, prepared

CAM_METHODS = [name for name, method in METHODS.items() if method.needs_conv]
from fer.models import LAST_CONV, build_model


@pytest.fixture(scope="module")
def faces():
    return generate(n_train=2000, n_val=100, n_test=350, seed=5)


@pytest.fixture(scope="module")
def tiny():
    import keras

    keras.utils.set_random_seed(0)
    models = {arch: build_model(arch, width=0.25) for arch in ("cnn", "mobilenet", "dnn")}
    keras.utils.set_random_seed(0)  # on random weights a CAM map can be empty: an initialisation with none
    models["xception"] = build_model("mobilenet", width=0.5, depth=4, blocks="xception")  # residual: paths meet at the CAM layer
    return models


@pytest.fixture(scope="module")
def trained(faces):
    """The shipped demo CNN (width 0.125, trained on the generated faces), and its accuracy on
    these faces' test split: a trained model without a training in the test."""
    from pathlib import Path

    from fer.runs import RunStore

    model = RunStore(Path(__file__).resolve().parents[1] / "models").get("demo-cnn-w0.125").load_model()
    xt, yt = faces.split("test")
    accuracy = float((predict(model, xt).argmax(1) == yt).mean())
    return model, accuracy


@pytest.fixture(scope="module")
def trained_here(faces):
    """For the slow tests whose figures were set on it: a width-0.25 CNN trained 4 epochs on 2,000
    generated faces (one to two minutes on 2 busy cores).

    Trained with Keras directly (fer.train's pipeline, no augmentation) with BatchNorm momentum
    0.9, so the inference statistics catch up within these ~250 steps: at Keras' default 0.99 a
    4-epoch model still scores near chance on val/test while its training accuracy is ~90 %.
    """
    import keras

    from fer.pipeline import make_dataset

    keras.utils.set_random_seed(0)
    model = build_model("cnn", width=0.25)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    model.compile(keras.optimizers.Adam(2e-3), "categorical_crossentropy")
    x, y = faces.split("train")
    model.fit(make_dataset(x, y, 32, shuffle=True, seed=0), epochs=4, verbose=0)
    xt, yt = faces.split("test")
    accuracy = float((predict(model, xt).argmax(1) == yt).mean())
    return model, accuracy


def _sample(ds, n=3):
    idx = ds.indices("test")[:n]
    return ds.images[idx], ds.labels[idx]


# ----------------------------------------------------------------------------------------------
# the methods


@pytest.mark.parametrize("arch", ["cnn", "mobilenet", "xception"])
@pytest.mark.slow
def test_every_method_gives_finite_non_constant_maps_of_the_input_shape(tiny, faces, arch):
    model = tiny[arch]
    x, _ = _sample(faces)
    cls = predict(model, x).argmax(1)
    assert all(reason is None for reason in applicable_methods(model).values())
    for name, method in METHODS.items():
        maps = method(model, x, cls, **method.pick({"samples": 6, "max_n": 4}))
        assert maps.shape == x.shape and maps.dtype == np.float32, name
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1, name
        assert all(np.ptp(m) > 0 for m in maps), f"{name}: a constant map"
    one = METHODS["Grad-CAM"](model, x[0], int(cls[0]))  # one (48,48) face, an int class
    assert one.shape == (1, 48, 48)
    np.testing.assert_allclose(one[0], METHODS["Grad-CAM"](model, x, cls)[0], atol=1e-5)


@pytest.mark.parametrize("arch", ["mobilenet", "xception"])
def test_maps_equal_tf_keras_vis_run_directly_on_the_linear_model(tiny, faces, arch):
    """The compiled stand-in changes speed, not results."""
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    model = tiny[arch]
    x, _ = _sample(faces, 2)
    cls = [1, 3]
    lin = prepared(model).linear
    xf = x[..., None].astype("float32")

    def norm(m):
        m = np.asarray(m, np.float64)
        lo, hi = m.min(axis=(1, 2), keepdims=True), m.max(axis=(1, 2), keepdims=True)
        return (m - lo) / np.where(hi > lo, hi - lo, 1)

    cam = dict(penultimate_layer=LAST_CONV, seek_penultimate_conv_layer=False)  # the library's own upsampling:
    expected = {
        "Saliency": Saliency(lin, clone=False)(CategoricalScore(cls), xf),
        "Grad-CAM": Gradcam(lin, clone=False)(CategoricalScore(cls), xf, **cam),
        "Grad-CAM++": GradcamPlusPlus(lin, clone=False)(CategoricalScore(cls), xf, **cam),
        "Score-CAM": np.concatenate([Scorecam(lin, clone=False)(CategoricalScore([c]), xf[i:i + 1], max_N=3, **cam)
                                     for i, c in enumerate(cls)]),
    }
    for name, ref in expected.items():
        got = METHODS[name](model, x, cls, **METHODS[name].pick({"max_n": 3, "upsample": "tf-keras-vis"}))
        np.testing.assert_allclose(got, norm(ref), atol=2e-4, err_msg=name)


@pytest.mark.slow
def test_trust_table_rows_and_the_share_of_empty_cam_maps(trained_here, faces):
    import keras

    from fer.explain.measure import empty_share, trust_table

    model = trained_here[0]
    methods = ["Saliency", "Grad-CAM", "Grad-CAM++"]
    table = trust_table(model, faces, methods).set_index("method")
    assert list(table.index) == methods and table["deletion_auc"].between(0, 1).all()
    assert np.isnan(table.loc["Saliency", "empty_share"])  # a gradient magnitude map is not counted
    assert 0 <= table.loc["Grad-CAM", "empty_share"] < 0.5  # a trained model shows evidence on most faces
    # a model that ignores its input has no positive evidence anywhere: every Grad-CAM map is empty
    blind = keras.models.clone_model(model)
    blind.set_weights(model.get_weights())
    head = blind.get_layer("probabilities")
    head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
    head.bias.assign(np.arange(7, dtype="float32"))
    assert empty_share(blind, faces, ["Grad-CAM", "Grad-CAM++", "Saliency"], n=14) == {"Grad-CAM": 1.0, "Grad-CAM++": 1.0}


def test_a_kept_trust_table_is_used_only_for_its_model_file_data_and_settings(tmp_path):
    import pandas as pd

    from fer.compress.shipped import keep_trust, kept_trust
    from fer.runs import MODEL_FILE

    (tmp_path / MODEL_FILE).write_bytes(b"weights v1")
    table = pd.DataFrame([{"method": "Grad-CAM", "deletion_auc": 0.2, "randomised_rho": 0.15}])
    settings = {"deletion_n": 14, "randomisation_n": 7}
    keep_trust(tmp_path, table, "fp", settings)
    pd.testing.assert_frame_equal(kept_trust(tmp_path, "fp", settings), table)
    assert kept_trust(tmp_path, "other data", settings) is None
    assert kept_trust(tmp_path, "fp", {**settings, "randomisation_n": 2}) is None  # measured on fewer faces
    (tmp_path / MODEL_FILE).write_bytes(b"weights v2, retrained")
    assert kept_trust(tmp_path, "fp", settings) is None


def test_cam_grid_names_each_models_map_size(tiny):
    from fer.explain import cam_grid
    from fer.mirror import mirror_average

    assert cam_grid(tiny["cnn"]) == cam_grid(mirror_average(tiny["cnn"])) == "6x6"
    assert cam_grid(tiny["xception"]) == "3x3"  # four halvings after the 44x44 stem
    assert cam_grid(tiny["dnn"]) is None


def test_cam_upsampling_keeps_each_cell_over_its_own_pixels():
    """tf-keras-vis' zoom aligns corners (a cell drifts outwards); the default aligns pixel centres."""
    from scipy.ndimage import zoom

    from fer.explain.saliency import _upsample

    cam = np.zeros((1, 6, 6), np.float32)
    cam[0, 1, 4] = 1.0  # the cell over rows 8..15, columns 32..39
    rows, cols = np.mgrid[0:48, 0:48]

    def centre(m):
        m = np.clip(m[0], 0, None)
        return (rows * m).sum() / m.sum(), (cols * m).sum() / m.sum()

    np.testing.assert_allclose(centre(_upsample(cam)), (11.5, 35.5), atol=0.6)
    r, c = centre(zoom(cam, (1, 8, 8), order=1))
    assert abs(r - 11.5) > 1.0 or abs(c - 35.5) > 1.0  # the library's map is off-centre


def test_the_shared_model_is_never_modified(tiny, faces):
    model = tiny["cnn"]
    x, _ = _sample(faces)
    before = [w.copy() for w in model.get_weights()]
    probs = np.asarray(model(x[..., None].astype("float32")))
    compute_maps(model, x, 0, options={"samples": 3, "max_n": 2})
    assert model.get_layer("probabilities").activation.__name__ == "softmax"
    assert prepared(model).linear is not model
    assert prepared(model) is prepared(model)  # cached per model object
    np.testing.assert_allclose(np.asarray(model(x[..., None].astype("float32"))), probs, atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    np.testing.assert_allclose(predict(model, x), probs, atol=1e-5)


def test_dnn_gets_only_the_gradient_methods_and_says_why(tiny, faces):
    model = tiny["dnn"]
    x, _ = _sample(faces, 2)
    ok = applicable_methods(model)
    assert ok["Saliency"] is None and ok["SmoothGrad"] is None
    for name in CAM_METHODS:
        assert "no convolutional layer" in ok[name]
    maps = compute_maps(model, x, 2, options={"samples": 4})
    assert sorted(maps) == ["Saliency", "SmoothGrad"]
    assert all(m.shape == (2, 48, 48) and np.isfinite(m).all() for m in maps.values())
    with pytest.raises(ValueError, match="no convolutional layer"):
        METHODS["Grad-CAM"](model, x, 2)


def test_smoothgrad_is_seeded_and_class_indices_are_checked(tiny, faces):
    model = tiny["cnn"]
    x, _ = _sample(faces, 2)
    a = METHODS["SmoothGrad"](model, x, 1, samples=5, noise=0.2, seed=3)
    np.testing.assert_array_equal(a, METHODS["SmoothGrad"](model, x, 1, samples=5, noise=0.2, seed=3))
    assert not np.array_equal(a, METHODS["SmoothGrad"](model, x, 1, samples=5, noise=0.2, seed=4))
    with pytest.raises(ValueError, match="class_index"):
        METHODS["Saliency"](model, x, [1, 2, 3])


def test_an_option_a_method_does_not_take_is_an_error_not_dropped(tiny, faces):
    from fer.explain import MEASURES

    model = tiny["cnn"]
    x, _ = _sample(faces, 1)
    with pytest.raises(TypeError, match="Grad-CAM takes no option 'samples'; it takes layer, upsample"):
        METHODS["Grad-CAM"](model, x, 0, samples=4)
    with pytest.raises(TypeError, match="no method takes option 'smaples'"):
        compute_maps(model, x, 0, options={"smaples": 4})
    assert METHODS["Score-CAM"].pick({"samples": 4, "max_n": 2, "noise": 0.1}) == {"max_n": 2}
    with pytest.raises(TypeError, match="Randomisation check takes no option 'steps'"):
        MEASURES["randomisation"](model, faces, ["Saliency"], steps=3)
    assert MEASURES["regions"].applies_to(faces) is None
    assert "region masks" in MEASURES["regions"].applies_to(dataclasses.replace(faces, masks=None))


# ----------------------------------------------------------------------------------------------
# on a model that learned the generated expressions


def test_trained_model_is_reasonable(trained):
    _, accuracy = trained
    assert accuracy > 0.5, accuracy  # 7 classes; the largest is ~26 % of the faces


REGION = (slice(24, 40), slice(12, 36))  # rows, columns: a 16x24 "mouth" box, 1/6 of the face


def _looks_only_at_the_region():
    """A model whose answer depends on the pixels inside REGION alone, by construction: the face is
    cropped to the box and zero-padded back, then a bias-free 1x1 conv (LAST_CONV, full resolution),
    global pooling and a dense layer. Outside the box every feature map is zero and every pixel's
    gradient is zero."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    (r, c) = REGION
    crop = ((r.start, 48 - r.stop), (c.start, 48 - c.stop))
    inputs = keras.Input((48, 48, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.ZeroPadding2D(crop)(layers.Cropping2D(crop)(x))
    x = layers.Conv2D(8, 1, use_bias=False)(x)
    x = layers.ReLU(name=LAST_CONV)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(7, activation="softmax")(x))


def test_every_method_puts_its_energy_where_a_model_looks_by_construction(faces):
    """region_energy on a model that can only see REGION, with REGION as every face's mask: each
    method's share is near 1 (Grad-CAM's map is at full resolution here), a random map's is the
    box's area, 1/6. Occlusion's patches and RISE's smooth masks are coarser than the box and this
    untrained model's probabilities barely move: their maps spill past the box's edge and carry
    sampling noise, yet hold more than a random map's share (tests/test_import.py checks them
    on a model that reads a window of a face). The trained model's
    figures, which depend on the seed, are in bench/explain_faithfulness.py."""
    from fer.explain.measure import region_energy

    masks = np.zeros(faces.images.shape, np.uint8)
    masks[:, REGION[0], REGION[1]] = 8
    boxed = dataclasses.replace(faces, masks=masks)
    frame = region_energy(_looks_only_at_the_region(), boxed, list(METHODS), per_class=3, options={"samples": 4})
    overall = frame[frame["class"] == "all"].set_index("method")["share"]
    assert overall["random map"] == pytest.approx(16 * 24 / 48**2)
    for method in METHODS:
        floor = 1.25 * overall["random map"] if METHODS[method].forward_only else 0.99
        assert overall[method] > floor, (method, overall.to_dict())
    assert set(frame["class"]) == {*CLASS_NAMES, "all"}


def test_region_share_and_random_baseline_arithmetic():
    from fer.explain.measure import random_baseline, region_share

    masks = np.zeros((2, 48, 48), np.uint8)
    masks[:, :12] = 8  # a quarter of the face
    maps = np.zeros((2, 48, 48), np.float32)
    maps[0, :12] = 1.0  # all energy inside
    maps[1] = 1.0  # uniform
    np.testing.assert_allclose(region_share(maps, masks), [1.0, 0.25])
    np.testing.assert_allclose(random_baseline(masks), [0.25, 0.25])
    assert np.isnan(region_share(np.zeros((1, 48, 48)), masks[:1]))[0]


def test_deletion_of_salient_pixels_drops_the_probability_faster_than_random(trained, faces):
    from fer.explain.measure import deletion_insertion, perturbation_curves, sample_per_class

    model = trained[0]
    idx = sample_per_class(faces.labels, faces.indices("test"), 2, seed=1)
    frame, curves = deletion_insertion(model, faces.images[idx], faces.labels[idx], ["Saliency", "Grad-CAM"],
                                       {"samples": 4}, steps=10)
    auc = frame.set_index("method")
    assert auc.loc["Saliency", "deletion_auc"] < auc.loc["random order", "deletion_auc"], auc
    assert ((0 <= auc[["deletion_auc", "insertion_auc"]]) & (auc[["deletion_auc", "insertion_auc"]] <= 1)).all().all()
    assert curves["Grad-CAM"]["deletion"].shape == (11,)
    r = perturbation_curves(model, faces.images[idx[:3]], faces.labels[idx[:3]], np.ones((3, 48, 48)), steps=4, fill="blur")
    assert r["deletion"].shape == (3, 5) and r["insertion_auc"].shape == (3,)
    np.testing.assert_allclose(r["deletion"][:, 0], predict(model, faces.images[idx[:3]])[np.arange(3), faces.labels[idx[:3]]],
                               atol=1e-5)  # nothing removed yet: the model's own probability


@pytest.mark.slow
def test_randomising_the_model_moves_the_maps_of_gradient_methods(trained_here, faces):
    from fer.explain.measure import cascade_layers, randomisation_check

    model = trained_here[0]
    x, y = _sample(faces, 2)
    before = [w.copy() for w in model.get_weights()]
    frame = randomisation_check(model, x, y, ["Saliency", "SmoothGrad", "Grad-CAM"], {"samples": 8})
    assert list(frame["layer"].unique()) == cascade_layers(model)
    assert cascade_layers(model)[0] == "probabilities" and cascade_layers(model)[-1] == "block1_conv1"
    last = frame[frame["step"] == frame["step"].max()].set_index("method")["spearman"]
    assert last["Saliency"] < 0.6 and last["Grad-CAM"] < 0.6 and last["SmoothGrad"] < 0.9, last.to_dict()
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # worked on a clone


# ----------------------------------------------------------------------------------------------
# filters


def test_conv_layers_list_conv_and_depthwise_layers(tiny):
    from fer.explain.filters import conv_layers

    cnn = conv_layers(tiny["cnn"])
    assert [x["name"] for x in cnn][:2] == ["block1_conv1", "block1_conv2"] and cnn[0]["filters"] == 8
    kinds = {x["type"] for x in conv_layers(tiny["mobilenet"])}
    assert kinds == {"Conv2D", "DepthwiseConv2D"}
    assert {x["type"] for x in conv_layers(tiny["xception"])} == {"Conv2D", "DepthwiseConv2D"}
    assert conv_layers(tiny["dnn"]) == []


@pytest.mark.slow
def test_batched_ascent_raises_each_filter_above_mean_grey_and_is_reproducible(trained_here):
    from fer.explain.filters import AscentSettings, feature_maps, filter_activation, visualize_filters

    model = trained_here[0]
    s = AscentSettings(steps=40)
    res = visualize_filters(model, "block2_conv2", settings=s)
    assert res.images.shape == (16, 48, 48) and res.images.min() >= 0 and res.images.max() <= 255
    assert (res.activation > res.gray_activation).all(), (res.activation, res.gray_activation)
    gray = filter_activation(model, "block2_conv2", np.full((1, 48, 48), 127.5, np.float32))[0]
    np.testing.assert_allclose(res.gray_activation, gray, rtol=1e-5, atol=1e-6)
    again = visualize_filters(model, "block2_conv2", settings=s)
    np.testing.assert_array_equal(res.images, again.images)
    sub = visualize_filters(model, "block2_conv2", filters=[3, 5], settings=s)
    assert list(sub.filters) == [3, 5]
    assert feature_maps(model, "block2_conv2", np.zeros((2, 48, 48), np.uint8)).shape == (2, 24, 24, 16)


@pytest.mark.slow
def test_tf_keras_vis_activation_maximization_raises_the_filter_too(trained_here):
    from fer.explain.filters import AscentSettings, visualize_filters_tfkv

    res = visualize_filters_tfkv(trained_here[0], "block3_conv1", filters=[0, 7], settings=AscentSettings(steps=40))
    assert res.images.shape == (2, 48, 48) and list(res.filters) == [0, 7]
    assert (res.activation > res.gray_activation).all(), (res.activation, res.gray_activation)


def test_single_filter_shortcut_equals_the_layer_output(tiny, faces):
    """The ascent's per-image-filter Conv2D path gives the layer's own output for that filter."""
    import tensorflow as tf

    from fer.explain.filters import _extractor

    ex = _extractor(tiny["cnn"], "block2_conv2")
    assert ex.pre is not None and _extractor(tiny["mobilenet"], "stage1_block1_depthwise").pre is None
    x = tf.constant(faces.images[:16, :, :, None].astype("float32"))
    f = np.arange(16) % ex.channels
    full = np.asarray(ex.forward(x))[np.arange(16), :, :, f]
    np.testing.assert_allclose(np.asarray(ex.single_filter_output(x, tf.constant(f, tf.int32))), full, atol=1e-5)


@pytest.mark.parametrize("layer", ["block1_conv2", "block3_conv1"])
def test_folded_batchnorm_path_equals_the_model_up_to_the_layer(trained, faces, layer):
    """The ascent folds each Conv2D -> BatchNorm pair into one conv: same values as the model."""
    import keras

    from fer.explain.filters import _Extractor

    model = trained[0]
    ex = _Extractor(model, layer)
    assert not isinstance(ex.pre, keras.Model)  # the folded chain, not the fallback
    x = faces.images[:8, :, :, None].astype("float32")
    reference = np.asarray(keras.Model(model.inputs, model.get_layer(layer).input)(x, training=False))
    assert np.abs(reference).max() > 0.1
    np.testing.assert_allclose(np.asarray(ex.pre(x)), reference, atol=1e-4 * np.abs(reference).max())


def test_ascent_works_on_depthwise_layers(tiny):
    from fer.explain.filters import AscentSettings, visualize_filters

    res = visualize_filters(tiny["mobilenet"], "stage1_block1_depthwise", settings=AscentSettings(steps=10))
    assert len(res.filters) == res.images.shape[0] == 8
    assert np.isfinite(res.activation).all()


# ----------------------------------------------------------------------------------------------
# uploaded photos


def _encode(array, fmt="PNG", **kw):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kw)
    return buf.getvalue()


def test_a_photo_becomes_a_48x48_grayscale_face_from_the_crop_box():
    from fer.faces import CropBox, prepare_face

    photo = np.zeros((200, 300, 3), np.uint8)
    photo[50:150, 200:300] = 255  # a white square on the right
    face = prepare_face(_encode(photo, "JPEG"), CropBox(x=250 / 300, y=0.5, size=0.5))
    assert face.shape == (48, 48) and face.dtype == np.uint8 and face.mean() > 240
    assert prepare_face(_encode(photo), CropBox(x=0.1, y=0.5, size=0.5)).mean() < 5
    assert CropBox(0.0, 0.0, 0.5).pixels(300, 200) == (0, 0, 100, 100)  # moved back inside
    assert CropBox(1.0, 1.0, 1.0).pixels(300, 200) == (100, 0, 300, 200)
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    assert prepare_face(_encode(rgba)).shape == (48, 48)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"label,pixels\n0,1 2 3\n", "not an image"),
    (b"\x00\x13garbage" * 50, "not an image"),
])
def test_non_image_uploads_get_a_clear_message(data, message):
    from fer.faces import FaceImageError, prepare_face

    with pytest.raises(FaceImageError, match=message):
        prepare_face(data, name="upload.csv")


def test_iphone_heic_photo_is_refused_naming_the_format():
    from fer.faces import FaceImageError, prepare_face

    # the first bytes of an iPhone photo: an ISO-BMFF 'ftyp' box with the 'heic' brand
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(range(256)) * 8
    with pytest.raises(FaceImageError, match=r"'IMG_0001.HEIC' is a HEIC photo .*JPEG"):
        prepare_face(heic, name="'IMG_0001.HEIC'")
    avif = b"\x00\x00\x00\x1cftypavif" + bytes(64)
    with pytest.raises(FaceImageError, match="AVIF"):
        prepare_face(avif)


def test_a_48_megapixel_phone_photo_is_accepted():
    from PIL import Image

    from fer.faces import MAX_PIXELS, MAX_UPLOAD_BYTES, load_photo

    w, h = 8000, 6000  # a 48 MP phone photo; a smooth one, so that its JPEG stays small here
    ramp = np.add.outer(np.arange(h) // 24, np.arange(w) // 32).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "JPEG", quality=80)
    assert w * h <= MAX_PIXELS and len(buf.getvalue()) <= MAX_UPLOAD_BYTES
    assert load_photo(buf.getvalue()).size == (w, h)


def test_huge_animated_and_damaged_uploads_are_refused():
    from PIL import Image

    from fer.faces import FaceImageError, prepare_face

    img = (np.random.default_rng(0).random((60, 80)) * 255).astype(np.uint8)
    with pytest.raises(FaceImageError, match="too large .* limit"):
        prepare_face(_encode(img), max_bytes=100)
    with pytest.raises(FaceImageError, match="too large .*pixels"):
        prepare_face(_encode(img), max_pixels=1000)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "GIF", save_all=True, append_images=[Image.fromarray(255 - img)])
    with pytest.raises(FaceImageError, match="animated"):
        prepare_face(buf.getvalue())
    with pytest.raises(FaceImageError, match="damaged"):
        prepare_face(_encode(img)[:120])


def test_strip_lays_tiles_side_by_side_with_even_padding():
    from fer.explain import plots

    a = np.zeros((4, 5, 3), np.uint8)
    b = np.full((4, 5, 3), 7, np.uint8)
    row = plots.strip([a, b], pad=2)
    assert row.shape == (4, 2 * (5 + 4), 3)
    assert (row[:, 2:7] == 0).all() and (row[:, 11:16] == 7).all()  # each tile centred in its share
    assert (row[:, :2] == 255).all() and (row[:, 7:11] == 255).all() and (row[:, 16:] == 255).all()
    with pytest.raises(ValueError, match="differ in shape"):
        plots.strip([a, np.zeros((4, 6, 3), np.uint8)])
    with pytest.raises(ValueError, match="no images"):
        plots.strip([])


def test_a_faces_maps_explain_the_true_and_the_predicted_class_once_each():
    from fer.explain import map_targets

    assert map_targets(3, None) == [("predicted", 3)]
    assert map_targets(3, 3) == [("true = predicted", 3)]
    assert map_targets(3, 5) == [("true", 5), ("predicted", 3)]


def test_each_featured_run_defaults_to_a_map_method_its_trust_table_vouches_for():
    """The main CNN's Grad-CAM is empty for many faces: its pages open on Grad-CAM++ instead; a run
    whose Grad-CAM is sound keeps it; without a table the first usable method is the default."""
    from pathlib import Path

    from fer.compress.shipped import kept_trust
    from fer.explain.measure import TRUST_SETTINGS, empty_share_note, trusted_method

    models = Path(__file__).resolve().parents[1] / "models"
    cams = ["Saliency", "SmoothGrad", "Grad-CAM", "Grad-CAM++", "Score-CAM"]
    cnn = kept_trust(models / "fer2013-cnn-w1-mirror", "03ee0b33181ac090", TRUST_SETTINGS)
    assert trusted_method(cnn, cams) == "Grad-CAM++"
    assert "empty for 47%" in empty_share_note(cnn, "Grad-CAM") and empty_share_note(cnn, "Grad-CAM++") is None
    demo = kept_trust(models / "demo-cnn-w0.125", "cdfb2ec6e6c32cc6", TRUST_SETTINGS)
    assert trusted_method(demo, cams) == "Grad-CAM"
    assert trusted_method(None, ["SmoothGrad", "Saliency"]) == "Saliency"
