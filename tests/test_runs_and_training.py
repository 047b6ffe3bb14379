"""Training, the run store and resume: save -> list -> reload -> identical predictions."""
import dataclasses
import json
import threading

import numpy as np
import pytest

from fer.data.synthetic import generate
from fer.evaluate import predict_proba
from fer.runs import RunError, RunStore, TrainingBusy, validate_run_id
from fer.train import TrainConfig, TrainingCancelled, finish, resume, train


@pytest.fixture(scope="module")
def small_faces():
    return generate(n_train=400, n_val=100, n_test=100, seed=3)


@pytest.fixture(scope="module")
def trained(small_faces, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("models"))
    events = []
    run = train(TrainConfig(arch="mobilenet", width=0.25, epochs=2, batch_size=64), small_faces, store, progress=events.append)
    return store, run, events


@pytest.mark.slow
def test_training_saves_a_run_that_lists_reloads_and_predicts_identically(trained, small_faces):
    store, run, events = trained
    assert [r.id for r in store.list()] == [run.id]
    meta = json.loads((run.path / "run.json").read_text())
    for key in ("arch", "width", "params", "dataset", "history", "val_accuracy", "test_accuracy", "confusion_matrix",
                "wall_time_s", "versions", "seed", "machine"):
        assert key in meta, key
    assert meta["dataset"]["fingerprint"] == small_faces.fingerprint
    assert len(meta["history"]["loss"]) == 2
    assert np.sum(meta["confusion_matrix"]) == 100
    x, y = small_faces.split("test")
    model_a, model_b = store.get(run.id).load_model(), store.get(run.id).load_model()
    np.testing.assert_array_equal(predict_proba(model_a, x), predict_proba(model_b, x))
    acc = float((predict_proba(model_a, x).argmax(1) == y).mean())
    assert acc == pytest.approx(meta["test_accuracy"], abs=1e-6)
    assert "optimizer" not in saved_weight_groups(run.model_path)  # no optimizer state shipped


def saved_weight_groups(path):
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        return list(h5py.File(io.BytesIO(archive.read("model.weights.h5"))).keys())


def test_progress_reports_batches_and_epochs_with_eta(trained):
    _, _, events = trained
    batches = [e for e in events if e.phase == "batch"]
    epochs = [e for e in events if e.phase == "epoch"]
    assert len(epochs) == 2 and epochs[-1].epoch == 2 and epochs[-1].fraction == 1.0
    assert batches and all(e.eta_s >= 0 for e in batches)
    assert [e.fraction for e in batches] == sorted(e.fraction for e in batches) and batches[0].fraction > 0
    assert len(epochs[-1].history["val_accuracy"]) == 2


def test_broken_run_folders_are_listed_with_reasons_not_fatal(trained, tmp_path):
    store, run, _ = trained
    (store.root / "no-meta").mkdir(exist_ok=True)
    (store.root / "bad-json").mkdir(exist_ok=True)
    (store.root / "bad-json" / "run.json").write_text("{not json")
    (store.root / "bad-json" / "model.keras").write_bytes(b"junk")
    (store.root / "bad-model").mkdir(exist_ok=True)
    (store.root / "bad-model" / "run.json").write_text(json.dumps({"id": "bad-model", "arch": "cnn", "params": 1, "test_accuracy": 0.5}))
    (store.root / "bad-model" / "model.keras").write_bytes(b"not a zip")
    runs, broken = store.scan()
    reasons = {b.id: b.reason for b in broken}
    assert "missing run.json" in reasons["no-meta"]
    assert "not valid JSON" in reasons["bad-json"]
    assert run.id in [r.id for r in runs]
    with pytest.raises(RunError, match="cannot load model.keras"):
        store.get("bad-model").load_model()


