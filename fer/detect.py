"""Faces in a photo, and crops framed like FER2013's.

    boxes = detect_faces(photo)                     # [Box(x, y, w, h, detector)] in the photo's pixels
    face = crop_like_fer2013(photo, boxes[0])       # uint8 (48,48), ready for any model

Two detectors whose weights ship inside pinned pip packages (nothing is downloaded): MTCNN
(`mtcnn` 1.0, on TensorFlow), run on the photo and on a 0.6x copy with its stage thresholds
lowered, and OpenCV's frontal-face Haar cascade `alt2` (inside the `opencv-python-headless` 4.x
wheel; the 5.0 wheels ship no cascades) as the fallback when MTCNN finds nothing.

Chosen with `bench/photo_path.py` (scenes of FER2013 faces pasted into larger photos; it prints
faces found, false boxes and ms per photo for each setting): each cascade alone finds far fewer
faces than MTCNN; lowered thresholds and a second scale find more for few false boxes; with
MTCNN at two scales the cascade found no further face, only false boxes, so it stays as the
fallback for photos where MTCNN finds nothing. Histogram equalisation before the cascade and a
denser MTCNN pyramid (`scale_factor` 0.8) both found fewer faces.

FER2013's faces are tight, centred squares; neither detector's box is framed that way (MTCNN's
is ~0.8 x a FER2013 face's side and taller than wide, the cascade's ~0.9 x). `FRAMINGS` turns
each detector's box into a FER2013-like square, tuned by classifying the crops (the same bench).
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Optional

import numpy as np

from fer import IMAGE_SIZE

MIN_FACE = 24  # pixels, in the (possibly upsampled) detection image
# Detection runs on a copy whose shorter side is DETECT_SIDE: small photos are upsampled (MTCNN
# misses small faces), large ones downsampled (a 1280x720 photo: 930 -> ~400 ms, as many faces
# found); boxes come back in the photo's own pixels.
DETECT_SIDE = 480


@dataclasses.dataclass(frozen=True)
class Box:
    """A rectangle in the photo's pixels (x, y: top-left corner) and the detector that found it."""

    x: int
    y: int
    w: int
    h: int
    detector: str = ""

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


# The best of a grid of scales and shifts per detector (bench/photo_path.py): on the faces found
# the photo path is about as accurate as the same faces fed directly, so the points it loses are
# mostly the faces not found.
FRAMINGS = {"mtcnn": Framing(scale=1.2, shift=0.0), "haar": Framing(scale=1.2, shift=0.0)}
# MTCNN's stage thresholds, lowered from its defaults (0.6, 0.7, 0.8): more faces found for few
# more false boxes (bench/photo_path.py prints both). The cascade adds its boxes with at least HAAR_NEIGHBORS raw
# detections behind them (OpenCV's minNeighbors counts the same way) where MTCNN found nothing.
MTCNN_THRESHOLDS = {"threshold_pnet": 0.5, "threshold_rnet": 0.5, "threshold_onet": 0.5}
HAAR_NEIGHBORS = 8
# MTCNN runs twice, on the photo and on a 0.6x copy: its image pyramid misses some faces at one
# sampling of scales that it finds at another (more faces found, at about 1.7x the time).
MTCNN_SCALES = (1.0, 0.6)


_LOCK = threading.Lock()  # the app's sessions share one detector of each kind
_DETECTORS: dict = {}


def _haar():
    if "haar" not in _DETECTORS:
        import cv2

        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
        if cascade.empty():  # an OpenCV wheel without its data folder (5.0 ships none)
            raise RuntimeError("OpenCV's Haar cascade is missing: install opencv-python-headless 4.x")
        _DETECTORS["haar"] = cascade
    return _DETECTORS["haar"]


def _mtcnn():
    if "mtcnn" not in _DETECTORS:
        from mtcnn import MTCNN

        _DETECTORS["mtcnn"] = MTCNN(device="CPU:0")
    return _DETECTORS["mtcnn"]


def as_gray(image) -> np.ndarray:
    """uint8 (H,W) from a PIL image, (H,W) or (H,W,3|4) array."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.clip(a, 0, 255).astype(np.uint8)


def _overlap(a: Box, b: Box) -> bool:
    def centred_on(face, box):
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        return face.x <= cx <= face.x + face.w and face.y <= cy <= face.y + face.h

    return a.iou(b) > 0.2 or centred_on(a, b) or centred_on(b, a)


def detect_faces(image) -> list:
    """Every face in `image` (PIL image or array), largest first, as Box in its pixels: MTCNN's,
    then the Haar cascade's where MTCNN found nothing."""
    import cv2

    gray = as_gray(image)
    up = DETECT_SIDE / max(1, min(gray.shape))
    work = gray if up == 1 else cv2.resize(gray, None, fx=up, fy=up,
                                           interpolation=cv2.INTER_LINEAR if up > 1 else cv2.INTER_AREA)

    def box(x, y, w, h, detector):
        return Box(int(round(x / up)), int(round(y / up)), int(round(w / up)), int(round(h / up)), detector)

    with _LOCK:
        found = []
        rgb = cv2.cvtColor(work, cv2.COLOR_GRAY2RGB)
        for scale in MTCNN_SCALES:
            image = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            for r in _mtcnn().detect_faces(image, **MTCNN_THRESHOLDS):
                candidate = box(*(v / scale for v in r["box"]), "mtcnn")
                if not any(_overlap(candidate, b) for b in found):
                    found.append(candidate)
        if found:  # the cascade is the fallback: with MTCNN at two scales it added no face, only false boxes
            return sorted(found, key=lambda b: -b.w * b.h)
        rects, neighbours = _haar().detectMultiScale2(work, scaleFactor=1.1, minNeighbors=1, minSize=(MIN_FACE, MIN_FACE))
        for (x, y, w, h), n in zip(rects, np.ravel(neighbours)):
            candidate = box(x, y, w, h, "haar")
            if n >= HAAR_NEIGHBORS:
                found.append(candidate)
    return sorted(found, key=lambda b: -b.w * b.h)


def fer2013_box(box: Box, framing: Optional[Framing] = None) -> Box:
    """The square FER2013-like crop around a detector box (it may reach outside the photo)."""
    framing = framing or FRAMINGS.get(box.detector, Framing())
    side = max(1, int(round(box.w * framing.scale)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2 + framing.shift * box.h
    return Box(int(round(cx - side / 2)), int(round(cy - side / 2)), side, side)


def crop_like_fer2013(image, box: Box, framing: Optional[Framing] = None) -> np.ndarray:
    """uint8 (48,48): the FER2013-like square around `box`, edges replicated where it leaves the photo."""
    import cv2

    gray = as_gray(image)
    sq = fer2013_box(box, framing)
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
