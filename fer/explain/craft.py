"""Concepts found in a class, not given: a CRAFT-style factorisation (Fel et al. 2023).

    found = discover(model, faces_of_the_class, class_index)   # Discovered: concepts, importance, maps

The class's faces are run to the layer Grad-CAM reads; every position of every face's feature map
is one row of activations (its negative part dropped: the factorisation needs non-negative data),
and non-negative matrix factorisation writes each row as a mix of a few concepts, each a direction
in the layer's channels. A concept is shown by the faces that hold most of it, with where on each
face it sits (its coefficient at each position, upsampled to the face). Its importance is the
first-order change of the class's log-probability when it is removed from the activations: the
gradient there, dotted with the concept's part of them, averaged over the faces (CRAFT measures it
with Sobol indices; the gradient's estimate costs one backward pass).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

N_CONCEPTS = 5
CRAFT_FACES = 300  # a class's first test faces: enough for the factorisation, seconds on FER2013


@dataclasses.dataclass
class Discovered:
    """`n` concepts of one class at one layer, most important first."""

    layer: str
    importance: np.ndarray  # (n,) mean first-order drop of the class's log-probability without the concept
    share: np.ndarray  # (n,) each importance over the sum of their absolute values
    top_faces: np.ndarray  # (n, k) indices into the faces given, the most of the concept first
    maps: np.ndarray  # (n, k, 48, 48) in [0,1]: where on each of those faces the concept sits
    channels: np.ndarray  # (n, C) each concept's direction in the layer's channels


def discoverable(model) -> bool:
    """Whether `model` has a conv layer to factorise: a DNN's activations have no place on the face."""
    from fer.explain.saliency import prepared

    return prepared(model).cam_layer is not None


def discover(model, faces, class_index: int, n_concepts: int = N_CONCEPTS, top: int = 6, layer: Optional[str] = None,
             seed: int = 0) -> Discovered:
    """The concepts of `faces` (uint8 (N,48,48), one class) for class `class_index` at `layer`
    (default: the layer Grad-CAM reads)."""
    import cv2
    from sklearn.decomposition import NMF

    from fer.explain.concepts import _Split
    from fer.explain.saliency import prepared

    layer = layer or prepared(model).cam_layer
    split = _Split(model, layer)
    acts = np.clip(split.activations(faces), 0, None).astype(np.float64)  # (N, H*W*C)
    shape = tuple(prepared(model).linear.get_layer(layer).output.shape[1:])  # (H, W, C)
    n, (h, w, c) = len(faces), shape
    rows = acts.reshape(n * h * w, c)
    nmf = NMF(n_components=min(n_concepts, c, len(rows)), init="nndsvda", max_iter=400, random_state=seed)
    u = nmf.fit_transform(rows).reshape(n, h, w, -1)  # (N, H, W, r)
    basis = nmf.components_  # (r, C)
    grads = split.gradients(faces, class_index, log_prob=True).reshape(n, h, w, c)
    importance = np.einsum("nhwr,rc,nhwc->r", u, basis, grads) / max(n, 1)
    order = np.argsort(-importance)
    total = float(np.abs(importance).sum()) or 1.0
    amount = u.sum(axis=(1, 2))  # (N, r): how much of each concept each face holds
    top_faces = np.argsort(-amount, axis=0, kind="stable")[:top].T[order]  # (r, k)
    maps = np.zeros((len(order), top_faces.shape[1], 48, 48), np.float32)
    for i, concept in enumerate(order):
        for j, face in enumerate(top_faces[i]):
            m = cv2.resize(u[face, :, :, concept].astype(np.float32), (48, 48), interpolation=cv2.INTER_LINEAR)
            maps[i, j] = m / m.max() if m.max() > 0 else m
    return Discovered(layer, importance[order], importance[order] / total, top_faces, maps, basis[order])
