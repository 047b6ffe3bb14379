"""Training throughput: `fer` training against a plain `model.fit`, and the FLOP rate achieved.

Trains the same model on the same images twice in one process: once through
`fer.train.train` (tf.data pipeline, callbacks, checkpoints; augmentation off so the work is
the same) and once with a bare `model.fit` on NumPy arrays. Prints images per second for
each, their ratio (>= 1.0 expected: fer's pipeline should not cost throughput), and the
achieved training FLOP rate (3 x forward FLOPs per image) next to this CPU's nominal FP32
peak (cores x clock x 32 FLOPs/cycle for AVX2 FMA).

    python bench/train_throughput.py [--arch cnn] [--width 0.5] [--images 4096] [--epochs 3]
    python bench/train_throughput.py --recipe fer2013-cnn-w1-mirror [--augment]

`--recipe RUN` takes the model and the optimiser (SGD or Adam, weight decay, label smoothing,
dropout) from a saved run's `run.json`, so the figures are that run's training; `--augment`
then times fer's training with its augmentation on (the plain fit has none: the ratio is then
the augmentation's cost).

The first epoch of each (graph tracing) is not timed: the figures are steady-state epochs.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
    p.add_argument("--epochs", type=int, default=3, help="at least 2: the first epoch (tracing) is not timed")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--recipe", default=None, help="a saved run whose model and optimiser settings to time")
    p.add_argument("--augment", action="store_true", help="fer's training with augmentation on")
    args = p.parse_args()

    import fer  # noqa: F401  - before TensorFlow, so both paths run with the app's oneDNN setting
    import keras

    from fer.data.synthetic import generate
    from fer.models import build_model, count_flops
    from fer.runs import RunStore
    from fer.train import MODEL_OPTIONS, TrainConfig, _optimizer, train

    ds = generate(n_train=args.images, n_val=256, n_test=256, seed=0)
    x, y = ds.split("train")
    config = TrainConfig(arch=args.arch, width=args.width, epochs=args.epochs, batch_size=args.batch_size,
                         augment=args.augment, patience=0, schedule="constant")
    if args.recipe:
        import dataclasses

        recipe = RunStore().get(args.recipe).meta["config"]
        keep = ("arch", "width", *MODEL_OPTIONS, "learning_rate", "optimizer", "weight_decay", "label_smoothing")
        config = dataclasses.replace(config, **{k: recipe[k] for k in keep if k in recipe})

    # fer: epoch-end times from its own progress events (each epoch includes validation and checkpoints)
    fer_ends = []
    train(config, ds, RunStore(tempfile.mkdtemp()), save=False,
          progress=lambda e: fer_ends.append(time.perf_counter()) if e.phase == "epoch" else None)

    # plain: the same model, compiled the same way, fit on float32 NumPy arrays
    keras.utils.set_random_seed(0)
    model = build_model(config.arch, config.width, **config.model_options())
    model.compile(_optimizer(config, config.learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    plain_ends = []
    model.fit(x[..., None].astype("float32"), y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: plain_ends.append(time.perf_counter()))])

    # steady state: epochs 2..N (epoch 1 includes graph tracing in both)
    fer_ips = len(x) * (len(fer_ends) - 1) / (fer_ends[-1] - fer_ends[0])
    plain_ips = len(x) * (len(plain_ends) - 1) / (plain_ends[-1] - plain_ends[0])

    flops = count_flops(model)
    peak, cores, clock = cpu_peak_gflops()
    print(f"model: {config.arch} width {config.width:g}, {model.count_params():,} params, {flops / 1e6:.1f} MFLOPs forward "
          f"per image; {config.optimizer}, weight decay {config.weight_decay:g}, label smoothing {config.label_smoothing:g}, "
          f"augmentation {'on (fer only)' if config.augment else 'off'}" + (f" (recipe of {args.recipe})" if args.recipe else ""))
    print(f"# load average {os.getloadavg()[0]:.1f}; epochs 2..{args.epochs} timed, {len(x)} images each")
    print(f"fer.train.train : {fer_ips:8.1f} images/s  (includes per-epoch validation and checkpoints)")
    print(f"plain model.fit : {plain_ips:8.1f} images/s")
    print(f"ratio fer/plain : {fer_ips / plain_ips:8.2f}  ({'the cost of augmentation' if config.augment else '>= 1.0 expected'})")
    achieved = 3 * flops * fer_ips / 1e9
    print(f"training FLOP rate: {achieved:.1f} GFLOP/s of a nominal {peak:.0f} GFLOP/s peak "
          f"({cores} cores x {clock:.2f} GHz x 32) = {100 * achieved / peak:.1f}% of peak")


if __name__ == "__main__":
    main()
