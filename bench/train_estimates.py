"""The Train page's time estimates against the time each training takes, and the quick default's score.

    python bench/train_estimates.py [--quick-only]

Trains each configuration below on the generated demo faces with `fer.train.train` (what the
app's queue runs; nothing saved) and prints the estimate the app shows before it starts
(`fer.estimates.estimate_seconds`, from its SPEEDS table: no run of this machine is consulted),
the seconds it took, their ratio, and the test accuracy. Target: every ratio within 0.7-1.3;
the quick default >= 75 % within 60 s.

Measured here (2-core CPU shared with a background training, load average 3.1): every ratio
0.77-1.25 over the 14 configurations; the quick default 34.0 s estimated, 35.2 s taken, 82.1 %
on the demo faces' test split. Trainings of the same configuration varied by up to 25 % from
one run of this file to the next on this shared CPU.
"""
import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def configs(quick_only: bool):
    from fer.jobs import quick_config
    from fer.train import TrainConfig

    out = [("quick default", quick_config())]
    if quick_only:
        return out
    for arch, widths in (("cnn", (0.25, 0.5)), ("mobilenet", (0.5, 1.0)), ("dnn", (0.5, 2.0))):
        for width in widths:
            for epochs in (1, 3):
                out.append((f"{arch} w{width:g}, {epochs} epoch(s)",
                            TrainConfig(arch=arch, width=width, epochs=epochs, max_train_images=2000, patience=0)))
    out.append(("cnn w0.25, 3 epochs, all 7,000 faces", TrainConfig(arch="cnn", width=0.25, epochs=3, patience=0)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick-only", action="store_true")
    args = p.parse_args()
    warnings.filterwarnings("ignore")

    from fer import estimates
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import train

    demo = load_dataset("synthetic")
    sizes = estimates.split_sizes(demo)
    print(f"# {os.cpu_count()} CPU cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'configuration':<40} {'estimate':>9} {'took':>7} {'ratio':>6} {'fit':>6} {'test':>6}")
    for label, config in configs(args.quick_only):
        n_train = min(config.max_train_images or 10**9, len(demo.indices("train")))
        estimate = estimates.estimate_seconds(config, n_train, [], **sizes)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as store:
            _, meta = train(config, demo, RunStore(store), save=False)
        took = time.perf_counter() - start
        print(f"{label:<40} {estimate:8.1f}s {took:6.1f}s {estimate / took:6.2f} {meta['wall_time_s']:5.1f}s "
              f"{100 * meta['test_accuracy']:5.1f}%", flush=True)


if __name__ == "__main__":
    main()
