"""How small can a facial-expression model get? The size ladder, pruning and distillation.

    from fer.compress import size_ladder
    table = size_ladder(model, x_test, y_test, "/tmp/ladder", sparsity=0.5,
                        train_images=x_train, train_labels=y_train)

Every step of the ladder writes one artefact to disk, measures its exact size in bytes
(`os.path.getsize`), loads it back and runs it on the test images; nothing is estimated.

Artefacts and how they load back (every `.npz` loads with `allow_pickle=False`):

==================  ====================================================================
key                 file
==================  ====================================================================
keras               `model.keras`, uncompiled, no optimizer state (`keras.models.load_model`)
npz32               `weights_float32.npz`: `get_weights()` as w000, w001, ... (`load_weights_file`)
npz16               `weights_float16.npz`: the same arrays cast to float16
flat16              `weights_float16_flat.npz`: all float16 weights in one flat array plus a
                    small shape index, `np.savez_compressed` (the course's trick)
tflite32            `model_float32.tflite` (`TFLiteModel`)
tflite16            `model_float16.tflite`: float16 weights, float compute
tflite_dynamic      `model_dynamic_int8.tflite`: int8 weights, activations quantised on the fly
tflite_int8         `model_full_int8.tflite`: int8 weights and activations, calibrated on a
                    representative dataset; input and output stay float32
pruned              `pruned_sparse_float16.npz`: magnitude pruning of the Conv/Dense kernels to
                    the asked sparsity (one global threshold), a short fine-tune with the
                    masks re-applied after every step, BatchNorm statistics re-estimated,
                    then only the non-zero float16 values plus a packed bit mask, compressed
distilled           `distilled_student_float16_flat.npz`: a MobileNet student distilled from
                    the model (a CNN teacher), stored like flat16
==================  ====================================================================

The weight files hold weights only: rebuild the architecture first (`keras.models.clone_model`
of the original, or `fer.models.build_model(arch, width, **options)` from the run's `run.json`)
and load into it with `load_weights_file(path, template)`.
No Streamlit here; the Compression page and `bench/compression_ladder.py` call this module.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np

KERNEL_LAYERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense")
TFLITE_MODES = ("float32", "float16", "dynamic_int8", "full_int8")

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
    "pruned": ("pruned {sparsity:.0%} + fine-tune, sparse float16", "pruned_sparse_float16.npz"),
    "distilled": ("distilled MobileNet w{width:g} (float16 flat)", "distilled_student_float16_flat.npz"),
}
DEFAULT_STEPS = tuple(k for k in STEPS if k != "distilled")
LADDER_COLUMNS = ("key", "step", "file", "bytes", "ratio", "smaller_x", "accuracy", "delta_points", "params",
                  "nonzero", "seconds", "note")


# --------------------------------------------------------------------------------------------
# weights in .npz files


def _weights(model) -> list:
    return [np.asarray(w) for w in model.get_weights()]


def template_like(model):
    """A fresh model with the same architecture (new weights), rebuilt from the model config.

    Not `clone_model`: that also copies the compile config, whose loss may be a local function
    (`fer.distill.distillation_loss`) that cannot be deserialized.
    """
    import keras

    return keras.Model.from_config(model.get_config())


def float16_cast(model):
    """The reference for every float16 artefact: a copy whose weights went float32 -> float16 -> float32."""
    clone = template_like(model)
    clone.set_weights([w.astype(np.float16).astype(np.float32) for w in _weights(model)])
    return clone


def _shape_index(arrays):
    ndims = np.array([a.ndim for a in arrays], np.uint8)
    dims = np.array([d for a in arrays for d in a.shape], np.int32)
    return ndims, dims


def _shapes_from_index(ndims, dims):
    shapes, at = [], 0
    for n in ndims.tolist():
        shapes.append(tuple(int(d) for d in dims[at : at + n]))
        at += n
    if at != len(dims):
        raise ValueError("corrupt shape index: dimensions left over")
    return shapes


def save_weights_npz(model, path, dtype=np.float32) -> Path:
    """Every weight array (`get_weights()` order) as w000, w001, ... in an uncompressed .npz."""
    path = Path(path)
    np.savez(path, **{f"w{i:03d}": w.astype(dtype) for i, w in enumerate(_weights(model))})
    return path


def save_flat(model, path, dtype=np.float16) -> Path:
    """The course's trick: all weights cast and concatenated into ONE array, plus a shape index
    (`ndims`: uint8 per array, `dims`: int32 of all dimensions), stored with `np.savez_compressed`."""
    path = Path(path)
    arrays = _weights(model)
    ndims, dims = _shape_index(arrays)
    flat = np.concatenate([a.astype(dtype).ravel() for a in arrays]) if arrays else np.zeros(0, dtype)
    np.savez_compressed(path, weights=flat, ndims=ndims, dims=dims)
    return path


def save_sparse(model, path, dtype=np.float16) -> Path:
    """Sparse storage for pruned models: the flat float16 weights' non-zero values, a packed bit
    mask of where they go (1 bit per weight), and the shape index, with `np.savez_compressed`."""
    path = Path(path)
    arrays = _weights(model)
    ndims, dims = _shape_index(arrays)
    flat = np.concatenate([a.astype(dtype).ravel() for a in arrays]) if arrays else np.zeros(0, dtype)
    mask = flat != 0
    np.savez_compressed(path, values=flat[mask], mask=np.packbits(mask), size=np.array([flat.size], np.int64),
                        ndims=ndims, dims=dims)
    return path


def read_weights_file(path) -> list:
    """float32 weight arrays from any .npz written above (format told by the keys inside)."""
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        if "weights" in keys and "ndims" in keys:  # flat
            flat = data["weights"].astype(np.float32)
            shapes = _shapes_from_index(data["ndims"], data["dims"])
        elif "values" in keys and "mask" in keys:  # sparse
            size = int(data["size"][0])
            mask = np.unpackbits(data["mask"], count=size).astype(bool)
            flat = np.zeros(size, np.float32)
            flat[mask] = data["values"].astype(np.float32)
            shapes = _shapes_from_index(data["ndims"], data["dims"])
        elif keys and all(k.startswith("w") and k[1:].isdigit() for k in keys):
            return [data[k].astype(np.float32) for k in sorted(keys, key=lambda k: int(k[1:]))]
        else:
            raise ValueError(f"{path}: not a weights file of fer.compress (keys: {', '.join(sorted(keys)) or 'none'})")
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise ValueError(f"{path}: shape index wants {sum(sizes)} values, file holds {flat.size}")
    out, at = [], 0
    for shape, n in zip(shapes, sizes):
        out.append(flat[at : at + n].reshape(shape))
        at += n
    return out


def load_weights_file(path, template):
    """Load a weights .npz into `template` (a model of the same architecture) and return it."""
    arrays = read_weights_file(path)
    expected = [tuple(w.shape) for w in template.get_weights()]
    got = [tuple(a.shape) for a in arrays]
    if expected != got:
        raise ValueError(f"{path}: weights do not fit this architecture ({len(got)} arrays vs {len(expected)} expected"
                         + (f"; first mismatch {next((g, e) for g, e in zip(got, expected) if g != e)}" if len(got) == len(expected) else "")
                         + ")")
    template.set_weights(arrays)
    return template


# --------------------------------------------------------------------------------------------
# TFLite


def export_saved_model(model, directory) -> Path:
    """`model.export(..., format="tf_saved_model")`: the route TFLite takes from Keras 3
    (`TFLiteConverter.from_keras_model` does not work on Keras 3 models)."""
    directory = Path(directory)
    shutil.rmtree(directory, ignore_errors=True)
    with _quiet():
        model.export(str(directory), format="tf_saved_model", verbose=False)
    return directory


def tflite_convert(saved_model_dir, mode: str = "float32", representative=None, calibration: int = 200,
                   int8_io: bool = False) -> bytes:
    """Convert a SavedModel to a TFLite flatbuffer.

    mode: float32 | float16 (float16 weights) | dynamic_int8 (int8 weights, dynamic-range) |
    full_int8 (int8 weights and activations calibrated on `representative`, uint8 or float
    images (N,48,48[,1]) in 0..255; input and output stay float32 so callers need not quantise,
    unless `int8_io=True`, for integer-only devices: then `TFLiteModel` quantises the input with
    the input tensor's scale and zero point and dequantises the output).
    """
    import tensorflow as tf

    if mode not in TFLITE_MODES:
        raise ValueError(f"unknown TFLite mode {mode!r}; choose one of {', '.join(TFLITE_MODES)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "full_int8":
        if representative is None or len(representative) == 0:
            raise ValueError("full-integer quantisation needs representative images")
        from fer.evaluate import as_model_input

        rep = as_model_input(representative[:calibration])

        def gen():
            for i in range(len(rep)):
                yield [rep[i : i + 1]]

        converter.representative_dataset = gen
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    with _quiet():
        return converter.convert()


class TFLiteModel:
    """A .tflite file run with the TFLite interpreter, callable like a Keras model:
    `TFLiteModel(path)(x)` -> (N,7) float32 probabilities, so `fer.evaluate.predict_proba` works."""

    def __init__(self, path_or_bytes, batch_size: int = 256, num_threads: Optional[int] = None):
        import tensorflow as tf

        kwargs = {"model_content": path_or_bytes} if isinstance(path_or_bytes, (bytes, bytearray)) else {"model_path": str(path_or_bytes)}
        with _quiet():
            self.interpreter = tf.lite.Interpreter(**kwargs, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.batch_size = batch_size
        self._batch = None

    def _resize(self, n):
        if self._batch != n:
            self.interpreter.resize_tensor_input(self.input["index"], [n, *self.input["shape"][1:]])
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            self._batch = n

    def _run(self, x):
        self._resize(len(x))
        dtype = self.input["dtype"]
        if dtype != np.float32:  # a quantised input: quantise with the tensor's scale / zero point
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output["index"])
        if out.dtype != np.float32:
            scale, zero = self.output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return np.array(out, np.float32)

    def __call__(self, x, training=False):
        x = np.asarray(x, np.float32)
        if len(x) == 0:
            return np.zeros((0, int(self.output["shape"][-1])), np.float32)
        return np.concatenate([self._run(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)])

    predict = __call__


# --------------------------------------------------------------------------------------------
# BatchNorm statistics


def recalibrate_batchnorm(model, images, batches: int = 10, batch_size: int = 128, seed: int = 0):
    """Re-estimate every BatchNormalization layer's moving mean/variance on `images`.

    After a short training (or pruning), the moving averages (momentum 0.99) still remember the
    old activations and the model scores far below what its weights can do; this replaces them
    with the average of `batches` batch statistics (forward passes only, dropout off, no
    weight update). Returns the model (changed in place).
    """
    import keras

    from fer.evaluate import as_model_input

    layers = list(_all_layers(model))
    bns = [l for l in layers if isinstance(l, keras.layers.BatchNormalization) and l.trainable]
    if not bns or images is None or len(images) == 0:
        return model
    drops = [l for l in layers if isinstance(l, keras.layers.Dropout)]
    x = as_model_input(images)
    order = np.random.default_rng(seed).permutation(len(x))
    n = max(1, min(batches, int(np.ceil(len(x) / batch_size))))
    momenta, rates = [l.momentum for l in bns], [l.rate for l in drops]
    try:
        for l in drops:
            l.rate = 0.0
        for k in range(n):
            for l in bns:
                l.momentum = k / (k + 1)  # a running average of the batch statistics
            model(x[order[k * batch_size : (k + 1) * batch_size]], training=True)
    finally:
        for l, m in zip(bns, momenta):
            l.momentum = m
        for l, r in zip(drops, rates):
            l.rate = r
    return model


# --------------------------------------------------------------------------------------------
# magnitude pruning


def prunable_layers(model) -> list:
    """Layers whose `kernel` gets pruned: Conv2D, DepthwiseConv2D, Dense (biases, BN stay dense)."""
    return [layer for layer in _all_layers(model) if type(layer).__name__ in KERNEL_LAYERS and getattr(layer, "kernel", None) is not None]


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _all_layers(layer)
        else:
            yield layer


def magnitude_masks(model, sparsity: float, scope: str = "global") -> dict:
    """{layer name: bool keep-mask} for the prunable kernels, zeroing the smallest |w|.

    scope="global": one threshold over all prunable kernels, exactly round(sparsity * total)
    zeros in all (the small, sensitive early convolutions keep more of their weights, the big
    dense layer gives up more). scope="layer": exactly round(sparsity * size) zeros in every
    kernel (uniform, but costs far more accuracy on small CNNs).
    """
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    kernels = {layer.name: np.asarray(layer.kernel.numpy()) for layer in prunable_layers(model)}
    masks = {}
    if scope == "layer":
        for name, w in kernels.items():
            keep = np.ones(w.size, bool)
            keep[np.argsort(np.abs(w).ravel(), kind="stable")[: int(round(sparsity * w.size))]] = False
            masks[name] = keep.reshape(w.shape)
        return masks
    flat = np.concatenate([np.abs(w).ravel() for w in kernels.values()]) if kernels else np.zeros(0)
    keep = np.ones(flat.size, bool)
    keep[np.argsort(flat, kind="stable")[: int(round(sparsity * flat.size))]] = False
    at = 0
    for name, w in kernels.items():
        masks[name] = keep[at : at + w.size].reshape(w.shape)
        at += w.size
    return masks


def apply_masks(model, masks: dict) -> None:
    for layer in prunable_layers(model):
        if layer.name in masks:
            layer.kernel.assign(layer.kernel.numpy() * masks[layer.name])


def kernel_sparsity(model, masks: Optional[dict] = None) -> float:
    """Fraction of exact zeros over the prunable kernels (those in `masks` when given)."""
    zeros = total = 0
    for layer in prunable_layers(model):
        if masks is not None and layer.name not in masks:
            continue
        w = layer.kernel.numpy()
        zeros += int(np.sum(w == 0))
        total += w.size
    return zeros / total if total else 0.0


def _mask_callback(masks):
    import keras

    class KeepMasks(keras.callbacks.Callback):
        """Re-apply the pruning masks after every optimizer step (and at the end)."""

        def on_train_batch_end(self, batch, logs=None):
            apply_masks(self.model, masks)

        def on_train_end(self, logs=None):
            apply_masks(self.model, masks)

    return KeepMasks()


def prune(model, sparsity: float = 0.5, images=None, labels=None, epochs: int = 1, learning_rate: float = 1e-3,
          batch_size: int = 64, seed: int = 0, recalibrate: bool = True, scope: str = "global"):
    """Magnitude-prune a copy of `model` and fine-tune it briefly with the masks held.

    Returns (pruned model, masks). Without training images it only prunes (no fine-tune).
    `scope`: see `magnitude_masks` (global by default). After the fine-tune the BatchNorm
    statistics are re-estimated on the training images (`recalibrate_batchnorm`): the pruned
    network's activations differ from the ones the moving averages remember.
    """
    import keras

    from fer.train import make_dataset

    pruned = template_like(model)
    pruned.set_weights(model.get_weights())
    masks = magnitude_masks(pruned, sparsity, scope)
    apply_masks(pruned, masks)
    if images is not None and len(images) and epochs > 0 and sparsity > 0:
        keras.utils.set_random_seed(seed)
        pruned.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy", metrics=["accuracy"])
        ds = make_dataset(images, labels, batch_size, shuffle=True, seed=seed)
        with _quiet():
            pruned.fit(ds, epochs=epochs, verbose=0, callbacks=[_mask_callback(masks)])
        apply_masks(pruned, masks)
    if recalibrate and images is not None and len(images):
        recalibrate_batchnorm(pruned, images, seed=seed)
    return pruned, masks


# --------------------------------------------------------------------------------------------
# knowledge distillation


def fit_student(images, labels, width: float = 0.5, teacher=None, epochs: int = 3, temperature: float = 4.0,
                alpha: float = 0.3, learning_rate: float = 3e-3, batch_size: int = 32, seed: int = 0, progress=None,
                recalibrate: bool = True, **options):
    """Train the registry's MobileNet at `width` (distilled from `teacher`, or alone when None).

    The loss is `fer.distill.distillation_loss`, the one `fer train --teacher` uses. Same seed,
    data order and optimizer either way, so the two differ only in the loss; both get their
    BatchNorm statistics re-estimated after the (short) fit.
    Returns the trained student (a plain functional Keras model).
    """
    import keras

    from fer import distill
    from fer.models import build_model
    from fer.train import make_dataset

    keras.utils.set_random_seed(seed)
    student = build_model("mobilenet", width, **options)
    ds = make_dataset(images, labels, batch_size, shuffle=True, seed=seed)
    if teacher is None:
        loss, metrics = keras.losses.CategoricalCrossentropy(), ["accuracy"]
    else:
        ds = distill.with_teacher(ds, teacher)
        loss, metrics = distill.distillation_loss(alpha, temperature), [distill.accuracy]
    student.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    callbacks = []
    if progress is not None:
        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                progress({"epoch": epoch + 1, "epochs": epochs, **{k: float(v) for k, v in (logs or {}).items()}})

        callbacks.append(Report())
    with _quiet():
        student.fit(ds, epochs=epochs, verbose=0, callbacks=callbacks)
    if recalibrate:
        recalibrate_batchnorm(student, images, seed=seed)
    return student


def distill_compare(teacher, train_images, train_labels, test_images, test_labels, width: float = 0.5,
                    epochs: int = 3, temperature: float = 4.0, alpha: float = 0.3, seed: int = 0,
                    max_train_images: Optional[int] = None, progress=None, **kwargs) -> dict:
    """Train the same MobileNet student alone and distilled from `teacher`; test accuracy of each.

    Returns {"teacher_accuracy", "alone_accuracy", "distilled_accuracy", "gain_points",
    "student_params", "teacher_params", "seconds_alone", "seconds_distilled", "student", "alone"}.
    """
    from fer.evaluate import predict_proba

    x, y = np.asarray(train_images), np.asarray(train_labels)
    if max_train_images and len(x) > max_train_images:
        keep = np.random.default_rng(seed).permutation(len(x))[:max_train_images]
        x, y = x[keep], y[keep]
    test_labels = np.asarray(test_labels)

    def acc(m):
        return float((predict_proba(m, test_images).argmax(1) == test_labels).mean())

    def stage(name):
        return (lambda e: progress({**e, "stage": name})) if progress else None

    start = time.time()
    alone = fit_student(x, y, width, None, epochs, seed=seed, progress=stage("alone"), **kwargs)
    t_alone = time.time() - start
    start = time.time()
    student = fit_student(x, y, width, teacher, epochs, temperature, alpha, seed=seed, progress=stage("distilled"), **kwargs)
    t_distilled = time.time() - start
    out = {"teacher_accuracy": acc(teacher), "alone_accuracy": acc(alone), "distilled_accuracy": acc(student),
           "student_params": int(student.count_params()), "teacher_params": int(teacher.count_params()),
           "width": width, "epochs": epochs, "temperature": temperature, "alpha": alpha, "train_images": int(len(x)),
           "seconds_alone": round(t_alone, 1), "seconds_distilled": round(t_distilled, 1), "student": student, "alone": alone}
    out["gain_points"] = 100 * (out["distilled_accuracy"] - out["alone_accuracy"])
    return out


# --------------------------------------------------------------------------------------------
# the ladder


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
                seed: int = 0, progress: Optional[Callable[[dict], None]] = None):
    """Write every compressed form of `model` under `workdir`, load each back, score it.

    images, labels: the test split (uint8 (N,48,48) or float (N,48,48,1) in 0..255).
    train_images, train_labels: for the pruning fine-tune, the int8 calibration and distillation
      (at most `max_train_images` of them, drawn with `seed`); without them pruning is not
      fine-tuned and the test images calibrate int8.
    steps: keys of STEPS to run, in ladder order ("distilled" is off by default: it trains a
      student; pass `student=` a distilled MobileNet to store and score that one instead).
    progress: called with {"step", "key", "index", "total"} before each step.

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
        raise ValueError(f"unknown ladder step(s) {unknown}; choose from {', '.join(STEPS)}")
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
            acc = accuracy(load_weights_file(path, template_like(model)), images, labels)
            note = "np.savez of get_weights()" + (" cast to float16" if key == "npz16" else "")
        elif key == "flat16":
            save_flat(model, path)
            acc = accuracy(load_weights_file(path, template_like(model)), images, labels)
            note = "one float16 array + shape index"
        elif key.startswith("tflite"):
            if saved_model is None:
                saved_model = export_saved_model(model, workdir / "saved_model")
            mode = {"tflite32": "float32", "tflite16": "float16", "tflite_dynamic": "dynamic_int8", "tflite_int8": "full_int8"}[key]
            path.write_bytes(tflite_convert(saved_model, mode, representative))
            acc = accuracy(TFLiteModel(path), images, labels)
            note = {"float32": "", "float16": "float16 weights", "dynamic_int8": "int8 weights, float activations",
                    "full_int8": f"int8 weights + activations, {min(len(representative), 200)} calibration images, float I/O"}[mode]
        elif key == "pruned":
            pruned, masks = prune(model, sparsity, train_images, train_labels, epochs=prune_epochs,
                                  learning_rate=prune_learning_rate, seed=seed, scope=prune_scope)
            attrs["kernel_sparsity"] = kernel_sparsity(pruned, masks)
            save_sparse(pruned, path)
            reloaded = load_weights_file(path, template_like(model))
            acc = accuracy(reloaded, images, labels)
            nonzero = _nonzero(reloaded.get_weights())
            tuned = f"{prune_epochs} fine-tune epoch(s)" if train_images is not None and prune_epochs else "no fine-tune"
            note = (f"kernel sparsity {attrs['kernel_sparsity']:.1%}, {tuned}, BatchNorm statistics re-estimated; "
                    "non-zero float16 + bit mask")
        elif key == "distilled":
            if student is None:
                if train_images is None:
                    raise ValueError("the distilled step needs training images (or a ready student=)")
                student = fit_student(train_images, train_labels, distill_width, model, distill_epochs, seed=seed)
            save_flat(student, path)  # rebuild with build_model("mobilenet", width) + load_weights_file
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
                     "seconds": round(time.time() - start, 2), "note": note})
    if saved_model is not None:
        shutil.rmtree(saved_model, ignore_errors=True)
    df = pd.DataFrame(rows, columns=list(LADDER_COLUMNS))
    df.attrs.update(attrs)
    return df


def format_bytes(n) -> str:
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@contextlib.contextmanager
def _quiet():
    """Silence TF/TFLite deprecation chatter (tf.lite.Interpreter, converter) around a call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
