"""Explanations of a data set, not one face: class maps, confusion-cell maps, model agreement and
filter exemplars.

    maps = face_maps(model, x_test, "Grad-CAM")                 # (N,48,48), each face's predicted class
    cls = class_maps(maps, y_test)                              # mean and spread per true class
    cells = cell_maps(maps, y_test, predicted)                  # per (true, predicted) cell
    table = agreement(maps_cnn, maps_mobilenet)                 # per face: Spearman, top-10% overlap
    ex = filter_exemplars(model, "block1_conv1", x_test, k=9)   # the test faces that drive each filter

Every function takes arrays and returns arrays or DataFrames (no Streamlit, no files): the pages
and `python -m fer explain` (fer.explain.report) draw and write them.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from fer import stopping

N_CLASSES = 7


def face_maps(model, images, method: str, class_index=None, options: Optional[dict] = None,
              chunk: int = 512) -> np.ndarray:
    """`method`'s map of every face (float16 (N,48,48), to keep 3,589 faces at 16 MB) for
    `class_index` (one per face; default: each face's predicted class)."""
    from fer.explain import METHODS, predict

    explainer = METHODS[method]
    images = np.asarray(images)
    if class_index is None:
        class_index = np.concatenate([predict(model, images[i:i + chunk]).argmax(1)
                                      for i in range(0, len(images), chunk)]) if len(images) else np.zeros(0, int)
    class_index = np.broadcast_to(np.asarray(class_index, np.int64), (len(images),))
    picked = explainer.pick(options or {})
    out = np.zeros((len(images), 48, 48), np.float16)
    for i in range(0, len(images), chunk):
        out[i:i + chunk] = explainer(model, images[i:i + chunk], class_index[i:i + chunk], **picked)
    return out


def per_class_sample(labels, per_class: Optional[int], seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `per_class` faces of each class, drawn without replacement with
    a fixed seed (the same faces on every call); all faces when `per_class` is None.

    Why: a forward-only method (occlusion, RISE) costs a hundred predictions or more per face, too
    many for every face of a large split; a class's mean map needs far fewer faces than that."""
    labels = np.asarray(labels, np.int64)
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = [rng.choice(members, size=min(int(per_class), len(members)), replace=False)
              for members in (np.flatnonzero(labels == c) for c in np.unique(labels))]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


@dataclasses.dataclass
class GroupMaps:
    """Mean map, per-pixel standard deviation and mean face of each group of faces (float32),
    with the group sizes; a group without faces has NaN maps and count 0."""

    mean: np.ndarray
    std: np.ndarray
    mean_face: np.ndarray
    count: np.ndarray


def _group(maps, images, groups: np.ndarray, shape: tuple) -> GroupMaps:
    n = int(np.prod(shape))
    mean = np.full((n, 48, 48), np.nan, np.float32)
    std = np.full((n, 48, 48), np.nan, np.float32)
    face = np.full((n, 48, 48), np.nan, np.float32)
    count = np.zeros(n, np.int64)
    for g in range(n):
        members = np.flatnonzero(groups == g)
        count[g] = len(members)
        if len(members):
            m = np.asarray(maps[members], np.float32)
            mean[g], std[g] = m.mean(0), m.std(0)
            if images is not None:
                face[g] = np.asarray(images[members], np.float32).mean(0)
    return GroupMaps(mean.reshape(*shape, 48, 48), std.reshape(*shape, 48, 48), face.reshape(*shape, 48, 48),
                     count.reshape(shape))


def class_maps(maps, labels, images=None, n_classes: int = N_CLASSES) -> GroupMaps:
    """Per true class (7): the mean map, its per-pixel spread and the mean face."""
    return _group(maps, images, np.asarray(labels, np.int64), (n_classes,))


def cell_maps(maps, labels, predicted, images=None, n_classes: int = N_CLASSES) -> GroupMaps:
    """Per confusion cell (7x7, rows true, columns predicted), aligned with the confusion matrix."""
    cells = np.asarray(labels, np.int64) * n_classes + np.asarray(predicted, np.int64)
    return _group(maps, images, cells, (n_classes, n_classes))


def region_share(mean_maps, masks_by_class) -> np.ndarray:
    """Share of each class map's energy inside its class's ground-truth region (generated faces)."""
    m = np.nan_to_num(np.asarray(mean_maps, np.float64))
    inside = (m * masks_by_class).sum(axis=(1, 2))
    total = m.sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def class_region_masks(dataset, labels, faces=None) -> np.ndarray:
    """(7,48,48): the share of each class's test faces whose expression regions (brows, eyes, nose
    and cheeks, mouth: `fer.explain.measure`'s regions) cover each pixel (generated faces);
    `faces`: indices into the test split that `labels` belong to (default: all of it)."""
    masks = (np.asarray(dataset.masks)[dataset.indices("test")] != 0).astype(np.float32)
    masks = masks if faces is None else masks[faces]
    out = np.zeros((7, 48, 48), np.float32)
    for c in range(7):
        if (labels == c).any():
            out[c] = masks[labels == c].mean(0)
    return out


# ----------------------------------------------------------------------------------------------
# agreement between two models' maps of the same faces


def _ranks(flat: np.ndarray) -> np.ndarray:
    """Per-row ranks (ties broken by position: maps are continuous, ties are rare)."""
    order = np.argsort(flat, axis=1, kind="stable")
    ranks = np.empty_like(order, dtype=np.float64)
    rows = np.arange(flat.shape[0])[:, None]
    ranks[rows, order] = np.arange(flat.shape[1])[None, :]
    return ranks


def spearman(a, b) -> np.ndarray:
    """Spearman rank correlation of each pair of maps: (N,); NaN where either map is constant
    (an empty Grad-CAM map has no ranking to compare)."""
    ra = _ranks(np.asarray(a, np.float64).reshape(len(a), -1))
    rb = _ranks(np.asarray(b, np.float64).reshape(len(b), -1))
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    rho = np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1), 0.0)
    return np.where(_constant(a) | _constant(b), np.nan, rho)


