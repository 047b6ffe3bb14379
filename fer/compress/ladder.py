"""The size ladder: every compressed form of one model, written, measured in bytes, loaded back, scored."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from fer.compress.pruning import kernel_sparsity, prune
from fer.compress.tflite import export_saved_model, tflite_convert
from fer.runtimes import TFLiteModel
from fer.compress.weights import load_weights_file, save_flat, save_sparse, save_weights_npz, template_like
from fer.distill import fit_student
from fer.errors import ModelConfigError

LADDER_COLUMNS = ("key", "step", "file", "bytes", "ratio", "smaller_x", "accuracy", "delta_points", "params",
                  "nonzero", "seconds", "note", "maps_rho")
MAP_FACES = 16  # test faces whose occlusion maps are compared with the float32 model's (fixed: the first ones)


def accuracy(model_like, images, labels) -> float:
    from fer.evaluate import predict_proba

    labels = np.asarray(labels)
    return float((predict_proba(model_like, images).argmax(1) == labels).mean()) if len(labels) else float("nan")


def _nonzero(arrays) -> int:
    return int(sum(np.count_nonzero(a) for a in arrays))


@dataclass(frozen=True)
class PruneOptions:
    epochs: int = 1  # fine-tune epochs after the weights are cut
    learning_rate: float = 1e-3
    scope: str = "global"  # one threshold over every kernel, or one per layer ("layer")


@dataclass(frozen=True)
class DistillOptions:
    width: float = 0.5  # the student MobileNet's width
    epochs: int = 3
    student: object = None  # a ready student to store and score instead of training one


@dataclass
class LadderJob:
    """What every step reads: the model, the test faces, the training faces (None: no fine-tune,
    the test faces calibrate int8), the options, and what one step leaves for another."""

    model: object
    workdir: Path
    sparsity: float
    train_images: object
    train_labels: object
    representative: object
    seed: int
    prune: PruneOptions
    distill: DistillOptions
    attrs: dict = field(default_factory=dict)
    _saved_model: Optional[Path] = None

    def saved_model(self) -> Path:
        """The model exported once as a SavedModel, for every TFLite step."""
        if self._saved_model is None:
            self._saved_model = export_saved_model(self.model, self.workdir / "saved_model")
        return self._saved_model

    def discard_saved_model(self) -> None:
        """The export is a means to the TFLite files, not an artefact: it is removed at the end."""
        if self._saved_model is not None:
            shutil.rmtree(self._saved_model, ignore_errors=True)
            self._saved_model = None


@dataclass
class Written:
    """A step's file loaded back: `scored` is run on the test faces; `loaded` has its maps compared
    with the float32 model's (None for another architecture)."""

    scored: object
    note: str
    loaded: object = None
    nonzero: Optional[int] = None
    params: Optional[int] = None


class Step:
    """One compressed form: `write` saves it to `path` and loads it back."""

    key, name, filename = "", "", ""

    def title(self, job: LadderJob) -> str:
        return self.name.format(sparsity=job.sparsity, width=job.distill.width)

    def write(self, job: LadderJob, path: Path) -> Written:
        raise NotImplementedError


class KerasFile(Step):
    key, name, filename = "keras", "Keras .keras (float32)", "model.keras"

    def write(self, job, path):
        import keras

        from fer.runs import save_clean_model

        save_clean_model(job.model, path)
        loaded = keras.models.load_model(str(path), compile=False, safe_mode=True)
        return Written(loaded, "architecture + weights, uncompiled", loaded)


class WeightsNpz(Step):
    def __init__(self, key, name, filename, dtype, note):
        self.key, self.name, self.filename, self.dtype, self.note = key, name, filename, dtype, note

    def write(self, job, path):
        if self.dtype is None:
            save_flat(job.model, path)
        else:
            save_weights_npz(job.model, path, self.dtype)
        loaded = load_weights_file(path, template_like(job.model))
        return Written(loaded, self.note, loaded)


