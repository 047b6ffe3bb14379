"""Training: Adam, augmentation, early stopping, best-epoch weights, resume, progress, cancel.

`train(config, dataset)` is what the CLI, the app's background trainer and the tests call.
Progress goes to a callback as plain dicts (the app draws from them); cancellation is a
`threading.Event` set from outside; checkpoints go to `models/.work/<run-id>/` through
Keras' own `BackupAndRestore`, so a killed training resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import threading
import time
from typing import Callable, Optional

import numpy as np

from fer import NUM_CLASSES, distill
from fer.runs import RunStore, atomic_write_text, new_run_id, pid_alive

SCHEDULES = ("cosine", "plateau", "constant")
OPTIMIZERS = ("adam", "sgd")


class TrainingCancelled(RuntimeError):
    """Raised when the cancel event stopped a training; its checkpoint stays resumable."""


@dataclasses.dataclass
class TrainConfig:
    arch: str = "cnn"
    width: float = 0.5
    depth: Optional[int] = None
    batchnorm: bool = True
    dropout: Optional[float] = None
    activation: Optional[str] = None
    match_params: Optional[int] = None  # dnn only
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    optimizer: str = "adam"  # or "sgd": SGD with Nesterov momentum 0.9
    weight_decay: float = 0.0  # decoupled weight decay (Keras' optimizers apply it as lr * wd * w per step)
    augment: bool = True
    label_smoothing: float = 0.0
    erasing: float = 0.0  # chance of random erasing per training face (part of the augmentation)
    class_weights: bool = False
    patience: int = 8  # early stopping on val accuracy; 0 disables it
    seed: int = 0
    max_train_images: Optional[int] = None  # cap for quick demo runs
    description: str = ""
    init_from: Optional[str] = None  # warm start: a saved run of the same architecture and width
    teacher: Optional[str] = None  # knowledge distillation from this saved run (fer.distill)
    distill_alpha: float = 0.3  # weight of the labels' cross-entropy; the teacher gets 1 - alpha
    distill_temperature: float = 4.0

    def model_options(self) -> dict:
        opts = {"depth": self.depth, "batchnorm": self.batchnorm, "dropout": self.dropout, "activation": self.activation}
        if self.arch == "dnn":
            opts["match_params"] = self.match_params
        return {k: v for k, v in opts.items() if v is not None}

    def validate(self):
        from fer.errors import ModelConfigError

        ARCHS = ("cnn", "dnn", "mobilenet")

        if self.arch not in ARCHS:
            raise ModelConfigError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if not 0.05 <= self.width <= 8:
            raise ModelConfigError(f"width must be between 0.05 and 8, got {self.width}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ModelConfigError("epochs and batch size must be at least 1")
        if not 0 < self.learning_rate < 1:
            raise ModelConfigError(f"learning rate must be in (0, 1), got {self.learning_rate}")
        if self.schedule not in SCHEDULES:
            raise ModelConfigError(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ModelConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not 0 <= self.weight_decay < 1:
            raise ModelConfigError(f"weight decay must be in [0, 1), got {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            raise ModelConfigError("label smoothing must be in [0, 1)")
        if not 0 <= self.erasing <= 1:
            raise ModelConfigError(f"random erasing is a chance per face, in [0, 1], got {self.erasing}")
        if self.erasing and not self.augment:
            raise ModelConfigError("random erasing is part of the augmentation: turn augmentation on, or set erasing to 0")
        if not 0 <= self.distill_alpha <= 1:
            raise ModelConfigError(f"distillation alpha must be in [0, 1], got {self.distill_alpha}")
        if not 0 < self.distill_temperature <= 100:
            raise ModelConfigError(f"distillation temperature must be in (0, 100], got {self.distill_temperature}")


def augmentation(seed: int = 0, erasing: float = 0.0):
    """Horizontal flip, shift, zoom, small rotation and, with a chance `erasing` per face,
    random erasing of a patch (Zhong et al. 2017): Keras preprocessing layers.

    Erasing is off by default: while a model underfits (the CNN's fifth leg read 0.67
    train-mode and 0.67 val accuracy) more regularisation costs accuracy. Even once it
    overfit (ninth leg: 0.75 train-mode, 0.676 val) a 12-epoch leg at 0.25 lost 0.94 val.
    """
    import keras
    from keras import layers

    steps = [
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 2),
        layers.RandomRotation(10 / 360, fill_mode="nearest", seed=seed + 3),
    ]
    if erasing:  # a fixed (p, p) range: a single float would draw the chance from [0, p]
        steps.append(layers.RandomErasing(factor=(erasing, erasing), value_range=(0, 255), seed=seed + 4))
    return keras.Sequential(steps, name="augmentation")


def make_dataset(images, labels, batch_size, shuffle=False, augment=False, seed=0, label_smoothing=0.0, erasing=0.0):
    """A tf.data pipeline of (float32 (B,48,48,1) in 0..255, one-hot labels)."""
    import tensorflow as tf

    x = np.asarray(images, np.uint8)[..., None]
    y = np.asarray(labels, np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:  # the whole set: loaders return faces sorted by class, and a smaller buffer
        # would end every epoch on a few classes (skewed last updates and BatchNorm statistics)
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), tf.one_hot(b, NUM_CLASSES)), num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        aug = augmentation(seed, erasing)
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _progress_callback(progress, cancel, epochs, steps):
    import keras

    class Progress(keras.callbacks.Callback):
        """Reports batches and epochs as dicts; stops training when `cancel` is set."""

        def on_train_begin(self, logs=None):
            self.start = time.time()
            self.done_batches = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self.done_batches += 1
            if cancel is not None and cancel.is_set():
                self.model.stop_training = True
            if progress is not None:
                elapsed = time.time() - self.start
                left = (epochs - self.epoch) * steps - (batch + 1)
                eta = elapsed / self.done_batches * max(left, 0)
                progress({"phase": "batch", "epoch": self.epoch + 1, "epochs": epochs, "batch": batch + 1,
                          "batches": steps, "eta_s": eta, **{k: float(v) for k, v in (logs or {}).items()}})

        def on_epoch_end(self, epoch, logs=None):
            if progress is not None:  # train() adds the whole history, resumed epochs included
                progress({"phase": "epoch", "epoch": epoch + 1, "epochs": epochs,
                          **{k: float(v) for k, v in (logs or {}).items()}})
            if cancel is not None and cancel.is_set():
                self.model.stop_training = True

    return Progress()


def _versions():
    import keras
    import sklearn
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def _machine():
    import tensorflow as tf

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {"host": platform.node(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "gpus": gpus}


def _class_weights(labels):
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in zip(present, weights)}


def _train_val(config, dataset):
    """The training images (capped by max_train_images) and the validation images."""
    x_train, y_train = dataset.split("train")
    if config.max_train_images and len(x_train) > config.max_train_images:
        keep = np.random.default_rng(config.seed).permutation(len(x_train))[: config.max_train_images]
        x_train, y_train = x_train[keep], y_train[keep]
    x_val, y_val = dataset.split("val")
    if len(x_train) == 0:
        raise ValueError(f"{dataset.origin}: the training split is empty")
    if len(x_val) == 0:  # tiny data sets: validate on the training images rather than fail
        x_val, y_val = x_train, y_train
    return (x_train, y_train), (x_val, y_val)


def train(config: TrainConfig, dataset, store: Optional[RunStore] = None, *, run_id: Optional[str] = None,
          progress: Optional[Callable[[dict], None]] = None, cancel: Optional[threading.Event] = None,
          command: str = "", strategy=None, save: bool = True):
    """Train one model, evaluate it on the val and test splits, save it as a run.

    Passing the `run_id` of an interrupted training resumes it from its last checkpoint.
    Returns the saved `Run` (or `(model, meta)` when `save=False`).
    """
    import keras

    from fer.models import build_model

    config.validate()
    store = store or RunStore()
    run_id = run_id or new_run_id(config.arch, config.width)
    (x_train, y_train), (x_val, y_val) = _train_val(config, dataset)

    work = store.work_dir(run_id)
    status_path = work / "status.json"
    previous = json.loads(status_path.read_text(encoding="utf-8")) if status_path.is_file() else {}
    chain_epochs = _chain_epochs(store.get(config.init_from).meta) if config.init_from else 0
    stream_seed = _stream_seed(config.seed, chain_epochs + len(previous.get("history", {}).get("loss", [])))
    keras.utils.set_random_seed(stream_seed)
    status = {"state": "training", "pid": os.getpid(), "config": dataclasses.asdict(config), "dataset": dataset.name,
              "fingerprint": dataset.fingerprint, "command": command, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}

    steps = int(np.ceil(len(x_train) / config.batch_size))
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = build_model(config.arch, config.width, **config.model_options())
        if config.init_from:
            _warm_start(model, config, store)
        if config.schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps * config.epochs), alpha=0.01)
        else:
            lr = config.learning_rate
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metrics = ["accuracy"]
        if config.teacher:
            teacher = _load_teacher(config, store)
            loss = distill.distillation_loss(config.distill_alpha, config.distill_temperature, config.label_smoothing)
            metrics = [distill.accuracy]
        model.compile(optimizer=_optimizer(config, lr), loss=loss, metrics=metrics)
    train_ds = make_dataset(x_train, y_train, config.batch_size, shuffle=True, augment=config.augment, seed=stream_seed,
                            erasing=config.erasing)
    val_ds = make_dataset(x_val, y_val, 256)
    if config.teacher:  # the teacher sees each augmented batch the student sees
        train_ds, val_ds = distill.with_teacher(train_ds, teacher), distill.with_teacher(val_ds, teacher)

    def record(event):  # keep the per-epoch history in status.json so a resumed run keeps it too
        if event["phase"] == "epoch":
            for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if k in event:
                    status.setdefault("history", {}).setdefault(k, []).append(event[k])
            status["train_seconds"] = round(seconds_before + time.time() - start, 1)
            atomic_write_text(status_path, json.dumps(status, indent=1))
            event = {**event, "history": status["history"]}
        if progress is not None:
            progress(event)

    status.setdefault("history", {})
    seconds_before = 0.0
    if previous:  # resuming: keep the epochs already done
        status["history"] = previous.get("history", {})
        seconds_before = float(previous.get("train_seconds", 0.0))
    atomic_write_text(status_path, json.dumps(status, indent=1))
    callbacks = [keras.callbacks.BackupAndRestore(str(work / "backup"), delete_checkpoint=False), _progress_callback(record, cancel, config.epochs, steps)]
    best_path = work / "best.weights.h5"
    callbacks.append(keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_accuracy", mode="max", save_best_only=True, save_weights_only=True))
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience))
    if _has_batchnorm(model):
        callbacks.insert(0, _precise_batchnorm_callback(model, x_train, config.seed))
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5))

    start = time.time()
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=0, shuffle=False,
                  class_weight=_class_weights(y_train) if config.class_weights else None)
    except KeyboardInterrupt:
        status.update(state="interrupted")
        atomic_write_text(status_path, json.dumps(status, indent=1))
        raise
    wall = time.time() - start
    if cancel is not None and cancel.is_set():
        status.update(state="cancelled")
        atomic_write_text(status_path, json.dumps(status, indent=1))
        raise TrainingCancelled(f"training {run_id} cancelled; resume it with `python -m fer resume {run_id}`")

    if best_path.exists():  # best-epoch weights, also across a resumed training
        model.load_weights(str(best_path))
    _recalibrate_if_better(model, x_train, x_val, y_val, config.seed)
    wall = seconds_before + wall
    return _finish(model, config, dataset, store, run_id, status["history"], wall, command, save)


def _optimizer(config, lr):
    """Adam, or SGD with Nesterov momentum (the optimiser of the published >= 71% FER2013 recipes)."""
    import keras

    wd = config.weight_decay or None
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)
    return keras.optimizers.Adam(lr, weight_decay=wd)


def _chain_epochs(meta) -> int:
    """Epochs a run (or its lineage entry) trained, over its whole chain of warm starts."""
    return int(meta.get("total_epochs") or meta.get("epochs_run") or 0)


def _stream_seed(seed: int, epochs_before: int) -> int:
    """The seed of this process' random stream (shuffle order, augmentation, dropout masks).

    Each process restarts TensorFlow's random state, so a warm-started leg or a resumed
    training seeded like its first leg would replay the very same augmented batches in the
    same order: epoch k of every leg was one fixed stream, and the model memorised it (train
    accuracy read ~5 points higher on the replayed epochs than on fresh ones). Mixing in the
    epochs already done continues the stream instead; a fresh training keeps `seed` itself.
    """
    if epochs_before == 0:
        return seed
    return int(np.random.SeedSequence([seed, epochs_before]).generate_state(1)[0] % (2**31 - 1))


def _warm_start(model, config, store):
    """Copy a saved run's weights into `model`: continue training a good run with a fresh schedule."""
    from fer.errors import ModelConfigError

    source = store.get(config.init_from)
    if (source.meta.get("arch"), float(source.meta.get("width", -1))) != (config.arch, float(config.width)):
        raise ModelConfigError(f"cannot start from {config.init_from}: it is {source.meta.get('arch')} width "
                               f"{source.meta.get('width')}, this training is {config.arch} width {config.width:g}")
    trained = source.load_model()
    if [w.shape for w in trained.weights] != [w.shape for w in model.weights]:
        raise ModelConfigError(f"cannot start from {config.init_from}: its layers differ from this model's")
    model.set_weights(trained.get_weights())


