"""Width sweeps in the background, and the parameters-vs-accuracy points they add.

    sweep = sweep_for(RunStore())
    sweep.start(sweep_configs([0.125, 0.25, 0.5], archs=("cnn", "mobilenet"), epochs=3), dataset)
    sweep.snapshot()   # {"state": "running", "done": [...], "current": {...}, ...}
    sweep.cancel()

One daemon thread trains the configs one after the other with `fer.train.train`, holding the
run store's training lock (`RunStore.training_lock`) around each run, so it never races
another training (the app's, or a CLI one in another process): while the lock is taken the
sweep waits and says so. Every finished run is saved in the store like any other, so the
Compression page's scatter picks it up on its next refresh. No Streamlit import here.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import platform
import threading
import time
from typing import Callable, Optional

IDLE, RUNNING, WAITING, DONE, CANCELLED, FAILED = "idle", "running", "waiting", "done", "cancelled", "failed"


def sweep_configs(widths, archs=("cnn", "mobilenet"), **train_options) -> list:
    """One TrainConfig per (arch, width), smallest width first within each arch.

    train_options go to every TrainConfig (epochs, max_train_images, augment, seed, ...).
    """
    from fer.train import TrainConfig

    widths = sorted({float(w) for w in widths})
    if not widths:
        raise ValueError("choose at least one width")
    configs = []
    for arch in archs:
        for w in widths:
            desc = train_options.get("description") or f"sweep: {arch} width {w:g}"
            config = TrainConfig(**{**train_options, "arch": arch, "width": w, "description": desc})
            config.validate()
            configs.append(config)
    return configs


@dataclasses.dataclass
class SweepState:
    state: str = IDLE
    message: str = ""
    total: int = 0
    finished: int = 0  # configs handled (saved, failed or skipped)
    done: list = dataclasses.field(default_factory=list)  # run ids saved by this sweep
    errors: list = dataclasses.field(default_factory=list)  # "arch width: one-line error"
    current: Optional[dict] = None  # {"arch", "width", "epoch", "epochs", "batch", "batches", "eta_s"}
    started: Optional[float] = None
    ended: Optional[float] = None
    generation: int = 0  # bumps on every start: pages compare it


class Sweep:
    """Trains a list of TrainConfigs one at a time in a daemon thread (see module doc)."""

    def __init__(self, store, train_fn: Optional[Callable] = None, lock_poll_s: float = 2.0):
        self.store = store
        self._train_fn = train_fn
        self.lock_poll_s = lock_poll_s
        self._lock = threading.Lock()
        self._state = SweepState()
        self._cancel = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict:
        """A copy of the state as a dict (safe to read from any thread)."""
        with self._lock:
            return copy.deepcopy(dataclasses.asdict(self._state))

    def start(self, configs, dataset, strategy=None) -> bool:
        """Start training `configs` on `dataset`; False (and nothing starts) if a sweep is running.

        `strategy`: a `tf.distribute` strategy handed to every `train` call (e.g.
        `tf.distribute.MirroredStrategy()` to use all GPUs of this machine); None = default device.
        """
        configs = [copy.deepcopy(c) for c in configs]
        for c in configs:
            c.validate()
        with self._lock:
            if self.running:
                return False
            self._cancel = threading.Event()
            generation = self._state.generation + 1
            self._state = SweepState(state=RUNNING, message="starting", total=len(configs), started=time.time(),
                                     generation=generation)
            self._thread = threading.Thread(target=self._work, args=(configs, dataset, self._cancel, strategy),
                                            name="fer-sweep", daemon=True)
            self._thread.start()
        return True

    def cancel(self) -> None:
        """Stop after the current batch (the cancelled run stays resumable from its checkpoint)."""
        self._cancel.set()
        with self._lock:
            if self.running:
                self._state.message = "cancelling after the current batch…"

    def join(self, timeout: Optional[float] = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    # -- the worker ----------------------------------------------------------
    def _set(self, **changes):
        with self._lock:
            for k, v in changes.items():
                setattr(self._state, k, v)

    def _work(self, configs, dataset, cancel: threading.Event, strategy=None):
        from fer.runs import TrainingBusy
        from fer.train import TrainingCancelled

        train_fn = self._train_fn
        if train_fn is None:
            from fer.train import train as train_fn
        owner = f"sweep pid {os.getpid()} on {platform.node()}"
        for i, config in enumerate(configs):
            label = f"{config.arch} width {config.width:g}"
            # wait for the store's lock (another training may hold it)
            lock = None
            while not cancel.is_set():
                try:
                    lock = self.store.training_lock(f"{owner}: {label} ({i + 1}/{len(configs)})")
                    lock.__enter__()
                    break
                except TrainingBusy as exc:
                    lock = None
                    self._set(state=WAITING, message=f"waiting: {exc}")
                    cancel.wait(self.lock_poll_s)
                except OSError as exc:
                    self._end(FAILED, f"cannot lock the run store {self.store.root}: {exc.strerror or exc}")
                    return
            if cancel.is_set():
                if lock is not None:
                    lock.__exit__(None, None, None)
                break
            current = {"arch": config.arch, "width": config.width, "epoch": 0, "epochs": config.epochs, "batch": 0, "batches": 0}
            self._set(state=RUNNING, current=current, message=f"training {label} ({i + 1}/{len(configs)})")

            def progress(event, current=current):
                with self._lock:
                    for k in ("epoch", "epochs", "batch", "batches", "eta_s"):
                        if k in event:
                            current[k] = event[k]

            try:
                extra = {"strategy": strategy} if strategy is not None else {}
                run = train_fn(config, dataset, self.store, progress=progress, cancel=cancel, **extra)
            except TrainingCancelled:
                break
            except Exception as exc:  # noqa: BLE001 - one failed width must not stop the sweep
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                with self._lock:
                    self._state.errors.append(f"{label}: {type(exc).__name__}: {text[:200]}")
            else:
                with self._lock:
                    self._state.done.append(getattr(run, "id", str(run)))
            finally:
                lock.__exit__(None, None, None)
                with self._lock:
                    self._state.finished += 1
                    self._state.current = None
        if cancel.is_set():
            self._end(CANCELLED, f"cancelled after {len(self._state.done)} of {len(configs)} run(s)")
        else:
            errors = len(self._state.errors)
            self._end(DONE if not errors or self._state.done else FAILED,
                      f"finished: {len(self._state.done)} run(s) saved" + (f", {errors} failed" if errors else ""))

    def _end(self, state, message):
        self._set(state=state, message=message, current=None, ended=time.time())


_sweeps: dict = {}
_sweeps_lock = threading.Lock()


def sweep_for(store) -> Sweep:
    """The process-wide Sweep of one run store (keyed by its folder), shared by every session."""
    key = str(os.path.abspath(getattr(store, "root", store)))
    with _sweeps_lock:
        if key not in _sweeps:
            _sweeps[key] = Sweep(store)
        return _sweeps[key]


# --------------------------------------------------------------------------------------------
# the parameters-vs-accuracy points


def scatter_frame(runs):
    """One row per run: id, arch, width, params, test accuracy, on-disk size of model.keras, and
    `variant`: how it differs from the run it is an ablation of ("no BatchNorm"; "" for the rest).

    Runs without a numeric test accuracy or parameter count are left out (nothing to plot).
    """
    import pandas as pd

    from fer.ablation import variant_labels

    runs = list(runs)
    variants = variant_labels(runs)
    rows = []
    for run in runs:
        meta = run.meta
        acc, params = meta.get("test_accuracy"), meta.get("params")
        if not isinstance(acc, (int, float)) or not isinstance(params, (int, float)) or params <= 0:
            continue
        try:
            size = os.path.getsize(run.model_path)
        except OSError:
            continue
        rows.append({"run": run.id, "arch": str(meta.get("arch", "?")), "width": float(meta.get("width") or 0),
                     "params": int(params), "test_accuracy": float(acc), "size_bytes": int(size),
                     "size_kb": round(size / 1024, 1), "epochs": meta.get("epochs_run"),
                     "created": meta.get("created", ""), "variant": variants.get(run.id, "")})
    df = pd.DataFrame(rows, columns=["run", "arch", "width", "params", "test_accuracy", "size_bytes", "size_kb", "epochs",
                                     "created", "variant"])
    return df.sort_values(["arch", "params"]).reset_index(drop=True)


def equal_params_pairs(frame, tolerance: float = 0.35):
    """CNN vs MobileNet runs whose parameter counts are within `tolerance` (relative) of each
    other: [(cnn row, mobilenet row, accuracy difference in points)], closest pairs first."""
    cnn = frame[frame.arch == "cnn"]
    mob = frame[frame.arch == "mobilenet"]
    pairs = []
    for _, c in cnn.iterrows():
        for _, m in mob.iterrows():
            rel = abs(c.params - m.params) / max(c.params, m.params)
            if rel <= tolerance:
                pairs.append((rel, c, m, 100 * (m.test_accuracy - c.test_accuracy)))
    pairs.sort(key=lambda p: p[0])
    return [(c, m, d) for _, c, m, d in pairs]
