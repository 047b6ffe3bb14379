"""The model registry: parameter counts, widths, options, match_params, summary tables."""
import numpy as np
import pytest

from fer.models import LAST_CONV, ModelConfigError, build_model, dnn_params, summary_table


@pytest.mark.parametrize("arch", ["cnn", "dnn", "mobilenet"])
def test_every_model_maps_raw_faces_to_seven_probabilities(arch):
    model = build_model(arch, width=0.25)
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48, 1)).astype("float32")
    probs = np.asarray(model(faces, training=False))
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("arch", ["cnn", "mobilenet"])
def test_width_scales_parameters_and_last_conv_is_named(arch):
    counts = [build_model(arch, width=w).count_params() for w in (0.25, 0.5, 1.0)]
    assert counts[0] < counts[1] < counts[2]
    model = build_model(arch, width=0.5)
    assert len(model.get_layer(LAST_CONV).output.shape) == 4  # spatial: Grad-CAM can target it


def test_mobilenet_is_the_course_size_and_the_cnn_is_larger():
    assert 50_000 <= build_model("mobilenet").count_params() <= 70_000
    assert build_model("cnn").count_params() > 1_000_000


@pytest.mark.parametrize("target", [20_000, 111_759, 443_543, 1_767_207])
def test_dnn_match_params_within_one_percent(target):
    model = build_model("dnn", match_params=target)
    assert abs(model.count_params() - target) / target < 0.01


def test_dnn_param_formula_matches_keras():
    for units, depth, act in [(100, 3, "relu"), (64, 1, "prelu"), (37, 5, "leaky_relu")]:
        model = build_model("dnn", units=units, depth=depth, activation=act)
        assert model.count_params() == dnn_params(units, depth, True, act)


def test_options_change_the_architecture():
    base = build_model("cnn", width=0.25)
    assert build_model("cnn", width=0.25, depth=3).count_params() != base.count_params()
    no_bn = build_model("cnn", width=0.25, batchnorm=False)
    assert not any(type(l).__name__ == "BatchNormalization" for l in no_bn.layers)
    prelu = build_model("cnn", width=0.25, activation="prelu")
    assert any(type(l).__name__ == "PReLU" for l in prelu.layers)


@pytest.mark.parametrize("bad", [dict(arch="resnet"), dict(arch="cnn", width=0), dict(arch="cnn", depth=9),
                                 dict(arch="cnn", activation="tanhh"), dict(arch="cnn", colour=True)])
def test_bad_requests_give_clear_errors(bad):
    arch = bad.pop("arch")
    with pytest.raises(ModelConfigError):
        build_model(arch, **bad)


def test_summary_table_lists_layers_and_counts():
    model = build_model("mobilenet", width=0.5)
    table, counts = summary_table(model)
    assert list(table.columns) == ["layer", "type", "output shape", "params"]
    assert table["params"].sum() == counts["total"] == model.count_params()
    assert counts["trainable"] + counts["non_trainable"] == counts["total"]
    assert "DepthwiseConv2D" in set(table["type"])


def test_mobilenet_full_stem_and_gap_head_stay_under_the_peer_budget():
    plain = build_model("mobilenet", width=1.0)
    full = build_model("mobilenet", width=1.0, stem="full", head="gap")
    assert full.count_params() <= 61_000 and full.count_params() != plain.count_params()
    first = full.get_layer("stem_full_conv")
    assert tuple(first.output.shape[1:3]) == (48, 48)  # the full-resolution conv sees every pixel
    assert full.get_layer("gap") is not None and len(full.get_layer(LAST_CONV).output.shape) == 4
    faces = np.random.default_rng(1).integers(0, 256, (2, 48, 48, 1)).astype("float32")
    assert np.asarray(full(faces, training=False)).shape == (2, 7)


