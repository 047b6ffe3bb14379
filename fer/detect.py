"""Faces in a photo, and crops framed like FER2013's.

    boxes = detect_faces(gray)                     # [Box(x, y, w, h)] in the photo's pixels
    face = crop_like_fer2013(gray, boxes[0])       # uint8 (48,48), ready for any model

The detector is OpenCV's frontal-face Haar cascade `alt2`, whose weights ship inside the pinned
`opencv-python-headless` 4.x wheel (nothing is downloaded; the 5.0 wheels ship no cascades).
Small photos are upsampled before detection, so faces down to ~40 px are found.

Measured on 100 scenes of 1-3 pasted FER2013 faces (bench/photo_path.py; a face counts as found
when a box's centre lies on it and its side is 0.4-1.6 x the face's): `default` found 67.7% with
0.26 false boxes per photo (73.1% / 0.55 at minNeighbors 3), `alt` 65.2% / 0.02 (69.2% / 0.07),
`alt2` 67.7% / 0.04 (70.6% / 0.10, the setting here); histogram equalisation cost 9-13 points
of faces found. Short of the 90% the photo path needs: a second detector (MTCNN) is next.

FER2013's faces are tight, centred crops; a detector's box is not framed that way. The framing
(`FRAMING`: the square's side and centre relative to the detector's box) was tuned by measurement
with `bench/photo_path.py`, which pastes FER2013 test faces into larger scenes, detects, crops and
classifies them, and compares with classifying the same 48x48 faces directly.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from fer import IMAGE_SIZE

MIN_FACE = 24  # pixels, in the (possibly upsampled) detection image
DETECT_SIDE = 480  # photos whose shorter side is below this are upsampled for detection


@dataclasses.dataclass(frozen=True)
class Box:
    """A rectangle in the photo's pixels (x, y: top-left corner)."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list:
        return [int(self.x), int(self.y), int(self.w), int(self.h)]

    def iou(self, other: "Box") -> float:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union else 0.0


@dataclasses.dataclass(frozen=True)
class Framing:
    """A FER2013-like square from a detector box: side = `scale` x the box's width, centre moved
    down by `shift` x the box's height."""

    scale: float = 1.0
    shift: float = 0.0


FRAMING = Framing(scale=1.0, shift=0.0)  # best of a 5x4 grid (bench/photo_path.py), by under a point


_CASCADE = None


def _cascade():
    global _CASCADE
    if _CASCADE is None:
        import cv2

        _CASCADE = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
        if _CASCADE.empty():  # an OpenCV wheel without its data folder (5.0 ships none)
            raise RuntimeError("OpenCV's Haar cascade is missing: install opencv-python-headless 4.x")
    return _CASCADE


def as_gray(image) -> np.ndarray:
    """uint8 (H,W) from a PIL image, (H,W) or (H,W,3|4) array."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(a, 0, 255).astype(np.uint8)


def detect_faces(image, min_neighbors: int = 3, scale_factor: float = 1.1) -> list:
    """Every frontal face in `image` (PIL image or array), largest first, as Box in its pixels."""
    import cv2

    gray = as_gray(image)
    up = max(1.0, DETECT_SIDE / max(1, min(gray.shape)))
    work = cv2.resize(gray, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR) if up > 1 else gray
    found = _cascade().detectMultiScale(work, scaleFactor=scale_factor, minNeighbors=min_neighbors,
                                        minSize=(MIN_FACE, MIN_FACE))
    boxes = [Box(int(round(x / up)), int(round(y / up)), int(round(w / up)), int(round(h / up))) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: -b.w * b.h)


def fer2013_box(box: Box, framing: Framing = FRAMING) -> Box:
    """The square FER2013-like crop around a detector box (it may reach outside the photo)."""
    side = max(1, int(round(box.w * framing.scale)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2 + framing.shift * box.h
    return Box(int(round(cx - side / 2)), int(round(cy - side / 2)), side, side)


def crop_like_fer2013(image, box: Box, framing: Optional[Framing] = None) -> np.ndarray:
    """uint8 (48,48): the FER2013-like square around `box`, edges replicated where it leaves the photo."""
    import cv2

    gray = as_gray(image)
    sq = fer2013_box(box, framing or FRAMING)
    pad = max(0, -sq.x, -sq.y, sq.x + sq.w - gray.shape[1], sq.y + sq.h - gray.shape[0])
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    patch = gray[sq.y + pad: sq.y + pad + sq.h, sq.x + pad: sq.x + pad + sq.w]
    return cv2.resize(patch, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)


def draw_boxes(image, boxes, max_side: int = 480) -> np.ndarray:
    """The photo (downscaled to `max_side`) as uint8 RGB with every box drawn and numbered from 1."""
    import cv2

    gray = as_gray(image)
    scale = min(1.0, max_side / max(gray.shape))
    small = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                       interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB)
    for number, b in enumerate(boxes, start=1):
        x0, y0, x1, y1 = (int(round(v * scale)) for v in (b.x, b.y, b.x + b.w, b.y + b.h))
        cv2.rectangle(rgb, (x0, y0), (x1, y1), (255, 40, 40), 2)
        cv2.putText(rgb, str(number), (x0 + 3, max(14, y0 - 4) if y0 >= 18 else y0 + 16), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6, (255, 40, 40), 2, cv2.LINE_AA)
    return rgb