def test_featured_runs_list_first_then_newest_first(tmp_path):
    """The shipped main models open every run picker; the user's own runs follow, newest first."""
    store = RunStore(tmp_path)
    for run_id, created, extra in (("old-featured", "2026-01-01T00:00:00", {"featured": True}),
                                   ("newest", "2026-03-01T00:00:00", {}), ("middle", "2026-02-01T00:00:00", {}),
                                   ("string-flag", "2026-04-01T00:00:00", {"featured": "yes"}),
                                   ("featured-mobilenet", "2026-05-01T00:00:00", {"featured": True, "arch": "mobilenet"})):
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "model.keras").write_bytes(b"x")
        (tmp_path / run_id / "run.json").write_text(json.dumps(
            {"id": run_id, "arch": "cnn", "params": 1, "test_accuracy": 0.5, "created": created, **extra}))
    # featured: the registry's order of architectures (the CNN first, though the MobileNet is newer)
    assert [r.id for r in store.list()] == ["old-featured", "featured-mobilenet", "string-flag", "newest", "middle"]


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", "", "x" * 200, "runs/../../x"])
def test_run_ids_cannot_escape_the_store(bad):
    with pytest.raises(RunError, match="invalid run id"):
        validate_run_id(bad)


def test_interrupted_save_leaves_previous_runs_intact(trained, monkeypatch):
    store, run, _ = trained
    model = run.load_model()
    import fer.runs

    def explode(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fer.runs, "atomic_write_text", explode)
    with pytest.raises(RunError, match="No space left"):
        store.save("half-written", model, {"arch": "mobilenet", "params": 1, "test_accuracy": 0.1})
    assert not (store.root / "half-written").exists()
    assert not list(store.root.glob(".tmp-*"))
    assert run.id in [r.id for r in store.list()]


def test_training_lock_refuses_a_second_trainer(tmp_path):
    store = RunStore(tmp_path)
    with store.training_lock("tab one"):
        with pytest.raises(TrainingBusy, match="tab one"):
            with RunStore(tmp_path).training_lock("tab two"):
                pass
    with store.training_lock("tab two"):  # free again once released
        pass


@pytest.mark.slow
def test_cancel_keeps_a_resumable_checkpoint_and_resume_finishes(small_faces, tmp_path):
    store = RunStore(tmp_path)
    cancel = threading.Event()

    def cancel_after_first_epoch(event):
        if event.phase == "epoch" and event.epoch == 1:
            cancel.set()

    config = TrainConfig(arch="dnn", width=0.1, epochs=3, batch_size=64)
    with pytest.raises(TrainingCancelled):
        train(config, small_faces, store, run_id="resumable", progress=cancel_after_first_epoch, cancel=cancel)
    assert store.list() == []
    interrupted = dict(store.interrupted())
    assert interrupted["resumable"]["state"] == "cancelled"
    assert len(interrupted["resumable"]["history"]["loss"]) == 1
    # the same run id with another recipe would restore this checkpoint into another model: refused
    other = dataclasses.replace(config, width=0.2, learning_rate=0.01, description="a new note is no change")
    with pytest.raises(RunError, match=r"another recipe \(it differs in width, learning_rate\).*fer resume resumable"):
        train(other, small_faces, store, run_id="resumable")
    assert dict(store.interrupted())["resumable"]["state"] == "cancelled"
    epochs_seen = []
    run = resume("resumable", small_faces, store, progress=lambda e: e.phase == "epoch" and epochs_seen.append(e.epoch))
    assert epochs_seen == [2, 3]  # continued from the checkpoint, not from scratch
    assert len(run.meta["history"]["loss"]) == 3
    assert store.interrupted() == []


@pytest.mark.slow
def test_finish_saves_an_interrupted_training_from_its_best_epoch(small_faces, tmp_path):
    store = RunStore(tmp_path)
    cancel = threading.Event()
    config = TrainConfig(arch="dnn", width=0.1, epochs=4, batch_size=64)
    with pytest.raises(TrainingCancelled):
        train(config, small_faces, store, run_id="stopped", cancel=cancel,
              progress=lambda e: e.phase == "epoch" and e.epoch == 2 and cancel.set())
    with pytest.raises(ValueError, match="no interrupted training"):
        finish("never-started", small_faces, store)
    run = finish("stopped", small_faces, store)
    assert run.meta["epochs_run"] == 2 and "after 2 of 4 epochs" in run.meta["description"]
    x, y = small_faces.split("test")
    acc = float((predict_proba(run.load_model(), x).argmax(1) == y).mean())
    assert acc == pytest.approx(run.meta["test_accuracy"], abs=1e-6)
    assert store.interrupted() == []


