"""A run's test-split results kept beside it: what Evaluate, Compare, Misclassified and Class maps
open on, read at once instead of computed on a fresh machine.

    python -m fer keep RUN --data DATA [--methods "Grad-CAM++,Grad-CAM"]

keeps the test split's class probabilities (`kept/probs.npz`) and, per CAM method, the maps of
every test face for its true and its predicted class (`kept/maps-<method>.npz`). A CAM map is kept
as its grid before upsampling (`Explainer.grids`): the page's maps are remade from it exactly, at
a few percent of their size. Each file is keyed by the model file, the data set's fingerprint and
the method's options (`fer.kept`), so nothing is served for a changed model or data set.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Optional

import numpy as np

from fer.kept import keep_arrays, kept_arrays

PROBS = "probs"


def maps_name(method: str) -> str:
    return "maps-" + re.sub(r"[^a-z0-9]+", "-", method.lower().replace("++", "pp")).strip("-")


def _maps_key(fingerprint: str, method: str) -> dict:
    from fer.explain import METHODS

    return {"fingerprint": fingerprint, "method": method, "options": METHODS[method].pick({})}


def keepable(model, method: str) -> bool:
    """Whether `method`'s maps can be kept for `model`: a CAM method that applies to it."""
    from fer.explain import METHODS, applicable_methods

    return hasattr(METHODS[method], "grids") and applicable_methods(model)[method] is None


def keep_test_probs(run_path, model, dataset) -> np.ndarray:
    from fer.evaluate import predict_proba

    probs = np.asarray(predict_proba(model, dataset.split("test")[0]), np.float32)
    keep_arrays(run_path, PROBS, {"fingerprint": dataset.fingerprint}, probs=probs)
    return probs


def kept_test_probs(run_path, fingerprint: str) -> Optional[np.ndarray]:
    found = kept_arrays(run_path, PROBS, {"fingerprint": fingerprint})
    return None if found is None else found["probs"]


def keep_test_maps(run_path, model, dataset, method: str, predicted) -> None:
    """Keep `method`'s grids for every test face's true class, and for its predicted class where
    that differs (`predicted`: one class per test face)."""
    from fer.explain import METHODS

    x, y = dataset.split("test")
    predicted = np.asarray(predicted, np.int64)
    explainer = METHODS[method]
    wrong = np.flatnonzero(predicted != y)
    keep_arrays(run_path, maps_name(method), _maps_key(dataset.fingerprint, method),
                true=explainer.grids(model, x, y), wrong=wrong,
                predicted_wrong=explainer.grids(model, x[wrong], predicted[wrong]),
                predicted=predicted)


def kept_test_maps(run_path, fingerprint: str, method: str, target: str, predicted) -> Optional[np.ndarray]:
    """The maps (float16 (N,48,48)) `aggregate.face_maps` would compute for the test split and
    `target` ("true" or "predicted"), or None when none are kept for this model, data, method
    and predictions."""
    from fer.explain import METHODS

    if method not in METHODS or not hasattr(METHODS[method], "grids"):
        return None
    found = kept_arrays(run_path, maps_name(method), _maps_key(fingerprint, method))
    if found is None or not np.array_equal(found["predicted"], np.asarray(predicted, np.int64)):
        return None
    grids = found["true"]
    if target == "predicted":
        grids = grids.copy()
        grids[found["wrong"]] = found["predicted_wrong"]
    return METHODS[method].from_grids(grids).astype(np.float16)


# ---- Filters: preferred inputs at the page's default settings and each filter's top test faces
EXEMPLARS_K = 12  # the page's slider's largest k; a smaller k is its first columns (a stable order)


def filters_name(layer: str, engine: str) -> str:
    return f"filters-{layer}-{engine}"


def _filters_key(layer: str, engine: str, settings: tuple, fingerprint: str) -> dict:
    return {"layer": layer, "engine": engine, "settings": list(settings), "fingerprint": fingerprint}