def _constant(maps) -> np.ndarray:
    flat = np.asarray(maps, np.float32).reshape(len(maps), -1)
    return flat.max(1) == flat.min(1)


def top_overlap(a, b, top: float = 0.1) -> np.ndarray:
    """Share of the top `top` fraction of pixels of map a that are also in map b's: (N,); NaN
    where either map is constant."""
    fa = np.asarray(a, np.float64).reshape(len(a), -1)
    fb = np.asarray(b, np.float64).reshape(len(b), -1)
    k = max(1, int(round(top * fa.shape[1])))
    ta = np.argsort(-fa, axis=1, kind="stable")[:, :k]
    tb = np.argsort(-fb, axis=1, kind="stable")[:, :k]
    share = np.array([len(np.intersect1d(x, y, assume_unique=True)) / k for x, y in zip(ta, tb)])
    return np.where(_constant(a) | _constant(b), np.nan, share)


def agreement(maps_a, maps_b, labels=None, top: float = 0.1):
    """Per face: Spearman rank correlation and top-`top` overlap of two models' maps (NaN where
    either map is empty: means skip those faces), and with `labels` the true class ("true")."""
    import pandas as pd

    from fer import CLASS_NAMES

    frame = pd.DataFrame({"spearman": spearman(maps_a, maps_b), "top_overlap": top_overlap(maps_a, maps_b, top)})
    if labels is not None:
        frame["true"] = [CLASS_NAMES[int(c)] for c in labels]
    return frame


def agreement_per_class(frame):
    """The per-face agreement averaged per true class (rows in FER2013's class order)."""
    from fer import CLASS_NAMES

    return frame.groupby("true")[["spearman", "top_overlap"]].mean().reindex(
        [c for c in CLASS_NAMES if c in set(frame["true"])])


# ----------------------------------------------------------------------------------------------
# filter exemplars: the real faces that drive each filter


