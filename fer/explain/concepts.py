"""Concepts a model uses for a class: TCAV (Kim et al. 2018).

    concepts = builtin_concepts(dataset)                      # [Concept], from the data (see below)
    table = tcav(model, concepts, dataset)                    # per concept, layer and class: score, p

A concept is a set of faces: "mouth open", or a folder of the user's own images. Its concept
activation vector (CAV) at a layer is the normal of a linear classifier (`cav`) separating the concept's activations there from those of random faces. A class's TCAV score is
the share of its test faces whose class score rises when their activations move along the CAV
(the sign of the directional derivative), averaged over CAVs against `runs` different random sets.
A set of random faces taken as a concept gets a score too, and not 0.5: so the concept's score is
set against those of ten or more random sets taken as concepts the same way, by a two-sided t
test (is it one more draw from their distribution?). A score whose p-value is below 0.05 over
the number of classes tested (Bonferroni: the seven classes are seven tests of one concept at one
layer) is significant, any other is shown as not. One more random set is tested as a concept
(`CONTROL`): it should not pass.

Why not the t-test of the scores of one concept's CAVs against those of random CAVs: the
concept's faces are one fixed set, and any fixed set of random faces passed that test for some
class (measured on FER2013 and on the generated faces); the spread between random sets is the
spread to beat.

Built-in concepts: on the generated faces, faces whose drawing parameters put the mouth open, the
brows raised or the eyes wide (the truth is known); on real faces, geometry that MTCNN's five
keypoints can measure (a wide mouth, a tilted head, a turned head) among the test faces with kept
keypoints (`fer.explain.parts`); five points cannot tell an open mouth or raised brows.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

CONTROL = "random faces (control)"
CONCEPT_SIZE = 60
SIGNIFICANCE = 0.05
MIN_IMAGES = 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
# Everything the built-in table depends on besides the model and the data: kept tables carry it.
TCAV_OPTIONS = {"runs": 10, "random_concepts": 10, "per_class": 150, "seed": 0}  # `tcav`'s defaults
SETTINGS = {"concept_size": CONCEPT_SIZE, **TCAV_OPTIONS, "classifier": "ridge", "version": 1}


@dataclasses.dataclass
class Concept:
    """A named set of 48x48 grey faces (uint8 (n,48,48)); `indices`: which test faces they are,
    when they come from the test split (left out of the faces the scores are measured on)."""

    name: str
    images: np.ndarray
    source: str
    indices: Optional[np.ndarray] = None


def _pick(rng, members, n):
    return np.sort(rng.choice(members, size=min(n, len(members)), replace=False)) if len(members) else members


def builtin_concepts(dataset, n: int = CONCEPT_SIZE, seed: int = 0) -> List[Concept]:
    """The data set's built-in concepts (module docstring), up to `n` faces each, and the control."""
    rng = np.random.default_rng(seed)
    if dataset.params is not None:
        train = dataset.indices("train")
        planted = {"mouth open": ("mouth_open", 0.6), "brows raised": ("brow_height", 0.6), "eyes wide": ("eye_open", 0.6)}
        out = [Concept(name, dataset.images[_pick(rng, train[dataset.params[p][train] > cut], n)],
                       f"generated faces with {p} > {cut}") for name, (p, cut) in planted.items()]
        return out + [Concept(CONTROL, dataset.images[_pick(rng, train, n)], "random training faces")]
    from fer.explain.parts import kept_keypoints

    x, _ = dataset.split("test")
    points = kept_keypoints(dataset)
    out = []
    if points is not None:
        for name, value in _geometry(points.astype(np.float64)).items():
            found = np.flatnonzero(np.isfinite(value))
            top = found[value[found] >= np.quantile(value[found], 0.9)] if len(found) else found
            picked = _pick(rng, top, n)
            out.append(Concept(name, x[picked], "test faces in the top 10% by MTCNN's keypoints", picked))
    train = dataset.indices("train")
    return out + [Concept(CONTROL, dataset.images[_pick(rng, train, n)], "random training faces")]


