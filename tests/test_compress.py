"""Compression: the size ladder's artefacts exist, weigh what they say, load back and score like
the float32 model; float16 round trips; pruning reaches its sparsity; distillation vs alone;
the background sweep and the scatter's points.

One small CNN is trained once (module fixture) on generated faces: a few epochs on 2,000
images, then its BatchNorm statistics are re-estimated (`recalibrate_batchnorm`) so it scores
well above chance on the test split and the accuracy comparisons mean something.
"""
import os
import threading
import time

import numpy as np
import pytest

from fer.compress import (
    DEFAULT_STEPS,
    STEPS,
    TFLiteModel,
    apply_masks,
    float16_cast,
    kernel_sparsity,
    load_weights_file,
    magnitude_masks,
    prunable_layers,
    prune,
    read_weights_file,
    save_flat,
    save_sparse,
    save_weights_npz,
    size_ladder,
    template_like,
)
from fer.errors import FerError
from fer.evaluate import predict_proba
from fer.progress import EPOCH, TrainingProgress

CHANCE = 0.25  # share of the largest class ("happy") in FER2013 proportions


@pytest.fixture(scope="module")
def faces():
    from fer.data.synthetic import generate

    return generate(n_train=2000, n_val=100, n_test=600, seed=11)


@pytest.fixture(scope="module")
def cnn(faces):
    """The shipped demo CNN (width 0.125, trained on the generated faces): a trained model to
    compress without a training in the test."""
    from pathlib import Path

    from fer.runs import RunStore

    model = RunStore(Path(__file__).resolve().parents[1] / "models").get("demo-cnn-w0.125").load_model()
    xt, yt = faces.split("test")
    acc = float((predict_proba(model, xt).argmax(1) == yt).mean())
    print(f"\nfixture CNN: {model.count_params():,} params, test accuracy {acc:.3f}")
    assert acc > CHANCE + 0.2, f"the fixture model must be well above chance, got {acc:.3f}"
    return model


@pytest.fixture(scope="module")
def ladder(cnn, faces, tmp_path_factory):
    xt, yt = faces.split("test")
    x, y = faces.split("train")
    df = size_ladder(cnn, xt, yt, tmp_path_factory.mktemp("ladder"), sparsity=0.5, train_images=x, train_labels=y,
                     max_train_images=500)
    with_cols = df[["key", "bytes", "ratio", "accuracy", "delta_points", "seconds"]]
    print("\n" + with_cols.to_string(index=False))
    return df


