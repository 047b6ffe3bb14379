"""A photo's faces read by several runs: boxes, FER2013-like crops, predictions and maps.

    faces = faces_in(photo)                           # [FoundFace(number, box, face)], largest first
    reading = read_faces(model, [f.face for f in faces], ["Grad-CAM"])
    reading.probs                                     # (n, 7)
    reading.maps["Grad-CAM"]                          # (n, 48, 48) for each face's predicted class

One model call per method for all the faces of a photo (a batch), not one per face: that is
what keeps a photo of five faces read by three runs under a second (`bench/photo_speed.py`).
The "Your face" page, the Saliency page's uploads and `python -m fer predict` all come here.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence

import numpy as np

from fer.detect import Box, crop_like_fer2013, detect_faces
from fer.faces import CropBox, crop_face


@dataclasses.dataclass(frozen=True)
class FoundFace:
    """Face `number` (from 1) of a photo: its detector box (None when placed by hand) and the
    uint8 (48,48) crop every model takes."""

    number: int
    box: Optional[Box]
    face: np.ndarray


def faces_in(photo) -> list:
    """Every face the detectors find in `photo` (PIL image or array), largest first."""
    return [FoundFace(n, b, crop_like_fer2013(photo, b)) for n, b in enumerate(detect_faces(photo), start=1)]


def face_by_hand(photo, box: CropBox) -> FoundFace:
    """The face inside a square box the user placed (when the detectors found none)."""
    return FoundFace(1, None, crop_face(photo, box))


def mirrored(photo):
    """The photo flipped left-right (a webcam preview is a mirror; the snapshot may be too)."""
    from PIL import ImageOps

    return ImageOps.mirror(photo)


@dataclasses.dataclass
class Reading:
    """One run's reading of n faces: probabilities (n,7) and, per method, maps (n,48,48) of each
    face's predicted class; a method that does not apply to the model maps to its reason (str)."""

    probs: np.ndarray
    maps: Dict[str, object]

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


def read_faces(model, faces: Sequence[np.ndarray], methods: Sequence[str] = (), options: Optional[dict] = None) -> Reading:
    """Predict `faces` (uint8 (48,48) each) and explain each one's predicted class with `methods`
    (names in `fer.explain.METHODS`; `options` shared, each method taking its own). Other sessions'
    requests for the same model and method go in the same batch (`fer.explain.shared`)."""
    from fer.explain import applicable_methods
    from fer.explain.shared import shared_maps, shared_probs

    x = np.stack([np.asarray(f, np.uint8) for f in faces]) if len(faces) else np.zeros((0, 48, 48), np.uint8)
    probs = shared_probs(model, x) if len(x) else np.zeros((0, 7), np.float32)
    reasons = applicable_methods(model)
    maps: Dict[str, object] = {}
    for name in methods:
        if reasons[name] is not None:
            maps[name] = reasons[name]
        elif len(x):
            maps[name] = shared_maps(model, name, x, probs.argmax(axis=1), options)
        else:
            maps[name] = np.zeros((0, 48, 48), np.float32)
    return Reading(probs=probs, maps=maps)
