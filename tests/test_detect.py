"""Face detection in photos and FER2013-like framing (fer.detect)."""
from pathlib import Path

import numpy as np
import pytest

from fer.detect import Box, Framing, as_gray, crop_like_fer2013, detect_faces, fer2013_box

FER_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"


def test_the_framing_is_a_square_scaled_and_shifted_from_the_detector_box():
    assert fer2013_box(Box(10, 20, 100, 80), Framing(scale=1.2, shift=0.1)) == Box(0, 8, 120, 120)
    assert fer2013_box(Box(10, 20, 100, 100), Framing(1.0, 0.0)) == Box(10, 20, 100, 100)
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_a_crop_reaching_outside_the_photo_replicates_its_edges():
    photo = np.zeros((60, 80), np.uint8)
    photo[:, :40] = 200  # left half bright
    face = crop_like_fer2013(photo, Box(-30, 10, 40, 40), Framing(1.0, 0.0))
    assert face.shape == (48, 48) and face.dtype == np.uint8
    assert (face[:, :30] == 200).all()  # the part left of the photo repeats its bright left edge
    colour = np.stack([photo, photo, photo], -1)
    assert np.array_equal(crop_like_fer2013(colour, Box(0, 0, 60, 60)), crop_like_fer2013(photo, Box(0, 0, 60, 60)))
    assert as_gray(colour).shape == photo.shape


def test_photos_without_faces_give_no_boxes():
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((480, 640), 128, np.uint8)) == []
    assert detect_faces(rng.integers(0, 256, (120, 160)).astype(np.uint8)) == []


@pytest.mark.fer2013
@pytest.mark.skipif(not (FER_DIR / "test").is_dir(), reason=f"no FER2013 folder at {FER_DIR}")
def test_fer2013_faces_pasted_into_a_photo_are_found_where_they_are():
    """The detectors are deterministic for the pinned packages: on 10 faces upscaled 4x into one photo
    they find most, each box on a face (bench/photo_path.py: 88.6% of 405 faces in random scenes)."""
    import cv2

    from fer.data import load_dataset

    x, _ = load_dataset(FER_DIR).split("test")
    photo = np.full((480, 1000), 110, np.uint8)
    truth = []
    for k in range(10):
        box = Box(10 + (k % 5) * 198, 20 + (k // 5) * 230, 192, 192)
        photo[box.y:box.y + 192, box.x:box.x + 192] = cv2.resize(x[k], (192, 192), interpolation=cv2.INTER_CUBIC)
        truth.append(box)
    def on(face, box):  # the bench's rule: centred on the face, side 0.4-1.6 x its side
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        return face.x <= cx <= face.x + face.w and face.y <= cy <= face.y + face.h and 0.4 <= box.w / face.w <= 1.6

    boxes = detect_faces(photo)
    found = [t for t in truth if any(on(t, b) for b in boxes)]
    assert len(found) >= 8, (len(found), boxes)
    assert all(any(on(t, b) for t in truth) for b in boxes)  # no box off the faces
    assert {b.detector for b in boxes} <= {"mtcnn", "haar"}