def _load_teacher(config, store):
    """The saved run to distil from; any registry model fits (all map 48x48x1 faces to 7 probabilities)."""
    from fer.errors import ModelConfigError
    from fer.runs import RunError

    try:
        teacher = store.get(config.teacher).load_model()
    except RunError as exc:
        raise ModelConfigError(f"cannot distil from {config.teacher}: {exc}") from None
    teacher.trainable = False
    return teacher


def _lineage(store, run_id, with_history=False):
    """How a warm-start source or a teacher was made, nested, so the chain of commands reproduces a run.

    A warm-start source also keeps its per-epoch history, so the whole chain's training
    curves can be drawn after its earlier legs' run folders are gone (`fer.runs.chain_history`).
    """
    from fer.runs import RunError

    try:
        src = store.get(run_id).meta
    except RunError:
        return {"run": run_id}
    keys = ("arch", "width", "params", "command", "epochs_run", "wall_time_s", "total_epochs", "total_wall_time_s", "machine",
            "test_accuracy", "init_from", "teacher") + (("history",) if with_history else ())
    return {"run": run_id, **{k: src.get(k) for k in keys if src.get(k) is not None}}


BN_BATCHES, BN_BATCH_SIZE = 16, 128


def _has_batchnorm(model) -> bool:
    return any(type(layer).__name__ == "BatchNormalization" for layer in model.layers)


