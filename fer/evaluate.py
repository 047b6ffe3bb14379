"""Predictions and metrics: accuracy, per-class precision/recall/F1, confusion matrix (scikit-learn)."""
from __future__ import annotations

import numpy as np

from fer import CLASS_NAMES
from fer import stopping


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N,48,48) or (N,48,48,1) -> float32 (N,48,48,1) in 0..255, what every model takes."""
    x = np.asarray(images, dtype=np.float32)
    return x[..., None] if x.ndim == 3 else x


def predict_proba(model, images: np.ndarray, tta: bool = False, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N,7); `tta=True` averages with the horizontally flipped face."""
    x = as_model_input(images)
    if len(x) == 0:
        return np.zeros((0, len(CLASS_NAMES)), np.float32)
    probs = _predict(model, x, batch_size)
    if tta:
        probs = (probs + _predict(model, x[:, :, ::-1, :], batch_size)) / 2
    return probs


def _predict(model, x, batch_size):
    out = []
    for i in range(0, len(x), batch_size):
        stopping.check()
        out.append(np.asarray(model(x[i : i + batch_size], training=False)))
    return np.concatenate(out).astype(np.float32)


def metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, confusion matrix (rows true, columns predicted) and a per-class table."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels)
    pred = probs.argmax(1)
    classes = list(range(len(CLASS_NAMES)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, pred, labels=classes, zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, pred)) if len(labels) else float("nan"),
        "confusion_matrix": confusion_matrix(labels, pred, labels=classes).tolist(),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(CLASS_NAMES, precision, recall, f1, support)
        },
    }


def evaluate(model, images, labels, tta: bool = False) -> dict:
    probs = predict_proba(model, images, tta=tta)
    return {**metrics(labels, probs), "probabilities": probs}


def per_class_frame(per_class: dict):
    import pandas as pd

    return pd.DataFrame(per_class).T.rename_axis("class")