def _geometry(points) -> Dict[str, np.ndarray]:
    """Per face, measures of its five keypoints scaled by the distance between the eyes (NaN where none)."""
    left, right, nose, mouth_l, mouth_r = (points[:, k] for k in range(5))
    eyes = np.linalg.norm(right - left, axis=1)
    eyes = np.where(eyes > 1, eyes, np.nan)
    axis = (right - left) / eyes[:, None]
    middle = (left + right) / 2
    offset = (nose - middle) @ np.array([1.0, 0.0])
    return {"wide mouth": np.linalg.norm(mouth_r - mouth_l, axis=1) / eyes,
            "tilted head": np.abs(np.degrees(np.arctan2(axis[:, 1], axis[:, 0]))),
            "turned head": np.abs(offset) / eyes}


def concept_from_folder(name: str, folder) -> Concept:
    """Every image in `folder` as a 48x48 grey face (`concept_from_images`); a DataError when the
    folder holds fewer than 10 images or one cannot be read."""
    from fer.errors import DataError

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if len(files) < MIN_IMAGES:
        raise DataError(f"concept {name!r}: {folder} holds {len(files)} images (.png/.jpg); a concept needs at least "
                        f"{MIN_IMAGES}")
    return concept_from_images(name, [(p.name, p.read_bytes()) for p in files], f"{len(files)} images from {folder}")


def concept_from_images(name: str, files, source: str = "") -> Concept:
    """A concept from (file name, bytes) pairs: each image's centre square, grey, at 48x48; a
    DataError when there are fewer than 10, or one is not an image."""
    import io

    from PIL import Image, UnidentifiedImageError

    from fer.errors import DataError

    if not name.strip():
        raise DataError("a concept needs a name")
    if len(files) < MIN_IMAGES:
        raise DataError(f"concept {name!r}: {len(files)} images; a concept needs at least {MIN_IMAGES}")
    faces = []
    for file_name, data in files:
        try:
            faces.append(_as_face(Image.open(io.BytesIO(data))))
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"concept {name!r}: cannot read {file_name} as an image ({type(exc).__name__})") from None
    return Concept(name.strip(), np.stack(faces), source or f"{len(files)} images given")


def _as_face(image) -> np.ndarray:
    from PIL import Image

    grey = image.convert("L")
    side = min(grey.size)
    left, top = (grey.size[0] - side) // 2, (grey.size[1] - side) // 2
    return np.asarray(grey.crop((left, top, left + side, top + side)).resize((48, 48), Image.BILINEAR), np.uint8)


# ----------------------------------------------------------------------------------------------
# CAVs and scores


