"""Results fixed by a run's model file and a data set, kept beside the run as compressed arrays.

A shipped run's test-split probabilities and class maps are the same on every machine, yet a fresh
server computed them for minutes before the Evaluate, Compare and Class maps pages could show
anything. `keep_arrays` writes them once into the run's `kept/` folder, keyed by the model file's
SHA-256, the data set's fingerprint and whatever settings produced them; `kept_arrays` returns them
only while every part of that key still matches, so a retrained run or other data is computed
afresh, never served stale.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Optional

import numpy as np

from fer.runs import atomic_write_bytes, model_sha256

KEPT_DIR = "kept"
_KEY = "__key__"


def kept_path(run_path: Path, name: str) -> Path:
    return Path(run_path) / KEPT_DIR / f"{name}.npz"


def _full_key(run_path: Path, key: dict) -> str:
    return json.dumps({"model_sha256": model_sha256(run_path), **key}, sort_keys=True)


def keep_arrays(run_path: Path, name: str, key: dict, **arrays) -> Path:
    """Write `arrays` as `kept/<name>.npz` (atomically), keyed by the model file and `key`."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{_KEY: np.array(_full_key(run_path, key))}, **arrays)
    path = kept_path(run_path, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def kept_arrays(run_path: Path, name: str, key: dict) -> Optional[dict]:
    """The arrays kept as `name` for this model file and `key`, or None (none kept, another key,
    or an unreadable file)."""
    path = kept_path(run_path, name)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if _KEY not in data.files or str(data[_KEY]) != _full_key(run_path, key):
                return None
            return {k: data[k] for k in data.files if k != _KEY}
    except (OSError, ValueError, KeyError):
        return None