@pytest.mark.slow
def test_warm_start_continues_from_a_saved_run_and_records_its_lineage(trained, small_faces):
    store, run, _ = trained
    source = store.get(run.id).load_model()
    model, meta = train(TrainConfig(arch="mobilenet", width=0.25, epochs=1, batch_size=64, learning_rate=1e-9,
                                    schedule="constant", augment=False, init_from=run.id),
                        small_faces, store, run_id="warm", save=False)
    # with a vanishing learning rate the warm-started model is the source model (BatchNorm stats aside)
    conv = [w for w in source.weights if "kernel" in w.path]
    conv_new = {w.path: w for w in model.weights}
    np.testing.assert_allclose(conv[0].numpy(), conv_new[conv[0].path].numpy(), atol=1e-5)
    assert meta["init_from"]["run"] == run.id and meta["init_from"]["epochs_run"] == 2
    assert meta["total_epochs"] == 3 and meta["total_wall_time_s"] == pytest.approx(meta["wall_time_s"] + run.meta["wall_time_s"], abs=0.11)
    # the source's curves travel with the lineage, so the whole chain can be drawn without its folder
    from fer.runs import chain_history
    assert meta["init_from"]["history"] == run.meta["history"]
    history, starts = chain_history(meta)
    assert starts == [1, 3] and history["val_accuracy"] == run.meta["history"]["val_accuracy"] + meta["history"]["val_accuracy"]
    from fer.errors import ModelConfigError
    with pytest.raises(ModelConfigError, match="width 0.25"):
        train(TrainConfig(arch="mobilenet", width=0.5, epochs=1, init_from=run.id), small_faces, store, save=False)


def test_a_training_alive_in_another_process_is_not_offered_for_resume(tmp_path):
    import subprocess
    import sys

    store = RunStore(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for run_id, pid in (("live", __import__("os").getpid()), ("dead", dead.pid)):
        (store.work_dir(run_id) / "status.json").write_text(json.dumps({"state": "training", "pid": pid}))
    assert sorted(i for i, _ in store.interrupted()) == ["dead", "live"]
    assert store.training_elsewhere() == ["live"]


def constant_teacher(store, run_id, favourite=3, confidence=0.9):
    """A saved 'teacher' that ignores the face and always says class `favourite` with `confidence`."""
    import keras

    probs = np.full(7, (1 - confidence) / 6)
    probs[favourite] = confidence
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Flatten()(inputs)
    out = keras.layers.Dense(7, activation="softmax", kernel_initializer="zeros",
                             bias_initializer=keras.initializers.Constant(np.log(probs)))(x)
    return store.save(run_id, keras.Model(inputs, out), {"arch": "cnn", "width": 1.0, "params": 16135, "test_accuracy": None})


@pytest.mark.slow
def test_distillation_follows_the_teacher_by_alpha(small_faces, tmp_path):
    """alpha 0: the student learns only the teacher's answers (here: always class 3);
    alpha 1: only the labels, exactly as plain training does."""
    store = RunStore(tmp_path)
    constant_teacher(store, "always-3")
    x, y = small_faces.split("test")

    def fit(run_id, **kd):  # distinct run ids: a leftover .work folder of the same id would be resumed
        config = TrainConfig(arch="cnn", width=0.25, epochs=3, batch_size=32, learning_rate=3e-3, schedule="constant",
                             augment=False, patience=0, distill_temperature=1.0, **kd)
        model, meta = train(config, small_faces, store, run_id=run_id, save=False)
        return float((predict_proba(model, x).argmax(1) == 3).mean()), meta

    said_3, meta = fit("teacher-only", teacher="always-3", distill_alpha=0.0)
    assert said_3 > 0.95
    assert meta["teacher"]["run"] == "always-3" and meta["teacher"]["alpha"] == 0.0
    plain_said_3, plain = fit("plain")
    assert plain_said_3 < 0.8  # labels alone: class 3 is only 25% of the test faces
    labels_only_said_3, labels_only = fit("labels-only", teacher="always-3", distill_alpha=1.0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # accuracy is against the labels only
        np.testing.assert_allclose(labels_only["history"][key], plain["history"][key], rtol=1e-4)
    assert labels_only_said_3 == pytest.approx(plain_said_3)


@pytest.mark.slow
def test_distillation_resumes_with_its_teacher(small_faces, tmp_path):
    store = RunStore(tmp_path)
    constant_teacher(store, "always-3")
    config = TrainConfig(arch="cnn", width=0.25, epochs=2, batch_size=64, augment=False, patience=0, teacher="always-3",
                         max_train_images=200)
    cancel = threading.Event()
    with pytest.raises(TrainingCancelled):
        train(config, small_faces, store, run_id="kd", cancel=cancel,
              progress=lambda e: e.phase == "epoch" and cancel.set())
    run = resume("kd", small_faces, store)
    assert run.meta["epochs_run"] == 2 and run.meta["teacher"]["run"] == "always-3"
    assert run.meta["config"]["teacher"] == "always-3"


def test_soft_kl_matches_numpy_and_alpha_one_is_plain_cross_entropy():
    import keras

    from fer.distill import distillation_loss, soft_kl

    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), 5).astype("float32"), rng.dirichlet(np.ones(7), 5).astype("float32")
    t = 3.0
    pt = np.exp(np.log(p) / t); pt /= pt.sum(1, keepdims=True)  # noqa: E702
    qt = np.exp(np.log(q) / t); qt /= qt.sum(1, keepdims=True)  # noqa: E702
    expected = t**2 * (pt * (np.log(pt) - np.log(qt))).sum(1)
    np.testing.assert_allclose(np.asarray(soft_kl(p, q, t)), expected, rtol=1e-4)
    assert np.allclose(np.asarray(soft_kl(p, p, t)), 0, atol=1e-5)
    onehot = np.eye(7, dtype="float32")[[0, 1, 2, 3, 4]]
    y = np.concatenate([onehot, p], 1)
    ce = np.asarray(keras.losses.categorical_crossentropy(onehot, q))
    np.testing.assert_allclose(np.asarray(distillation_loss(alpha=1.0, temperature=t)(y, q)), ce, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(distillation_loss(alpha=0.0, temperature=t)(y, q)), expected, rtol=1e-4)


