"""The one object every loader returns: images, labels, a split per image, provenance."""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from fer import CLASS_NAMES
from fer.errors import DataError  # noqa: F401 - raised here, importable from here

SPLITS = ("train", "val", "test")
GENERATED_NAME = "generated"  # the built-in demo faces' data set name (fer.data.synthetic)
TRAIN, VAL, TEST = 0, 1, 2




@dataclasses.dataclass
class LoadReport:
    """What a loader skipped or changed, so the app and CLI can show it."""

    skipped: list = dataclasses.field(default_factory=list)  # (file, row_or_None, reason)
    converted: int = 0  # images resized or converted to grayscale
    notes: list = dataclasses.field(default_factory=list)

    def skip(self, file, row, reason):
        self.skipped.append((str(file), row, reason))

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        parts = []
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)} bad item(s)")
        if self.converted:
            parts.append(f"converted {self.converted} image(s) to 48x48 grayscale")
        parts.extend(self.notes)
        return "; ".join(parts) if parts else "no problems"


@dataclasses.dataclass
class Dataset:
    """48x48 grayscale faces with FER2013 labels (0 angry .. 6 neutral).

    `splits` holds one code per image (0 train, 1 val, 2 test). `masks` and `params`
    are only set for the generated dataset: a per-pixel bit field of expression regions
    (see fer.data.synthetic.REGION_BITS) and the drawing parameters.
    """

    images: np.ndarray  # uint8 (N, 48, 48)
    labels: np.ndarray  # int64 (N,)
    splits: np.ndarray  # uint8 (N,)
    fingerprint: str
    origin: str
    name: str = "dataset"
    class_names: tuple = CLASS_NAMES
    report: LoadReport = dataclasses.field(default_factory=LoadReport)
    masks: Optional[np.ndarray] = None  # uint8 (N, 48, 48) bit field, generated data only
    params: Optional[dict] = None  # name -> array (N,), generated data only

    def __post_init__(self):
        n = len(self.images)
        if self.images.shape[1:] != (48, 48) or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N,48,48), got {self.images.dtype} {self.images.shape}")
        if len(self.labels) != n or len(self.splits) != n:
            raise ValueError("images, labels and splits must have the same length")

    @property
    def is_synthetic(self) -> bool:
        return self.masks is not None

    def indices(self, split: str) -> np.ndarray:
        """Indices of the images in `split` ('train', 'val' or 'test')."""
        return np.flatnonzero(self.splits == SPLITS.index(split))

    def split(self, split: str):
        """(images, labels) of one split."""
        idx = self.indices(split)
        return self.images[idx], self.labels[idx]

    def counts(self):
        """pandas DataFrame: rows = classes, columns = splits, values = image counts."""
        import pandas as pd

        table = {
            s: np.bincount(self.labels[self.splits == i], minlength=len(self.class_names))
            for i, s in enumerate(SPLITS)
        }
        return pd.DataFrame(table, index=list(self.class_names))
