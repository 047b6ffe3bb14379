"""Latency of the explanations per 48x48 face on this CPU, after warm-up (issue 5).

    /work/venv/bin/python bench/explain_latency.py [--repeats 7] [--tfkv-filters 2] [--width 1.0]
    TF_ENABLE_ONEDNN_OPTS=0 /work/venv/bin/python bench/explain_latency.py   # TensorFlow's default kernels

Model: the VGG-style CNN at width 1.0 (block2 has 64 filters, block3 128), untrained (latency
does not depend on the weights): its block2_conv2 is the costliest 64-filter layer of the
family (a 48x48 block of 32 channels in front of it). The filter ascent is also timed on the
shipped main model's size, CNN width 0.5, whose 64-filter layers are block3 (12x12). Each figure is the median of `--repeats` timed calls after
one warm-up call (the warm-up builds the cached linear copy and traces the compiled functions;
that one-off cost is printed too). Targets:

    vanilla saliency           <= 0.1 s per face
    Grad-CAM                   <= 0.1 s per face
    SmoothGrad, 20 samples     <= 0.5 s per face
    Score-CAM (Faster, max_N)  <= 1 s per face
    all 64 filters of a layer, 100 steps, batched ascent   <= 10 s
    speed-up of the batched ascent over tf-keras-vis' one-filter-at-a-time loop (printed)

tf-keras-vis' loop is timed on `--tfkv-filters` filters only (100 steps each, same settings)
and extrapolated linearly to the 64 filters: each filter is an independent run of the same
cost, so the total is n_filters x the per-filter time; the output says so.

The machine is shared (a background training job, other engineers' tests): the load average
is printed, and next to each wall-clock figure the CPU seconds the process used. On a shared
machine wall > CPU / 2; on an idle 2-core machine wall is about CPU / 1.7 for the batched work.

TensorFlow leaves its oneDNN kernels off on this AMD CPU; `import fer` switches them on (unless
TF_ENABLE_ONEDNN_OPTS is set), which cuts the ascent's CPU time by about 30 %. The ascent also
folds each Conv2D -> BatchNorm pair into one convolution and runs in batches of 32 filters.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_time(fn, repeats: int):
    """(median wall seconds, median CPU seconds of this process) over `repeats` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def line(label, timing, target=None, note=""):
    wall, cpu = timing if isinstance(timing, tuple) else (timing, None)
    verdict = "" if target is None else ("OK  " if wall <= target else "MISS")
    tgt = f"target <= {target:g} s" if target is not None else ""
    cpu_text = f"{cpu:8.3f}" if cpu is not None else " " * 8
    print(f"{label:<50} {wall:8.3f} s {cpu_text}   {tgt:<16} {verdict} {note}".rstrip(), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--layer", default="block2_conv2", help="a 64-filter layer at width 1.0")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--tfkv-filters", type=int, default=2, help="filters timed with tf-keras-vis (then extrapolated)")
    ap.add_argument("--max-n", type=int, default=10, help="Faster-Score-CAM max_N")
    args = ap.parse_args(argv)

    import fer  # noqa: F401  - before TensorFlow: sets the oneDNN default the app uses
    import keras
    import tensorflow as tf

    from fer.data.synthetic import generate
    from fer.explain import METHODS
    from fer.explain.filters import AscentSettings, conv_layers, visualize_filters, visualize_filters_tfkv
    from fer.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("cnn", width=args.width)
    face = generate(0, 0, 1, seed=0).images[:1]
    n_filters = next(x["filters"] for x in conv_layers(model) if x["name"] == args.layer)
    print(f"# explain latency: CNN width {args.width:g} ({model.count_params():,} params), one 48x48 face, "
          f"median of {args.repeats} after warm-up")
    print(f"# TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores, "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    print(f"# TF_ENABLE_ONEDNN_OPTS={onednn if onednn is not None else 'unset (off on this AMD CPU)'}: oneDNN kernels "
          f"{'on' if onednn == '1' else 'off'} (about 30 % less CPU time for the ascent when on)")
    print("# wall = seconds per call; cpu = CPU seconds this process used (on a shared machine, wall > cpu/cores)")
    print(f"{'':<50} {'wall':>8}   {'cpu':>8}")

    cases = [
        ("vanilla saliency", "Saliency", {}, 0.1),
        ("Grad-CAM", "Grad-CAM", {}, 0.1),
        ("Grad-CAM++", "Grad-CAM++", {}, None),
        ("SmoothGrad, 20 samples", "SmoothGrad", {"samples": 20}, 0.5),
        (f"Score-CAM (Faster, max_N={args.max_n})", "Score-CAM", {"max_n": args.max_n}, 1.0),
    ]
    for label, name, opts, target in cases:
        t = time.perf_counter()
        METHODS[name](model, face, 3, **opts)
        warm = time.perf_counter() - t
        line(label, median_time(lambda: METHODS[name](model, face, 3, **opts), args.repeats), target,
             f"(first call {warm:.1f} s)")

    s = AscentSettings(steps=args.steps)
    t = time.perf_counter()
    visualize_filters(model, args.layer, settings=AscentSettings(steps=2))  # trace the compiled ascent
    warm = time.perf_counter() - t
    batched = median_time(lambda: visualize_filters(model, args.layer, settings=s), max(1, min(3, args.repeats)))
    line(f"all {n_filters} filters of {args.layer}, {args.steps} steps (batched)", batched, 10.0,
         f"(first call incl. tracing {warm:.1f} s)")
    # the same work on the shipped main model's size: CNN width 0.5, whose 64-filter layers are in block 3
    main_model = build_model("cnn", width=0.5)
    visualize_filters(main_model, "block3_conv2", settings=AscentSettings(steps=2))
    line(f"CNN w0.5 (main model size): all 64 filters of block3_conv2, {args.steps} steps",
         median_time(lambda: visualize_filters(main_model, "block3_conv2", settings=s), max(1, min(3, args.repeats))),
         10.0)

    k = max(1, args.tfkv_filters)
    visualize_filters_tfkv(model, args.layer, [0], AscentSettings(steps=2))  # warm-up
    wall, cpu = median_time(lambda: visualize_filters_tfkv(model, args.layer, list(range(k)), s), 1)
    per_filter = (wall / k, cpu / k)
    tfkv_total = (per_filter[0] * n_filters, per_filter[1] * n_filters)
    line(f"tf-keras-vis, per filter, {args.steps} steps", per_filter, None, f"(timed on {k} filters)")
    line(f"tf-keras-vis, all {n_filters} filters (extrapolated)", tfkv_total, None,
         f"= {n_filters} x the per-filter time measured on {k}")
    print(f"{'speed-up of the batched ascent over tf-keras-vis':<50} {tfkv_total[0] / batched[0]:8.1f} x "
          f"{tfkv_total[1] / max(batched[1], 1e-9):8.1f} x  (wall, cpu)")


if __name__ == "__main__":
    main()
