"""The size ladder: every compressed form of one model, written, measured in bytes, loaded back, scored."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from fer.compress.pruning import kernel_sparsity, prune
from fer.compress.tflite import TFLiteModel, export_saved_model, tflite_convert
from fer.compress.weights import load_weights_file, save_flat, save_sparse, save_weights_npz, template_like
from fer.distill import fit_student
from fer.errors import ModelConfigError

# key -> (step name shown to people, file name)
STEPS = {
    "keras": ("Keras .keras (float32)", "model.keras"),
    "npz32": ("float32 weights (.npz)", "weights_float32.npz"),
    "npz16": ("float16 weights (.npz)", "weights_float16.npz"),
    "flat16": ("float16 flat, savez_compressed", "weights_float16_flat.npz"),
    "tflite32": ("TFLite float32", "model_float32.tflite"),
    "tflite16": ("TFLite float16", "model_float16.tflite"),
    "tflite_dynamic": ("TFLite dynamic-range int8", "model_dynamic_int8.tflite"),
    "tflite_int8": ("TFLite full int8", "model_full_int8.tflite"),
    "tflite_int8_small": ("TFLite full int8, per-tensor, names stripped", "model_full_int8_small.tflite"),
    "pruned": ("pruned {sparsity:.0%} + fine-tune, sparse float16", "pruned_sparse_float16.npz"),
    "distilled": ("distilled MobileNet w{width:g} (float16 flat)", "distilled_student_float16_flat.npz"),
}
DEFAULT_STEPS = tuple(k for k in STEPS if k != "distilled")
LADDER_COLUMNS = ("key", "step", "file", "bytes", "ratio", "smaller_x", "accuracy", "delta_points", "params",
                  "nonzero", "seconds", "note", "maps_rho")
MAP_FACES = 16  # test faces whose occlusion maps are compared with the float32 model's (fixed: the first ones)


def accuracy(model_like, images, labels) -> float:
    from fer.evaluate import predict_proba

    labels = np.asarray(labels)
    return float((predict_proba(model_like, images).argmax(1) == labels).mean()) if len(labels) else float("nan")


def _nonzero(arrays) -> int:
    return int(sum(np.count_nonzero(a) for a in arrays))


def size_ladder(model, images, labels, workdir, sparsity: float = 0.5, *, train_images=None, train_labels=None,
                representative=None, steps=DEFAULT_STEPS, prune_epochs: int = 1, prune_learning_rate: float = 1e-3,
                prune_scope: str = "global",
                distill_width: float = 0.5, distill_epochs: int = 3, student=None, max_train_images: int = 2000,
                seed: int = 0, progress: Optional[Callable[[dict], None]] = None, map_faces: int = MAP_FACES):
    """Write every compressed form of `model` under `workdir`, load each back, score it.

    images, labels: the test split (uint8 (N,48,48) or float (N,48,48,1) in 0..255).
    train_images, train_labels: for the pruning fine-tune, the int8 calibration and distillation
      (at most `max_train_images` of them, drawn with `seed`); without them pruning is not
      fine-tuned and the test images calibrate int8.
    steps: keys of STEPS to run, in ladder order ("distilled" is off by default: it trains a
      student; pass `student=` a distilled MobileNet to store and score that one instead).
    progress: called with {"step", "key", "index", "total"} before each step.
    map_faces: the first this many test faces get occlusion maps (fer.explain.occlusion) from each
      artefact as loaded back; `maps_rho` is their mean Spearman rank correlation with the float32
      model's maps of the same class (1.0: the artefact looks where the original does). 0: skip.

    Returns a pandas DataFrame, one row per step, columns LADDER_COLUMNS: bytes is
    os.path.getsize of the file written, ratio = bytes / bytes of the .keras file, smaller_x its
    inverse, accuracy is measured by running the artefact loaded back from disk, delta_points
    the difference to the in-memory float32 model in percentage points. `df.attrs` holds the
    reference accuracy, keras bytes, params, sparsity and the pruning masks' real sparsity.
    """
    import keras
    import pandas as pd

    from fer.runs import save_clean_model

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ModelConfigError(f"unknown ladder step(s) {unknown}; choose from {', '.join(STEPS)}")
    steps = [k for k in STEPS if k in steps] if "keras" in steps else ["keras", *[k for k in STEPS if k in steps]]
    labels = np.asarray(labels)
    if train_images is not None:
        train_images, train_labels = np.asarray(train_images), np.asarray(train_labels)
        if max_train_images and len(train_images) > max_train_images:
            keep = np.random.default_rng(seed).permutation(len(train_images))[:max_train_images]
            train_images, train_labels = train_images[keep], train_labels[keep]
    if representative is None:
        representative = train_images if train_images is not None else images

    reference = accuracy(model, images, labels)
    params = int(model.count_params())
    moved = _MapsMoved(model, images[:map_faces]) if map_faces else None
    rows, saved_model = [], None
    keras_bytes = None
    attrs = {"reference_accuracy": reference, "params": params, "sparsity": sparsity}

    for index, key in enumerate(steps):
        name, filename = STEPS[key]
        name = name.format(sparsity=sparsity, width=distill_width)
        path = workdir / filename
        if progress is not None:
            progress({"step": name, "key": key, "index": index, "total": len(steps)})
        start = time.time()
        note, nonzero, step_params = "", None, params
        if key == "keras":
            save_clean_model(model, path)
            loaded = keras.models.load_model(str(path), compile=False, safe_mode=True)
            acc = accuracy(loaded, images, labels)
            note = "architecture + weights, uncompiled"
        elif key in ("npz32", "npz16"):
            save_weights_npz(model, path, np.float32 if key == "npz32" else np.float16)
            loaded = load_weights_file(path, template_like(model))
            acc = accuracy(loaded, images, labels)
            note = "np.savez of get_weights()" + (" cast to float16" if key == "npz16" else "")
        elif key == "flat16":
            save_flat(model, path)
            loaded = load_weights_file(path, template_like(model))
            acc = accuracy(loaded, images, labels)
            note = "one float16 array + shape index"
        elif key.startswith("tflite"):
            if saved_model is None:
                saved_model = export_saved_model(model, workdir / "saved_model")
            mode = {"tflite32": "float32", "tflite16": "float16", "tflite_dynamic": "dynamic_int8", "tflite_int8": "full_int8",
                    "tflite_int8_small": "full_int8"}[key]
            small = key == "tflite_int8_small"
            path.write_bytes(tflite_convert(saved_model, mode, representative, per_channel=not small, strip_names=small))
            loaded = TFLiteModel(path)
            acc = accuracy(loaded, images, labels)
            note = {"float32": "", "float16": "float16 weights", "dynamic_int8": "int8 weights, float activations",
                    "full_int8": f"int8 weights + activations, {min(len(representative), 200)} calibration images, float I/O"}[mode]
            if small:
                note += "; one scale per weight tensor, no tensor names"
        elif key == "pruned":
            pruned, masks = prune(model, sparsity, train_images, train_labels, epochs=prune_epochs,
                                  learning_rate=prune_learning_rate, seed=seed, scope=prune_scope)
            attrs["kernel_sparsity"] = kernel_sparsity(pruned, masks)
            save_sparse(pruned, path)
            reloaded = loaded = load_weights_file(path, template_like(model))
            acc = accuracy(reloaded, images, labels)
            nonzero = _nonzero(reloaded.get_weights())
            tuned = f"{prune_epochs} fine-tune epoch(s)" if train_images is not None and prune_epochs else "no fine-tune"
            note = (f"kernel sparsity {attrs['kernel_sparsity']:.1%}, {tuned}, BatchNorm statistics re-estimated; "
                    "non-zero float16 + bit mask")
        elif key == "distilled":
            if student is None:
                if train_images is None:
                    raise ModelConfigError("the distilled step needs training images (or a ready student=)")
                student = fit_student(train_images, train_labels, distill_width, model, distill_epochs, seed=seed)
            save_flat(student, path)  # rebuild with build_model("mobilenet", width) + load_weights_file
            loaded = None  # another architecture: its maps are not the original's to compare
            acc = accuracy(load_weights_file(path, template_like(student)), images, labels)
            step_params = int(student.count_params())
            note = f"student {step_params:,} params, teacher {params:,}"
        size = os.path.getsize(path)
        if key == "keras":
            keras_bytes = size
            attrs["keras_bytes"] = size
        rows.append({"key": key, "step": name, "file": str(path), "bytes": int(size),
                     "ratio": size / keras_bytes, "smaller_x": keras_bytes / size, "accuracy": acc,
                     "delta_points": 100 * (acc - reference), "params": step_params,
                     "nonzero": nonzero if nonzero is not None else step_params,
                     "seconds": round(time.time() - start, 2), "note": note,
                     "maps_rho": moved(loaded) if moved is not None and loaded is not None else float("nan")})
    if saved_model is not None:
        shutil.rmtree(saved_model, ignore_errors=True)
    df = pd.DataFrame(rows, columns=list(LADDER_COLUMNS))
    df.attrs.update(attrs)
    return df


class _MapsMoved:
    """How far an artefact's occlusion maps moved from the float32 model's, on fixed faces."""

    def __init__(self, model, faces):
        from fer.evaluate import predict_proba
        from fer.explain.occlusion import occlusion_maps

        self.faces = faces
        self.classes = predict_proba(model, faces).argmax(1) if len(faces) else np.zeros(0, int)
        self.reference = occlusion_maps(model, faces, self.classes) if len(faces) else None

    def __call__(self, loaded) -> float:
        from fer.explain.aggregate import spearman
        from fer.explain.occlusion import occlusion_maps

        if self.reference is None:
            return float("nan")
        rho = spearman(self.reference, occlusion_maps(loaded, self.faces, self.classes))
        return float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")


def format_bytes(n) -> str:
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# ----------------------------------------------------------------------------------------------
# the ladder the Compression page and `python -m fer compress` show: two parts, so that moving
# the sparsity only redoes the pruning step


def base_ladder(model, dataset, workdir):
    """Every step that does not depend on the sparsity (Keras, .npz, TFLite), on `dataset`'s test split."""
    x_test, y_test = dataset.split("test")
    x_train, _ = dataset.split("train")
    steps = tuple(k for k in DEFAULT_STEPS if k != "pruned")
    return size_ladder(model, x_test, y_test, workdir, steps=steps, representative=x_train[:200])