def default_layers(model) -> List[str]:
    """The last conv layer (where Grad-CAM reads) and the one halfway through the conv layers; a
    model without conv layers (the DNN): its hidden dense layers, the same two picked."""
    from fer.explain.filters import conv_layers
    from fer.explain.saliency import prepared

    linear = prepared(model).linear
    names = [c["name"] for c in conv_layers(linear)]
    if not names:
        names = [layer.name for layer in linear.layers[:-1] if type(layer).__name__ == "Dense"]
    if not names:
        return []
    return list(dict.fromkeys([names[len(names) // 2], names[-1]]))


class _Split:
    """The network (a mirror-averaged model's single view) cut at one layer: activations, and the
    gradient of a class's score with respect to them."""

    def __init__(self, model, layer: str):
        import keras

        from fer.explain.saliency import prepared

        linear = prepared(model).linear
        inputs = linear.inputs[0] if len(linear.inputs) == 1 else linear.inputs  # called with one tensor
        self.model = keras.Model(inputs, [linear.get_layer(layer).output, linear.output])

    def activations(self, images, batch: int = 256) -> np.ndarray:
        from fer.explain.saliency import as_input

        x = as_input(images)
        return np.concatenate([np.asarray(self.model(x[i:i + batch], training=False)[0]).reshape(len(x[i:i + batch]), -1)
                               for i in range(0, len(x), batch)]) if len(x) else np.zeros((0, 0), np.float32)

    def gradients(self, images, class_index: int, batch: int = 128, log_prob: bool = False) -> np.ndarray:
        """The gradient of the class's logit (TCAV's score), or with `log_prob` of its log-probability
        (the class against the others), with respect to the layer's activations: (N, activations)."""
        import tensorflow as tf

        from fer.explain.saliency import as_input

        x = as_input(images)
        out = []
        for i in range(0, len(x), batch):
            with tf.GradientTape() as tape:
                act, scores = self.model(tf.constant(x[i:i + batch]), training=False)
                target = (tf.nn.log_softmax(scores) if log_prob else scores)[:, class_index]
            out.append(np.asarray(tape.gradient(target, act)).reshape(len(x[i:i + batch]), -1))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def cav(concept_acts, random_acts, seed: int = 0):
    """(unit CAV pointing towards the concept, held-out accuracy of its classifier on a quarter).

    The classifier is a ridge (least-squares) one: with far fewer faces than activations it is
    solved in the faces' space, ten times faster than a logistic regression here, and the CAV is
    the normal of its boundary as the paper's."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import train_test_split

    x = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    fit_x, held_x, fit_y, held_y = train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)
    scale = float(np.abs(fit_x).mean()) or 1.0  # one scale for all features keeps the direction
    clf = RidgeClassifier(alpha=1.0).fit(fit_x / scale, fit_y)
    v = np.ravel(clf.coef_)
    return v / (np.linalg.norm(v) or 1.0), float(clf.score(held_x / scale, held_y))


def _two_sided_p(score: float, null) -> float:
    """Two-sided p-value of one more draw from the distribution the random concepts' scores
    `null` come from (a t prediction interval: mean and spread estimated from them)."""
    from scipy.stats import t

    null = np.asarray(null, np.float64)
    spread = null.std(ddof=1) * np.sqrt(1 + 1 / len(null))
    if spread == 0:
        return 1.0 if score == null.mean() else 0.0
    return float(2 * t.sf(abs(score - null.mean()) / spread, df=len(null) - 1))


def tcav(model, concepts: Sequence[Concept], dataset, layers: Optional[Sequence[str]] = None,
         runs: int = TCAV_OPTIONS["runs"], random_concepts: int = TCAV_OPTIONS["random_concepts"],
         per_class: int = TCAV_OPTIONS["per_class"], seed: int = TCAV_OPTIONS["seed"]):
    """One row per concept, layer and class: the TCAV score (its mean over `runs` CAVs, each
    against another random set, and their spread), the mean and spread of the same score of
    `random_concepts` random sets of faces taken as concepts, the two-sided p-value of the
    concept's score among theirs, whether it passes, and the concept classifiers' mean held-out
    accuracy. Measured on up to `per_class` test faces of each class (none that is in a concept)."""
    import pandas as pd

    from fer import CLASS_NAMES, stopping

    rng = np.random.default_rng(seed)
    x, y = dataset.split("test")
    used = np.concatenate([c.indices for c in concepts if c.indices is not None] or [np.zeros(0, np.int64)])
    measured = {k: _pick(rng, np.setdiff1d(np.flatnonzero(y == k), used), per_class) for k in range(len(CLASS_NAMES))}
    train = dataset.indices("train")
    negatives = [dataset.images[_pick(rng, train, CONCEPT_SIZE)] for _ in range(runs)]
    nulls = [dataset.images[_pick(rng, train, CONCEPT_SIZE)] for _ in range(random_concepts)]
    rows = []
    for layer in layers or default_layers(model):
        split = _Split(model, layer)
        negative_acts = [split.activations(r) for r in negatives]
        grads = {k: split.gradients(x[idx], k) for k, idx in measured.items() if len(idx)}

        def scores(images):
            """(per class: the TCAV score of each of the runs' CAVs, the CAVs' mean held-out accuracy)."""
            stopping.check()
            acts = split.activations(images)
            fitted = [cav(acts, negative_acts[r], seed + r) for r in range(runs)]
            return {k: np.array([(g @ v > 0).mean() for v, _ in fitted]) for k, g in grads.items()}, \
                float(np.mean([a for _, a in fitted]))

        null = [scores(images)[0] for images in nulls]
        for concept in concepts:
            per_run, accuracy = scores(concept.images)
            for k, s_k in per_run.items():
                random_k = np.array([n[k].mean() for n in null])
                p = _two_sided_p(float(s_k.mean()), random_k)
                rows.append({"concept": concept.name, "layer": layer, "class": CLASS_NAMES[k], "score": float(s_k.mean()),
                             "score_std": float(s_k.std()), "random_score": float(random_k.mean()),
                             "random_std": float(random_k.std(ddof=1)), "p_value": p,
                             "significant": bool(p < SIGNIFICANCE / len(grads)), "cav_accuracy": accuracy,
                             "faces": int(len(measured[k]))})
    return pd.DataFrame(rows)