def test_training_batches_mix_every_class_through_the_whole_epoch():
    """Loaders return faces sorted by class; the shuffle must still spread every class over the epoch.
    (25,900 faces, as many as FER2013's training split: with the 20,000-element shuffle buffer
    once used, the first seventh of each epoch held no neutral face at all.)"""
    from fer.pipeline import make_dataset

    per_class = 3700
    labels = np.repeat(np.arange(7), per_class)
    images = np.zeros((len(labels), 48, 48), np.uint8)
    for epoch_labels in range(2):
        stream = np.concatenate([y.numpy().argmax(1) for _, y in make_dataset(images, labels, 1000, shuffle=True, seed=epoch_labels)])
        assert sorted(stream.tolist()) == labels.tolist()  # each face once per epoch
        for part in np.array_split(stream, 7):  # every seventh of the epoch holds ~1/7 of each class
            counts = np.bincount(part, minlength=7)
            assert np.all(np.abs(counts - per_class / 7) < 120), counts  # ~5 standard deviations


def test_random_erasing_blanks_a_patch_of_each_face_only_when_asked():
    """On a flat grey face flips, shifts, zooms and rotations (nearest fill) change no pixel, so
    any change is an erased patch: none without erasing, one in every face at a chance of 1."""
    from fer.errors import ModelConfigError
    from fer.pipeline import make_dataset

    images, labels = np.full((64, 48, 48), 128, np.uint8), np.zeros(64, np.int64)
    plain = np.concatenate([x.numpy() for x, _ in make_dataset(images, labels, 32, augment=True, seed=1)])
    assert np.all(plain == 128)
    erased = np.concatenate([x.numpy() for x, _ in make_dataset(images, labels, 32, augment=True, seed=1, erasing=1.0)])
    changed = (erased != 128).reshape(len(erased), -1)
    assert changed.any(axis=1).all()  # every face has a patch
    assert 0.005 < changed.mean() < 0.5  # a patch, not the whole face
    assert erased.min() >= 0 and erased.max() <= 255  # still in the model's input range
    with pytest.raises(ModelConfigError, match="chance per face"):
        TrainConfig(erasing=1.5).validate()
    with pytest.raises(ModelConfigError, match="part of the augmentation"):
        TrainConfig(erasing=0.2, augment=False).validate()


