"""How good are the maps? Three measures, each next to a baseline a useless map would get.

- `region_energy`: on the generated faces (``dataset.masks``), the share of each map's energy
  (sum of its values) inside the ground-truth expression regions (any region bit set). Only
  pixels inside a region can carry the expression (see fer.data.synthetic), so a faithful map of
  a model that learned the expressions puts its energy there. A uniform random map's expected
  share is the mask's area fraction: that is the baseline.
- `deletion_insertion`: remove (deletion) or add (insertion) pixels in the map's order, most
  salient first, and track the class probability; the area under each curve (fraction of pixels
  on x, probability on y, both 0..1). Deletion: lower is better; insertion: higher is better.
  Next to the same curves for a random pixel order. Removed pixels take the image's mean grey or
  a blurred copy of the face (`fill`).
- `randomisation_check` (Adebayo et al., 2018, "Sanity checks for saliency maps"): re-initialise
  the model's layers cascading from the output down, recompute each method's maps and report the
  Spearman rank correlation with the original maps. A method whose maps barely change while the
  model is destroyed explains the image, not the model.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from fer import CLASS_NAMES
from fer.errors import DataError, RunError
from fer.explain.saliency import METHOD_NAMES, METHODS, applicable_methods, as_input, compute_maps, default_methods, predict, prepared


def _methods(model, methods):
    ok = applicable_methods(model)
    return [m for m in (methods or default_methods(model)) if ok.get(m) is None]


# ----------------------------------------------------------------------------------------------
# energy inside the expression regions


def region_share(maps, masks) -> np.ndarray:
    """(N,) share of each map's energy inside the regions (mask != 0); NaN for an all-zero map."""
    maps = np.asarray(maps, np.float64)
    inside = np.asarray(masks) != 0
    total = maps.sum(axis=(1, 2))
    share = (maps * inside).sum(axis=(1, 2)) / np.where(total > 0, total, 1.0)
    return np.where(total > 0, share, np.nan)


def random_baseline(masks) -> np.ndarray:
    """(N,) expected share of a uniform random map: the regions' area fraction."""
    return (np.asarray(masks) != 0).mean(axis=(1, 2))


def sample_per_class(labels, indices, per_class: int, seed: int = 0) -> np.ndarray:
    """Up to `per_class` indices of each class from `indices` (seeded, sorted by class)."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(len(CLASS_NAMES)):
        idx = indices[labels[indices] == c]
        if len(idx):
            out.append(np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False)))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def region_energy(model, dataset, methods=None, per_class: int = 6, split: str = "test", options=None, seed: int = 0,
                  target: str = "true"):
    """Table of the mean in-region share per method and class, with the random-map baseline.

    Returns a pandas DataFrame with columns method, class, share, n (the baseline is the row
    method == "random map"), and an overall row per method (class == "all").
    `target`: maps of the "true" class (default) or of the "predicted" class.
    """
    import pandas as pd

    if dataset.masks is None:
        raise DataError("region energy needs the generated faces' region masks (dataset.masks); this data set has none")
    idx = sample_per_class(dataset.labels, dataset.indices(split), per_class, seed)
    images, labels, masks = dataset.images[idx], dataset.labels[idx], dataset.masks[idx]
    cls = labels if target == "true" else predict(model, images).argmax(1)
    maps = compute_maps(model, images, cls, _methods(model, methods), options)
    shares = {m: region_share(v, masks) for m, v in maps.items()}
    shares["random map"] = random_baseline(masks)
    rows = []
    for m, s in shares.items():
        for c in range(len(CLASS_NAMES)):
            sel = labels == c
            if sel.any():
                rows.append({"method": m, "class": CLASS_NAMES[c], "share": _mean_of_known(s[sel]), "n": int(sel.sum())})
        rows.append({"method": m, "class": "all", "share": _mean_of_known(s), "n": int(len(s))})
    return pd.DataFrame(rows)


def _mean_of_known(values) -> float:
    """The mean of the values that are not NaN (an empty map has no share), NaN when none is."""
    values = np.asarray(values, np.float64)
    known = values[~np.isnan(values)]
    return float(known.mean()) if known.size else float("nan")


# ----------------------------------------------------------------------------------------------
# deletion and insertion


def _fill_images(x: np.ndarray, fill: str) -> np.ndarray:
    """What removed pixels become: the image's mean grey, or a strongly blurred copy."""
    if fill == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).astype(np.float32)
    if fill == "blur":
        from scipy.ndimage import gaussian_filter

        return np.stack([gaussian_filter(im, sigma=5.0, mode="nearest") for im in x]).astype(np.float32)
    raise ValueError(f"fill must be 'mean' or 'blur', got {fill!r}")