def test_mobilenet_xception_blocks_are_residual_modules_under_the_peer_budget():
    from fer.models import count_flops

    model = build_model("mobilenet", width=1.1, depth=4, blocks="xception")
    assert model.count_params() <= 61_000
    assert tuple(model.get_layer("stem1_conv").output.shape[1:3]) == (46, 46)  # full resolution, valid padding
    adds = [layer for layer in model.layers if type(layer).__name__ == "Add"]
    assert len(adds) == 4 and adds[-1].output is model.get_layer(LAST_CONV).input  # all paths meet at the CAM layer
    assert tuple(model.get_layer(LAST_CONV).output.shape[1:]) == (3, 3, 141)
    # separable = depthwise + pointwise layers, so pruning sees every kernel
    from fer.compress.pruning import prunable_layers

    pruned = {layer.name for layer in prunable_layers(model)}
    assert {"module1_sep1_depthwise", "module4_sep2_pointwise", "module4_shortcut"} <= pruned
    assert sum(layer.kernel.numpy().size for layer in prunable_layers(model)) > 0.9 * model.count_params()  # the rest: BatchNorm
    shallow = build_model("mobilenet", width=1.1, depth=2, blocks="xception")
    assert count_flops(model) > count_flops(shallow) > 2 * 44 * 44 * 8 * (9 + 18)
    faces = np.random.default_rng(2).integers(0, 256, (2, 48, 48, 1)).astype("float32")
    assert np.asarray(model(faces, training=False)).shape == (2, 7)