@dataclasses.dataclass
class Exemplars:
    """For each filter of a layer: its top-k faces (indices into the images given, highest first),
    their activations (the filter's mean output over the layer's positions), and each one's
    most active position mapped to a patch of the face (its receptive field, clipped to 48x48)."""

    layer: str
    indices: np.ndarray  # (F, k)
    activations: np.ndarray  # (F, k)
    patches: np.ndarray  # (F, k, 4) int: top, left, bottom, right in face pixels
    receptive_field: int

    def first(self, k: int) -> "Exemplars":
        """The same ranking cut to its top `k` faces per filter."""
        return dataclasses.replace(self, indices=self.indices[:, :k], activations=self.activations[:, :k],
                                   patches=self.patches[:, :k])

    def beaten_by(self, activation) -> np.ndarray:
        """(F,) bool: whether each filter's `activation` (of a preferred input, say) is above that
        of every face searched; the same measure as the exemplars' (the layer's mean output)."""
        return np.asarray(activation) > self.activations[:, 0]


def receptive_field(model, layer: str) -> tuple:
    """(size, stride) in face pixels of one position of `layer`'s output (square kernels), over
    the widest path from the face to it (a residual module's shortcut sees less than its convs).

    A model that resizes the face inside (`upsample`) works on a finer grid: a step of it is a
    fraction of a face pixel until the pools make it up, so the stride is then a float and the
    size is rounded up."""
    from fer.mirror import network_of

    net = network_of(model)
    memo = {}

    def field(lyr):
        if lyr.name in memo:
            return memo[lyr.name]
        if type(lyr).__name__ == "InputLayer":
            return 1.0, 1.0
        inputs = lyr.input if isinstance(lyr.input, (list, tuple)) else [lyr.input]
        size, stride = max((field(t._keras_history.operation) for t in inputs), key=lambda f: f[0])
        if type(lyr).__name__ == "Resizing":  # one step of the new grid is in / out face pixels
            stride *= lyr.input.shape[1] / lyr.output.shape[1]
        kernel = getattr(lyr, "kernel_size", None) or getattr(lyr, "pool_size", None)
        if kernel is not None:
            strides = getattr(lyr, "strides", None)
            k = int(np.atleast_1d(kernel)[0])
            size += (k - 1) * stride
            stride *= int(np.atleast_1d(strides)[0]) if strides is not None else k
        memo[lyr.name] = size, stride
        return size, stride

    size, stride = field(net.get_layer(layer))
    return int(np.ceil(size - 1e-9)), (int(stride) if float(stride).is_integer() else stride)


def filter_activations(model, layer: str, images, chunk: int = 256):
    """Each face's mean activation of each filter of `layer` (N,C), and where it peaks (N,C,2)
    on the layer's grid: face by face, so shards of a data set can be computed apart and joined."""
    from fer.explain.filters import feature_maps

    images = np.asarray(images)
    means, peaks = [], []
    for i in range(0, len(images), chunk):
        stopping.check()
        fmap = feature_maps(model, layer, images[i:i + chunk])  # (n,H,W,C)
        means.append(fmap.mean(axis=(1, 2)))
        flat = fmap.reshape(len(fmap), -1, fmap.shape[-1]).argmax(axis=1)  # (n,C) position of the peak
        peaks.append(np.stack(np.unravel_index(flat, fmap.shape[1:3]), axis=-1))  # (n,C,2)
    return np.concatenate(means), np.concatenate(peaks)


def filter_exemplars(model, layer: str, images, k: int = 9, chunk: int = 256, activations=None) -> Exemplars:
    """The k faces of `images` with the highest mean activation of each filter of `layer`;
    `activations`: their `filter_activations`, when already computed (say in shards)."""
    act, peak = activations if activations is not None else filter_activations(model, layer, images, chunk)
    k = min(k, len(act))
    order = np.argsort(-act, axis=0, kind="stable")[:k].T  # (C, k)
    size, stride = receptive_field(model, layer)
    cols = np.arange(act.shape[1])[:, None]
    rows = peak[order, cols]  # (C, k, 2)
    top = np.clip(np.floor(rows[..., 0] * stride + (stride - size) / 2), 0, 48)
    left = np.clip(np.floor(rows[..., 1] * stride + (stride - size) / 2), 0, 48)
    patches = np.stack([top, left, np.clip(top + size, 0, 48), np.clip(left + size, 0, 48)], axis=-1)
    return Exemplars(layer, order, act[order, cols], patches.astype(int), size)
