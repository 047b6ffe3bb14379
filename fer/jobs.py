"""Background training for the app: one process-wide FIFO queue, one worker thread.

    jobs = JobManager(RunStore())
    job = jobs.submit(TrainConfig(arch="cnn", width=0.25, epochs=3), dataset, owner="tab 1")
    jobs.get(job.id).status      # "queued" -> "running" -> "done" | "failed" | "cancelled"
    jobs.cancel(job.id)
    batch = jobs.submit_batch([config1, config2], dataset, kind="sweep")   # e.g. a width sweep

Every browser tab (Streamlit session) shares one manager (the app gets it through
`st.cache_resource`), so two tabs asking to train at once are queued one after the other and
never interleave. Around each training the worker also holds the run store's file lock
(`RunStore.training_lock`), so a CLI training in another process is waited for, not raced.
Progress (the training's last `TrainingProgress` event and the live history) is kept on the `Job` for the pages to draw; a
failure is kept as a one-line message, never re-raised into a page.

No Streamlit import here: the tests drive this module directly.
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import itertools
import logging
import os
import platform
import threading
import time
from typing import Any, Callable, Optional

from fer import stopping
from fer.estimates import estimate_seconds, split_sizes
from fer.progress import BATCH, EPOCH, TrainingProgress

log = logging.getLogger(__name__)

QUEUED, WAITING, RUNNING, DONE, FAILED, CANCELLED = "queued", "waiting", "running", "done", "failed", "cancelled"
IDLE = "idle"  # a batch with no jobs
ACTIVE = (QUEUED, WAITING, RUNNING)
FINISHED = (DONE, FAILED, CANCELLED)

def quick_config(**overrides):
    """The one-click "quick default": a small CNN, 3 epochs on at most 4,000 training images.

    Chosen by measurement on the generated faces (`bench/train_estimates.py`): in so few epochs
    a decaying schedule and augmentation leave a model below always answering "happy"; a
    constant 2e-3 on batches of 32 without augmentation learns the faces in under a minute on
    two cores.
    """
    from fer.train import TrainConfig

    base = dict(arch="cnn", width=0.25, epochs=3, batch_size=32, learning_rate=2e-3, schedule="constant", augment=False,
                max_train_images=4000, patience=0, description="quick default (cnn width 0.25, 3 epochs, 4,000 training images)")
    base.update(overrides)
    return TrainConfig(**base)


@dataclasses.dataclass
class Job:
    """One training request and its live state. Pages get copies (`JobManager.get`)."""

    id: str
    config: Any  # fer.train.TrainConfig
    dataset_name: str
    fingerprint: str
    n_train: int = 0
    owner: str = ""
    batch: str = ""  # the batch (e.g. a width sweep) this job belongs to, if any
    command: str = ""  # the command line that asked for it, kept in its run.json ("" from the app)
    status: str = QUEUED
    message: str = ""  # what is happening now, for people
    error: str = ""  # one line when status == failed
    run_id: Optional[str] = None  # the saved run (status done) or the run id being trained
    epochs: int = 0
    progress: Optional[TrainingProgress] = None  # the training's last event
    history: dict = dataclasses.field(default_factory=dict)
    submitted: float = dataclasses.field(default_factory=time.time)
    started: Optional[float] = None
    finished: Optional[float] = None
    images_per_s: Optional[float] = None
    estimate_s: Optional[float] = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def fraction(self) -> float:
        """0..1 progress through all epochs (1 once finished successfully)."""
        if self.status == DONE:
            return 1.0
        return self.progress.fraction if self.progress is not None else 0.0

    @property
    def epoch(self) -> int:
        """The epoch under way (or last finished), 1-based; 0 before the first batch."""
        return self.progress.epoch if self.progress is not None else 0

    @property
    def eta_s(self) -> Optional[float]:
        if self.status == DONE:
            return 0.0
        return self.progress.eta_s if self.status == RUNNING and self.progress is not None else None

    @property
    def batch_metrics(self) -> dict:
        """The last batch's loss and accuracy ({} before the first batch)."""
        return self.progress.metrics if self.progress is not None and self.progress.phase == BATCH else {}

    @property
    def elapsed_s(self) -> float:
        if not self.started:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def label(self) -> str:
        c = self.config
        return f"{c.arch} width {c.width:g}, {c.epochs} epoch(s)" + (f", distilled from {c.teacher}" if c.teacher else "")


