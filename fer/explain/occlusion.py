"""Maps that need only predictions, so they work for every artefact of the size ladder and every
imported model, TFLite and ONNX included (no gradients there):

- occlusion (Zeiler & Fergus, 2014): how much a class's probability drops when a grey patch hides
  each part of the face; the Compression page uses it to ask whether quantising or pruning a model
  moves where it looks;
- RISE (Petsiuk et al., 2018): the face seen through many random smooth masks, each mask weighted
  by the class probability the model gives the masked face.

    maps = occlusion_maps(model_or_tflite, faces, class_index)    # (N,48,48) in [0,1]
    maps = rise_maps(model_or_tflite, faces, class_index)
"""
from __future__ import annotations

import functools

import numpy as np


def _positions(patch: int, stride: int) -> list:
    starts = list(range(0, 48 - patch + 1, stride))
    if starts[-1] != 48 - patch:
        starts.append(48 - patch)
    return [(y, x) for y in starts for x in starts]


def occlusion_maps(model_like, images, class_index, patch: int = 8, stride: int = 4, batch_size: int = 512,
                   predict=None) -> np.ndarray:
    """float32 (N,48,48), each scaled to [0,1]: the mean drop of `class_index`'s probability over
    the patches covering each pixel (a patch is filled with the face's mean grey). `predict(model,
    x)` -> (n,7) probabilities (default: `fer.evaluate.predict_proba`)."""
    from fer.evaluate import predict_proba

    if predict is None:
        def predict(model, x):
            return predict_proba(model, x, batch_size=batch_size)

    faces = np.asarray(images, np.float32).reshape(-1, 48, 48)
    cls = np.broadcast_to(np.asarray(class_index, np.int64), (len(faces),))
    pos = _positions(patch, stride)
    base = np.asarray(predict(model_like, faces))[np.arange(len(faces)), cls]
    maps = np.zeros((len(faces), 48, 48), np.float64)
    cover = np.zeros((48, 48), np.float64)
    for y, x in pos:
        cover[y:y + patch, x:x + patch] += 1
    for n, face in enumerate(faces):
        copies = np.repeat(face[None], len(pos), axis=0)
        for k, (y, x) in enumerate(pos):
            copies[k, y:y + patch, x:x + patch] = face.mean()
        drop = base[n] - np.asarray(predict(model_like, copies))[:, cls[n]]
        for k, (y, x) in enumerate(pos):
            maps[n, y:y + patch, x:x + patch] += drop[k]
    maps /= cover
    return _normalised(maps)


def _normalised(maps) -> np.ndarray:
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.0).astype(np.float32)


@functools.lru_cache(maxsize=4)
def rise_masks(count: int = 1000, cells: int = 7, keep: float = 0.5, seed: int = 0) -> np.ndarray:
    """The paper's masks, float32 (count,48,48) in [0,1]: a `cells` x `cells` grid of cells kept
    with probability `keep`, upsampled bilinearly to one cell more than the face, shifted by a
    random fraction of a cell and cropped to 48x48 (smooth edges at random places)."""
    import cv2

    rng = np.random.default_rng(seed)
    cell = int(np.ceil(48 / cells))
    side = (cells + 1) * cell
    grids = (rng.random((count, cells, cells)) < keep).astype(np.float32)
    shifts = rng.integers(0, cell, size=(count, 2))
    masks = np.empty((count, 48, 48), np.float32)
    for k in range(count):
        up = cv2.resize(grids[k], (side, side), interpolation=cv2.INTER_LINEAR)
        masks[k] = up[shifts[k, 0]:shifts[k, 0] + 48, shifts[k, 1]:shifts[k, 1] + 48]
    masks.flags.writeable = False  # cached: shared by every call
    return masks


def rise_maps(model_like, images, class_index, masks: int = 1000, keep: float = 0.5, seed: int = 0,
              batch_size: int = 500, predict=None) -> np.ndarray:
    """float32 (N,48,48), each scaled to [0,1]: sum over masks of p(class | face x mask) x mask,
    over the masks' count times `keep` (the paper's Monte Carlo estimate), with the probabilities
    centred on their mean first: the same map in expectation (it lowers every pixel by one
    constant), without the noise of the masks' uneven coverage, which swamps a model whose
    probability moves little. `predict(model, x)` ->
    (n,7) probabilities (default: `fer.evaluate.predict_proba`). The same seed gives the same masks,
    so a rerun gives the same map."""
    from fer import stopping

    if predict is None:
        from fer.evaluate import predict_proba as predict
    faces = np.asarray(images, np.float32).reshape(-1, 48, 48)
    cls = np.broadcast_to(np.asarray(class_index, np.int64), (len(faces),))
    m = rise_masks(masks, keep=keep, seed=seed)
    flat = m.reshape(len(m), -1).astype(np.float64)
    maps = np.zeros((len(faces), 48 * 48), np.float64)
    for n, face in enumerate(faces):
        probs = np.zeros(len(m), np.float64)
        for i in range(0, len(m), batch_size):
            stopping.check()
            probs[i:i + batch_size] = np.asarray(predict(model_like, face[None] * m[i:i + batch_size]))[:, cls[n]]
        maps[n] = (probs - probs.mean()) @ flat
    return _normalised(maps.reshape(-1, 48, 48) / (len(m) * keep))
