"""Command line: `python -m fer train|sweep|resume|finish|predict|list|ablations|answers|evaluate|import|mirror|compress|explain|trust|cards|results|summary`.

Errors a user can cause print one clear line on stderr and exit with status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer.architectures import ARCH_NAMES  # noqa: E402


def _parser():
    p = argparse.ArgumentParser(prog="python -m fer", description="FER workbench: train, list, evaluate and summarise models.")
    p.add_argument("--models", default=None, help="run store folder (default: $FER_MODELS_DIR or ./models)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model and save it as a run")
    _add_config_flags(t)
    t.add_argument("--match-run", default=None, help="dnn: match the parameter count of this run")
    t.add_argument("--run-id", default=None, help="name of the new run (default: arch-width-timestamp)")
    t.add_argument("--data", default=None, help="fer2013.csv, train.csv or a train/<class>/ image folder (default: generated faces)")

    _add_sweep_parser(sub)

    r = sub.add_parser("resume", help="resume an interrupted training from its last checkpoint")
    r.add_argument("run_id")
    r.add_argument("--data", default=None)

    f = sub.add_parser("finish", help="save an interrupted training as a run now, from its best epoch so far")
    f.add_argument("run_id")
    f.add_argument("--data", default=None)

    pr = sub.add_parser("predict", help="find the faces in photos and give each one's class probabilities")
    pr.add_argument("photos", nargs="+", metavar="PHOTO")
    pr.add_argument("--run", default=None, help="a run trained on real faces (default: the featured CNN)")
    pr.add_argument("--json", action="store_true", help="one JSON object per face per line")

    sub.add_parser("list", help="list saved runs with their accuracy")
    sub.add_parser("ablations", help="runs trained alike but for BatchNorm, augmentation or depth, with each effect")
    sub.add_parser("answers", help="the course's questions answered from the saved runs, one line each")

    e = sub.add_parser("evaluate", help="evaluate a saved run on a data set's test split")
    e.add_argument("run_id")
    e.add_argument("--data", default=None)
    e.add_argument("--split", choices=("train", "val", "test"), default="test")
    e.add_argument("--tta", action="store_true", help="also average with horizontally flipped faces")

    _add_import_parser(sub)

    mi = sub.add_parser("mirror", help="save a run's network averaged with its mirror image, inside the model, as a new run")
    mi.add_argument("run_id")
    mi.add_argument("--run-id", dest="new_run_id", required=True, help="name of the new run")
    mi.add_argument("--data", default=None, help="the data the run was trained on (its val and test splits score the new run)")

    c = sub.add_parser("compress", help="the size ladder of a saved run: every compressed form written, sized, scored")
    c.add_argument("run_id")
    c.add_argument("--data", default=None)
    c.add_argument("--sparsity", type=float, default=0.5, help="pruning sparsity (default 0.5, the app's)")
    c.add_argument("--out", default=None, help="folder for the artefacts (default: a temporary folder)")
    c.add_argument("--keep", action="store_true",
                   help="keep the figures beside the run (ladder.json) for the Compression page to show at once")

    tr = sub.add_parser("trust", help="how far each attribution method can be trusted on a run: deletion AUC against "
                                      "random, and the model-randomisation check")
    tr.add_argument("run_id")
    tr.add_argument("--data", default=None)
    tr.add_argument("--keep", action="store_true", help="keep the table beside the run (trust.json) for the Saliency page")

    k = sub.add_parser("keep", help="keep runs' test-split probabilities and CAM maps beside them, for the Evaluate, "
                                    "Compare, Misclassified and Class maps pages to open at once")
    k.add_argument("run_ids", nargs="+", metavar="RUN")
    k.add_argument("--data", default=None)
    k.add_argument("--methods", default="Grad-CAM++,Grad-CAM",
                   help="CAM methods whose maps to keep, comma-separated (default: Grad-CAM++,Grad-CAM; \"\": none)")
    k.add_argument("--filters", action="store_true", help="also keep what the Filters page opens on: its default "
                                                          "layer's preferred inputs and each filter's top test faces")
    k.add_argument("--tcav", action="store_true", help="also keep the TCAV table of the built-in concepts and the "
                                                       "concepts found in each class (Class maps' concept sections)")
    k.add_argument("--faces", type=int, default=0, metavar="N",
                   help="also keep the Saliency page's maps (every method, its default settings) of the first N test "
                        "faces: the page opens on the first")

    _add_landmarks_parser(sub)
    _add_explain_parser(sub)

    for name, what in (("cards", "write a model card (README.md) beside every run, from its records"),
                       ("results", "write docs/results.md from the runs' records and the benchmark records")):
        d = sub.add_parser(name, help=what)
        d.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")

    s = sub.add_parser("summary", help="print a model's layers and parameter counts (no training)")
    s.add_argument("--arch", choices=ARCH_NAMES, default="cnn")
    s.add_argument("--width", type=float, default=1.0)
    s.add_argument("--depth", type=int, default=None)
    s.add_argument("--match-params", type=int, default=None)
    return p


def _add_landmarks_parser(sub):
    lm = sub.add_parser("landmarks", help="find MTCNN's five keypoints on every test face and keep them, for the face "
                                          "parts of Class maps and explain")
    lm.add_argument("--data", default=None)
    lm.add_argument("--ship", action="store_true", help="keep them in the package (fer/data/landmarks/) rather than the "
                                                       "cache folder")


def _add_explain_parser(sub):
    """`explain`: a run's data-set-level files, here or in shards on a Ray cluster."""
    x = sub.add_parser("explain", help="data-set-level explanations of a run written as files: class and confusion-cell "
                                       "maps, agreement with other runs, filters' exemplars and preferred inputs")
    x.add_argument("run_id")
    x.add_argument("--data", default=None)
    x.add_argument("--out", required=True, help="a new (or empty) folder for the files")
    x.add_argument("--method", default=None,
                   help="attribution method (default Grad-CAM; Occlusion for an imported TFLite or ONNX model)")
    x.add_argument("--compare", nargs="*", default=None,
                   help="runs whose maps are compared with this one's (default: the most accurate run of each other "
                        "architecture trained on the same data)")
    x.add_argument("--concept", action="append", default=[], metavar="NAME=FOLDER",
                   help="a concept of your own for TCAV: a folder of 10 or more images (repeatable)")
    x.add_argument("--layers", nargs="*", default=None, help="conv layers for the filters (default: all)")
    x.add_argument("--top-k", type=int, default=9, help="test faces kept per filter")
    x.add_argument("--steps", type=int, default=100, help="gradient-ascent steps per preferred input")
    x.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="compute the faces' maps and filter activations in shards on this Ray cluster (default "
                        "$FER_RAY_ADDRESS, else here)")
    x.add_argument("--shard", type=int, default=512, help="faces per task with --ray (default 512)")


