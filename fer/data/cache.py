"""Compressed on-disk cache of loaded datasets (one `.npz` per source + split settings).

Keys are cheap: a file source is keyed by its real path, size and mtime; a folder source by
the sorted relative paths, sizes and mtimes of everything the scan saw. Writes are atomic
(temp file + os.replace); a file that cannot be read back is treated as a miss and rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from fer import settings
from fer.data.dataset import Dataset, LoadReport

CACHE_VERSION = 1  # bump when a loader's output for the same input changes


def default_cache_dir() -> Path:
    return settings.cache_dir()


def file_signature(path) -> str:
    st = os.stat(path)
    return f"file:{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"


def listing_signature(listing) -> str:
    """Hash of an iterable of (relative path, size, mtime_ns) tuples, order-independent."""
    h = hashlib.sha256()
    for rel, size, mtime in sorted(listing):
        h.update(f"{rel}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return "listing:" + h.hexdigest()


def make_key(kind: str, path, signature: str, *, seed: int, val_fraction: float, test_fraction: float) -> str:
    text = json.dumps(
        [CACHE_VERSION, kind, os.path.realpath(path), signature, int(seed), float(val_fraction), float(test_fraction)]
    )
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def cache_file(cache_dir, name: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "data"
    return Path(cache_dir) / f"{safe}-{key[:24]}.npz"


def dataset_fingerprint(images: np.ndarray, labels: np.ndarray, splits: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(splits, dtype=np.uint8).tobytes())
    return h.hexdigest()[:16]


def read(path, key: str):
    """Return (Dataset or None, status) with status 'hit', 'miss' or 'corrupt'."""
    path = Path(path)
    if not path.is_file():
        return None, "miss"
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"][()]) != key:
                return None, "corrupt"
            images = np.ascontiguousarray(z["images"])
            labels = np.ascontiguousarray(z["labels"])
            splits = np.ascontiguousarray(z["splits"])
            meta = json.loads(str(z["meta"][()]))
        if (
            images.dtype != np.uint8
            or images.ndim != 3
            or images.shape[1:] != (48, 48)
            or labels.dtype != np.int64
            or splits.dtype != np.uint8
            or labels.shape != (len(images),)
            or splits.shape != (len(images),)
        ):
            return None, "corrupt"
        # zip's CRC-32 already caught damaged bytes; the stored fingerprint saves a re-hash
        fingerprint = str(meta["fingerprint"])
        if not fingerprint:
            return None, "corrupt"
        rep = meta.get("report", {})
        report = LoadReport(
            skipped=[tuple(s) for s in rep.get("skipped", [])],
            converted=int(rep.get("converted", 0)),
            notes=list(rep.get("notes", [])),
        )
        ds = Dataset(
            images=images,
            labels=labels,
            splits=splits,
            fingerprint=fingerprint,
            origin=str(meta["origin"]),
            name=str(meta["name"]),
            report=report,
        )
        return ds, "hit"
    except Exception:  # any unreadable / truncated / tampered file is just a miss to rebuild
        return None, "corrupt"


def write(path, key: str, ds: Dataset) -> None:
    """Atomically write `ds` to `path`; raises OSError if the directory is not writable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "fingerprint": ds.fingerprint,
        "origin": ds.origin,
        "name": ds.name,
        "report": {
            "skipped": [list(s) for s in ds.report.skipped],
            "converted": int(ds.report.converted),
            "notes": list(ds.report.notes),
        },
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f,
                images=np.ascontiguousarray(ds.images, dtype=np.uint8),
                labels=np.ascontiguousarray(ds.labels, dtype=np.int64),
                splits=np.ascontiguousarray(ds.splits, dtype=np.uint8),
                key=np.array(key),
                meta=np.array(json.dumps(meta)),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
