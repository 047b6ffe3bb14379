"""Width sweeps, and the parameters-vs-accuracy points they add.

    sweep = sweep_for(RunStore())
    sweep.start(sweep_configs([0.125, 0.25, 0.5], archs=("cnn", "mobilenet"), epochs=3), dataset)
    sweep.snapshot()   # {"state": "running", "done": [...], "current": {...}, ...}
    sweep.cancel()

A sweep is a batch of jobs in the app's one training queue (`fer.jobs.JobManager`): they train
one after the other like any other training, holding the run store's lock, and show on the
Train page too. Every finished run is saved in the store like any other, so the Compression
page's scatter picks it up on its next refresh. No Streamlit import here.
"""
from __future__ import annotations

import os
import time
from typing import Optional

from fer.errors import ModelConfigError
from fer.jobs import (CANCELLED, DONE, FAILED, IDLE, RUNNING, WAITING, JobManager,  # noqa: F401 - the sweep's states
                      batch_snapshot, manager_for)

KIND = "sweep"


def sweep_configs(widths, archs=("cnn", "mobilenet"), seeds=None, **train_options) -> list:
    """One TrainConfig per (arch, width, seed), smallest width first within each arch.

    train_options go to every TrainConfig (epochs, max_train_images, augment, ...); `seeds`
    (default: the one seed in train_options, else 0) repeats each width once per seed.
    """
    from fer.train import TrainConfig

    widths = sorted({float(w) for w in widths})
    seeds = list(dict.fromkeys(int(s) for s in seeds)) if seeds is not None else [train_options.pop("seed", 0)]
    train_options.pop("seed", None)
    if not widths:
        raise ModelConfigError("choose at least one width")
    if not seeds:
        raise ModelConfigError("choose at least one seed")
    configs = []
    for arch in archs:
        for w in widths:
            for seed in seeds:
                desc = train_options.get("description") or f"sweep: {arch} width {w:g}" + (f" seed {seed}" if len(seeds) > 1 else "")
                config = TrainConfig(**{**train_options, "arch": arch, "width": w, "seed": seed, "description": desc})
                config.validate()
                configs.append(config)
    return configs


class Sweep:
    """The latest width sweep of one training queue: start, follow, cancel (see module doc)."""

    def __init__(self, manager: JobManager):
        self.manager = manager

    def jobs(self) -> list:
        """The latest sweep's jobs, in order (copies)."""
        batch = self.manager.latest_batch(KIND)
        return self.manager.batch(batch) if batch else []

    @property
    def running(self) -> bool:
        return any(j.active for j in self.jobs())

    def start(self, configs, dataset, owner: str = "sweep", command: str = "") -> bool:
        """Queue `configs` on `dataset`; False (and nothing queued) while a sweep is running."""
        if self.running:
            return False
        self.manager.submit_batch(configs, dataset, owner=owner, kind=KIND, command=command)
        return True

    def cancel(self) -> None:
        """Cancel the queued widths and stop the running one after its batch (it stays resumable)."""
        batch = self.manager.latest_batch(KIND)
        if batch:
            self.manager.cancel_batch(batch)

    def join(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.time() + timeout
        for job in self.jobs():
            left = None if deadline is None else max(0.0, deadline - time.time())
            self.manager.wait(job.id, left)
        return not self.running

    def snapshot(self) -> dict:
        """The sweep as one dict (`fer.jobs.batch_snapshot`)."""
        batch = self.manager.latest_batch(KIND)
        jobs = self.manager.batch(batch) if batch else []
        return batch_snapshot(jobs, self.manager.batch_number(batch) if batch else 0)


def sweep_for(store) -> Sweep:
    """The sweep of a run store: its batches go to the store's one training queue (`fer.jobs.manager_for`).
    `fer.cluster.sweep.choose_sweep` picks between it and a Ray cluster's."""
    return Sweep(manager_for(store))


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