@pytest.mark.slow
def test_xception_gradients_survive_any_batch_size():
    """TF 2.21's CPU gradient of a strided 1x1 conv corrupts the heap (a crash at batch 1 or 43,
    not 64): the shortcuts subsample first, and no model has such a layer. The gradients run in
    a child process, so a crash fails this test instead of ending the whole test run."""
    import subprocess
    import sys
    from pathlib import Path

    for arch, opts in (("mobilenet", {"blocks": "xception", "depth": 4}), ("mobilenet", {}), ("cnn", {})):
        convs = [layer for layer in build_model(arch, width=1.1, **opts).layers if type(layer).__name__ == "Conv2D"]
        assert not [c.name for c in convs if c.kernel_size == (1, 1) and c.strides != (1, 1)], arch
    code = ("import numpy as np, tensorflow as tf\n"
            "from fer.models import build_model\n"
            "model = build_model('mobilenet', width=1.1, depth=4, blocks='xception')\n"
            "for batch in (1, 43, 37):\n"
            "    x = tf.constant(np.random.default_rng(batch).uniform(0, 255, (batch, 48, 48, 1)).astype('float32'))\n"
            "    with tf.GradientTape() as tape:\n"
            "        tape.watch(x)\n"
            "        top = tf.reduce_sum(model(x, training=True)[:, 0])\n"
            "    grads = tape.gradient(top, [x] + model.trainable_weights)\n"
            "    assert all(np.isfinite(g.numpy()).all() for g in grads)\n"
            "print('gradients ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and "gradients ok" in out.stdout, out.stderr[-1500:]


def test_upsampled_face_gives_a_finer_grid_with_the_same_weights():
    """`upsample=64`: the same parameters (a 48x48 run's weights load as they are), more FLOPs,
    a 4x4 last map instead of 3x3, and raw 48x48 faces in as before."""
    from fer.models import count_flops

    plain = build_model("mobilenet", width=1.1, depth=4, blocks="xception")
    fine = build_model("mobilenet", width=1.1, depth=4, blocks="xception", upsample=64)
    assert fine.count_params() == plain.count_params() and fine.get_layer("upsample_64").count_params() == 0
    assert tuple(fine.input.shape[1:]) == (48, 48, 1)
    assert tuple(fine.get_layer("stem1_conv").output.shape[1:3]) == (62, 62)
    assert tuple(fine.get_layer(LAST_CONV).output.shape[1:3]) == (4, 4)
    assert 1.7 < count_flops(fine) / count_flops(plain) < 2.0
    fine.set_weights(plain.get_weights())  # a warm start from a 48x48 run
    faces = np.random.default_rng(3).integers(0, 256, (2, 48, 48, 1)).astype("float32")
    probs = np.asarray(fine(faces, training=False))
    assert probs.shape == (2, 7) and not np.allclose(probs, np.asarray(plain(faces, training=False)))
    course = build_model("mobilenet", width=0.5, upsample=56)
    assert course.count_params() == build_model("mobilenet", width=0.5).count_params()


@pytest.mark.parametrize("bad", [48, 20, 300, 64.0, True])
def test_upsample_sizes_outside_the_range_are_refused(bad):
    from fer.train import TrainConfig

    with pytest.raises(ModelConfigError, match="upsample must be a whole number of pixels from 49 to 128"):
        build_model("mobilenet", blocks="xception", upsample=bad)
    with pytest.raises(ModelConfigError, match="upsample must be"):
        TrainConfig(arch="mobilenet", upsample=bad).validate()


def test_xception_blocks_refuse_a_stem_or_head_and_unknown_kinds():
    from fer.train import TrainConfig

    with pytest.raises(ModelConfigError, match="bring their own stem"):
        build_model("mobilenet", blocks="xception", stem="full")
    with pytest.raises(ModelConfigError, match="mobilenet blocks must be one of"):
        build_model("mobilenet", blocks="dense")
    with pytest.raises(ModelConfigError, match="MobileNet options"):
        TrainConfig(arch="cnn", blocks="xception").validate()
    with pytest.raises(ModelConfigError, match="--upsample are MobileNet options"):
        TrainConfig(arch="dnn", upsample=64).validate()
    assert TrainConfig(arch="mobilenet", blocks="xception", upsample=64).model_options()["upsample"] == 64
    assert "upsample" not in TrainConfig(arch="mobilenet", blocks="xception").model_options()
    assert TrainConfig(arch="mobilenet", blocks="xception").model_options()["blocks"] == "xception"
    assert "blocks" not in TrainConfig(arch="mobilenet").model_options()


@pytest.mark.parametrize("bad", [dict(stem="wide"), dict(head="attention")])
def test_mobilenet_rejects_unknown_stems_and_heads(bad):
    with pytest.raises(ModelConfigError, match="mobilenet (stem|head) must be one of"):
        build_model("mobilenet", **bad)


def test_stem_and_head_are_refused_for_other_architectures():
    from fer.train import TrainConfig

    with pytest.raises(ModelConfigError, match="MobileNet options"):
        TrainConfig(arch="cnn", stem="full").validate()
    assert TrainConfig(arch="mobilenet", stem="full", head="gap").model_options()["head"] == "gap"
    assert "stem" not in TrainConfig(arch="mobilenet").model_options()  # old runs' options are unchanged


def test_copying_model_options_from_a_saved_config_rebuilds_the_same_network():
    """What rebuilds a run's network (bench --recipe) copies MODEL_OPTIONS; nothing model_options
    passes to build_model may be missing from it (the bench once timed the wrong MobileNet so)."""
    import dataclasses

    from fer.train import MODEL_OPTIONS, TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(MODEL_OPTIONS) <= fields
    run = TrainConfig(arch="mobilenet", width=1.1, depth=4, blocks="xception", upsample=64, dropout=0.0)
    saved = dataclasses.asdict(run)
    rebuilt = dataclasses.replace(TrainConfig(), **{k: saved[k] for k in ("arch", "width", *MODEL_OPTIONS)})
    assert rebuilt.model_options() == run.model_options() == {
        "depth": 4, "batchnorm": True, "dropout": 0.0, "blocks": "xception", "upsample": 64}
    assert "match_params" not in TrainConfig(arch="cnn", match_params=1000).model_options()
    assert TrainConfig(arch="dnn", match_params=1000).model_options()["match_params"] == 1000