def _add_sweep_parser(sub):
    """`sweep`: the recipe flags of `train` but width and seed, which the sweep varies."""
    w = sub.add_parser("sweep", help="train one architecture at several widths (and seeds), in the local queue or on a "
                                     "Ray cluster, each saved as a run")
    _add_config_flags(w, leave_out=("width", "seed"))
    w.add_argument("--widths", required=True, help="comma-separated widths, e.g. 0.125,0.25,0.5")
    w.add_argument("--seeds", default="0", help="comma-separated seeds; each width is trained once per seed (default 0)")
    w.add_argument("--data", default=None, help="as for train (default: generated faces)")
    w.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run each training as a task on this Ray cluster (HOST:PORT, auto, or local; default "
                        "$FER_RAY_ADDRESS, else this machine's queue)")
    w.add_argument("--cpus-per-training", type=float, default=1.0, help="with --ray: CPUs each training reserves (default 1)")
    w.add_argument("--gpus-per-training", type=float, default=0.0, help="with --ray: GPUs each training reserves (default 0)")


def _add_import_parser(sub):
    """`python -m fer import`'s flags."""
    im = sub.add_parser("import", help="import a model trained elsewhere (.keras, Keras 2 .h5, SavedModel folder, "
                        ".tflite, .onnx) as a run, scored on the data set")
    im.add_argument("file", metavar="FILE")
    im.add_argument("--run-id", dest="new_run_id", required=True, help="name of the new run")
    im.add_argument("--data", default=None, help="the data set that scores it (default: the generated faces)")
    im.add_argument("--range", dest="pixel_range", default=None, metavar="LO,HI",
                    help="the pixel range the model expects, mapped linearly from 0..255 (default 0,255; e.g. 0,1 or -1,1)")
    im.add_argument("--classes", default=None, metavar="NAMES",
                    help="the model's class names in its output order, comma-separated (default: FER2013's: "
                         "angry,disgust,fear,happy,sad,surprise,neutral)")
    im.add_argument("--title", default=None, help="a description shown with the run")


def _add_config_flags(parser, leave_out=()):
    """One flag per TrainConfig field (its default, type, choices and help): nothing re-typed here.

    `x_y` becomes `--x-y` (or the field's `flag`); a boolean that defaults to True becomes
    `--no-x`, one that defaults to False `--x`.
    """
    import dataclasses
    import typing

    from fer.train import TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name in leave_out:
            continue
        meta, kind = dict(f.metadata), hints[f.name]
        kind = next((a for a in typing.get_args(kind) if a is not type(None)), kind)  # Optional[X] -> X
        if kind is bool:
            flag = f"--{'no-' if f.default else ''}{f.name.replace('_', '-')}"
            help = meta.get("help") or f.name.replace("_", " ")
            parser.add_argument(flag, dest=f.name, action="store_false" if f.default else "store_true",
                                help=f"turn off: {help}" if f.default else help)
            continue
        flag = meta.get("flag") or f"--{f.name.replace('_', '-')}"
        parser.add_argument(flag, dest=f.name, type=kind, default=f.default, choices=meta.get("choices"),
                            help=meta.get("help") or None)