def pruned_rows(model, dataset, workdir, sparsity: float):
    """(the pruning step's row at `sparsity`, the real kernel sparsity)."""
    x_test, y_test = dataset.split("test")
    x_train, y_train = dataset.split("train")
    df = size_ladder(model, x_test, y_test, workdir, sparsity=sparsity, steps=("keras", "pruned"),
                     train_images=x_train, train_labels=y_train, max_train_images=1000)
    return df[df["key"] == "pruned"], df.attrs.get("kernel_sparsity")


def join_ladder(base, pruned, sparsity: float, kernel_sparsity):
    """One table: the base steps, then the pruned row; ratios against the .keras file."""
    import pandas as pd

    keras_bytes = base.attrs["keras_bytes"]
    df = pd.concat([base, pruned], ignore_index=True)
    df["ratio"], df["smaller_x"] = df["bytes"] / keras_bytes, keras_bytes / df["bytes"]
    df.attrs.update(base.attrs, sparsity=sparsity, kernel_sparsity=kernel_sparsity)
    return df


def full_ladder(model, dataset, workdir, sparsity: float = 0.5):
    """The Compression page's whole ladder for one model, data set and sparsity."""
    workdir = Path(workdir)
    base = base_ladder(model, dataset, workdir / "base")
    pruned, real = pruned_rows(model, dataset, workdir / f"s{round(sparsity * 100):02d}", sparsity)
    return join_ladder(base, pruned, sparsity, real)
