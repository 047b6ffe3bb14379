"""Face parts: where the eyes, brows, nose and mouth are on each face, and how much of a model's
map falls on each, per class.

    parts = face_parts(dataset, faces)                  # FaceParts: (N,48,48) part index, -1: not found
    table = part_table(maps, parts, labels)             # per class and part: energy and area shares

On the generated faces the parts are their ground-truth regions. On real faces they are drawn
from MTCNN's five keypoints (eyes, nose tip, mouth corners; its weights ship in the pinned `mtcnn`
wheel) as ellipses scaled by the distance between the eyes; a face where MTCNN finds no keypoints
gets no parts (-1) and is left out of every table, never guessed.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

REAL_PARTS = ("eyes", "brows", "nose", "mouth", "rest of face", "background")
# The generated faces' regions (fer.data.synthetic): the nose region holds the cheeks too, and
# nothing marks the face's outline, so what no region covers is one part.
GENERATED_PARTS = ("eyes", "brows", "nose and cheeks", "mouth", "elsewhere")
_GENERATED_BITS = ((0, 2), (1, 1), (2, 4), (3, 8))  # part index, bit; later wins where bits overlap
UPSCALE, PAD = 3, 24  # MTCNN finds keypoints on a 144x144 copy in a 24-pixel border, not at 48x48
BOOTSTRAP = 1000


@dataclasses.dataclass
class FaceParts:
    """Per face, each pixel's part (an index into `names`), -1 everywhere on a face without parts."""

    labels: np.ndarray  # int8 (N,48,48)
    names: tuple
    source: str  # "ground truth" or "MTCNN keypoints"

    @property
    def found(self) -> np.ndarray:
        return (self.labels >= 0).any(axis=(1, 2))


def keypoints(faces, batch: int = 128) -> np.ndarray:
    """MTCNN's five keypoints of each 48x48 face, float32 (N,5,2) as (x, y) in the face's pixels
    (left eye, right eye, nose, mouth left, mouth right); NaN where it finds no face."""
    import cv2
    from mtcnn import MTCNN

    from fer import stopping

    detector = MTCNN(device="CPU:0")
    order = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
    out = np.full((len(faces), 5, 2), np.nan, np.float32)
    side = 48 * UPSCALE
    for start in range(0, len(faces), batch):
        stopping.check()
        chunk = [np.repeat(cv2.copyMakeBorder(cv2.resize(np.asarray(f, np.uint8), (side, side), interpolation=cv2.INTER_CUBIC),
                                              PAD, PAD, PAD, PAD, cv2.BORDER_REPLICATE)[..., None], 3, axis=2)
                 for f in faces[start:start + batch]]
        found = detector.detect_faces(chunk, threshold_pnet=0.5, threshold_rnet=0.5, threshold_onet=0.5)
        for k, result in enumerate(found):
            if result:
                best = max(result, key=lambda r: r["confidence"])
                points = np.array([best["keypoints"][name] for name in order], np.float32)
                out[start + k] = (points - PAD + 0.5) / UPSCALE - 0.5
    return out


SHIPPED = Path(__file__).resolve().parents[1] / "data" / "landmarks"  # small: five points per test face


def _keypoints_file(folder: Path, dataset) -> Path:
    return folder / f"test-keypoints-{dataset.fingerprint}.npz"


def kept_keypoints(dataset) -> Optional[np.ndarray]:
    """The test split's keypoints kept for this data set (shipped with the package for FER2013,
    else found earlier and kept in the cache folder); None when neither has them."""
    from fer.settings import cache_dir

    for folder in (SHIPPED, cache_dir()):
        path = _keypoints_file(folder, dataset)
        if path.is_file():
            with np.load(path, allow_pickle=False) as kept:
                if int(kept["faces"]) == len(dataset.split("test")[1]):
                    return kept["points"]
    return None


