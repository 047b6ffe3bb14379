"""Weights in `.npz` files: float32 / float16 arrays, one flat float16 array, sparse float16.

Every file loads with `allow_pickle=False` into a model of the same architecture
(`template_like`, or `fer.models.build_model` from the run's `run.json`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fer.errors import WeightsFileError


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
        raise WeightsFileError("corrupt shape index: dimensions left over")
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
            raise WeightsFileError(f"{path}: not a weights file of fer.compress (keys: {', '.join(sorted(keys)) or 'none'})")
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise WeightsFileError(f"{path}: shape index wants {sum(sizes)} values, file holds {flat.size}")
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
        raise WeightsFileError(f"{path}: weights do not fit this architecture ({len(got)} arrays vs {len(expected)} expected"
                         + (f"; first mismatch {next((g, e) for g, e in zip(got, expected) if g != e)}" if len(got) == len(expected) else "")
                         + ")")
    template.set_weights(arrays)
    return template
