"""Training throughput: `fer` training against a plain `model.fit`, and the FLOP rate achieved.

Trains the same model on the same images twice in one process: once through
`fer.train.train` (tf.data pipeline, callbacks, checkpoints; augmentation off so the work is
the same) and once with a bare `model.fit` on NumPy arrays. Prints images per second for
each, their ratio (>= 1.0 expected: fer's pipeline should not cost throughput), and the
achieved training FLOP rate (3 x forward FLOPs per image) next to this CPU's nominal FP32
peak (cores x clock x 32 FLOPs/cycle for AVX2 FMA).

    python bench/train_throughput.py [--arch cnn] [--width 0.5] [--images 4096] [--epochs 2]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def cpu_peak_gflops():
    mhz = []
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("cpu mhz"):
                mhz.append(float(line.split(":")[1]))
    except OSError:
        pass
    cores = os.cpu_count() or 1
    clock = (max(mhz) if mhz else 2500.0) / 1000
    return cores * clock * 32, cores, clock


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="cnn")
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    import keras

    from fer.data.synthetic import generate
    from fer.models import build_model, count_flops
    from fer.runs import RunStore
    from fer.train import TrainConfig, train

    ds = generate(n_train=args.images, n_val=256, n_test=256, seed=0)
    x, y = ds.split("train")
    config = TrainConfig(arch=args.arch, width=args.width, epochs=args.epochs, batch_size=args.batch_size,
                         augment=False, patience=0, schedule="constant")
    # warm-up (graph tracing) for both paths
    train(TrainConfig(**{**config.__dict__, "epochs": 1, "max_train_images": 256}), ds, RunStore(tempfile.mkdtemp()), save=False)
    _, meta = train(config, ds, RunStore(tempfile.mkdtemp()), save=False)
    fer_ips = len(x) / meta["seconds_per_epoch"]

    keras.utils.set_random_seed(0)
    model = build_model(args.arch, args.width)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    xf = x[..., None].astype("float32")
    model.fit(xf[:256], y[:256], batch_size=args.batch_size, epochs=1, verbose=0)
    start = time.time()
    model.fit(xf, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    plain_ips = len(x) * args.epochs / (time.time() - start)

    flops = count_flops(model)
    peak, cores, clock = cpu_peak_gflops()
    print(f"model: {args.arch} width {args.width:g}, {model.count_params():,} params, {flops / 1e6:.1f} MFLOPs forward per image")
    print(f"fer.train.train : {fer_ips:8.1f} images/s  (includes per-epoch validation and checkpoints)")
    print(f"plain model.fit : {plain_ips:8.1f} images/s")
    print(f"ratio fer/plain : {fer_ips / plain_ips:8.2f}  (>= 1.0 expected)")
    achieved = 3 * flops * fer_ips / 1e9
    print(f"training FLOP rate: {achieved:.1f} GFLOP/s of a nominal {peak:.0f} GFLOP/s peak "
          f"({cores} cores x {clock:.2f} GHz x 32) = {100 * achieved / peak:.1f}% of peak")


if __name__ == "__main__":
    main()
