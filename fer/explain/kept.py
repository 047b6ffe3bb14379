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
