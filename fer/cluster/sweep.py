"""A width sweep on a Ray cluster: each training a Ray task, each finished run saved by the driver.

    sweep = choose_sweep(RunStore(), "HOST:6379")   # no address, no FER_RAY_ADDRESS: the local queue
    sweep.start(configs, dataset)      # returns at once; trainings run on the workers
    sweep.snapshot()                   # the same dict as the local sweep's (fer.jobs.batch_snapshot)
    sweep.cancel()

A training runs in a store of its own on its worker and returns the run's files; a thread here
saves each into the run store atomically under the id the driver gave it, so a run is saved once
or not at all. A worker lost mid-training (its process killed, its node gone) makes Ray start that
training again (`fer.cluster.RETRIES`); the data set goes to the cluster once, through its object
store. Progress comes back through a small actor (`tasks.Board`).
"""
from __future__ import annotations

import copy
import dataclasses
import threading
import time
from typing import Optional

from fer import stopping
from fer.cluster import RETRIES, check_resources, connect, lost_work, tasks
from fer.errors import ModelConfigError, RunError
from fer.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job, batch_snapshot

_SWEEPS: dict = {}
_SWEEPS_LOCK = threading.Lock()


class ClusterSweep:
    """`fer.sweep.Sweep`'s interface (start, running, cancel, join, snapshot) over a Ray cluster."""

    def __init__(self, store, address: str):
        self.store, self.address = store, address
        self._lock = threading.Lock()
        self._jobs: list = []
        self._refs: dict = {}  # object reference -> job index
        self._generation = 0
        self._follower: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        with self._lock:
            return any(j.active for j in self._jobs)

    def start(self, configs, dataset, owner: str = "sweep", command: str = "", cpus: float = 1, gpus: float = 0) -> bool:
        """Send `configs` to the cluster, each training a task of `cpus` CPUs and `gpus` GPUs; False
        (and nothing sent) while a sweep is running."""
        configs = [copy.deepcopy(c) for c in configs]
        for config in configs:
            config.validate()
            if config.init_from or config.teacher:
                raise ModelConfigError("a sweep on a cluster trains from scratch: --init-from and --teacher need the run "
                                       "store on the workers; run that sweep without --ray")
        check_resources(cpus, gpus)
        if self.running:
            return False
        ray = connect(self.address)
        train = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=RETRIES)(tasks.train_run)
        board = ray.remote(num_cpus=0)(tasks.Board).remote()
        data = ray.put(dataset)
        taken = {r.id for r in self.store.list()}
        jobs = [self._job(c, dataset, owner, k, taken) for k, c in enumerate(configs)]
        with self._lock:
            self._generation += 1
            self._jobs = jobs
            self._refs = {train.remote(dataclasses.asdict(j.config), data, j.run_id, board, k, command): k
                          for k, j in enumerate(jobs)}
            self._follower = stopping.watch(threading.Thread(target=self._follow, args=(ray, board), name="fer-cluster-sweep",
                                                             daemon=True))
            self._follower.start()
        return True

    def _job(self, config, dataset, owner, k, taken: set) -> Job:
        """A job for `config` under a run id not in `taken` (which it joins)."""
        from fer.runs import new_run_id

        run_id = new_run_id(config.arch, config.width)
        while run_id in taken:
            run_id = new_run_id(config.arch, config.width)
        taken.add(run_id)
        n_train = int(len(dataset.indices("train")))
        return Job(id=f"cluster{self._generation + 1}-{k + 1}", config=config, dataset_name=dataset.name,
                   fingerprint=dataset.fingerprint, n_train=min(n_train, config.max_train_images or n_train), owner=owner,
                   batch=f"sweep{self._generation + 1}", epochs=config.epochs, run_id=run_id,
                   message=f"queued on the cluster at {self.address}")

    def cancel(self) -> None:
        """Cancel every training not finished yet: queued ones never start, running ones stop."""
        with self._lock:
            refs = list(self._refs)
        if not refs:
            return
        ray = connect(self.address)
        for ref in refs:
            ray.cancel(ref)

    def join(self, timeout: Optional[float] = None) -> bool:
        follower = self._follower
        if follower is not None:
            follower.join(timeout)
        return not self.running

    def jobs(self) -> list:
        """The sweep's jobs, in order (copies)."""
        with self._lock:
            return [copy.copy(j) for j in self._jobs]

    def snapshot(self) -> dict:
        with self._lock:
            return batch_snapshot([copy.copy(j) for j in self._jobs], self._generation)

    # -- the driver's side: follow the tasks, save what they return ---------------------------
    def _follow(self, ray, board) -> None:
        while True:
            with self._lock:
                pending = list(self._refs)
            if not pending:
                return
            if stopping.requested():
                for ref in pending:
                    ray.cancel(ref)
                self._end_all(CANCELLED, "stopped with the process")
                return
            ready, _ = ray.wait(pending, num_returns=1, timeout=1.0)
            self._read_board(ray, board)
            for ref in ready:
                self._finish(ray, ref)

    def _read_board(self, ray, board) -> None:
        try:
            events, workers = ray.get(board.read.remote(), timeout=10)
        except Exception:  # noqa: BLE001 - progress is a nicety; the results come from the tasks
            return
        with self._lock:
            for k, job in enumerate(self._jobs):
                if job.status not in (QUEUED, RUNNING) or k not in workers:
                    continue
                pid, node = workers[k][-1]
                if job.status == QUEUED:
                    job.status, job.started = RUNNING, time.time()
                job.progress = events.get(k, job.progress)
                if job.progress is not None and job.progress.history:  # epoch events carry the history so far
                    job.history = dict(job.progress.history)
                retried = f", started again after its worker was lost ({len(workers[k]) - 1}x)" if len(workers[k]) > 1 else ""
                doing = job.progress.line() if job.progress is not None else "preparing (importing TensorFlow)…"
                job.message = f"{doing} on node {node[:8]} (pid {pid}){retried}"

    def _finish(self, ray, ref) -> None:
        with self._lock:
            k = self._refs.pop(ref)
            job = self._jobs[k]
        try:
            run = self.store.save_files(job.run_id, ray.get(ref))
        except RunError as exc:
            self._end(job, FAILED, str(exc))
        except Exception as exc:  # noqa: BLE001 - whatever ended the task, the job says it in one line
            cancelled = type(exc).__name__ == "TaskCancelledError"
            self._end(job, CANCELLED if cancelled else FAILED, "cancelled" if cancelled else lost_work(exc))
        else:
            self._end(job, DONE, f"saved run {run.id}")

    def _end(self, job, status, message) -> None:
        with self._lock:
            job.status, job.finished = status, time.time()
            job.message = message
            if status == FAILED:
                job.error = message

    def _end_all(self, status, message) -> None:
        with self._lock:
            self._refs.clear()
            for job in self._jobs:
                if job.active:
                    job.status, job.message, job.finished = status, message, time.time()


def choose_sweep(store, address: Optional[str] = None):
    """The sweep a page or command starts: on the Ray cluster at `address` (or `FER_RAY_ADDRESS`)
    when there is one, else in the run store's training queue (`fer.sweep.sweep_for`)."""
    from fer.settings import ray_address
    from fer.sweep import sweep_for

    address = ray_address(address)
    return cluster_sweep_for(store, address) if address else sweep_for(store)


def cluster_sweep_for(store, address: str) -> ClusterSweep:
    """The process-wide cluster sweep of one run store and address (the app's pages share it)."""
    key = (str(getattr(store, "root", store)), address)
    with _SWEEPS_LOCK:
        if key not in _SWEEPS:
            _SWEEPS[key] = ClusterSweep(store, address)
        return _SWEEPS[key]