@pytest.mark.slow
def test_the_curves_best_val_accuracy_is_what_the_saved_model_scores(tmp_path):
    """Precise BatchNorm before each validation: the val accuracy the curves show for the best
    epoch is the saved model's, not a figure several points off from lagging statistics
    (without it, this run's curve read 25%, 14%, 14% and the saved model scored 25.7%)."""
    faces = generate(n_train=1500, n_val=300, n_test=100, seed=3)
    store = RunStore(tmp_path)
    run = train(TrainConfig(arch="mobilenet", width=0.5, epochs=3, batch_size=32, learning_rate=3e-3, patience=0), faces, store)
    x_val, y_val = faces.split("val")
    saved = float((predict_proba(run.load_model(), x_val).argmax(1) == y_val).mean())
    assert max(run.meta["history"]["val_accuracy"]) == pytest.approx(saved, abs=1e-6)
    assert run.meta["val_accuracy"] == pytest.approx(saved, abs=1e-6)


def record_training_batches(monkeypatch):
    """Make every training stream note each batch's labels, in the order fit draws them."""
    import tensorflow as tf

    import fer.train

    real, seen = fer.train.make_dataset, []

    def note(y):
        seen.append(tuple(y.numpy().argmax(1).tolist()))
        return np.float32(0)

    def recording(*args, **kwargs):
        ds = real(*args, **kwargs)
        if not kwargs.get("shuffle"):
            return ds
        return ds.map(lambda x, y: (x + tf.reshape(tf.py_function(note, [y], tf.float32), []), y))

    monkeypatch.setattr(fer.train, "make_dataset", recording)
    return seen


@pytest.mark.slow
def test_continued_and_resumed_trainings_draw_new_batches_not_a_replay(small_faces, tmp_path, monkeypatch):
    """Every process restarts TensorFlow's random state: a warm-started leg or a resumed
    training seeded like its first leg replayed the very same batches (and augmentations),
    so every leg re-fitted one fixed stream. They must continue the stream instead, while a
    fresh training stays reproducible."""
    seen = record_training_batches(monkeypatch)
    store = RunStore(tmp_path)
    config = TrainConfig(arch="dnn", width=0.1, epochs=1, batch_size=64)

    def batches(**kw):
        seen.clear()
        train(dataclasses.replace(config, **kw), small_faces, store)
        return list(seen)

    first = batches()
    assert len(first) == 7 and sorted(sum(first, ())) == sorted(small_faces.split("train")[1].tolist())
    assert batches() == first  # a fresh training replays its own stream: reproducible
    leg = batches(init_from=store.list()[0].id)
    assert leg != first and sorted(sum(leg, ())) == sorted(sum(first, ()))

    cancel = threading.Event()
    seen.clear()
    with pytest.raises(TrainingCancelled):
        train(dataclasses.replace(config, epochs=2), small_faces, store, run_id="stopped", cancel=cancel,
              progress=lambda e: e.phase == "epoch" and cancel.set())
    assert seen == first  # its first epoch is the fresh stream
    seen.clear()
    resume("stopped", small_faces, store)
    assert len(seen) == 7 and seen != first  # epoch 2 after the resume is not epoch 1 again


