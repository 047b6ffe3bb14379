"""The photo path measured: FER2013 test faces pasted into larger scenes, found, framed, classified.

    python bench/photo_path.py [--data ../shared/data/fer2013] [--run fer2013-cnn-w1-mirror] [--scenes 300]

Each scene is a 640x480 or 1280x720 photo (flat, gradient, noise or blurred-texture
background) holding one to three FER2013 PublicTest faces, each upscaled 2-5x to a random free
position. `fer.detect.detect_faces` runs on every scene; a face counts as found when a box
is centred on it with a side 0.4-1.6 x its side, and a box that finds no face is a false box. Each found
face is cropped with `fer.detect.crop_like_fer2013` under every framing of a small grid and
classified by the run; a face not found counts as wrong. Printed: faces found, false boxes per
photo, detector milliseconds per photo, the direct accuracy (the same 48x48 faces fed straight
to the model) and the photo-path accuracy of each framing. Targets: >= 90% found, <= 0.1 false
boxes per photo, photo-path accuracy within 5 points of the direct accuracy.

Measured here (300 scenes, 606 faces, the then main CNN fer2013-cnn-w0.5-leg9, MTCNN at two scales then
the Haar cascade as the fallback): 94.1% found, 0.023 false boxes per photo, 298 ms per photo;
direct 65.02%, photo path 62.38% (-2.64 points). With `--scenes 200 --seed 1` (scenes not used
for tuning): 94.6% found, 0.065 false boxes per photo, direct 68.06%, photo path 63.14% (-4.91).
All three targets met then. With the width-1, mirror-averaged main CNN fer2013-cnn-w1-mirror (same
300 scenes): direct 70.13%, photo path 64.03% (-6.11 points: the third target missed). Of the
gap, 3.8 points are the 36 faces the detector misses (counted wrong; the model gets 63.89% of them
fed directly) and 2.3 the framing (70.53% direct on the faces found, 68.07% through the photo
path); averaging the probabilities over three framings (sides 1.1, 1.2, 1.3) gains 0.49 (64.52%).
After the main CNN's third leg (70.41% on PublicTest, same 300 scenes): direct 70.96%, photo path
65.68% (-5.28: 3.6 points the faces not found, 1.7 the framing).
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def background(rng, h, w):
    import cv2
    import numpy as np

    kind = rng.integers(4)
    if kind == 0:
        return np.full((h, w), rng.integers(30, 220), np.uint8), "flat"
    if kind == 1:
        ramp = np.linspace(rng.integers(0, 120), rng.integers(130, 255), w)[None, :].repeat(h, 0)
        return ramp.astype(np.uint8), "gradient"
    if kind == 2:
        return np.clip(rng.normal(128, 40, (h, w)), 0, 255).astype(np.uint8), "noise"
    texture = cv2.resize(rng.integers(0, 255, (h // 16, w // 16)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(texture, (0, 0), 3), "texture"


def make_scene(rng, faces):
    """(photo, [Box] of the pasted faces) with the faces upscaled 2-5x at free positions."""
    import cv2

    from fer.detect import Box

    h, w = ((480, 640), (720, 1280))[rng.integers(2)]
    photo, _ = background(rng, h, w)
    boxes = []
    for face in faces:
        for _ in range(50):
            side = int(48 * rng.uniform(2, 5))
            x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
            box = Box(x, y, side, side)
            if all(box.iou(b) == 0 and not _near(box, b) for b in boxes):
                photo[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
                boxes.append(box)
                break
    return photo, boxes


def _on(face, box):
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return face.x <= cx <= face.x + face.w and face.y <= cy <= face.y + face.h and 0.4 <= box.w / face.w <= 1.6


def _near(a, b, gap=10):
    return not (a.x + a.w + gap < b.x or b.x + b.w + gap < a.x or a.y + a.h + gap < b.y or b.y + b.h + gap < a.y)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"))
    p.add_argument("--run", default="fer2013-cnn-w1-mirror")
    p.add_argument("--scenes", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import numpy as np

    from fer.data import load_dataset
    from fer.detect import FRAMINGS, Framing, crop_like_fer2013, detect_faces
    from fer.evaluate import predict_proba
    from fer.runs import RunStore

    try:
        data = load_dataset(args.data)
    except Exception as exc:  # noqa: BLE001 - a bench: say why and stop
        sys.exit(f"cannot load {args.data}: {exc}")
    model = RunStore().get(args.run).load_model()
    x_test, y_test = data.split("test")
    rng = np.random.default_rng(args.seed)
    detect_faces(np.zeros((64, 64), np.uint8))  # load the detectors before timing
    faces_total = false_boxes = 0
    seconds, direct_faces, labels, found = [], [], [], []  # found: (photo, box) or None per face
    for _ in range(args.scenes):
        idx = rng.choice(len(x_test), size=int(rng.integers(1, 4)), replace=False)
        photo, truth = make_scene(rng, [x_test[i] for i in idx])
        start = time.perf_counter()
        boxes = detect_faces(photo)
        seconds.append(time.perf_counter() - start)
        matched = set()
        for i, gt in zip(idx[:len(truth)], truth):
            faces_total += 1
            direct_faces.append(x_test[i])
            labels.append(y_test[i])
            best = next((b for b in boxes if _on(gt, b) and b not in matched), None)
            if best is not None:
                matched.add(best)
            found.append(None if best is None else (photo, best))
        false_boxes += sum(b not in matched for b in boxes)

    labels = np.array(labels)
    direct = float((predict_proba(model, np.stack(direct_faces)).argmax(1) == labels).mean())
    n_found = sum(f is not None for f in found)
    by = {d: sum(1 for f in found if f is not None and f[1].detector == d) for d in FRAMINGS}
    print(f"# {args.scenes} scenes, {faces_total} FER2013 PublicTest faces, run {args.run}")
    print(f"faces found: {n_found}/{faces_total} = {100 * n_found / faces_total:.1f}% "
          f"({', '.join(f'{d} {n}' for d, n in by.items())})   false boxes per photo: {false_boxes / args.scenes:.3f}   "
          f"detectors: {1000 * np.median(seconds):.0f} ms per photo (median)")
    print(f"direct accuracy (the same 48x48 faces): {100 * direct:.2f}%")
    hits = predict_proba(model, np.stack(direct_faces)).argmax(1) == labels
    found_mask = np.array([f is not None for f in found])
    print(f"  of which on the faces found: {100 * hits[found_mask].mean():.2f}% direct "
          f"(the faces missed: {100 * hits[~found_mask].mean() if (~found_mask).any() else float('nan'):.2f}%)")

    def photo_path(framings):
        crops = [np.zeros((48, 48), np.uint8) if f is None else crop_like_fer2013(f[0], f[1], framings[f[1].detector])
                 for f in found]
        hit = predict_proba(model, np.stack(crops)).argmax(1) == labels
        return float(np.mean([h and f is not None for h, f in zip(hit, found)]))

    for detector in FRAMINGS:
        results = []
        for scale in (0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5):
            for shift in (-0.1, -0.05, 0.0, 0.05, 0.1):
                framings = {**FRAMINGS, detector: Framing(scale, shift)}
                results.append((photo_path(framings), scale, shift))
        for acc, scale, shift in sorted(results, reverse=True)[:3]:
            print(f"photo path, {detector} boxes framed at side {scale:.2f} x width, centre {shift:+.2f} x height: "
                  f"{100 * acc:.2f}% ({100 * (acc - direct):+.2f} points)")
    acc = photo_path(FRAMINGS)
    print(f"photo path with fer.detect.FRAMINGS: {100 * acc:.2f}% ({100 * (acc - direct):+.2f} points)")

    # the probabilities averaged over three framings around each box (sides 1.1, 1.2, 1.3 x its width)
    probs = 0
    for scale in (1.1, 1.2, 1.3):
        crops = [np.zeros((48, 48), np.uint8) if f is None else crop_like_fer2013(f[0], f[1], Framing(scale, 0.0))
                 for f in found]
        probs = probs + predict_proba(model, np.stack(crops))
    acc = float(np.mean((probs.argmax(1) == labels) & found_mask))
    print(f"photo path averaged over framings 1.1, 1.2, 1.3: {100 * acc:.2f}% ({100 * (acc - direct):+.2f} points)")


if __name__ == "__main__":
    main()
