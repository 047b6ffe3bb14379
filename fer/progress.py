"""One training's progress as one typed event, from the training loop through the background
queue to the pages and the command line: nothing re-parses a dict or recomputes the fraction.

    def show(event: TrainingProgress):
        print(event.line(), f"{event.fraction:.0%}")
    train(config, dataset, store, progress=show)
"""
from __future__ import annotations

import dataclasses
from typing import Optional

BATCH, EPOCH = "batch", "epoch"


@dataclasses.dataclass(frozen=True)
class TrainingProgress:
    """After a batch (`phase` "batch") or an epoch ("epoch") of a training of `epochs` epochs.

    `epoch` is 1-based; `batch` of `batches` is the batch just finished in it (an epoch event
    counts its batches as all done). `metrics` are Keras' logs (loss, accuracy, and val_loss,
    val_accuracy after an epoch); `history` the per-epoch history so far, resumed epochs included
    (epoch events only); `eta_s` the seconds left as the batches so far predict."""

    phase: str
    epoch: int
    epochs: int
    batch: int = 0
    batches: int = 0
    eta_s: Optional[float] = None
    metrics: dict = dataclasses.field(default_factory=dict)
    history: dict = dataclasses.field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """0..1 through all the training's batches."""
        if not self.epochs or not self.epoch:
            return 0.0
        within = 1.0 if self.phase == EPOCH else self.batch / self.batches if self.batches else 0.0
        return max(0.0, min(1.0, (self.epoch - 1 + within) / self.epochs))

    @property
    def last_epoch(self) -> bool:
        return self.phase == EPOCH and self.epoch >= self.epochs

    def metric(self, name: str) -> float:
        return float(self.metrics.get(name, float("nan")))

    def line(self) -> str:
        """What a person reads: "epoch 3/20, batch 40/400" or "finished epoch 3/20"."""
        if self.phase == EPOCH:
            return f"finished epoch {self.epoch}/{self.epochs}"
        return f"epoch {self.epoch}/{self.epochs}, batch {self.batch}/{self.batches}"