def keep_preferred_inputs(run_path, result, layer: str, engine: str, settings: tuple, fingerprint: str) -> None:
    """Keep a `FilterImages` of `layer` made by `engine` with the ascent `settings` (a key), as
    checked against the test faces of the data set `fingerprint` (`sharpen.against_faces`)."""
    n = len(result.filters)
    keep_arrays(run_path, filters_name(layer, engine), _filters_key(layer, engine, settings, fingerprint),
                images=result.images.astype(np.float32), filters=result.filters, activation=result.activation,
                gray_activation=result.gray_activation, seconds=np.float64(result.seconds),
                analytic=np.zeros(n, bool) if result.analytic is None else result.analytic,
                origin=np.zeros(n, np.int8) if result.origin is None else result.origin,
                rival_activation=(np.full(n, np.nan, np.float32) if result.rival_activation is None
                                  else result.rival_activation))


def kept_preferred_inputs(run_path, layer: str, engine: str, settings: tuple, fingerprint: str):
    from fer.explain.filters import FilterImages

    found = kept_arrays(run_path, filters_name(layer, engine), _filters_key(layer, engine, settings, fingerprint))
    if found is None:
        return None
    return FilterImages(found["images"], found["filters"], found["activation"], found["gray_activation"],
                        float(found["seconds"]), found.get("analytic"), found.get("origin"), found.get("rival_activation"))


def exemplars_name(layer: str) -> str:
    return f"exemplars-{layer}"


def keep_exemplars(run_path, exemplars, fingerprint: str) -> None:
    keep_arrays(run_path, exemplars_name(exemplars.layer), {"fingerprint": fingerprint, "layer": exemplars.layer},
                indices=exemplars.indices, activations=exemplars.activations, patches=exemplars.patches,
                receptive_field=np.int64(exemplars.receptive_field))


def kept_exemplars(run_path, layer: str, fingerprint: str, k: int):
    """The kept exemplars of `layer`, their first `k` faces per filter, or None."""
    from fer.explain.aggregate import Exemplars

    found = kept_arrays(run_path, exemplars_name(layer), {"fingerprint": fingerprint, "layer": layer})
    if found is None or found["indices"].shape[1] < k:
        return None
    return Exemplars(layer, found["indices"], found["activations"], found["patches"], int(found["receptive_field"])).first(k)


def keep_default_filters(run_path, model, dataset) -> str:
    """What the Filters page opens on, kept: its default layer's top test faces and preferred
    inputs (pixel and Fourier space, default settings, checked against those faces). Returns the
    layer's name."""
    from fer.explain.aggregate import filter_exemplars
    from fer.explain.filters import AscentSettings, preferred_inputs
    from fer.explain.filters.sharpen import against_faces

    layer = default_filter_layer(model)
    settings = AscentSettings().key()
    faces = dataset.split("test")[0]
    exemplars = filter_exemplars(model, layer, faces, k=EXEMPLARS_K)
    for engine in ("batched", "fourier"):
        shown = against_faces(model, layer, preferred_inputs(model, layer, engine, settings), exemplars, faces)
        keep_preferred_inputs(run_path, shown, layer, engine, settings, dataset.fingerprint)
    keep_exemplars(run_path, exemplars, dataset.fingerprint)
    return layer


def default_filter_layer(model) -> str:
    """The conv layer the Filters page opens on: the third (the first two see little more than edges)."""
    from fer.explain.filters import conv_layers

    layers = conv_layers(model)
    return layers[min(2, len(layers) - 1)]["name"]


# ---- Saliency: the maps of the first test faces, as the page opens on them
FACE_MAPS = "face-maps"

def saliency_settings() -> dict:
    """The method settings the Saliency page opens with (its sliders' defaults)."""
    from fer.explain import DEFAULT_OPTIONS

    return {k: DEFAULT_OPTIONS[k] for k in ("samples", "noise", "seed", "max_n")}


def face_key(face) -> str:
    """A 48x48 uint8 face's identity: what the Saliency page caches and finds kept maps by."""
    return hashlib.sha1(np.ascontiguousarray(face, dtype=np.uint8).tobytes()).hexdigest()[:16]


def face_map_label(key: str, method: str, cls: int, settings: dict) -> str:
    return json.dumps([key, method, int(cls), sorted(settings.items())])


