"""CAM maps of many faces: the gradient stopped at the CAM layer against back-propagated through the
whole trunk (what TensorFlow's tape did when tf-keras-vis watches the input), same maps.

    python bench/cam_speed.py --run fer2013-cnn-w1-mirror --data ../shared/data/fer2013 --faces 1024
    python bench/cam_speed.py --run demo-cnn-w0.125 --faces 1000        # the demo faces

Prints seconds per method for each way, the ratio, and the largest difference between the maps.
Pause any background training while it runs: the two share the cores.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    import numpy as np

    from fer.data import load_dataset
    from fer.explain import aggregate, saliency
    from fer.runs import RunStore

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="fer2013-cnn-w1-mirror")
    ap.add_argument("--models", default=str(ROOT / "models"))
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--faces", type=int, default=1024)
    ap.add_argument("--methods", default="Grad-CAM,Grad-CAM++")
    args = ap.parse_args(argv)

    model = RunStore(args.models).get(args.run).load_model()
    x, y = load_dataset(args.data).split("test")
    x, y = x[:args.faces], y[:args.faces]
    stopped = saliency._gradient_stops_at_layer
    print(f"# {args.run}, {len(x)} test faces of {args.data}")
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        aggregate.face_maps(model, x[:8], method, class_index=y[:8])  # traced before timing
        timed = {}
        for name, stop in (("through the trunk", contextlib.nullcontext), ("stopped at the layer", stopped)):
            saliency._gradient_stops_at_layer = stop
            try:
                start = time.perf_counter()
                timed[name] = (aggregate.face_maps(model, x, method, class_index=y), time.perf_counter() - start)
            finally:
                saliency._gradient_stops_at_layer = stopped
        (a, slow), (b, fast) = timed.values()
        diff = float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max())
        print(f"{method:11s} through the trunk {slow:6.2f} s, stopped at the layer {fast:6.2f} s: x{slow / fast:.2f} "
              f"faster; {len(x) / fast:.0f} faces/s; largest map difference {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
