"""Occlusion maps (Zeiler & Fergus, 2014): how much a class's probability drops when a grey patch
hides each part of the face. They need only predictions, so they work for every artefact of the
size ladder, TFLite files included (no gradients there): the Compression page uses them to ask
whether quantising or pruning a model moves where it looks.

    maps = occlusion_maps(model_or_tflite, faces, class_index)    # (N,48,48) in [0,1]
"""
from __future__ import annotations

import numpy as np


def _positions(patch: int, stride: int) -> list:
    starts = list(range(0, 48 - patch + 1, stride))
    if starts[-1] != 48 - patch:
        starts.append(48 - patch)
    return [(y, x) for y in starts for x in starts]


def occlusion_maps(model_like, images, class_index, patch: int = 8, stride: int = 4, batch_size: int = 512) -> np.ndarray:
    """float32 (N,48,48), each scaled to [0,1]: the mean drop of `class_index`'s probability over
    the patches covering each pixel (a patch is filled with the face's mean grey)."""
    from fer.evaluate import predict_proba

    faces = np.asarray(images, np.float32).reshape(-1, 48, 48)
    cls = np.broadcast_to(np.asarray(class_index, np.int64), (len(faces),))
    pos = _positions(patch, stride)
    base = predict_proba(model_like, faces)[np.arange(len(faces)), cls]
    maps = np.zeros((len(faces), 48, 48), np.float64)
    cover = np.zeros((48, 48), np.float64)
    for y, x in pos:
        cover[y:y + patch, x:x + patch] += 1
    for n, face in enumerate(faces):
        copies = np.repeat(face[None], len(pos), axis=0)
        for k, (y, x) in enumerate(pos):
            copies[k, y:y + patch, x:x + patch] = face.mean()
        drop = base[n] - predict_proba(model_like, copies, batch_size=batch_size)[:, cls[n]]
        for k, (y, x) in enumerate(pos):
            maps[n, y:y + patch, x:x + patch] += drop[k]
    maps /= cover
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1), 0.0).astype(np.float32)