def _order(maps: np.ndarray, rng) -> np.ndarray:
    """(N, 2304) pixel indices, most salient first; ties broken at random."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    tie = rng.random(flat.shape)
    return np.lexsort((tie, -flat), axis=-1) if flat.size else np.zeros(flat.shape, np.int64)


def perturbation_curves(model, images, class_index, maps, steps: int = 20, fill: str = "mean", seed: int = 0):
    """Deletion and insertion curves for one set of maps.

    Returns dict: fractions (steps+1,), deletion (N, steps+1), insertion (N, steps+1) class
    probabilities, and their AUCs (N,) (`np.trapezoid` over the fraction of pixels).
    """
    x = as_input(images)[..., 0]
    n, npix = len(x), x.shape[1] * x.shape[2]
    cls = np.broadcast_to(np.asarray(class_index, np.int64).reshape(-1), (n,)) if np.size(class_index) in (1, n) else None
    if cls is None:
        raise ValueError("class_index: need one class or one per face")
    rng = np.random.default_rng(seed)
    order = _order(np.asarray(maps, np.float32).reshape(n, -1), rng)
    base = _fill_images(x, fill)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * npix).astype(int)
    rank = np.empty_like(order)
    rows = np.arange(n)[:, None]
    rank[rows, order] = np.arange(npix)[None, :]  # rank of each pixel in the order
    rank = rank.reshape(x.shape)
    deleted = np.stack([np.where(rank < k, base, x) for k in counts], axis=1)  # (N, S+1, 48, 48)
    inserted = np.stack([np.where(rank < k, x, base) for k in counts], axis=1)
    batch = np.concatenate([deleted.reshape(-1, 48, 48), inserted.reshape(-1, 48, 48)])
    probs = predict(model, batch)
    p = probs[np.arange(len(probs)), np.tile(np.repeat(cls, steps + 1), 2)].reshape(2, n, steps + 1)
    trap = getattr(np, "trapezoid", None) or np.trapz
    return {"fractions": fractions, "deletion": p[0], "insertion": p[1],
            "deletion_auc": trap(p[0], fractions, axis=1), "insertion_auc": trap(p[1], fractions, axis=1)}


def deletion_insertion(model, images, class_index, methods=None, options=None, steps: int = 20, fill: str = "mean",
                       seed: int = 0, maps: Optional[dict] = None):
    """AUCs per method and for a random order: (DataFrame method, deletion_auc, insertion_auc,
    n; dict method -> mean curves {fractions, deletion, insertion})."""
    import pandas as pd

    x = as_input(images)[..., 0]
    maps = dict(maps) if maps is not None else compute_maps(model, x, class_index, _methods(model, methods), options)
    maps["random order"] = np.random.default_rng(seed + 7).random((len(x),) + x.shape[1:]).astype(np.float32)
    rows, curves = [], {}
    for m, v in maps.items():
        r = perturbation_curves(model, x, class_index, v, steps, fill, seed)
        rows.append({"method": m, "deletion_auc": float(r["deletion_auc"].mean()),
                     "insertion_auc": float(r["insertion_auc"].mean()), "n": len(x)})
        curves[m] = {"fractions": r["fractions"], "deletion": r["deletion"].mean(0), "insertion": r["insertion"].mean(0)}
    return pd.DataFrame(rows), curves


# ----------------------------------------------------------------------------------------------
# model randomisation (Adebayo et al. 2018)


def _reinit_weights(layer, seed: int) -> None:
    """New values for a layer's kernels (its own initializer, seeded) and biases (zeros or its
    bias initializer)."""
    import keras

    for w in layer.weights:
        name = w.path.rsplit("/", 1)[-1] if hasattr(w, "path") else w.name
        if "kernel" in name:
            init = getattr(layer, "depthwise_initializer" if "depthwise" in name else "kernel_initializer", None)
        elif "bias" in name:
            init = getattr(layer, "bias_initializer", None)
        else:
            continue
        try:
            init = type(init).from_config({**init.get_config(), "seed": seed}) if init is not None else None
        except Exception:  # noqa: BLE001 - an initializer without a seed: fall back below
            init = None
        if init is None:
            init = keras.initializers.RandomNormal(stddev=0.05, seed=seed)
        w.assign(np.asarray(init(tuple(w.shape), dtype="float32")))


def cascade_layers(model) -> list:
    """Layers with a kernel, output first: the order the cascade re-initialises them in."""
    return [layer.name for layer in reversed(model.layers)
            if any("kernel" in (getattr(w, "path", w.name)) for w in layer.weights)]


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.stats import spearmanr

    out = []
    for u, v in zip(a, b):
        u, v = u.ravel(), v.ravel()
        if np.ptp(u) == 0 or np.ptp(v) == 0:
            out.append(np.nan)
        else:
            out.append(float(spearmanr(u, v).statistic))
    return np.asarray(out)


def randomisation_check(model, images, class_index, methods=None, options=None, layers: Optional[Sequence[str]] = None,
                        seed: int = 0):
    """Cascading randomisation: re-initialise `layers` (default `cascade_layers`) one more at a
    time, from the output down, and after each step report the mean Spearman rank correlation
    of every method's maps with its maps on the trained model.

    Works on a private clone (the shared model is never touched). Returns a DataFrame with
    columns step (1..), layer (the layer re-initialised at that step), method, spearman.
    """
    import keras
    import pandas as pd

    from fer.explain.saliency import forget
    from fer.guests import is_keras

    if not is_keras(model):
        raise RunError("the randomisation check re-initialises a model's layers; an imported TFLite or ONNX model "
                       "has none to re-initialise (deletion and insertion need only its predictions)")

    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    x = as_input(images)[..., 0]
    methods = _methods(model, methods)
    try:
        original = compute_maps(work, x, class_index, methods, options)
        linear = prepared(work).linear  # the copy the methods actually run: re-initialise it in place
        layers = list(layers) if layers is not None else cascade_layers(linear)
        rows = []
        for step, name in enumerate(layers, start=1):
            _reinit_weights(linear.get_layer(name), seed + step)
            now = compute_maps(work, x, class_index, methods, options)
            for m in methods:
                rho = _spearman(original[m], now[m])
                rows.append({"step": step, "layer": name, "method": m,
                             "spearman": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan")})
        return pd.DataFrame(rows)
    finally:
        forget(work)


# ----------------------------------------------------------------------------------------------
# the measures as small objects with one signature, like the methods


class Measure:
    """One way to judge maps: its `name`, the `options` it takes (with defaults), whether it
    `needs_masks` (the generated faces' regions), and one call on a data set's test faces::

        result = measure(model, dataset, methods, method_options, **options)

    It picks its faces itself (a fixed, seeded sample per class), so the app, the CLI and a
    test measure the same faces. An option it does not take is an error.
    """

    name = ""
    options: dict = {}
    needs_masks = False

    def __call__(self, model, dataset, methods=None, method_options=None, **options):
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise TypeError(f"{self.name} takes no option {', '.join(map(repr, unknown))}; "
                            f"it takes {', '.join(self.options) or 'none'}")
        return self.measure(model, dataset, methods, method_options, **{**self.options, **options})

    def measure(self, model, dataset, methods, method_options, **options):
        raise NotImplementedError

    def applies_to(self, dataset) -> Optional[str]:
        """None when the measure works on `dataset`, else the reason it does not."""
        if self.needs_masks and dataset.masks is None:
            return "needs the generated demo faces (their region masks are the ground truth); this data set has none"
        return None

    @staticmethod
    def _test_sample(dataset, n, per_class, seed):
        idx = sample_per_class(dataset.labels, dataset.indices("test"), per_class, seed=seed)[:n]
        return dataset.images[idx], dataset.labels[idx]


class RegionEnergy(Measure):
    """Share of each map's energy inside the expression regions, per class, against a random map."""

    name = "Expression regions"
    options = {"per_class": 6, "seed": 0, "target": "true"}
    needs_masks = True

    def measure(self, model, dataset, methods, method_options, per_class, seed, target):
        return region_energy(model, dataset, methods, per_class=per_class, options=method_options, seed=seed, target=target)


class DeletionInsertion(Measure):
    """Deletion and insertion AUCs (and mean curves) on `n` test faces, against a random order."""

    name = "Deletion / insertion"
    options = {"n": 14, "steps": 16, "fill": "mean"}

    def measure(self, model, dataset, methods, method_options, n, steps, fill):
        images, labels = self._test_sample(dataset, n, max(1, -(-n // len(CLASS_NAMES))), seed=1)
        return deletion_insertion(model, images, labels, methods, method_options, steps=steps, fill=fill)


class Randomisation(Measure):
    """The cascading model-randomisation check on `n` test faces (one per class)."""

    name = "Randomisation check"
    options = {"n": 3}

    def measure(self, model, dataset, methods, method_options, n):
        images, labels = self._test_sample(dataset, n, 1, seed=2)
        return randomisation_check(model, images, labels, methods, method_options)


MEASURES = {"regions": RegionEnergy(), "deletion": DeletionInsertion(), "randomisation": Randomisation()}


# ----------------------------------------------------------------------------------------------
# one line of trust per method, for showing under the maps

RANDOMISED_RHO_LIMIT = 0.5  # mean Spearman with the trained model's maps once every layer is re-initialised
# randomisation on one face per class: on two faces the featured MobileNet's Grad-CAM read 0.76
# (a false fail), on all seven 0.15
TRUST_SETTINGS = {"deletion_n": 14, "deletion_steps": 16, "randomisation_n": 7, "empty_n": 70}


def empty_share(model, dataset, methods=None, method_options=None, n: int = 70, seed: int = 3) -> dict:
    """{CAM method: share of `n` test faces (as many per class) whose map of the predicted class is
    empty}. A CAM map is a ReLU of the layer's feature maps weighted by the class: where every
    weighted sum is negative nothing is left to show (Grad-CAM's mean-gradient weights on a
    flatten head, which gives each cell its own weights, do this to many faces). Gradient maps
    are magnitudes and are not counted."""
    from fer.explain.saliency import _CamExplainer, predict

    ok = applicable_methods(model)
    cams = [m for m in (methods or METHOD_NAMES) if isinstance(METHODS[m], _CamExplainer) and ok[m] is None]
    images, _ = Measure._test_sample(dataset, n, max(1, -(-n // len(CLASS_NAMES))), seed)
    if not cams or not len(images):
        return {}
    maps = compute_maps(model, images, predict(model, images).argmax(1), cams, method_options)
    return {m: float(np.mean(np.ptp(v.reshape(len(v), -1), axis=1) == 0)) for m, v in maps.items()}


def trust_table(model, dataset, methods=None, method_options=None, settings=None):
    """Per method: deletion AUC and the random order's on the same faces (lower is better), the
    mean Spearman rank correlation of its maps with the trained model's after all layers are
    re-initialised, whether it fails the randomisation check (that correlation stays at or
    above RANDOMISED_RHO_LIMIT: the maps explain the image more than the model), and for the
    CAM methods the share of test faces whose map is empty (`empty_share`; None otherwise). An
    imported TFLite or ONNX model has no weights to re-initialise: its rho is NaN."""
    import pandas as pd

    s = {**TRUST_SETTINGS, **(settings or {})}
    deletion, _ = MEASURES["deletion"](model, dataset, methods, method_options, n=s["deletion_n"], steps=s["deletion_steps"])
    random_auc = float(deletion.loc[deletion["method"] == "random order", "deletion_auc"].iloc[0])
    from fer.guests import is_keras

    if is_keras(model):
        cascade = MEASURES["randomisation"](model, dataset, methods, method_options, n=s["randomisation_n"])
        last = cascade[cascade["step"] == cascade["step"].max()].groupby("method")["spearman"].mean()
    else:  # an imported TFLite or ONNX model: no layers to re-initialise, its rho is NaN (not measured)
        last = pd.Series(dtype=float)
    empty = empty_share(model, dataset, methods, method_options, n=s["empty_n"])
    rows = []
    for row in deletion.itertuples():
        if row.method == "random order":
            continue
        rho = float(last.get(row.method, float("nan")))
        rows.append({"method": row.method, "deletion_auc": float(row.deletion_auc), "random_deletion_auc": random_auc,
                     "randomised_rho": rho, "fails_randomisation": bool(rho >= RANDOMISED_RHO_LIMIT),
                     "empty_share": empty.get(row.method)})
    return pd.DataFrame(rows)


# The order a page offers maps in when a run's trust table leaves the choice open: regions before
# pixels (an average of gradient maps is mostly noise), and the cheap before the costly (Score-CAM
# and SmoothGrad take many passes per face, and a data set has thousands of faces).
MAP_PREFERENCE = ("Grad-CAM", "Grad-CAM++", "Saliency", "Score-CAM", "SmoothGrad")
EMPTY_LIMIT = 0.1  # a method whose maps are empty for more of the trust table's faces is not a default


def trusted_method(table, usable) -> str:
    """The first of `usable` (in MAP_PREFERENCE order) whose kept trust table row neither fails the
    randomisation check nor leaves more than EMPTY_LIMIT of its maps empty; with no table, or when
    every method is flagged, the first usable one."""
    ordered = sorted(usable, key=lambda m: MAP_PREFERENCE.index(m) if m in MAP_PREFERENCE else len(MAP_PREFERENCE))
    if table is None or not len(table) or not ordered:
        return ordered[0] if ordered else None
    rows = {r["method"]: r for r in table.to_dict("records")}
    for method in ordered:
        row = rows.get(method)
        empty = row.get("empty_share") if row else None
        if row and not row.get("fails_randomisation") and not (isinstance(empty, float) and empty == empty and empty > EMPTY_LIMIT):
            return method
    return ordered[0]


def empty_share_note(table, method: str):
    """One line on how often `method`'s maps are empty for a run (its kept trust table), and why
    that happens; None when nothing is known or none are empty."""
    if table is None or not len(table):
        return None
    rows = {r["method"]: r for r in table.to_dict("records")}
    share = (rows.get(method) or {}).get("empty_share")
    if not isinstance(share, float) or share != share or share <= 0:
        return None
    return (f"{method}'s map is empty for {share:.0%} of the trust table's test faces: its weighted sum of the last "
            "feature maps is negative everywhere, and a CAM keeps only the positive part. Such faces add nothing here.")