class TFLiteFile(Step):
    NOTES = {"float32": "", "float16": "float16 weights", "dynamic_int8": "int8 weights, float activations",
             "full_int8": "int8 weights + activations, {n} calibration images, float I/O"}

    def __init__(self, key, name, filename, mode, small=False):
        self.key, self.name, self.filename, self.mode, self.small = key, name, filename, mode, small

    def write(self, job, path):
        path.write_bytes(tflite_convert(job.saved_model(), self.mode, job.representative, per_channel=not self.small,
                                        strip_names=self.small))
        loaded = TFLiteModel(path)
        note = self.NOTES[self.mode].format(n=min(len(job.representative), 200))
        return Written(loaded, note + ("; one scale per weight tensor, no tensor names" if self.small else ""), loaded)


class PrunedFile(Step):
    key, name, filename = "pruned", "pruned {sparsity:.0%} + fine-tune, sparse float16", "pruned_sparse_float16.npz"

    def write(self, job, path):
        o = job.prune
        pruned, masks = prune(job.model, job.sparsity, job.train_images, job.train_labels, epochs=o.epochs,
                              learning_rate=o.learning_rate, seed=job.seed, scope=o.scope)
        job.attrs["kernel_sparsity"] = kernel_sparsity(pruned, masks)
        save_sparse(pruned, path)
        loaded = load_weights_file(path, template_like(job.model))
        tuned = f"{o.epochs} fine-tune epoch(s)" if job.train_images is not None and o.epochs else "no fine-tune"
        note = (f"kernel sparsity {job.attrs['kernel_sparsity']:.1%}, {tuned}, BatchNorm statistics re-estimated; "
                "non-zero float16 + bit mask")
        return Written(loaded, note, loaded, nonzero=_nonzero(loaded.get_weights()))


class DistilledFile(Step):
    key, name, filename = "distilled", "distilled MobileNet w{width:g} (float16 flat)", "distilled_student_float16_flat.npz"

    def write(self, job, path):
        student = job.distill.student
        if student is None:
            if job.train_images is None:
                raise ModelConfigError("the distilled step needs training images (or a ready student=)")
            student = fit_student(job.train_images, job.train_labels, job.distill.width, job.model, job.distill.epochs,
                                  seed=job.seed)
        save_flat(student, path)  # rebuild with build_model("mobilenet", width) + load_weights_file
        params = int(student.count_params())
        return Written(load_weights_file(path, template_like(student)),
                       f"student {params:,} params, teacher {int(job.model.count_params()):,}", params=params)


STEPS = {s.key: s for s in (
    KerasFile(),
    WeightsNpz("npz32", "float32 weights (.npz)", "weights_float32.npz", np.float32, "np.savez of get_weights()"),
    WeightsNpz("npz16", "float16 weights (.npz)", "weights_float16.npz", np.float16,
               "np.savez of get_weights() cast to float16"),
    WeightsNpz("flat16", "float16 flat, savez_compressed", "weights_float16_flat.npz", None, "one float16 array + shape index"),
    TFLiteFile("tflite32", "TFLite float32", "model_float32.tflite", "float32"),
    TFLiteFile("tflite16", "TFLite float16", "model_float16.tflite", "float16"),
    TFLiteFile("tflite_dynamic", "TFLite dynamic-range int8", "model_dynamic_int8.tflite", "dynamic_int8"),
    TFLiteFile("tflite_int8", "TFLite full int8", "model_full_int8.tflite", "full_int8"),
    TFLiteFile("tflite_int8_small", "TFLite full int8, per-tensor, names stripped", "model_full_int8_small.tflite",
               "full_int8", small=True),
    PrunedFile(),
    DistilledFile(),
)}
DEFAULT_STEPS = tuple(k for k in STEPS if k != "distilled")


def with_ratios(df, keras_bytes):
    """`ratio` (bytes / the .keras file's) and `smaller_x` (its inverse) added to a ladder table."""
    df["ratio"], df["smaller_x"] = df["bytes"] / keras_bytes, keras_bytes / df["bytes"]
    return df


def with_row(ladder, row: dict):
    """The ladder with one more measured row (a distilled student, say): its ratios and its change
    against the float32 model computed like every other row's."""
    import pandas as pd

    attrs = dict(ladder.attrs)
    df = with_ratios(pd.concat([ladder, pd.DataFrame([row])], ignore_index=True), attrs["keras_bytes"])
    df["delta_points"] = 100 * (df["accuracy"] - attrs["reference_accuracy"])
    df.attrs.update(attrs)
    return df


def files_present(ladder) -> bool:
    """Whether every artefact the ladder lists is still on disk (temporary folders get cleaned)."""
    return all(os.path.isfile(f) for f in ladder["file"])


