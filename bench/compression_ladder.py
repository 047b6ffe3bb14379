"""
Title: The compression size ladder: bytes, ratio to the float32 .keras file, accuracy, time
Author: FER workbench
Description: Write every compressed form of one model (Keras, float32/float16 .npz, the course's
flat float16 savez_compressed, TFLite float32/float16/dynamic-range int8/full int8, magnitude
pruning + sparse float16, a distilled MobileNet student), load each back, score it on the test
split, and print its exact size in bytes, its ratio to the .keras file, its accuracy and the
seconds the step took.

Without a run id it first trains a small CNN on the generated faces (width 0.25, depth 3, a few
epochs on 3,000 images: about a minute on a laptop CPU); with `--run RUN_ID` it compresses that
run from the run store (env FER_MODELS_DIR or ./models) on the data the run was trained on
(`--data`, default the generated faces). Artefacts go to a temporary folder (or `--out`), never
into the run store.

    python bench/compression_ladder.py                      # train a small CNN, then the ladder
    python bench/compression_ladder.py --sparsity 0.7 --no-distill
    python bench/compression_ladder.py --run cnn-w0.25-20260101-120000-ab12 --data ../shared/data/fer2013
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="compress this run of the run store instead of training a small CNN")
    parser.add_argument("--data", default=None, help="data source of the run (default: the generated faces)")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--epochs", type=int, default=6, help="epochs of the small CNN trained when no --run is given")
    parser.add_argument("--train-images", type=int, default=3000)
    parser.add_argument("--student-width", type=float, default=0.5)
    parser.add_argument("--distill-epochs", type=int, default=4)
    parser.add_argument("--no-distill", action="store_true", help="skip the distilled-student step")
    parser.add_argument("--out", help="folder for the artefacts (default: a temporary folder)")
    args = parser.parse_args(argv)

    import keras

    from fer.compress import DEFAULT_STEPS, DistillOptions, format_bytes, recalibrate_batchnorm, size_ladder
    from fer.data import load_dataset

    t0 = time.time()
    if args.run:
        from fer.runs import RunStore

        run = RunStore().get(args.run)
        model = run.load_model()
        dataset = load_dataset(args.data)
        if run.meta.get("dataset", {}).get("fingerprint") not in (None, dataset.fingerprint):
            print(f"warning: run {run.id} was trained on {run.meta['dataset'].get('name')}, not on {dataset.name}")
        what = f"run {run.id} ({run.meta.get('arch')} width {run.meta.get('width')})"
        if run.meta.get("arch") != "cnn" and not args.no_distill:
            print("note: the teacher for distillation should be a CNN; distilling anyway")
    else:
        from fer.data.synthetic import generate
        from fer.models import build_model
        from fer.train import make_dataset

        dataset = generate(n_train=args.train_images, n_val=300, n_test=1000, seed=7)
        x, y = dataset.split("train")
        keras.utils.set_random_seed(0)
        model = build_model("cnn", 0.25, depth=3, dropout=0.0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(make_dataset(x, y, 32, shuffle=True), epochs=args.epochs, verbose=0)
        # A short training leaves the BatchNorm moving averages behind the weights; re-estimate them
        # so the pruning step (which does this too) is not credited with the gain.
        recalibrate_batchnorm(model, x)
        what = (f"a CNN width 0.25 depth 3 trained {args.epochs} epochs on {len(x):,} generated faces "
                "(BatchNorm statistics re-estimated)")
    print(f"model: {what}; {model.count_params():,} parameters (prepared in {time.time() - t0:.0f} s)")

    x_test, y_test = dataset.split("test")
    x_train, y_train = dataset.split("train")
    steps = DEFAULT_STEPS + (() if args.no_distill else ("distilled",))
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="fer-ladder-"))

    def progress(event):
        print(f"  [{event['index'] + 1}/{event['total']}] {event['step']}…", flush=True)

    t1 = time.time()
    df = size_ladder(model, x_test, y_test, out, sparsity=args.sparsity, train_images=x_train, train_labels=y_train,
                     steps=steps, distill=DistillOptions(width=args.student_width, epochs=args.distill_epochs),
                     progress=progress)
    total = time.time() - t1
    print(f"\nsize ladder on {len(y_test):,} test images ({dataset.name}); float32 accuracy "
          f"{100 * df.attrs['reference_accuracy']:.2f}%; files in {out}\n")
    header = f"{'step':44s} {'bytes':>10s} {'size':>9s} {'ratio':>7s} {'smaller':>8s} {'accuracy':>9s} {'delta':>7s} {'time s':>7s}"
    print(header)
    print("-" * len(header))
    for r in df.itertuples():
        print(f"{r.step:44s} {r.bytes:>10,d} {format_bytes(r.bytes):>9s} {r.ratio:>7.3f} {r.smaller_x:>7.1f}x "
              f"{100 * r.accuracy:>8.2f}% {r.delta_points:>+7.2f} {r.seconds:>7.1f}")
    print(f"\nladder total {total:.0f} s; pruned kernels' sparsity {df.attrs.get('kernel_sparsity', float('nan')):.1%}")
    for r in df.itertuples():
        if r.note:
            print(f"  {r.key:15s} {r.note}")
    return df


if __name__ == "__main__":
    main()