def _load(data):
    from fer.data import load_dataset

    t = time.time()
    ds = load_dataset(data)
    print(f"data: {ds.origin} ({time.time() - t:.1f} s)", file=sys.stderr)
    if ds.report.skipped or ds.report.converted or ds.report.notes:
        print(f"data: {ds.report.summary()}", file=sys.stderr)
        for file, row, reason in ds.report.skipped[:10]:
            print(f"  skipped {file}{'' if row is None else f' row {row}'}: {reason}", file=sys.stderr)
    return ds


def _print_progress(event):
    """A training's `fer.progress.TrainingProgress` on stderr: a line per epoch, a batch counter on a terminal."""
    if event.phase == "epoch":
        print(f"epoch {event.epoch}/{event.epochs}  loss {event.metric('loss'):.4f}  acc {event.metric('accuracy'):.4f}  "
              f"val_loss {event.metric('val_loss'):.4f}  val_acc {event.metric('val_accuracy'):.4f}", file=sys.stderr, flush=True)
    elif sys.stderr.isatty() and event.batch % 20 == 0:
        print(f"\r  batch {event.batch}/{event.batches}  eta {event.eta_s:.0f} s   ", end="", file=sys.stderr, flush=True)


def cmd_train(args, store):
    from fer.train import TrainConfig, train

    import dataclasses

    config = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    if args.match_run:
        config.match_params = int(store.get(args.match_run).meta["params"])
    config.validate()
    for source in (config.init_from, config.teacher):  # fail before the (slow) data load
        if source:
            store.get(source)
    ds = _load(args.data)
    command = _command_line()
    with store.training_lock(f"cli pid {os.getpid()}"):
        run = train(config, ds, store, run_id=args.run_id, progress=_print_progress, command=command)
    _print_run_result(run)


def _print_run_result(run):
    m = run.meta
    print(f"saved run {run.id}: {m['params']:,} params, val {100 * m['val_accuracy']:.2f}%, "
          f"test {100 * (m['test_accuracy'] or 0):.2f}% (flip-averaged {100 * (m['test_accuracy_tta'] or 0):.2f}%), "
          f"{m['wall_time_s']:.0f} s")


def cmd_sweep(args, store):
    import dataclasses

    from fer.errors import TrainingBusy
    from fer.settings import ray_address
    from fer.cluster.sweep import choose_sweep
    from fer.sweep import sweep_configs
    from fer.train import TrainConfig

    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if f.name not in ("arch", "width", "seed")}
    configs = sweep_configs(_numbers(args.widths, float, "--widths"), archs=(args.arch,),
                            seeds=_numbers(args.seeds, int, "--seeds"), **options)
    address = ray_address(args.ray)
    if address:  # before the (slow) data load
        from fer.cluster import check_resources, connect

        check_resources(args.cpus_per_training, args.gpus_per_training)
        connect(address)
    ds = _load(args.data)
    sweep = choose_sweep(store, address)
    where = f"the Ray cluster at {address}" if address else "this machine's training queue, one after another"
    print(f"sweep: {len(configs)} training(s) of {args.arch} on {where}", file=sys.stderr, flush=True)
    resources = {"cpus": args.cpus_per_training, "gpus": args.gpus_per_training} if address else {}
    if not sweep.start(configs, ds, owner=f"cli pid {os.getpid()}", command=_command_line(), **resources):
        raise TrainingBusy("a sweep is already running in this process")
    snap = _follow_sweep(sweep)
    for run_id in snap["done"]:
        _print_run_result(store.get(run_id))
    print(f"sweep: {snap['message']}", file=sys.stderr)
    for error in snap["errors"]:
        print(f"error: {error}", file=sys.stderr)
    if snap["errors"] or len(snap["done"]) < snap["total"]:
        raise SystemExit(2)


def _numbers(text, kind, flag):
    from fer.errors import ModelConfigError

    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ModelConfigError(f"{flag} takes comma-separated numbers, got {text!r}") from None
    if not values:
        raise ModelConfigError(f"{flag} names no value")
    return values