def keep_face_maps(run_path, model, faces, true_classes, settings: dict) -> int:
    """Keep every method's maps of `faces` (uint8 (n,48,48)) for their true and predicted classes,
    computed as the Saliency page computes them (one call per method and face, its targets
    together) with the page's `settings` (each method takes its own). Returns the maps kept."""
    from fer.explain import METHOD_NAMES, METHODS, applicable_methods, map_targets, predict

    faces = np.asarray(faces, np.uint8)
    predicted = predict(model, faces).argmax(1)
    usable = [m for m, why in applicable_methods(model).items() if why is None and m in METHOD_NAMES]
    labels, maps = [], []
    for face, true, pred in zip(faces, true_classes, predicted):
        classes = [cls for _, cls in map_targets(int(pred), int(true))]
        for method in usable:
            picked = METHODS[method].pick(settings)
            computed = METHODS[method](model, np.repeat(face[None], len(classes), axis=0), classes, **picked)
            labels += [face_map_label(face_key(face), method, cls, picked) for cls in classes]
            maps.append(np.asarray(computed, np.float16))
    keep_arrays(run_path, FACE_MAPS, {}, labels=np.array(labels), maps=np.concatenate(maps))
    return len(labels)


def kept_face_maps(run_path) -> Optional[dict]:
    """{label: map (float16 (48,48))} of the maps `keep_face_maps` kept for this model file, or None."""
    found = kept_arrays(run_path, FACE_MAPS, {})
    return None if found is None else dict(zip(found["labels"].tolist(), found["maps"]))


TCAV = "tcav"


def _tcav_key(fingerprint: str) -> dict:
    from fer.explain.concepts import SETTINGS

    return {"fingerprint": fingerprint, "settings": SETTINGS}


def keep_tcav(run_path, model, dataset):
    """The run's TCAV table of the built-in concepts (`fer.explain.concepts`), computed and kept."""
    from fer.explain import concepts

    table = concepts.tcav(model, concepts.builtin_concepts(dataset), dataset)
    keep_arrays(run_path, TCAV, _tcav_key(dataset.fingerprint), **{c: np.asarray(table[c].tolist()) for c in table.columns})
    return table


def kept_tcav(run_path, fingerprint: str):
    """The kept TCAV table (a DataFrame) for this model file and data, or None."""
    import pandas as pd

    found = kept_arrays(run_path, TCAV, _tcav_key(fingerprint))
    return None if found is None else pd.DataFrame({k: found[k] for k in found})


DISCOVERED = "concepts-found"


def _discovered_key(fingerprint: str, faces: int) -> dict:
    from fer.explain.craft import N_CONCEPTS

    return {"fingerprint": fingerprint, "faces": faces, "concepts": N_CONCEPTS, "version": 1}


def keep_discovered(run_path, model, dataset, faces: int) -> int:
    """Each class's concepts found by factorisation (`fer.explain.craft.discover` of its first
    `faces` test faces), kept; the number of classes kept (0 for a model without a conv layer)."""
    from fer.explain.craft import discover, discoverable

    if not discoverable(model):
        return 0
    x, y = dataset.split("test")
    arrays = {}
    for k in np.unique(y):
        found = discover(model, x[y == k][:faces], int(k))
        arrays.update({f"{k}_importance": found.importance, f"{k}_share": found.share, f"{k}_top": found.top_faces,
                       f"{k}_maps": np.round(found.maps * 255).astype(np.uint8), f"{k}_channels": found.channels,
                       f"{k}_layer": np.array(found.layer)})
    keep_arrays(run_path, DISCOVERED, _discovered_key(dataset.fingerprint, faces), **arrays)
    return len(np.unique(y))


def kept_discovered(run_path, fingerprint: str, faces: int, class_index: int):
    """The kept `Discovered` of one class, or None."""
    from fer.explain.craft import Discovered

    found = kept_arrays(run_path, DISCOVERED, _discovered_key(fingerprint, faces))
    k = int(class_index)
    if found is None or f"{k}_importance" not in found:
        return None
    return Discovered(str(found[f"{k}_layer"]), found[f"{k}_importance"], found[f"{k}_share"], found[f"{k}_top"],
                      found[f"{k}_maps"].astype(np.float32) / 255, found[f"{k}_channels"])
