"""Which test-time views pay for a saved network: the mirror, small shifts, ten crops.

    python bench/test_time_views.py RUN [--data ../shared/data/fer2013] [--split test]

Published FER2013 recipes average ten crops (four corners and the centre, each mirrored) at test
time. Our networks take the whole 48x48 face and were trained with random shifts (up to 10%) and
zooms (up to 10%), so the views that match what they saw are the face shifted a few pixels (edges
repeated, as the augmentation fills them) and corner crops resized back to 48x48 (a 10% zoom at
44 px). This scores the run's network (a mirror-averaged run is unwrapped) on each set of views,
each view's class probabilities averaged, on one split. Printed: one line per set, its number of
views and accuracy. A set that beats the mirror here is worth building into a model as layers,
as `python -m fer mirror` builds the mirror in.
"""
import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SIDE = 48


def shifted(x, dx: int, dy: int):
    """Faces moved dx pixels right and dy down, the uncovered edge repeated."""
    import numpy as np

    p = max(abs(dx), abs(dy))
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    return padded[:, p - dy:p - dy + SIDE, p - dx:p - dx + SIDE]


def cropped(x, size: int, top: int, left: int):
    """A size x size crop at (top, left), resized back to 48x48 (bilinear)."""
    import tensorflow as tf

    return tf.image.resize(x[:, top:top + size, left:left + size], (SIDE, SIDE), method="bilinear").numpy()


def view_sets():
    """name -> list of (view name, function of the faces)."""
    mirror = lambda f: (lambda x: f(x)[:, :, ::-1])  # noqa: E731
    same = lambda x: x  # noqa: E731
    sets = {"plain": [("face", same)], "mirror (fer mirror)": [("face", same), ("mirror", mirror(same))]}
    for d in (1, 2, 3):
        shifts = [(f"shift {dx},{dy}", lambda x, dx=dx, dy=dy: shifted(x, dx, dy))
                  for dx, dy in ((d, 0), (-d, 0), (0, d), (0, -d))]
        sets[f"mirror + shifts of {d} px"] = sets["mirror (fer mirror)"] + shifts + [
            (f"mirrored {n}", mirror(f)) for n, f in shifts]
    for size in (44, 42):
        m = SIDE - size
        crops = [(f"crop {size} at {t},{l}", lambda x, t=t, l=l, s=size: cropped(x, s, t, l))
                 for t, l in ((0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2))]
        sets[f"ten crops of {size} px"] = crops + [(f"mirrored {n}", mirror(f)) for n, f in crops]
        sets[f"ten crops of {size} px + mirror"] = sets[f"ten crops of {size} px"] + sets["mirror (fer mirror)"]
    return sets


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a saved run (its network; a mirror-averaged run is unwrapped)")
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fer2013"))
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--models", default=None, help="run store (default: the app's, FER_MODELS_DIR or models/)")
    args = p.parse_args()

    import numpy as np

    from fer.data import load_dataset
    from fer.errors import DataError
    from fer.evaluate import as_model_input, predict_proba
    from fer.mirror import network_of
    from fer.runs import RunError, RunStore

    try:
        store = RunStore(args.models) if args.models else RunStore()
        network = network_of(store.get(args.run).load_model())
        faces, labels = load_dataset(args.data).split(args.split)
    except (RunError, DataError, OSError) as exc:
        sys.exit(f"cannot run: {exc}")
    if not len(labels):
        sys.exit(f"{args.data} has no {args.split} faces")
    x = as_model_input(faces)
    cache = {}
    print(f"# {args.run}'s network on {len(labels):,} {args.split} faces of {args.data}")
    print(f"{'views':32s} {'n':>3s} {'accuracy':>9s}")
    for name, views in view_sets().items():
        probs = [cache.setdefault(v, predict_proba(network, f(x))) for v, f in views]
        acc = float((np.mean(probs, axis=0).argmax(1) == labels).mean())
        print(f"{name:32s} {len(views):3d} {100 * acc:8.2f}%", flush=True)


if __name__ == "__main__":
    main()