def _follow_sweep(sweep) -> dict:
    """Print each training's news (started, an epoch done, saved, failed) until the sweep ends."""
    said = {}
    while True:
        snap = sweep.snapshot()
        for job in sweep.jobs():
            event = job.progress
            epochs_done = 0 if event is None else event.epoch if event.phase == "epoch" else event.epoch - 1
            news = (job.status, epochs_done)
            if said.get(job.id) != news:
                what = f"epoch {epochs_done}/{job.epochs} done" if job.status == "running" and epochs_done else job.message
                print(f"  {job.config.arch} width {job.config.width:g} seed {job.config.seed}: {job.status}, {what}",
                      file=sys.stderr, flush=True)
                said[job.id] = news
        if snap["state"] not in ("running", "waiting"):
            return snap
        time.sleep(1.0)


def _command_line() -> str:
    return "python -m fer " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def cmd_resume(args, store):
    from fer.train import resume

    ds = _load(args.data)
    with store.training_lock(f"cli pid {os.getpid()}"):
        run = resume(args.run_id, ds, store, progress=_print_progress)
    _print_run_result(run)


def cmd_finish(args, store):
    from fer.train import finish

    ds = _load(args.data)
    _print_run_result(finish(args.run_id, ds, store))


def photo_run(store, run_id=None):
    """The run that classifies real photos: `run_id`, else the featured CNN trained on real faces.
    Runs trained on the generated cartoon faces are refused: they have never seen a real face."""
    from fer.errors import RunError
    from fer.runs import on_real_faces

    if run_id:
        run = store.get(run_id)
        if not on_real_faces(run):
            raise RunError(f"{run_id} was trained on the generated cartoon faces, not real ones: pick a FER2013 run")
        return run
    runs = [r for r in store.list() if on_real_faces(r)]
    for run in sorted(runs, key=lambda r: (r.meta.get("arch") != "cnn", r.meta.get("featured") is not True)):
        return run
    raise RunError(f"no run trained on real faces in {store.root}: train one on FER2013 first (python -m fer train --data ...)")


def cmd_predict(args, store):
    import json

    import numpy as np

    from fer import CLASS_NAMES
    from fer.errors import FerError
    from fer.faces import load_photo
    from fer.guests import extra_classes_of
    from fer.photo import faces_in, read_faces

    run = photo_run(store, args.run)
    model = run.load_model()
    # an imported model's classes FER2013 lacks (FER+'s contempt): their probability is what the seven leave
    extras = "/".join(extra_classes_of(run.meta))
    if not args.json:
        print(f"# run {run.id} ({run.meta.get('arch')}, test {100 * (run.meta.get('test_accuracy') or 0):.1f}%)")
    bad = 0
    for path in args.photos:
        try:
            with open(path, "rb") as fh:
                photo = load_photo(fh.read(), name=path, max_bytes=64 * 1024 * 1024)
        except (FerError, OSError) as exc:
            print(f"error: {path}: {exc.strerror or exc}" if isinstance(exc, OSError) else f"error: {exc}", file=sys.stderr)
            bad += 1
            continue
        faces = faces_in(photo)
        boxes, probs = [f.box for f in faces], read_faces(model, [f.face for f in faces]).probs
        if not boxes:
            print(json.dumps({"file": path, "box": None, "label": None, "probs": None}) if args.json else f"{path}: no face found")
        for number, (box, p) in enumerate(zip(boxes, probs), start=1):
            label = CLASS_NAMES[int(np.argmax(p))]
            if args.json:
                print(json.dumps({"file": path, "box": box.as_list(), "label": label,
                                  "probs": {c: round(float(v), 4) for c, v in zip(CLASS_NAMES, p)},
                                  **({"other_classes": {extras: round(max(0.0, 1 - float(p.sum())), 4)}} if extras else {})}))
            else:
                top = ", ".join(f"{CLASS_NAMES[k]} {100 * p[k]:.0f}%" for k in np.argsort(-p)[:3])
                other = f"; {extras} (not a FER2013 class) {100 * max(0.0, 1 - float(p.sum())):.0f}%" if extras else ""
                print(f"{path}: face {number} at x={box.x} y={box.y} {box.w}x{box.h}: {top}{other}")
    if bad:
        raise SystemExit(2)


def cmd_list(args, store):
    runs, broken = store.scan()
    if not runs and not broken:
        print(f"no runs in {store.root} yet; train one with: python -m fer train --arch cnn --epochs 5")
    for run in runs:
        m = run.meta
        acc = m.get("test_accuracy")
        tta = m.get("test_accuracy_tta")
        plain = (m.get("mirror") or {}).get("test_accuracy")
        extra = (f" (mirror inside; {100 * plain:5.2f}% without)" if plain is not None else
                 "" if tta is None else f" (flip {100 * tta:5.2f}%)")
        fmt = (m.get("guest") or {}).get("format")  # an imported file's format in place of a width
        shape = {"keras-h5": "h5", "savedmodel": "saved"}.get(fmt, fmt) if fmt else f"w{m.get('width', 0):g}"
        params = "?" if m.get("params") is None else f"{m['params']:,}"
        print(f"{run.id:40s} {m.get('arch', '?'):9s} {shape:6s} {params:>9s} params  "
              f"test {'n/a' if acc is None else f'{100 * acc:5.2f}%'}"
              f"{extra}  {m.get('dataset', {}).get('name', '?'):10s} {m.get('description', '')}")
    for b in broken:
        print(f"{b.id:40s} BROKEN: {b.reason}")
    holder = store.busy()
    for run_id, status in store.interrupted():
        done = len(status.get("history", {}).get("loss", []))
        if status.get("state") == "training" and holder:
            print(f"{run_id:40s} TRAINING now ({done} epochs done, {holder})")
        else:
            print(f"{run_id:40s} INTERRUPTED ({status.get('state')}, {done} epochs done): "
                  f"python -m fer resume {run_id}  (or save it as it is: python -m fer finish {run_id})")