class JobManager:
    """FIFO queue of trainings run one at a time by a worker thread.

    `train_fn(config, dataset, store, run_id=..., progress=..., cancel=...)` defaults to
    `fer.train.train`; tests pass a fake. `on_finish(job)` callbacks run in the worker
    thread after each job ends (the app clears its run-list cache there).
    """

    def __init__(self, store, train_fn: Optional[Callable] = None, lock_poll_s: float = 2.0, keep: int = 50,
                 strategy=None):
        self.store = store
        self.strategy = strategy  # a tf.distribute strategy for every training (None: the default device)
        self._train_fn = train_fn
        self.lock_poll_s = lock_poll_s
        self.keep = keep
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: collections.deque = collections.deque()
        self._jobs: "collections.OrderedDict[str, Job]" = collections.OrderedDict()
        self._datasets: dict = {}
        self._cancel: dict = {}
        self._worker: Optional[threading.Thread] = None
        self._ids = itertools.count(1)
        self._batches: "collections.OrderedDict[str, dict]" = collections.OrderedDict()  # id -> kind, job ids
        self.finished_count = 0  # bumps whenever a job ends; pages compare it to refresh
        self.on_finish: list = []

    # -- requests ------------------------------------------------------------
    def submit(self, config, dataset, owner: str = "", batch: str = "", command: str = "") -> Job:
        """Queue a training; returns a copy of its Job. Raises ModelConfigError on a bad config."""
        config.validate()
        config = copy.deepcopy(config)
        n_train = int(len(dataset.indices("train"))) if hasattr(dataset, "indices") else 0
        if config.max_train_images:
            n_train = min(n_train, int(config.max_train_images))
        with self._lock:
            job = Job(id=f"job{next(self._ids)}-{os.getpid()}", config=config, dataset_name=getattr(dataset, "name", "data"),
                      fingerprint=getattr(dataset, "fingerprint", ""), n_train=n_train, owner=owner, epochs=config.epochs,
                      batch=batch, command=command)
            job.estimate_s = estimate_seconds(config, n_train, self._runs_quietly(), **split_sizes(dataset))
            ahead = sum(1 for j in self._jobs.values() if j.active)
            job.message = f"queued behind {ahead} training(s)" if ahead else "starting"
            self._jobs[job.id] = job
            self._datasets[job.id] = dataset
            self._cancel[job.id] = threading.Event()
            self._queue.append(job.id)
            self._trim()
            if self._worker is None or not self._worker.is_alive():
                self._worker = stopping.watch(threading.Thread(target=self._work, name="fer-training", daemon=True))
                self._worker.start()
            self._changed.notify_all()
            return self._copy(job)

    def submit_batch(self, configs, dataset, owner: str = "", kind: str = "batch", command: str = "") -> str:
        """Queue several trainings, in order, as one batch; returns the batch id. Every config is
        checked before any is queued (ModelConfigError names the bad one)."""
        configs = list(configs)
        for config in configs:
            config.validate()
        with self._lock:
            batch_id = f"{kind}{len(self._batches) + 1}-{os.getpid()}"
            jobs = [self.submit(config, dataset, owner, batch=batch_id, command=command).id for config in configs]
            self._batches[batch_id] = {"kind": kind, "jobs": jobs, "number": len(self._batches) + 1}
            return batch_id

    def batch(self, batch_id: str) -> list:
        """The jobs of a batch, in order (copies); jobs trimmed from memory are left out."""
        with self._lock:
            ids = self._batches.get(batch_id, {}).get("jobs", [])
            return [self._copy(self._jobs[i]) for i in ids if i in self._jobs]

    def latest_batch(self, kind: str) -> Optional[str]:
        with self._lock:
            return next((b for b, info in reversed(self._batches.items()) if info["kind"] == kind), None)

    def batch_number(self, batch_id: str) -> int:
        with self._lock:
            return self._batches.get(batch_id, {}).get("number", 0)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job at once, or ask a running one to stop after its current batch."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return False
            self._cancel[job_id].set()
            if job.status == QUEUED:
                self._queue.remove(job_id)
                self._end(job, CANCELLED, "cancelled before it started")
            else:
                job.message = "cancelling after the current batch…"
            self._changed.notify_all()
            return True

    def cancel_batch(self, batch_id: str) -> int:
        """Cancel every active job of a batch; returns how many were asked to stop."""
        with self._lock:
            ids = list(self._batches.get(batch_id, {}).get("jobs", []))
        return sum(self.cancel(i) for i in ids)

    # -- reading -------------------------------------------------------------
    def get(self, job_id: str) -> Optional[Job]:
        with self._lock:
            job = self._jobs.get(job_id)
            return self._copy(job) if job else None

    def jobs(self) -> list:
        """All remembered jobs, oldest first (copies)."""
        with self._lock:
            return [self._copy(j) for j in self._jobs.values()]

    def current(self) -> Optional[Job]:
        """The job training (or waiting for the store's lock) now, if any."""
        with self._lock:
            for j in self._jobs.values():
                if j.status in (RUNNING, WAITING):
                    return self._copy(j)
            return None

    def queued(self) -> list:
        with self._lock:
            return [self._copy(self._jobs[i]) for i in self._queue]

    def position(self, job_id: str) -> Optional[int]:
        """How many trainings run before this one: 0 for the running job (or a queued one with
        nothing ahead of it, not yet picked up by the worker), None when not active."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or not job.active:
                return None
            if job.status in (RUNNING, WAITING) or job_id not in self._queue:
                return 0
            running = any(j.status in (RUNNING, WAITING) for j in self._jobs.values() if j is not job)
            return list(self._queue).index(job_id) + int(running)

    @property
    def busy(self) -> bool:
        with self._lock:
            return any(j.active for j in self._jobs.values())

    def wait(self, job_id: str, timeout: Optional[float] = None) -> Optional[Job]:
        """Block until the job has finished (or `timeout` seconds passed); returns its copy."""
        deadline = None if timeout is None else time.time() + timeout
        with self._lock:
            while True:
                job = self._jobs.get(job_id)
                if job is None or not job.active:
                    return self._copy(job) if job else None
                left = None if deadline is None else deadline - time.time()
                if left is not None and left <= 0:
                    return self._copy(job)
                self._changed.wait(timeout=min(left, 1.0) if left is not None else 1.0)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.time() + timeout
        with self._lock:
            while any(j.active for j in self._jobs.values()):
                left = None if deadline is None else deadline - time.time()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(timeout=min(left, 1.0) if left is not None else 1.0)
            return True

    # -- the worker ----------------------------------------------------------
    def _work(self):
        while True:
            with self._lock:
                if not self._queue or stopping.requested():
                    self._worker = None
                    return
                job_id = self._queue.popleft()
                job = self._jobs[job_id]
                job.status, job.message = RUNNING, "starting…"  # never neither queued nor running
                dataset = self._datasets.get(job_id)
                cancel = self._cancel[job_id]
            try:
                self._run(job, dataset, cancel)
            except stopping.Stopped:  # the process is ending: the training's checkpoint is kept
                with self._lock:
                    self._end(job, CANCELLED, "stopped with the process; its last epoch's checkpoint can be resumed")
                return
            except BaseException as exc:  # noqa: BLE001 - the worker must survive anything
                log.exception("training job %s crashed", job_id)
                with self._lock:
                    if job.active:
                        self._end(job, FAILED, "", error=_one_line(exc))

    def _run(self, job: Job, dataset, cancel: threading.Event):
        from fer.runs import TrainingBusy, new_run_id

        owner = f"app {job.id} ({job.label}{', ' + job.owner if job.owner else ''}) pid {os.getpid()} on {platform.node()}"
        while True:
            if cancel.is_set():
                with self._lock:
                    self._end(job, CANCELLED, "cancelled while waiting for another training")
                return
            try:
                lock = self.store.training_lock(owner)
                lock.__enter__()
            except TrainingBusy as exc:
                with self._lock:
                    job.status = WAITING
                    job.message = f"waiting: {exc}"
                    self._changed.notify_all()
                cancel.wait(self.lock_poll_s)
                stopping.check()
                continue
            except OSError as exc:
                with self._lock:
                    self._end(job, FAILED, "", error=f"cannot lock the run store {self.store.root}: {exc.strerror or exc}")
                return
            break
        try:
            with self._lock:
                job.status = RUNNING
                job.started = time.time()
                job.run_id = new_run_id(job.config.arch, job.config.width)
                job.message = "preparing (importing TensorFlow, building the model)…"
                self._changed.notify_all()
            self._train(job, dataset, cancel)
        finally:
            lock.__exit__(None, None, None)

    def _train(self, job: Job, dataset, cancel):
        from fer.train import TrainingCancelled

        train_fn = self._train_fn
        if train_fn is None:
            from fer.train import train as train_fn

        def progress(event: TrainingProgress):
            with self._lock:
                job.progress, job.epochs = event, event.epochs
                job.message = "evaluating on the validation and test splits…" if event.last_epoch else event.line()
                if event.phase == EPOCH:
                    job.history = {k: list(v) for k, v in event.history.items()}
                if job.started and job.n_train:
                    seen = event.fraction * event.epochs * job.n_train
                    job.images_per_s = seen / max(time.time() - job.started, 1e-6)
                self._changed.notify_all()

        try:
            extra = {"strategy": self.strategy} if self.strategy is not None else {}
            if job.command:
                extra["command"] = job.command
            run = train_fn(job.config, dataset, self.store, run_id=job.run_id, progress=progress, cancel=cancel, **extra)
        except TrainingCancelled:
            with self._lock:
                self._end(job, CANCELLED, f"cancelled at epoch {job.epoch}/{job.epochs}; its checkpoint can be resumed")
            return
        except Exception as exc:  # noqa: BLE001 - shown on the page as one line
            log.warning("training job %s failed: %s", job.id, exc, exc_info=True)
            with self._lock:
                self._end(job, FAILED, "", error=_one_line(exc))
            return
        with self._lock:
            job.run_id = getattr(run, "id", job.run_id)
            meta = getattr(run, "meta", {}) or {}
            if meta.get("history"):
                job.history = meta["history"]
            acc = meta.get("test_accuracy")
            done = f"saved run {job.run_id}"
            if isinstance(acc, (int, float)):
                done += f" — test accuracy {100 * acc:.1f}%"
            self._end(job, DONE, done)

    # -- helpers -------------------------------------------------------------
    def _end(self, job: Job, status: str, message: str, error: str = ""):
        job.status, job.message, job.error = status, message, error
        job.finished = time.time()
        self._datasets.pop(job.id, None)  # let the data set go
        self.finished_count += 1
        self._changed.notify_all()
        for callback in list(self.on_finish):
            try:
                callback(self._copy(job))
            except Exception:  # noqa: BLE001
                log.exception("on_finish callback failed")

    def _trim(self):
        finished = [i for i, j in self._jobs.items() if not j.active]
        for job_id in finished[: max(0, len(self._jobs) - self.keep)]:
            self._jobs.pop(job_id, None)
            self._cancel.pop(job_id, None)

    def _runs_quietly(self):
        try:
            return self.store.list()
        except Exception:  # noqa: BLE001 - an estimate must never break a submit
            return []

    @staticmethod
    def _copy(job: Job) -> Job:
        out = copy.copy(job)
        out.history = {k: list(v) for k, v in job.history.items()}
        return out


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    text = f"{name}: {text}" if text else name
    return text if len(text) <= limit else text[: limit - 1] + "…"


_managers: dict = {}
_managers_lock = threading.Lock()


def manager_for(store) -> JobManager:
    """The process-wide manager of one run store (keyed by its folder)."""
    key = str(getattr(store, "root", store))
    with _managers_lock:
        if key not in _managers:
            _managers[key] = JobManager(store)
        return _managers[key]


def batch_snapshot(jobs, generation: int) -> dict:
    """A batch's jobs (`Job`s of a sweep, say) as one dict: state, message, total, finished, done
    (run ids), errors, current (the first running `Job`, its progress on it, or None), fraction
    (0..1 through the whole batch), generation (which batch of its kind it is)."""
    if not jobs:
        return {"state": IDLE, "message": "", "total": 0, "finished": 0, "done": [], "errors": [], "current": None,
                "fraction": 0.0, "generation": 0}
    done = [j.run_id for j in jobs if j.status == DONE]
    errors = [f"{j.config.arch} width {j.config.width:g}: {j.error}" for j in jobs if j.status == FAILED]
    finished = sum(not j.active for j in jobs)
    running = next((j for j in jobs if j.status in (RUNNING, WAITING)), None)
    current = running if running is not None and running.status == RUNNING else None
    active = [j for j in jobs if j.active]
    if active:
        first = running or active[0]
        state = WAITING if running is not None and running.status == WAITING else RUNNING  # queued: starting
        training = [j for j in jobs if j.status == RUNNING]  # a cluster trains several at once
        message = (first.message if current is None else
                   f"training {first.config.arch} width {first.config.width:g} ({finished + 1}/{len(jobs)})"
                   if len(training) == 1 else f"training {len(training)} at once ({finished}/{len(jobs)} done)")
    elif any(j.status == CANCELLED for j in jobs):
        state, message = CANCELLED, f"cancelled after {len(done)} of {len(jobs)} run(s)"
    else:
        state = DONE if not errors or done else FAILED
        message = f"finished: {len(done)} run(s) saved" + (f", {len(errors)} failed" if errors else "")
    under_way = sum(j.fraction for j in jobs if j.status == RUNNING)
    fraction = (finished + under_way) / len(jobs)
    return {"state": state, "message": message, "total": len(jobs), "finished": finished, "done": done,
            "errors": errors, "current": current, "fraction": min(1.0, fraction), "generation": generation}