def _bn_sample(x_train, seed):
    """The 16 x 128 clean training faces BatchNorm statistics come from (the same ones for a seed)."""
    return x_train[np.random.default_rng(seed).permutation(len(x_train))[: BN_BATCHES * BN_BATCH_SIZE]]


def _recalibrate(model, sample, seed):
    from fer.compress import recalibrate_batchnorm

    recalibrate_batchnorm(model, sample, batches=BN_BATCHES, batch_size=BN_BATCH_SIZE, seed=seed)


def _precise_batchnorm_callback(model, x_train, seed):
    """Before every validation, re-estimate BatchNorm statistics on clean training faces
    ("precise BN", Wu & Johnson 2021). The moving averages follow the augmented training
    batches, so without it the per-epoch val accuracy reads several points low and jumps
    about, and the best epoch is picked on noise. Training itself uses batch statistics, so
    this changes only what validation (and the saved checkpoints) see."""
    import keras

    sample = _bn_sample(x_train, seed)

    class PreciseBatchNorm(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            _recalibrate(model, sample, seed)

    return PreciseBatchNorm()


def _recalibrate_if_better(model, x_train, x_val, y_val, seed):
    """Re-estimate BatchNorm statistics from training faces when that scores better on val.

    After a short training the moving averages (momentum 0.99) still lag the weights and the
    model scores far below what it can do; after a long one they are fine and stay.
    """
    from fer.evaluate import predict_proba

    if not _has_batchnorm(model):
        return
    before = [w.numpy() for w in model.non_trainable_weights]
    score = lambda: float((predict_proba(model, x_val).argmax(1) == y_val).mean())  # noqa: E731
    old = score()
    _recalibrate(model, _bn_sample(x_train, seed), seed)
    if score() < old:
        for var, value in zip(model.non_trainable_weights, before):
            var.assign(value)


def _finish(model, config, dataset, store, run_id, history, wall, command, save=True, note=""):
    """Evaluate on val and test (plain and flip-averaged), then save the run atomically."""
    from fer.evaluate import evaluate

    (x_train, _), (x_val, y_val) = _train_val(config, dataset)
    x_test, y_test = dataset.split("test")
    val = evaluate(model, x_val, y_val)
    test = evaluate(model, x_test, y_test) if len(x_test) else None
    test_tta = evaluate(model, x_test, y_test, tta=True) if len(x_test) else None
    epochs_run = len(history.get("loss", []))
    description = config.description or (f"{config.arch} width {config.width:g} trained on {dataset.name}"
                                         + (f", distilled from {config.teacher}" if config.teacher else ""))
    meta = {
        "arch": config.arch,
        "width": config.width,
        "options": config.model_options(),
        "params": int(model.count_params()),
        "config": dataclasses.asdict(config),
        "description": description + (f" ({note})" if note else ""),
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "origin": dataset.origin,
                    "train": int(len(x_train)), "val": int(len(x_val)), "test": int(len(x_test))},
        "history": history,
        "epochs_run": epochs_run,
        "best_epoch": int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else None,
        "val_accuracy": val["accuracy"],
        "test_accuracy": test["accuracy"] if test else None,
        "test_accuracy_tta": test_tta["accuracy"] if test else None,
        "confusion_matrix": test["confusion_matrix"] if test else val["confusion_matrix"],
        "confusion_split": "test" if test else "val",
        "per_class": test["per_class"] if test else val["per_class"],
        "wall_time_s": round(wall, 1),
        "seconds_per_epoch": round(wall / max(epochs_run, 1), 2),
        "seed": config.seed,
        "command": command,
        "machine": _machine(),
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if config.init_from:  # totals over the whole chain of warm starts
        source = meta["init_from"] = _lineage(store, config.init_from, with_history=True)
        meta["total_wall_time_s"] = round(wall + float(source.get("total_wall_time_s") or source.get("wall_time_s") or 0), 1)
        meta["total_epochs"] = epochs_run + _chain_epochs(source)
    if config.teacher:
        meta["teacher"] = {**_lineage(store, config.teacher), "alpha": config.distill_alpha,
                           "temperature": config.distill_temperature}
    if not save:
        return model, meta
    run = store.save(run_id, model, meta)
    import shutil

    shutil.rmtree(store.root / ".work" / run_id, ignore_errors=True)
    return run


def _status(run_id, dataset, store):
    status_path = store.root / ".work" / run_id / "status.json"
    if not status_path.is_file():
        raise ValueError(f"no interrupted training {run_id!r}; `python -m fer list` shows the ones there are")
    status = json.loads(status_path.read_text(encoding="utf-8"))
    if status.get("fingerprint") not in (None, dataset.fingerprint):
        raise ValueError(f"training {run_id} used dataset {status.get('dataset')} ({status.get('fingerprint')}); load the same data")
    return status


def finish(run_id: str, dataset, store: Optional[RunStore] = None):
    """Save an interrupted or cancelled training as a run now, from its best epoch so far."""
    from fer.models import build_model

    store = store or RunStore()
    status = _status(run_id, dataset, store)
    if status.get("state") == "training" and pid_alive(status.get("pid")):
        raise ValueError(f"training {run_id} is still running (pid {status['pid']}); stop it first")
    config = TrainConfig(**status["config"])
    history = status.get("history", {})
    best = store.root / ".work" / run_id / "best.weights.h5"
    if not best.is_file() or not history.get("loss"):
        raise ValueError(f"training {run_id} has no finished epoch to save yet")
    model = build_model(config.arch, config.width, **config.model_options())
    model.load_weights(str(best))
    (x_train, _), (x_val, y_val) = _train_val(config, dataset)
    _recalibrate_if_better(model, x_train, x_val, y_val, config.seed)
    done = len(history["loss"])
    note = f"stopped by the user after {done} of {config.epochs} epochs" if done < config.epochs else ""
    wall = float(status.get("train_seconds") or 0.0)
    if not wall and status.get("started"):  # older status files: from start to the last epoch's write
        started = time.mktime(time.strptime(status["started"], "%Y-%m-%dT%H:%M:%S"))
        wall = os.path.getmtime(store.root / ".work" / run_id / "status.json") - started
    command = status.get("command", "")
    if note and command:
        command += f"  # then: python -m fer finish {run_id}"
    return _finish(model, config, dataset, store, run_id, history, wall, command, note=note)


def resume(run_id: str, dataset, store: Optional[RunStore] = None, **kwargs):
    """Continue an interrupted or cancelled training from its last epoch checkpoint."""
    store = store or RunStore()
    status = _status(run_id, dataset, store)
    config = TrainConfig(**status["config"])
    return train(config, dataset, store, run_id=run_id, command=status.get("command", ""), **kwargs)