def cmd_ablations(args, store):
    from fer.ablation import find_ablations

    runs = store.list()
    sets = find_ablations(runs)
    if not sets:
        print(f"no ablation sets among the {len(runs)} run(s) in {store.root}: train a run again with only "
              "--no-batchnorm, --no-augment or --depth changed")
    for ablation in sets:
        test = {r.id: r.meta.get("test_accuracy") for r in ablation.runs}
        val = {r.id: r.meta.get("val_accuracy") for r in ablation.runs}
        base = ablation.baseline
        print(f"{ablation.label} ({(base.meta.get('dataset') or {}).get('name', '?')})")
        print(f"  {'baseline':18s} {base.id:40s} test {_pct(test[base.id])}  val {_pct(val[base.id])}")
        test_effects, val_effects = dict(ablation.effects(test)), dict(ablation.effects(val))
        for run, diff in ablation.variants:
            print(f"  {diff:18s} {run.id:40s} test {_pct(test[run.id])} ({_points(test_effects.get(diff))})  "
                  f"val {_pct(val[run.id])} ({_points(val_effects.get(diff))})")


def cmd_answers(args, store):
    from fer.answers import COURSE_REPORTED, course_answers, group_by_dataset

    runs = store.list()
    groups = group_by_dataset(runs)
    if not groups:
        print(f"no saved runs in {store.root}: train some first (python -m fer train ...)")
    for group in groups:
        print(f"{group.label}{f': {group.origin}' if group.origin else ''}")
        found = course_answers(group.runs)
        if not found:
            print("  no question answered yet: these runs have no test accuracy")
        for key, text in found.items():
            print(f"  {key:10s} {text.replace('**', '').replace('`', '')}")
            if key in COURSE_REPORTED:
                print(f"  {'':10s} course: {COURSE_REPORTED[key]}")


def _pct(value):
    return "  n/a " if not isinstance(value, (int, float)) else f"{100 * value:5.2f}%"


def _points(value):
    return "n/a" if value is None else f"{value:+.2f} points"


def cmd_evaluate(args, store):
    from fer import CLASS_NAMES
    from fer.errors import DataError
    from fer.evaluate import evaluate, per_class_frame
    from fer.guests import scoring_note

    run = store.get(args.run_id)
    model = run.load_model()
    ds = _load(args.data)
    if ds.fingerprint != run.meta.get("dataset", {}).get("fingerprint"):
        print(f"note: {run.id} was trained on {run.meta.get('dataset', {}).get('name')}, evaluating on {ds.name}", file=sys.stderr)
    x, y = ds.split(args.split)
    if len(x) == 0:
        raise DataError(f"{ds.origin}: the {args.split} split is empty")
    result = evaluate(model, x, y)
    print(f"{run.id} on {ds.name} {args.split} ({len(y)} images): accuracy {100 * result['accuracy']:.2f}%")
    note = scoring_note(run.meta)
    if note:
        print(f"  note: {note}")
    if args.tta:
        tta = evaluate(model, x, y, tta=True)
        print(f"  with flip averaging: {100 * tta['accuracy']:.2f}%")
    print(per_class_frame(result["per_class"]).round(3).to_string())
    import pandas as pd

    print("confusion matrix (rows true, columns predicted):")
    print(pd.DataFrame(result["confusion_matrix"], index=CLASS_NAMES, columns=[c[:4] for c in CLASS_NAMES]).to_string())


def cmd_mirror(args, store):
    from fer.mirror import mirror_run
    from fer.runs import RunError

    source = store.get(args.run_id)  # fail before the (slow) data load
    if source.meta.get("mirror"):
        raise RunError(f"run {args.run_id} is already mirror-averaged (from {source.meta['mirror'].get('run')})")
    ds = _load(args.data)
    command = _command_line()
    run = mirror_run(store, args.run_id, ds, args.new_run_id, command=command)
    plain = run.meta["mirror"].get("test_accuracy")
    print(f"{run.id}: test {100 * run.meta['test_accuracy']:.2f}%"
          + (f" (plain {args.run_id}: {100 * plain:.2f}%)" if plain is not None else "") + f", saved in {run.path}")