def test_chain_history_joins_the_legs_oldest_first_and_leaves_unrecorded_legs_blank():
    from fer.figures import curves_caption, curves_chart, history_frame
    from fer.runs import chain_history

    leg = lambda *acc: {"loss": [1.0] * len(acc), "accuracy": list(acc)}  # noqa: E731
    meta = {"history": leg(0.7, 0.8), "best_epoch": 1,
            "init_from": {"run": "b", "epochs_run": 3,  # recorded before lineage kept histories
                          "init_from": {"run": "a", "epochs_run": 2, "history": leg(0.4, 0.5)}}}
    history, starts = chain_history(meta)
    assert starts == [1, 3, 6]
    assert history["accuracy"] == [0.4, 0.5, None, None, None, 0.7, 0.8]
    frame = history_frame({"r": history})
    acc = frame[frame.metric == "accuracy"].sort_values("epoch")
    assert list(acc.epoch) == [1, 2, 6, 7] and list(acc.segment) == [0, 0, 1, 1]  # later epochs keep their numbers; no line over the gap
    caption = curves_caption(meta, whole_chain=True)
    assert "7 epoch(s) in 3 warm-started legs" in caption and "1 leg(s) ran before" in caption and "epoch 6 " in caption
    assert curves_caption(meta, whole_chain=False).startswith("2 epoch(s); the saved weights are from epoch 1 ")
    rules = [layer for c in curves_chart({"r": history}, leg_starts=starts).to_dict()["hconcat"] for layer in c["layer"]
             if layer["mark"]["type"] == "rule"]
    assert len(rules) == 2  # one rule chart per metric panel
    assert chain_history({"history": leg(0.3)}) == ({"accuracy": [0.3], "loss": [1.0]}, [1])


def test_shipped_store_opens_on_the_main_cnn_then_the_main_mobilenet():
    """On each data set the pickers show (runs are matched to the data by fingerprint)."""
    from pathlib import Path

    runs = RunStore(Path(__file__).resolve().parents[1] / "models").list()
    fer2013 = [r for r in runs if r.meta["dataset"]["name"] == "fer2013"]
    demo = [r for r in runs if r.meta["dataset"]["name"] == "generated"]
    assert [(r.meta["arch"], r.meta.get("featured")) for r in fer2013[:2]] == [("cnn", True), ("mobilenet", True)]
    assert [(r.meta["arch"], r.meta.get("featured")) for r in demo[:1]] == [("cnn", True)]
    for group in (fer2013, demo):
        assert group[0].meta["test_accuracy"] == max(r.meta["test_accuracy"] for r in group)


@pytest.mark.slow
def test_training_on_the_validation_faces_adds_them_and_keeps_the_last_epoch(small_faces, tmp_path, monkeypatch):
    from fer.errors import ModelConfigError

    with pytest.raises(ModelConfigError, match="patience to 0"):
        TrainConfig(train_on_val=True, patience=3).validate()
    seen = record_training_batches(monkeypatch)
    store = RunStore(tmp_path)
    config = TrainConfig(arch="mobilenet", width=0.25, epochs=3, batch_size=50, learning_rate=3e-3, patience=0,
                         augment=False, train_on_val=True)
    run = train(config, small_faces, store)
    n_train, n_val = len(small_faces.split("train")[0]), len(small_faces.split("val")[0])
    assert sum(len(b) for b in seen[: (n_train + n_val) // 50]) == n_train + n_val  # one epoch: both sets
    assert run.meta["dataset"]["train"] == n_train + n_val and run.meta["best_epoch"] == 3
    # the saved weights are the last epoch's, whatever the (no longer held-out) val curve says
    x_val, y_val = small_faces.split("val")
    saved = float((predict_proba(run.load_model(), x_val).argmax(1) == y_val).mean())
    assert run.meta["history"]["val_accuracy"][-1] == pytest.approx(saved, abs=1e-6)


def test_a_run_moves_between_stores_as_files_saved_once_and_only_as_itself(tmp_path):
    from pathlib import Path

    from fer.runs import run_files

    shipped = RunStore(Path(__file__).resolve().parents[1] / "models").get("demo-cnn-w0.125")
    files = run_files(shipped)
    assert {"model.keras", "run.json"} <= set(files)
    store = RunStore(tmp_path)
    moved = store.save_files(shipped.id, files)
    assert moved.meta == shipped.meta
    assert moved.load_model().count_params() == shipped.meta["params"]
    with pytest.raises(RunError, match="already exists"):
        store.save_files(shipped.id, files)  # never saved twice
    with pytest.raises(RunError, match="the files are run 'demo-cnn-w0.125'"):
        store.save_files("another-id", files)
    with pytest.raises(RunError, match="the files are not a run"):
        store.save_files("half-a-run", {"run.json": files["run.json"]})
    with pytest.raises(RunError, match="the files are not a run"):
        store.save_files("escaping", {**files, "../model.keras": b"x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [shipped.id]  # nothing half-written left behind
