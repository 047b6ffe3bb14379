"""Explaining a whole test split: how long class maps take, and preferred inputs in Fourier vs pixel space.

    python bench/dataset_explain.py [--data ../shared/data/fer2013] [--run fer2013-cnn-w1-mirror] [--record]

Printed, on this CPU:
  * Grad-CAM maps of every test face (3,589 on FER2013's PublicTest), batched, and the class and
    confusion-cell averages over them (`fer.explain.aggregate`) -- target <= 60 s;
  * for every conv layer: seconds of the pixel-space and the Fourier-space batched ascent (100
    steps, all filters; target for a 64-filter layer: Fourier within 1.3x of pixel), and the share
    of filters whose preferred input drives them harder than every test face, for each: the
    ascent's own image, and the image the Filters page and `fer explain` show (pushed on where a
    test face beat it, `fer.explain.filters.sharpen`; target >= 90% in every layer), with the
    seconds that check took for both engines.

The machine's load average is printed: a background training on the 2 cores doubles the times.
A first convolution's images are its exact optimum (the layer is affine in the face; "analytic").
`--record` keeps the per-layer figures in `bench/records/dataset_explain_<run>.json`.
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"))
    p.add_argument("--run", default="fer2013-cnn-w1-mirror")
    p.add_argument("--method", default="Grad-CAM")
    p.add_argument("--record", action="store_true", help="keep the per-layer figures in bench/records/")
    args = p.parse_args()

    from fer.data import load_dataset
    from fer.explain import aggregate, predict
    from fer.explain.filters import conv_layers, visualize_filters, visualize_filters_fourier
    from fer.explain.filters.sharpen import against_faces
    from fer.runs import RunStore

    try:
        x, y = load_dataset(args.data).split("test")
    except Exception as exc:  # noqa: BLE001 - a bench: say why and stop
        sys.exit(f"cannot load {args.data}: {exc}")
    model = RunStore().get(args.run).load_model()
    aggregate.face_maps(model, x[:8], args.method)  # trace once
    print(f"# run {args.run}, {len(x)} test faces, load average {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    pred = predict(model, x).argmax(1)
    maps = aggregate.face_maps(model, x, args.method, class_index=pred)
    aggregate.class_maps(maps, y, x)
    aggregate.cell_maps(maps, y, pred, x)
    print(f"{args.method} maps of {len(x)} faces + class and cell averages: {time.perf_counter() - start:.1f} s (target <= 60)")
    rows = []
    for layer in [c["name"] for c in conv_layers(model)]:
        ex = aggregate.filter_exemplars(model, layer, x, k=1)
        pixel = visualize_filters(model, layer)
        fourier = visualize_filters_fourier(model, layer)
        start = time.perf_counter()
        shown_pixel, shown = (against_faces(model, layer, r, ex, x) for r in (pixel, fourier))
        rows.append({"layer": layer, "filters": len(ex.indices), "pixel s": round(pixel.seconds, 1),
                     "pixel beats every face": f"{ex.beaten_by(pixel.activation).mean():.0%}",
                     "Fourier s": round(fourier.seconds, 1),
                     "Fourier beats every face": f"{ex.beaten_by(fourier.activation).mean():.0%}",
                     "shown pixel beats": f"{ex.beaten_by(shown_pixel.activation).mean():.0%}",
                     "shown Fourier beats": f"{ex.beaten_by(shown.activation).mean():.0%}",
                     "pushed on s": round(time.perf_counter() - start, 1),
                     "analytic": "yes" if fourier.analytic.any() else ""})
        print("  ".join(f"{k} {v}" for k, v in rows[-1].items()), flush=True)
    if args.record:
        from fer.documents.records import write_record

        command = "python bench/dataset_explain.py " + " ".join(sys.argv[1:])
        print("kept:", write_record(f"dataset_explain_{args.run}", f"Preferred inputs of every conv layer of {args.run} "
                                    "against the test faces", command, rows,
                                    note="A filter's preferred input beats every face when its mean activation on it "
                                    "is above that of each of the test split's faces. \"shown\": the images the "
                                    "Filters page shows, pushed on where a test face beat the ascent's image. "
                                    "Seconds measured at a load "
                                    f"average of {os.getloadavg()[0]:.1f} on the 2 cores."))


if __name__ == "__main__":
    main()