def cmd_import(args, store):
    from fer.guests import guest_format, parse_classes, parse_range
    from fer.importing import import_run

    guest_format(args.file)  # refuse a bad file or option before the (slow) data load
    parse_range(args.pixel_range)
    parse_classes(args.classes)
    ds = _load(args.data)
    run = import_run(store, args.file, args.new_run_id, ds, args.pixel_range, args.classes, args.title, command=_command_line())
    adapter = run.meta["guest"]["adapter"]
    scored = ", ".join(f"{split} {100 * run.meta[f'{split}_accuracy']:.2f}%" for split in ("val", "test")
                       if run.meta.get(f"{split}_accuracy") is not None)
    params = run.meta.get("params")
    print(f"{run.id}: {run.meta['guest']['format']} model, {'?' if params is None else f'{params:,}'} params, "
          f"input {adapter['size'][0]}x{adapter['size'][1]}x{adapter['channels']} {adapter['layout']} "
          f"range {adapter['low']:g}..{adapter['high']:g}, {'logits' if adapter['softmax'] else 'probabilities'}; "
          f"{ds.name} {scored}; saved in {run.path}")


def cmd_compress(args, store):
    import tempfile

    from fer.compress import format_bytes
    from fer.compress.ladder import full_ladder
    from fer.compress.shipped import keep_ladder
    from fer.errors import ModelConfigError

    if not 0.0 <= args.sparsity < 1.0:
        raise ModelConfigError(f"--sparsity must be in [0, 1), got {args.sparsity}")
    run = store.get(args.run_id)
    model = run.load_model()
    ds = _load(args.data)
    with tempfile.TemporaryDirectory(prefix="fer-ladder-") as tmp:
        ladder = full_ladder(model, ds, args.out or tmp, sparsity=args.sparsity)
        print(f"{run.id} on {ds.name} test ({len(ds.split('test')[1])} images), float32 accuracy "
              f"{100 * ladder.attrs['reference_accuracy']:.2f}%")
        for row in ladder.itertuples():
            rho = "" if row.maps_rho != row.maps_rho else f"  maps rho {row.maps_rho:.2f}"
            print(f"  {row.step:48s} {format_bytes(row.bytes):>10s} {row.bytes:>10,} B  x{row.smaller_x:5.1f} smaller  "
                  f"{100 * row.accuracy:6.2f}% ({row.delta_points:+.2f}){rho}")
    if args.keep:
        print(f"kept: {keep_ladder(run.path, ladder, ds.fingerprint, args.sparsity)}")


def cmd_trust(args, store):
    from fer.compress.shipped import keep_trust
    from fer.explain import default_methods
    from fer.explain.measure import RANDOMISED_RHO_LIMIT, TRUST_SETTINGS, trust_table

    run = store.get(args.run_id)
    model = run.load_model()
    ds = _load(args.data)
    table = trust_table(model, ds, list(default_methods(model)))
    unmeasured = "n/a (the randomised model's maps are empty)" if run.is_keras else "n/a (no layers to re-initialise in an imported file)"
    print(f"{run.id} on {ds.name}: deletion AUC (lower is better, {TRUST_SETTINGS['deletion_n']} test faces) against a "
          f"random order; Spearman of the maps with the trained model's once every layer is re-initialised "
          f"({TRUST_SETTINGS['randomisation_n']} test faces, one per class; >= {RANDOMISED_RHO_LIMIT} fails)")
    for row in table.itertuples():
        flag = ("FAILS the randomisation check" if row.fails_randomisation else
                "passes" if row.randomised_rho == row.randomised_rho else unmeasured)
        empty = getattr(row, "empty_share", None)
        print(f"  {row.method:11s} deletion AUC {row.deletion_auc:.3f} (random {row.random_deletion_auc:.3f})  "
              f"randomised rho {row.randomised_rho:+.2f}: {flag}"
              + (f"; empty maps on {100 * empty:.0f}% of 70 test faces (10 per class)" if empty == empty and empty is not None else ""))
    if args.keep:
        print(f"kept: {keep_trust(run.path, table, ds.fingerprint, TRUST_SETTINGS)}")