def work_folder(run_id: str, mtime: float, part: str) -> Path:
    """Where a run's artefacts are written for the page: one folder per model file version."""
    import tempfile

    return Path(tempfile.gettempdir()) / "fer-compress" / f"{run_id}-{int(mtime)}" / part


def _ordered_steps(steps) -> list:
    """The steps asked for, in ladder order, the .keras file first (every ratio is against it)."""
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ModelConfigError(f"unknown ladder step(s) {unknown}; choose from {', '.join(STEPS)}")
    return ["keras", *[k for k in STEPS if k in steps and k != "keras"]]


def _training_sample(train_images, train_labels, max_train_images, seed):
    if train_images is None:
        return None, None
    train_images, train_labels = np.asarray(train_images), np.asarray(train_labels)
    if max_train_images and len(train_images) > max_train_images:
        keep = np.random.default_rng(seed).permutation(len(train_images))[:max_train_images]
        train_images, train_labels = train_images[keep], train_labels[keep]
    return train_images, train_labels


def size_ladder(model, images, labels, workdir, sparsity: float = 0.5, *, train_images=None, train_labels=None,
                representative=None, steps=DEFAULT_STEPS, prune: PruneOptions = PruneOptions(),
                distill: DistillOptions = DistillOptions(), max_train_images: int = 2000, seed: int = 0,
                progress: Optional[Callable[[dict], None]] = None, map_faces: int = MAP_FACES):
    """Write every compressed form of `model` under `workdir`, load each back, score it.

    images, labels: the test split (uint8 (N,48,48) or float (N,48,48,1) in 0..255).
    train_images, train_labels: for the pruning fine-tune, the int8 calibration and distillation
      (at most `max_train_images` of them, drawn with `seed`); without them pruning is not
      fine-tuned and the test images calibrate int8.
    steps: keys of STEPS to run, in ladder order ("distilled" is off by default: it trains a
      student; pass `DistillOptions(student=...)` a distilled MobileNet to store and score that one).
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
    import pandas as pd

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keys, labels = _ordered_steps(steps), np.asarray(labels)
    train_images, train_labels = _training_sample(train_images, train_labels, max_train_images, seed)
    job = LadderJob(model, workdir, sparsity, train_images, train_labels,
                    representative if representative is not None else train_images if train_images is not None else images,
                    seed, prune, distill)
    reference, params = accuracy(model, images, labels), int(model.count_params())
    job.attrs.update(reference_accuracy=reference, params=params, sparsity=sparsity)
    moved = _MapsMoved(model, images[:map_faces]) if map_faces else None
    rows = []
    for index, key in enumerate(keys):
        step = STEPS[key]
        if progress is not None:
            progress({"step": step.title(job), "key": key, "index": index, "total": len(keys)})
        start, path = time.time(), workdir / step.filename
        written = step.write(job, path)
        acc = accuracy(written.scored, images, labels)
        rows.append({"key": key, "step": step.title(job), "file": str(path), "bytes": int(os.path.getsize(path)),
                     "accuracy": acc, "delta_points": 100 * (acc - reference), "params": written.params or params,
                     "nonzero": written.nonzero if written.nonzero is not None else written.params or params,
                     "seconds": round(time.time() - start, 2), "note": written.note,
                     "maps_rho": moved(written.loaded) if moved is not None and written.loaded is not None else float("nan")})
    job.discard_saved_model()
    job.attrs["keras_bytes"] = rows[0]["bytes"]
    df = with_ratios(pd.DataFrame(rows, columns=list(LADDER_COLUMNS)), rows[0]["bytes"])
    df.attrs.update(job.attrs)
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

    df = with_ratios(pd.concat([base, pruned], ignore_index=True), base.attrs["keras_bytes"])
    df.attrs.update(base.attrs, sparsity=sparsity, kernel_sparsity=kernel_sparsity)
    return df


def full_ladder(model, dataset, workdir, sparsity: float = 0.5):
    """The Compression page's whole ladder for one model, data set and sparsity."""
    workdir = Path(workdir)
    base = base_ladder(model, dataset, workdir / "base")
    pruned, real = pruned_rows(model, dataset, workdir / f"s{round(sparsity * 100):02d}", sparsity)
    return join_ladder(base, pruned, sparsity, real)
