"""`python -m fer import`: a model trained elsewhere saved as a run, scored on a data set.

The file is read and checked (`fer.guests`: its format, input, outputs), run on a few test faces
(output count against the classes, NaNs, logits or probabilities), scored on the data set's val
and test splits and saved: a Keras guest as one Keras model with its adapter as layers
(`model.keras`), a TFLite or ONNX one as its own file beside run.json, which records the source
file's name and SHA-256 and the adapter.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from fer import CLASS_NAMES
from fer.guests import (Adapter, ImportRefused, app_model, guest_format, input_shape, layout_of, open_guest, params_of, refuse_load,
                        parse_classes, parse_range)
from fer.runs import validate_run_id

ARTEFACT_FILES = {"tflite": "model.tflite", "onnx": "model.onnx"}  # the runs that are not Keras
PROBE_FACES = 16


def _savedmodel_as_tflite(folder: Path) -> bytes:
    """A SavedModel's float32 TFLite conversion (TensorFlow's own converter)."""
    import tensorflow as tf

    from fer.quiet import quiet

    try:
        with quiet():
            return tf.lite.TFLiteConverter.from_saved_model(str(folder)).convert()
    except Exception as exc:  # noqa: BLE001 - an operator TFLite lacks: one line
        refuse_load(folder, "SavedModel (converted to TFLite)", exc)


def _probe(guest, adapter: Adapter, faces: np.ndarray, kind: str) -> Adapter:
    """Run the guest on a few faces: its output count against the classes, NaNs, logits or
    probabilities. Returns the adapter with `softmax` set."""
    x = adapter.prepare(faces)
    try:
        if kind.startswith("keras"):
            with warnings.catch_warnings():  # a Keras 2 file's model declares its input as a list of one
                warnings.simplefilter("ignore", UserWarning)
                out = guest(x, training=False)
        else:
            out = guest(x)
        out = np.asarray(out, np.float64)
    except Exception as exc:  # noqa: BLE001 - a model that fails on its own declared input
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ImportRefused(f"the model fails on faces of its declared input {x.shape[1:]} ({type(exc).__name__}: {first})") from None
    out = out.reshape(len(x), -1)
    if out.shape[1] != len(adapter.classes):
        named = "FER2013's 7 classes by default" if adapter.classes == CLASS_NAMES else f"--classes names {len(adapter.classes)}"
        raise ImportRefused(f"the model gives {out.shape[1]} outputs, {named}; name its outputs in order with --classes")
    if not np.isfinite(out).all():
        raise ImportRefused("the model gives NaN or infinite outputs on test faces; check --range (the pixel range it was trained on)")
    probabilities = (out >= -1e-6).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)
    return dataclasses.replace(adapter, softmax=not probabilities)


def import_run(store, path, run_id: str, dataset, pixel_range: Optional[str] = None, classes=None,
               title: Optional[str] = None, command: str = ""):
    """Import the model at `path` as run `run_id`, scored on `dataset`'s val and test splits."""
    from fer.evaluate import evaluate

    validate_run_id(run_id)
    if (store.root / run_id).exists():
        raise ImportRefused(f"run {run_id!r} already exists; choose another --run-id")
    path = Path(path)
    kind = guest_format(path)
    low, high = parse_range(pixel_range)
    names = parse_classes(classes)
    data = _savedmodel_as_tflite(path) if kind == "savedmodel" else path.read_bytes()
    source_sha = hashlib.sha256(data if kind != "savedmodel" else (path / "saved_model.pb").read_bytes()).hexdigest()
    runtime_kind = "tflite" if kind == "savedmodel" else kind
    guest = open_guest(path, runtime_kind, data)
    layout, size, channels = layout_of(input_shape(guest, runtime_kind))
    adapter = Adapter(size=tuple(size), channels=channels, layout=layout, low=low, high=high, classes=names)
    splits = {name: dataset.split(name) for name in ("val", "test")}
    faces = splits["test"][0] if len(splits["test"][0]) else splits["val"][0]
    adapter = _probe(guest, adapter, faces[:PROBE_FACES], runtime_kind)
    params = params_of(guest, runtime_kind, data)
    try:
        model = app_model(guest, adapter, runtime_kind)
    except Exception as exc:  # noqa: BLE001 - a graph the wrapper cannot replay: one line, not a traceback
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ImportRefused(f"{path.name}: cannot set it behind the 48x48 face's adapter ({type(exc).__name__}: {first})") from None
    scores = {name: evaluate(model, *split) for name, split in splits.items() if len(split[0])}
    scored = scores.get("test") or scores.get("val")
    meta = {
        "arch": "imported", "width": 1, "params": params,
        "description": title or f"{path.name}, imported",
        "guest": {"format": kind, "source": path.name, "source_sha256": source_sha, "adapter": adapter.as_meta()},
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "origin": str(dataset.origin),
                    **{name: int(len(split[1])) for name, split in splits.items()}},
        "val_accuracy": scores["val"]["accuracy"] if "val" in scores else None,
        "test_accuracy": scores["test"]["accuracy"] if "test" in scores else None,
        "confusion_matrix": scored["confusion_matrix"], "confusion_split": "test" if "test" in scores else "val",
        "per_class": scored["per_class"], "history": {},
        "command": command or f"python -m fer import {path} --run-id {run_id}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if runtime_kind in ARTEFACT_FILES:
        return store.save_artefact(run_id, ARTEFACT_FILES[runtime_kind], data, meta)
    return store.save(run_id, model, meta)


def import_upload(store, data: bytes, filename: str, run_id: str, dataset, pixel_range: Optional[str] = None,
                  classes=None, title: Optional[str] = None):
    """`import_run` on an uploaded file's bytes (the Models page): written under its own name in a
    temporary folder, which goes when the import ends."""
    import tempfile

    name = Path(filename or "").name
    if not name:
        raise ImportRefused("the upload has no file name; name it .keras, .h5, .hdf5, .tflite or .onnx")
    with tempfile.TemporaryDirectory(prefix="fer-import-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return import_run(store, path, run_id, dataset, pixel_range, classes, title,
                          command=f"uploaded {name} on the Models page")


def suggested_run_id(filename: str) -> str:
    """A run id made from a file name: `emotion_model.hdf5` -> `emotion_model`."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(filename or "model").stem).strip("-._") or "model"
    return stem[:100]