def cmd_keep(args, store):
    from fer.errors import ModelConfigError
    from fer.explain import METHODS
    from fer.explain.craft import CRAFT_FACES
    from fer.explain.kept import (keep_default_filters, keep_discovered, keep_face_maps, keep_tcav, keep_test_maps,
                                  keep_test_probs, keepable, saliency_settings)

    if args.faces < 0:
        raise ModelConfigError(f"--faces: a number of test faces, 0 or more (got {args.faces})")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    cams = [m for m in METHODS if hasattr(METHODS[m], "grids")]
    if set(methods) - set(cams):
        raise ModelConfigError(f"--methods: pick among {', '.join(cams)} (got {args.methods!r})")
    runs = [store.get(run_id) for run_id in args.run_ids]  # every name checked before any work
    ds = _load(args.data)
    for run in runs:
        model = run.load_model()
        probs = keep_test_probs(run.path, model, ds)
        print(f"{run.id}: test probabilities of {len(probs):,} faces kept", flush=True)
        for method in methods:
            if not keepable(model, method):
                print(f"  {method}: does not apply (no convolutional layer); skipped")
                continue
            keep_test_maps(run.path, model, ds, method, probs.argmax(1))
            print(f"  {method}: maps for the true and the predicted class kept", flush=True)
        if args.filters and keepable(model, "Grad-CAM"):  # a model with conv layers
            print(f"  filters of {keep_default_filters(run.path, model, ds)}: preferred inputs and top test faces kept")
        if args.tcav and run.is_keras:
            t = time.time()
            table = keep_tcav(run.path, model, ds)
            print(f"  TCAV: {table['concept'].nunique()} concepts x {table['layer'].nunique()} layers kept, "
                  f"{int(table['significant'].sum())} of {len(table)} scores significant ({time.time() - t:.0f} s)", flush=True)
            t = time.time()
            classes = keep_discovered(run.path, model, ds, CRAFT_FACES)
            print(f"  concepts found in {classes} classes kept ({time.time() - t:.0f} s)" if classes
                  else "  concepts found: none (no conv layer to factorise)", flush=True)
        if args.faces:
            x, y = ds.split("test")
            kept = keep_face_maps(run.path, model, x[:args.faces], y[:args.faces], saliency_settings())
            print(f"  Saliency: {kept} maps of the first {min(args.faces, len(x))} test face(s) kept", flush=True)


def _concept_arg(text: str):
    """`--concept NAME=FOLDER` as a `fer.explain.concepts.Concept`."""
    from fer.errors import DataError
    from fer.explain.concepts import concept_from_folder

    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder.strip():
        raise DataError(f"--concept {text!r}: give NAME=FOLDER, for example glasses=photos/glasses")
    return concept_from_folder(name.strip(), folder.strip())


def cmd_explain(args, store):
    from fer.explain import METHODS
    from fer.explain.report import write_report
    from fer.settings import ray_address

    from fer.runs import RunError

    run = store.get(args.run_id)
    method = args.method or ("Grad-CAM" if run.is_keras else "Occlusion")  # an imported TFLite or ONNX model: no gradients
    own = [_concept_arg(text) for text in args.concept]  # read before the (slow) data load
    if not run.is_keras and args.layers:
        raise RunError(f"run {run.id} is an imported {run.model_path.suffix[1:].upper()} model: it has no layers to read "
                       "filters from; leave out --layers")
    address = ray_address(args.ray)
    faces = None
    if address:
        from fer.cluster import connect
        from fer.cluster.shards import ShardedFaces

        faces = ShardedFaces(connect(address), shard=args.shard)  # before the (slow) data load
        print(f"explain: the faces in shards of {args.shard} on the Ray cluster at {address}", file=sys.stderr)
    ds = _load(args.data)
    if args.compare is None and getattr(METHODS.get(method), "forward_only", False):
        compare = []  # each compared run would cost as many predictions again: only when asked
        print(f"explain: {method} compares no other run unless asked (--compare RUN ...)", file=sys.stderr)
    elif args.compare is None:
        fingerprint = (run.meta.get("dataset") or {}).get("fingerprint")
        best = {}
        for other in store.list():
            arch = other.meta.get("arch")
            if (other.id == run.id or arch == run.meta.get("arch") or not other.is_keras
                    or (other.meta.get("dataset") or {}).get("fingerprint") != fingerprint):
                continue
            if (other.meta.get("test_accuracy") or 0) > (best.get(arch).meta.get("test_accuracy") or 0 if arch in best else -1):
                best[arch] = other
        compare = list(best.values())
    else:
        compare = [store.get(rid) for rid in args.compare]
    write_report(run, ds, args.out, method=method, compare=compare, layers=args.layers, top_k=args.top_k,
                 steps=args.steps, faces=faces, concepts=own)


def cmd_landmarks(args, store):
    from fer.errors import DataError
    from fer.explain.parts import keep_keypoints

    ds = _load(args.data)
    if ds.masks is not None and len(ds.masks):
        raise DataError(f"{ds.name}: the generated faces have ground-truth regions; keypoints are for real faces")
    if not len(ds.split("test")[1]):
        raise DataError(f"{ds.origin}: the test split is empty")
    import numpy as np

    t = time.time()
    path, points = keep_keypoints(ds, ship=args.ship)
    found = ~np.isnan(points).any(axis=(1, 2))
    print(f"{int(found.sum()):,} of {len(points):,} test faces have keypoints ({100 * found.mean():.1f}%), "
          f"{(time.time() - t) / max(len(points), 1) * 1000:.0f} ms a face; kept in {path}")