@pytest.mark.slow
def test_every_step_writes_its_file_with_the_reported_size_and_scores_like_float32(ladder):
    assert list(ladder["key"]) == list(DEFAULT_STEPS)
    keras_bytes = int(ladder.loc[ladder.key == "keras", "bytes"].iloc[0])
    reference = ladder.attrs["reference_accuracy"]
    assert reference > CHANCE + 0.2
    for row in ladder.itertuples():
        assert os.path.isfile(row.file), row.step
        assert os.path.getsize(row.file) == row.bytes, row.step
        assert row.ratio == pytest.approx(row.bytes / keras_bytes)
        limit = 3.0 if "int8" in row.key else 1.0
        if row.key == "pruned":  # pruning + fine-tune changes the model itself: it must not lose more
            assert row.delta_points >= -3.0, f"{row.step}: {row.delta_points:+.2f} points"
        else:
            assert abs(row.delta_points) <= limit, f"{row.step}: {row.delta_points:+.2f} points vs float32"
    by = dict(zip(ladder.key, ladder.bytes))
    assert by["npz16"] < by["npz32"] and by["flat16"] <= by["npz16"]
    assert by["tflite16"] < by["tflite32"] and by["tflite_int8"] < by["tflite16"]
    assert by["tflite_int8_small"] < by["tflite_int8"]  # no per-channel scales, no names
    assert by["pruned"] < by["flat16"]  # half the kernels are zeros: the sparse file is smaller
    assert by["flat16"] < keras_bytes / 1.9
    assert ladder.attrs["kernel_sparsity"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.slow
def test_each_artefact_says_how_far_its_maps_moved_from_the_float32_model(ladder):
    rho = dict(zip(ladder.key, ladder.maps_rho))
    assert rho["keras"] == pytest.approx(1.0, abs=1e-6) and rho["npz32"] == pytest.approx(1.0, abs=1e-6)  # same weights
    assert rho["tflite32"] > 0.99  # the same float32 network in another runtime
    assert all(-1.0 <= v <= 1.0 for v in rho.values()), rho
    assert rho["pruned"] < rho["npz32"]  # half the weights gone and retuned: the maps move


def test_occlusion_maps_follow_what_the_class_depends_on():
    """A model whose class-0 logit is the mean of a 12x12 box: hiding the box, and only the box,
    drops its probability, so the occlusion map peaks there."""
    import keras

    from fer.explain.occlusion import occlusion_maps

    inp = keras.Input((48, 48, 1))
    box = keras.layers.Cropping2D(((10, 26), (20, 16)))(inp)  # rows 10..21, columns 20..31
    score = keras.layers.GlobalAveragePooling2D()(box)
    logits = keras.layers.Concatenate()([keras.layers.Rescaling(0.05)(score)] + [keras.layers.Rescaling(0.0)(score)] * 6)
    model = keras.Model(inp, keras.layers.Softmax()(logits))
    faces = np.full((2, 48, 48), 20, np.float32)
    faces[:, :24] = 230  # the box is brighter than the face's mean grey: hiding it lowers the score
    maps = occlusion_maps(model, faces, 0)
    inside = maps[:, 10:22, 20:32].mean()
    outside = np.concatenate([maps[:, :6].ravel(), maps[:, 30:].ravel()]).mean()
    assert inside > 0.5 and outside < 0.05, (inside, outside)


def test_float16_files_load_back_into_the_architecture_like_the_float16_cast_model(cnn, faces, tmp_path):
    xt, _ = faces.split("test")
    xt = xt[:200]
    ref16 = predict_proba(float16_cast(cnn), xt)
    ref32 = predict_proba(cnn, xt)
    for name, save in (("w16.npz", lambda p: save_weights_npz(cnn, p, np.float16)), ("flat.npz", lambda p: save_flat(cnn, p)),
                       ("sparse.npz", lambda p: save_sparse(cnn, p))):
        path = save(tmp_path / name)
        with np.load(path, allow_pickle=False) as data:  # no pickled objects inside
            assert all(data[k].dtype != object for k in data.files)
        rebuilt = load_weights_file(path, template_like(cnn))
        got = predict_proba(rebuilt, xt)
        np.testing.assert_allclose(got, ref16, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(got, ref32, atol=2e-2, err_msg=name)
    # float32 .npz is exact
    path = save_weights_npz(cnn, tmp_path / "w32.npz")
    np.testing.assert_allclose(predict_proba(load_weights_file(path, template_like(cnn)), xt), ref32, atol=1e-6)


@pytest.mark.slow
def test_ladder_artefacts_load_back_from_disk_alone(ladder, cnn, faces):
    xt, _ = faces.split("test")
    xt = xt[:64]
    ref = predict_proba(cnn, xt)
    files = dict(zip(ladder.key, ladder.file))
    import keras

    loaded = keras.models.load_model(files["keras"], compile=False)
    np.testing.assert_allclose(predict_proba(loaded, xt), ref, atol=1e-6)
    assert getattr(loaded, "optimizer", None) is None  # saved uncompiled: no optimizer state
    for key in ("tflite32", "tflite16"):
        np.testing.assert_allclose(predict_proba(TFLiteModel(files[key]), xt), ref, atol=2e-2, err_msg=key)
    int8 = TFLiteModel(files["tflite_int8"])
    assert int8.input["dtype"] == np.float32  # float I/O, int8 inside
    assert np.mean(predict_proba(int8, xt).argmax(1) == ref.argmax(1)) > 0.9
    small = TFLiteModel(files["tflite_int8_small"])
    assert not any(t["name"] for t in small.interpreter.get_tensor_details())  # names stripped, still runs
    assert np.mean(predict_proba(small, xt).argmax(1) == ref.argmax(1)) > 0.85
    pruned = load_weights_file(files["pruned"], template_like(cnn))
    assert kernel_sparsity(pruned) == pytest.approx(0.5, abs=0.01)


def test_integer_only_tflite_quantises_its_input_and_output(cnn, faces, tmp_path):
    from fer.compress import export_saved_model, tflite_convert

    x, _ = faces.split("train")
    xt, _ = faces.split("test")
    xt = xt[:128]
    flat = tflite_convert(export_saved_model(cnn, tmp_path / "sm"), "full_int8", x[:100], int8_io=True)
    model = TFLiteModel(flat)
    assert model.input["dtype"] == np.int8 and model.output["dtype"] == np.int8
    probs = predict_proba(model, xt)
    assert probs.dtype == np.float32 and np.allclose(probs.sum(1), 1, atol=0.05)
    assert np.mean(probs.argmax(1) == predict_proba(cnn, xt).argmax(1)) > 0.85


@pytest.mark.parametrize("upsample", [None, 64])
@pytest.mark.slow
def test_xception_blocks_quantise_to_full_int8_and_prune_every_kernel(faces, tmp_path, upsample):
    """The residual MobileNet (also on the face upsampled inside it): its Resizing, Add layers and
    separable pairs survive full-int8 TFLite, and pruning reaches its depthwise and pointwise kernels."""
    import keras

    from fer.compress import export_saved_model, recalibrate_batchnorm, tflite_convert
    from fer.models import build_model
    from fer.pipeline import make_dataset

    x, y = faces.split("train")
    xt = faces.split("test")[0][:200]
    keras.utils.set_random_seed(0)
    model = build_model("mobilenet", 0.5, depth=4, blocks="xception", dropout=0.0, upsample=upsample)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="categorical_crossentropy")
    model.fit(make_dataset(x, y, 32, shuffle=True), epochs=2, verbose=0)
    recalibrate_batchnorm(model, x)
    ref = predict_proba(model, xt)
    int8 = TFLiteModel(tflite_convert(export_saved_model(model, tmp_path / "sm"), "full_int8", x[:100]))
    assert np.mean(predict_proba(int8, xt).argmax(1) == ref.argmax(1)) > 0.85
    pruned, masks = prune(model, 0.5, x[:256], None, epochs=0)
    assert {"module1_sep1_depthwise", "module4_sep2_pointwise"} <= set(masks)
    assert kernel_sparsity(pruned) == pytest.approx(0.5, abs=0.005)


def test_bad_weight_files_are_refused_with_a_reason(cnn, tmp_path):
    from fer.models import build_model

    path = save_flat(cnn, tmp_path / "cnn.npz")
    with pytest.raises(ValueError, match="do not fit"):
        load_weights_file(path, build_model("mobilenet", 0.25))
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a weights file"):
        read_weights_file(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="unknown ladder step"):
        size_ladder(cnn, np.zeros((2, 48, 48), np.uint8), [0, 1], tmp_path / "x", steps=("keras", "zip"))


@pytest.mark.parametrize("sparsity", [0.3, 0.8])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruning_reaches_the_asked_sparsity(cnn, faces, sparsity, scope):
    x, _ = faces.split("train")
    pruned, masks = prune(cnn, sparsity, x[:256], None, epochs=0, scope=scope)  # the fine-tune: see the ladder test
    assert set(masks) == {layer.name for layer in prunable_layers(cnn)}
    zeros = total = 0
    for layer in prunable_layers(pruned):
        w = layer.kernel.numpy()
        assert np.all(w[~masks[layer.name]] == 0)
        if scope == "layer":  # every kernel, not just on average
            assert int(np.sum(w == 0)) >= int(round(sparsity * w.size)), layer.name
        zeros, total = zeros + int(np.sum(w == 0)), total + w.size
    assert zeros >= int(round(sparsity * total))
    assert kernel_sparsity(pruned) == pytest.approx(sparsity, abs=0.005)
    assert kernel_sparsity(cnn) < 0.01  # the original is untouched


def test_apply_masks_zeroes_the_smallest_weights(cnn):
    clone = template_like(cnn)
    clone.set_weights(cnn.get_weights())
    masks = magnitude_masks(clone, 0.5)
    layer = prunable_layers(clone)[0]
    w = np.abs(layer.kernel.numpy())
    apply_masks(clone, masks)
    kept, dropped = w[masks[layer.name]], w[~masks[layer.name]]
    assert dropped.max() <= kept.min()


@pytest.mark.slow
def test_distill_compare_trains_one_student_alone_and_from_the_teacher_and_scores_each(cnn, faces):
    """The comparison's two students share a design and a start; only the teacher's loss differs,
    so their weights differ, and each reported figure is that student's own test accuracy."""
    from fer.compress import accuracy, distill_compare

    x, y = faces.split("train")
    xt, yt = faces.split("test")
    result = distill_compare(cnn, x, y, xt, yt, width=0.25, epochs=2, max_train_images=800)
    alone, distilled = result["alone"], result["student"]
    assert [w.shape for w in alone.get_weights()] == [w.shape for w in distilled.get_weights()]
    assert any(not np.allclose(a, b) for a, b in zip(alone.get_weights(), distilled.get_weights()))
    assert result["alone_accuracy"] == pytest.approx(accuracy(alone, xt, yt))
    assert result["distilled_accuracy"] == pytest.approx(accuracy(distilled, xt, yt))
    assert result["gain_points"] == pytest.approx(100 * (result["distilled_accuracy"] - result["alone_accuracy"]))
    assert result["teacher_accuracy"] == pytest.approx(accuracy(cnn, xt, yt))
    assert result["student_params"] < result["teacher_params"] / 3
    assert cnn.trainable  # the teacher is handed back as it came


# -- the sweep and the scatter (no TensorFlow: a fake trainer) ------------------------------


class _FakeRun:
    def __init__(self, run_id, path, meta):
        self.id, self.path, self.meta = run_id, path, meta

    @property
    def model_path(self):
        return self.path / "model.keras"


def test_sweep_trains_each_width_in_turn_holding_the_store_lock(tmp_path):
    from fer.jobs import JobManager
    from fer.runs import RunStore, TrainingBusy
    from fer.sweep import DONE, Sweep, sweep_configs

    store = RunStore(tmp_path / "models")
    seen, lock_held = [], []

    def fake_train(config, dataset, store_, run_id=None, progress=None, cancel=None):
        try:
            with store_.training_lock("probe"):
                lock_held.append(False)
        except TrainingBusy:
            lock_held.append(True)
        progress(TrainingProgress(EPOCH, 1, config.epochs))
        seen.append((config.arch, config.width))
        if config.width == 0.5 and config.arch == "cnn":
            raise RuntimeError("boom")
        return _FakeRun(f"{config.arch}-{config.width:g}", tmp_path, {})

    sweep = Sweep(JobManager(store, train_fn=fake_train, lock_poll_s=0.05))
    configs = sweep_configs([0.5, 0.125, 0.25], archs=("cnn", "mobilenet"), epochs=1, max_train_images=100)
    assert [(c.arch, c.width) for c in configs][:3] == [("cnn", 0.125), ("cnn", 0.25), ("cnn", 0.5)]
    assert sweep.start(configs, dataset=None)
    assert sweep.join(10)
    snap = sweep.snapshot()
    assert seen == [(c.arch, c.width) for c in configs]
    assert all(lock_held)
    assert snap["state"] == DONE and snap["finished"] == 6 and len(snap["done"]) == 5
    assert len(snap["errors"]) == 1 and "boom" in snap["errors"][0]


def test_sweep_waits_for_another_training_and_can_be_cancelled(tmp_path):
    from fer.jobs import JobManager
    from fer.runs import RunStore
    from fer.sweep import CANCELLED, WAITING, Sweep, sweep_configs

    store = RunStore(tmp_path / "models")
    trained = []
    sweep = Sweep(JobManager(store, train_fn=lambda c, *a, **k: trained.append(c), lock_poll_s=0.05))
    with store.training_lock("someone else"):
        sweep.start(sweep_configs([0.25], archs=("cnn",), epochs=1), dataset=None)
        deadline = time.time() + 5
        while sweep.snapshot()["state"] != WAITING and time.time() < deadline:
            time.sleep(0.02)
        snap = sweep.snapshot()
        assert snap["state"] == WAITING and "someone else" in snap["message"]
        assert sweep.start([], None) is False  # one sweep at a time
        sweep.cancel()
        assert sweep.join(5)
    assert trained == [] and sweep.snapshot()["state"] == CANCELLED


def test_a_sweep_is_a_batch_in_the_stores_one_training_queue(tmp_path):
    from fer.jobs import manager_for
    from fer.runs import RunStore
    from fer.sweep import sweep_configs, sweep_for
    from fer.train import TrainConfig

    a, b = sweep_for(RunStore(tmp_path)), sweep_for(RunStore(tmp_path))
    queue = manager_for(RunStore(tmp_path))
    assert a.manager is b.manager is queue and sweep_for(RunStore(tmp_path / "x")).manager is not queue
    gate, order = threading.Event(), []
    queue._train_fn = lambda config, *args, **kw: (order.append(config.description), gate.wait(5))
    try:
        queue.submit(TrainConfig(arch="dnn", width=0.1, epochs=1, description="a training first"), None)
        a.start(sweep_configs([0.25, 0.5], archs=("cnn",), epochs=1), None)
        assert a.running and a.snapshot()["total"] == 2
        assert [j.batch for j in queue.jobs()][1:] == [queue.latest_batch("sweep")] * 2  # same queue, one batch
        assert queue._worker.daemon
        gate.set()
        assert a.join(5) and queue.wait_idle(5)
        assert order == ["a training first", "sweep: cnn width 0.25", "sweep: cnn width 0.5"]  # one at a time, in turn
    finally:
        queue._train_fn = None


def test_the_sweep_goes_to_a_cluster_only_when_an_address_is_given(tmp_path, monkeypatch):
    from fer.cluster.sweep import ClusterSweep, choose_sweep
    from fer.runs import RunStore
    from fer.sweep import Sweep, sweep_configs

    monkeypatch.delenv("FER_RAY_ADDRESS", raising=False)
    store = RunStore(tmp_path)
    assert type(choose_sweep(store)) is Sweep
    there = choose_sweep(store, "10.0.0.1:6379")
    assert type(there) is ClusterSweep and there.address == "10.0.0.1:6379"
    monkeypatch.setenv("FER_RAY_ADDRESS", "10.0.0.2:6379")
    assert choose_sweep(store).address == "10.0.0.2:6379" and choose_sweep(store) is choose_sweep(store)
    assert choose_sweep(store, "10.0.0.1:6379") is there  # one per store and address: the pages share it
    configs = sweep_configs([0.25], archs=("cnn",), seeds=[0, 1], epochs=1)
    assert [(c.width, c.seed, c.description) for c in configs] == [(0.25, 0, "sweep: cnn width 0.25 seed 0"),
                                                                   (0.25, 1, "sweep: cnn width 0.25 seed 1")]
    configs[0].init_from = "a-run"
    with pytest.raises(FerError, match="a sweep on a cluster trains from scratch"):
        there.start(configs, None)  # refused before any connection is tried


def test_scatter_frame_has_one_point_per_run_with_its_size_and_pairs_equal_sizes(tmp_path):
    from fer.sweep import equal_params_pairs, scatter_frame

    runs = []
    for i, (arch, params, acc) in enumerate([("cnn", 30000, 0.8), ("mobilenet", 28000, 0.75), ("cnn", 110000, 0.85),
                                             ("mobilenet", 60000, 0.8), ("dnn", 5000, None)]):
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        (folder / "model.keras").write_bytes(b"x" * (100 + i))
        runs.append(_FakeRun(f"r{i}", folder, {"arch": arch, "params": params, "test_accuracy": acc, "width": 0.5}))
    frame = scatter_frame(runs)
    assert sorted(frame.run) == ["r0", "r1", "r2", "r3"]  # the run without accuracy has nothing to plot
    assert dict(zip(frame.run, frame.size_bytes))["r2"] == 102
    pairs = equal_params_pairs(frame)
    assert (pairs[0][0].run, pairs[0][1].run) == ("r0", "r1")
    assert pairs[0][2] == pytest.approx(-5.0)


def test_steps_table_is_consistent():
    assert set(DEFAULT_STEPS) | {"distilled"} == set(STEPS)


def test_a_row_added_to_a_ladder_gets_its_ratio_and_change_like_the_others():
    import pandas as pd

    from fer.compress.ladder import files_present, with_row

    ladder = pd.DataFrame([{"key": "keras", "bytes": 1000, "accuracy": 0.5, "file": ""}])
    ladder.attrs.update(keras_bytes=1000, reference_accuracy=0.5)
    grown = with_row(ladder, {"key": "distilled", "bytes": 250, "accuracy": 0.45, "file": ""})
    assert list(grown["smaller_x"]) == [1.0, 4.0] and list(grown["ratio"]) == [1.0, 0.25]
    assert grown["delta_points"].iloc[1] == pytest.approx(-5.0) and grown.attrs["keras_bytes"] == 1000
    assert not files_present(grown)