def keep_keypoints(dataset, ship: bool = False) -> tuple:
    """Find the test split's keypoints and keep them (atomically) in the cache folder, or with
    `ship` in the package; (path, points)."""
    import io

    from fer.runs import atomic_write_bytes
    from fer.settings import cache_dir

    points = keypoints(dataset.split("test")[0])
    buffer = io.BytesIO()
    np.savez_compressed(buffer, points=points.astype(np.float16), faces=len(points))
    path = _keypoints_file(SHIPPED if ship else cache_dir(), dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path, points


def _ellipse(label, centre, axes, angle, value):
    import cv2

    scale = 16  # cv2 takes sub-pixel centres and axes as fixed point with 4 fractional bits
    cv2.ellipse(label, (int(round(centre[0] * scale)), int(round(centre[1] * scale))),
                (max(1, int(round(axes[0] * scale))), max(1, int(round(axes[1] * scale)))), float(angle), 0, 360,
                int(value), -1, cv2.LINE_8, 4)


def regions_from_keypoints(points) -> np.ndarray:
    """int8 (N,48,48): each pixel's index into REAL_PARTS, from five keypoints per face (-1 on a
    face whose keypoints are NaN). Later parts are drawn over earlier ones: face, nose, mouth,
    brows, eyes."""
    points = np.asarray(points, np.float64)
    labels = np.full((len(points), 48, 48), -1, np.int8)
    for n, (left, right, nose, mouth_l, mouth_r) in enumerate(points):
        if np.isnan(points[n]).any():
            continue
        eyes_mid, mouth_mid = (left + right) / 2, (mouth_l + mouth_r) / 2
        d = max(float(np.linalg.norm(right - left)), 4.0)  # inter-ocular distance: the face's scale
        down = mouth_mid - eyes_mid
        m = max(float(np.linalg.norm(down)), 4.0)
        up = -down / m
        tilt = np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))
        label = np.full((48, 48), REAL_PARTS.index("background"), np.uint8)
        _ellipse(label, eyes_mid + 0.45 * down, (1.0 * d, 1.25 * m), tilt, REAL_PARTS.index("rest of face"))
        _ellipse(label, 0.35 * eyes_mid + 0.65 * nose, (0.22 * d, 0.4 * float(np.linalg.norm(nose - eyes_mid)) + 1), tilt,
                 REAL_PARTS.index("nose"))
        mouth_tilt = np.degrees(np.arctan2(mouth_r[1] - mouth_l[1], mouth_r[0] - mouth_l[0]))
        _ellipse(label, mouth_mid, (0.5 * float(np.linalg.norm(mouth_r - mouth_l)) + 0.12 * d, 0.22 * d), mouth_tilt,
                 REAL_PARTS.index("mouth"))
        for eye in (left, right):
            _ellipse(label, eye + 0.33 * d * up, (0.32 * d, 0.12 * d), tilt, REAL_PARTS.index("brows"))
            _ellipse(label, eye, (0.27 * d, 0.15 * d), tilt, REAL_PARTS.index("eyes"))
        labels[n] = label
    return labels


def generated_regions(masks) -> np.ndarray:
    """int8 (N,48,48): each pixel's index into GENERATED_PARTS from the generated faces' region bits."""
    masks = np.asarray(masks)
    labels = np.full(masks.shape, len(GENERATED_PARTS) - 1, np.int8)
    for part, bit in _GENERATED_BITS:
        labels[(masks & bit) != 0] = part
    return labels


def face_parts(dataset, faces: Optional[Sequence[int]] = None, points=None) -> FaceParts:
    """The parts of the test faces `faces` (indices; default: all): ground truth on the generated
    faces, else from `points` (`keypoints` of those faces, found here when not given)."""
    x, _ = dataset.split("test")
    faces = np.arange(len(x)) if faces is None else np.asarray(faces)
    if dataset.masks is not None and len(dataset.masks):
        masks = np.asarray(dataset.masks)[dataset.indices("test")][faces]
        return FaceParts(generated_regions(masks), GENERATED_PARTS, "ground truth")
    points = keypoints(x[faces]) if points is None else np.asarray(points)
    return FaceParts(regions_from_keypoints(points), REAL_PARTS, "MTCNN keypoints")


def part_table(maps, parts: FaceParts, labels, class_names: Sequence[str] = None, seed: int = 0):
    """One row per class and part: the mean share of each face's map energy on the part
    (`energy_share`, with a bootstrap 95% interval over the class's faces, `low`..`high`), the
    part's mean share of the face's area (`area_share`), their ratio (`ratio`: 1 is what a map
    spread evenly would give) and the faces counted. Faces without parts or with an empty map are
    left out."""
    import pandas as pd

    from fer import CLASS_NAMES

    class_names = list(class_names or CLASS_NAMES)
    maps = np.clip(np.nan_to_num(np.asarray(maps, np.float64)), 0, None)
    total = maps.sum(axis=(1, 2))
    usable = parts.found & (total > 0)
    onehot = parts.labels[..., None] == np.arange(len(parts.names))  # (N,48,48,P)
    energy = np.einsum("nhw,nhwp->np", maps, onehot) / np.where(total > 0, total, 1)[:, None]
    area = onehot.mean(axis=(1, 2))
    rng = np.random.default_rng(seed)
    rows = []
    labels = np.asarray(labels)
    for c, name in enumerate(class_names):
        members = np.flatnonzero((labels == c) & usable)
        if not len(members):
            continue
        draws = energy[members[rng.integers(0, len(members), (BOOTSTRAP, len(members)))]].mean(axis=1)  # (B,P)
        low, high = np.percentile(draws, [2.5, 97.5], axis=0)
        for p, part in enumerate(parts.names):
            e, a = float(energy[members, p].mean()), float(area[members, p].mean())
            rows.append({"class": name, "region": part, "energy_share": e, "area_share": a,
                         "ratio": e / a if a > 0 else float("nan"), "low": float(low[p]), "high": float(high[p]),
                         "faces": int(len(members))})
    return pd.DataFrame(rows, columns=["class", "region", "energy_share", "area_share", "low", "high", "ratio", "faces"])


def strongest(table, min_faces: int = 5):
    """The row of `part_table` with the highest ratio among parts other than the background and
    the leftover part, over classes with at least `min_faces` faces; None when there is none."""
    rows = table[(table["faces"] >= min_faces) & ~table["region"].isin(["background", "elsewhere", "rest of face"])]
    rows = rows[rows["area_share"] > 0]
    return None if rows.empty else rows.loc[rows["ratio"].idxmax()]