def cmd_cards(args, store):
    from fer.documents import write_cards

    stale = write_cards(store, check=args.check)
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    print(f"{len(stale)} of {len(store.list())} cards {'out of date' if args.check else 'rewritten'}")
    if args.check and stale:
        raise SystemExit(1)


def cmd_results(args, store):
    from pathlib import Path

    from fer.documents import RESULTS_FILE, write_results

    root = Path(__file__).resolve().parents[1]
    stale = write_results(store, root, check=args.check)
    print(f"{root / RESULTS_FILE}: {'out of date' if stale and args.check else 'rewritten' if stale else 'up to date'}")
    if args.check and stale:
        raise SystemExit(1)


def cmd_summary(args, store):
    from fer.models import build_model, summary_table

    model = build_model(args.arch, args.width, depth=args.depth, **({"match_params": args.match_params} if args.match_params else {}))
    table, counts = summary_table(model)
    print(table.to_string(index=False))
    print(f"total {counts['total']:,}  trainable {counts['trainable']:,}  non-trainable {counts['non_trainable']:,}")


COMMANDS = {"predict": cmd_predict, "train": cmd_train, "sweep": cmd_sweep, "resume": cmd_resume, "finish": cmd_finish, "list": cmd_list, "ablations": cmd_ablations, "answers": cmd_answers, "evaluate": cmd_evaluate, "mirror": cmd_mirror, "import": cmd_import, "compress": cmd_compress, "explain": cmd_explain, "trust": cmd_trust, "keep": cmd_keep, "landmarks": cmd_landmarks, "cards": cmd_cards,
            "results": cmd_results, "summary": cmd_summary}


def _joined_ranges(argv: list) -> list:
    """`--range -1,1` as `--range=-1,1`: argparse takes a value starting with "-" for a flag."""
    out = []
    for arg in argv:
        if out and out[-1] == "--range" and arg.startswith("-"):
            out[-1] = f"--range={arg}"
        else:
            out.append(arg)
    return out


def main(argv=None) -> int:
    from fer.errors import FerError
    from fer.runs import RunStore

    args = _parser().parse_args(_joined_ranges(sys.argv[1:] if argv is None else list(argv)))
    store = RunStore(args.models)
    try:
        COMMANDS[args.command](args, store)
    except (FerError, OSError) as exc:  # every error a user can cause derives from FerError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {WHAT_WAS_KEPT.get(args.command, _kept_nothing)(args, store)}", file=sys.stderr)
        return 130
    return 0


def _kept_training(args, store) -> str:
    """This process's training that Ctrl-C stopped: its epochs kept and the command that resumes it."""
    mine = [(rid, status) for rid, status in store.interrupted() if status.get("pid") == os.getpid()]
    if not mine:
        return "stopped before the first epoch began; nothing was kept"
    run_id, status = mine[-1]
    epochs = len(status.get("history", {}).get("loss", []))
    total = (status.get("config") or {}).get("epochs", "?")
    data = f" --data {shlex.quote(args.data)}" if getattr(args, "data", None) else ""
    models = f" --models {shlex.quote(str(args.models))}" if args.models else ""
    return (f"training {run_id} keeps {epochs} of {total} epoch(s) in {store.work_dir(run_id)}; "
            f"resume it with `python -m fer resume {run_id}{data}{models}`")


def _kept_files(args, store) -> str:
    return (f"the files written so far are in {args.out}; run the same command again for all of them"
            if getattr(args, "out", None) else "nothing was kept; run the same command again")


def _kept_sweep(args, store) -> str:
    """The sweep Ctrl-C stopped: cancelled, its saved runs named."""
    from fer.cluster.sweep import choose_sweep

    sweep = choose_sweep(store, args.ray)
    sweep.cancel()
    sweep.join(timeout=60)
    snap = sweep.snapshot()
    done = ", ".join(snap["done"]) or "none"
    return (f"the sweep kept {len(snap['done'])} of {snap['total']} run(s) ({done}); the rest were cancelled: "
            "run the same command for them (`python -m fer list` shows a training that can be resumed)")


def _kept_results(args, store) -> str:
    return "the results kept before the stop stay (each file is written whole); run the same command again for the rest"


def _kept_nothing(args, store) -> str:
    return "nothing was changed; run the same command again"


WHAT_WAS_KEPT = {"train": _kept_training, "resume": _kept_training, "sweep": _kept_sweep, "explain": _kept_files, "compress": _kept_files,
                 "keep": _kept_results}
