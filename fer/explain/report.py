"""`python -m fer explain RUN --data DATA --out DIR`: the data-set-level explanations of one run,
written as files a report can use, reproducibly (fixed seeds, the whole test split).

DIR gets:

    class_average_<method>.npy   (7,48,48) mean map per true class; class_std_<method>.npy the spread
    class_average_<method>.png   the seven mean maps over the classes' mean faces
    cells_<method>.npy           (7,7,48,48) mean map per confusion cell (rows true, columns predicted)
    cells_<method>_count.csv     the confusion matrix the cells come from
    cells_<method>.png           the 7x7 grid
    tcav.json                    per built-in concept, layer and class: TCAV score, p-value against ten
                                 random concepts, significant or not (fer.explain.concepts)
    concepts_<class>.json/.png   the concepts found in each class by factorising a layer's activations
                                 (fer.explain.craft): importance, top test faces; the faces with where it sits
    regions.csv                  per class and face part (fer.explain.parts): the maps' mean energy share
                                 on it with a bootstrap 95% interval (low, high), its area share, their ratio
    agreement_<method>.csv       per face and compared run: Spearman rank correlation, top-10% overlap
    filters_<layer>.npy          (n,48,48) filter i's preferred input (Fourier-space ascent, pushed on
                                 where a test face beat it: `sharpen`), as fed to the model (0..255)
                                 -- the images the Filters page shows
    filters_<layer>.json         per filter: its top-k test faces and activations, its preferred
                                 input's activation, whether that beats every test face, where
                                 the image comes from, the ascent's own activation and the
                                 pixel-space image's beside it
    summary.json                 what was computed, with the figures above summarised

Everything is written into a hidden sibling folder first and renamed into place at the end: an
interrupted or failed report leaves no DIR that looks complete.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from fer import CLASS_NAMES
from fer.errors import FerError


class ReportError(FerError):
    """The report cannot be written (its folder, its data)."""


def _say(progress: Optional[Callable[[str], None]], text: str) -> None:
    (progress or (lambda t: print(t, file=sys.stderr, flush=True)))(text)


def _png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)


def _strip(faces, maps, labels, scale: int = 3) -> np.ndarray:
    """One row of overlays (mean face + mean map per group), a white gap between them."""
    from fer.explain import plots

    tiles = []
    for face, m in zip(faces, maps):
        if np.isnan(m).all():
            tiles.append(plots.overlay(np.zeros((48, 48)), None, note="no faces", scale=scale))
        else:
            tiles.append(plots.overlay(np.nan_to_num(face), m / max(float(np.nanmax(m)), 1e-9), scale=scale))
        tiles.append(np.full((48 * scale, 4, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that exists with files in it, or whose parent cannot be written."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReportError(f"{out} already exists and is not an empty folder: choose a new folder (nothing was written)")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise ReportError(f"cannot write {out}: its parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ReportError(f"cannot write {out}: no write permission in {parent}")


class LocalFaces:
    """The per-face work of a report (every face's map, every face's filter activations), done in
    this process. `fer.cluster.shards.ShardedFaces` does the same on a Ray cluster's workers."""

    def face_maps(self, run, model, images, method, class_index):
        from fer.explain import aggregate

        return aggregate.face_maps(model, images, method, class_index=class_index)

    def filter_activations(self, run, model, layer, images):
        from fer.explain import aggregate

        return aggregate.filter_activations(model, layer, images)


def write_report(run, dataset, out, method: str = "Grad-CAM", compare: Sequence = (), layers: Optional[Sequence[str]] = None,
                 top_k: int = 9, steps: int = 100, progress: Optional[Callable[[str], None]] = None, faces=None,
                 concepts: Sequence = ()) -> dict:
    """Compute and write the report of `run` (a fer.runs.Run) on `dataset`'s test split into `out`;
    `compare`: other runs whose maps are set against this one's; `faces`: who does the per-face
    work (`LocalFaces` by default); `concepts`: the user's own TCAV concepts, tested beside the
    built-in ones. Returns the summary."""
    from fer.explain import predict

    faces = faces or LocalFaces()

    out = Path(out)
    x, y, model, layers = _checked_inputs(run, dataset, out, method, layers)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    started = time.perf_counter()
    summary = {"run": run.id, "arch": run.meta.get("arch"), "data": dataset.name, "fingerprint": dataset.fingerprint,
               "test_faces": int(len(x)), "method": method, "maps_explain": "each face's predicted class"}
    try:
        _say(progress, f"{run.id}: predicting {len(x)} test faces")
        pred = np.concatenate([predict(model, x[i:i + 512]) for i in range(0, len(x), 512)]).argmax(1)
        summary["accuracy"] = float((pred == y).mean())
        maps = _write_maps(tmp, summary, run, model, dataset, x, y, pred, method, progress, faces)
        _write_agreement(tmp, summary, compare, maps, x, y, pred, method, progress, faces)
        if run.is_keras:
            _write_tcav(tmp, summary, run, model, dataset, progress, concepts)
            _write_discovered(tmp, summary, run, model, x, y, progress)
        summary["filters"] = {name: _write_filters(tmp, run, model, name, x, top_k, steps, progress, faces) for name in layers}
        summary["seconds"] = round(time.perf_counter() - started, 2)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _say(progress, f"written: {out} ({summary['seconds']:.0f} s)")
    return summary


def _checked_inputs(run, dataset, out, method, layers):
    """(test faces, labels, model, conv layers), or a ReportError before anything is computed."""
    from fer.explain import METHODS
    from fer.explain.filters import conv_layers

    if method not in METHODS:
        raise ReportError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    check_out_dir(out)
    x, y = dataset.split("test")
    if len(x) == 0:
        raise ReportError(f"{dataset.origin or dataset.name}: the test split is empty, nothing to explain")
    model = run.load_model()
    reason = METHODS[method].applies_to(model)
    if reason:
        raise ReportError(f"{method} does not apply to run {run.id}: {reason}; try --method "
                          f"{'Saliency' if run.is_keras else 'Occlusion'}")
    known = [c["name"] for c in conv_layers(model)] if run.is_keras else []  # an imported TFLite or ONNX file: no layers
    layers = list(known if layers is None else layers)
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ReportError(f"run {run.id} has no conv layer {', '.join(unknown)}; its conv layers: {', '.join(known) or 'none'}")
    return x, y, model, layers


def _write_maps(tmp, summary, run, model, dataset, x, y, pred, method, progress, faces):
    """Every face's map, averaged per true class and per confusion cell; returns the maps."""
    import pandas as pd

    from fer.explain import aggregate

    t = time.perf_counter()
    _say(progress, f"{run.id}: {method} maps of {len(x)} test faces")
    maps = faces.face_maps(run, model, x, method, pred)
    summary["maps_seconds"] = round(time.perf_counter() - t, 2)
    cls = aggregate.class_maps(maps, y, x)
    np.save(tmp / f"class_average_{method}.npy", cls.mean)
    np.save(tmp / f"class_std_{method}.npy", cls.std)
    _png(tmp / f"class_average_{method}.png", _strip(cls.mean_face, cls.mean, CLASS_NAMES))
    summary["class_counts"] = dict(zip(CLASS_NAMES, map(int, cls.count)))
    if dataset.masks is not None and len(dataset.masks):
        region = aggregate.class_region_masks(dataset, y)
        share = aggregate.region_share(cls.mean, region)
        area = region.mean(axis=(1, 2))  # a uniform random map's share
        summary["class_map_share_in_region"] = {c: _num(v) for c, v in zip(CLASS_NAMES, share)}
        summary["random_map_share_in_region"] = {c: _num(v) for c, v in zip(CLASS_NAMES, area)}
    _write_regions(tmp, summary, run, dataset, maps, y, method, progress)
    cells = aggregate.cell_maps(maps, y, pred, x)
    np.save(tmp / f"cells_{method}.npy", cells.mean)
    pd.DataFrame(cells.count, index=CLASS_NAMES, columns=CLASS_NAMES).to_csv(tmp / f"cells_{method}_count.csv")
    rows = [_strip(cells.mean_face[r], cells.mean[r], CLASS_NAMES) for r in range(len(CLASS_NAMES))]
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    _png(tmp / f"cells_{method}.png", np.concatenate([part for row in rows for part in (row, gap)][:-1], 0))
    return maps


def _write_regions(tmp, summary, run, dataset, maps, y, method, progress):
    """regions.csv: per class and face part, the maps' energy share against the part's area share."""
    from fer.explain import parts

    points = None
    if dataset.masks is None or not len(dataset.masks):
        points = parts.kept_keypoints(dataset)
        if points is None:
            _say(progress, f"{dataset.name}: MTCNN's keypoints of {len(y)} test faces (kept for next time)")
            points = parts.keep_keypoints(dataset)[1]
    found = parts.face_parts(dataset, points=points)
    table = parts.part_table(maps, found, y)
    table.insert(0, "method", method)
    table.insert(0, "run", run.id)
    table.to_csv(tmp / "regions.csv", index=False)
    summary["regions"] = {"source": found.source, "faces_with_parts": int(found.found.sum())}


def _write_tcav(tmp, summary, run, model, dataset, progress, own=()):
    """tcav.json: the built-in concepts' and `own` concepts' TCAV scores per layer and class
    (fer.explain.concepts)."""
    from fer.explain import concepts

    t = time.perf_counter()
    found = [*own, *concepts.builtin_concepts(dataset)]
    _say(progress, f"{run.id}: TCAV of {len(found)} concepts against {concepts.SETTINGS['random_concepts']} random ones")
    table = concepts.tcav(model, found, dataset)
    (tmp / "tcav.json").write_text(json.dumps(table.to_dict("records"), indent=1))
    summary["tcav"] = {"concepts": {c.name: c.source for c in found}, "significant": int(table["significant"].sum()),
                       "scores": int(len(table)), "seconds": round(time.perf_counter() - t, 2)}


def _write_discovered(tmp, summary, run, model, x, y, progress):
    """concepts_<class>.json/.png: each class's concepts found by factorisation (fer.explain.craft)."""
    from fer.explain import plots
    from fer.explain.craft import CRAFT_FACES as faces
    from fer.explain.craft import discover, discoverable

    summary["discovered"] = {}
    if not discoverable(model):
        return
    _say(progress, f"{run.id}: concepts found in each class (up to {faces} test faces each)")
    for k, name in enumerate(CLASS_NAMES):
        idx = np.flatnonzero(y == k)[:faces]
        if len(idx) < 10:
            continue
        found = discover(model, x[idx], k)
        (tmp / f"concepts_{name}.json").write_text(json.dumps({
            "class": name, "layer": found.layer, "faces": [int(i) for i in idx],
            "concepts": [{"importance": float(v), "share": float(s), "top_test_faces": [int(idx[f]) for f in top]}
                         for v, s, top in zip(found.importance, found.share, found.top_faces)]}, indent=1))
        rows = [np.concatenate([plots.overlay(x[idx[f]], m, scale=2) for f, m in zip(top, maps)], axis=1)
                for top, maps in zip(found.top_faces, found.maps)]
        _png(tmp / f"concepts_{name}.png", np.concatenate(rows, axis=0))
        summary["discovered"][name] = [round(float(v), 4) for v in found.importance]


def _write_agreement(tmp, summary, compare, maps, x, y, pred, method, progress, faces):
    """Each compared run's maps of the same faces and classes, set against these per face."""
    import pandas as pd

    from fer.explain import METHODS, aggregate

    rows = []
    for other in compare:
        other_model = other.load_model()
        if METHODS[method].applies_to(other_model):
            _say(progress, f"{other.id}: {method} does not apply, left out of the agreement table")
            continue
        _say(progress, f"{other.id}: {method} maps of the same faces, for agreement")
        other_maps = faces.face_maps(other, other_model, x, method, pred)  # the same class explained
        table = aggregate.agreement(maps, other_maps, labels=y)
        table.insert(0, "face", np.arange(len(x)))
        table.insert(1, "compared_run", other.id)
        rows.append(table)
        summary.setdefault("agreement", {})[other.id] = {
            "spearman_mean": float(table["spearman"].mean()), "top_overlap_mean": float(table["top_overlap"].mean()),
            "faces_with_an_empty_map": int(table["spearman"].isna().sum())}
    if rows:
        pd.concat(rows, ignore_index=True).to_csv(tmp / f"agreement_{method}.csv", index=False)


def _write_filters(tmp, run, model, name, x, top_k, steps, progress, faces) -> dict:
    """One conv layer's exemplars and preferred inputs (Fourier and pixel space, each checked
    against the test faces as the Filters page shows them: `sharpen.against_faces`); its summary."""
    from fer.explain import aggregate
    from fer.explain.filters import AscentSettings, FourierSettings, visualize_filters, visualize_filters_fourier
    from fer.explain.filters.sharpen import ORIGINS, against_faces

    t = time.perf_counter()
    _say(progress, f"{run.id}: layer {name}: exemplars among the test faces, preferred inputs ({steps} steps)")
    ex = aggregate.filter_exemplars(model, name, x, k=top_k, activations=faces.filter_activations(run, model, name, x))
    found = visualize_filters_fourier(model, name, settings=FourierSettings(steps=steps))
    found_pixel = visualize_filters(model, name, settings=AscentSettings(steps=steps))
    images, pixel = (against_faces(model, name, r, ex, x) for r in (found, found_pixel))
    beats = ex.beaten_by(images.activation)
    np.save(tmp / f"filters_{name}.npy", np.clip(images.images, 0, 255).astype(np.float32))
    per_filter = [{"filter": int(f), "top_test_faces": [int(i) for i in ex.indices[f]],
                   "top_activations": [float(a) for a in ex.activations[f]], "patches": ex.patches[f].tolist(),
                   "preferred_input_activation": float(images.activation[f]), "beats_every_test_face": bool(beats[f]),
                   "preferred_input_origin": ORIGINS[int(images.origin[f])],
                   "ascent_activation": float(found.activation[f]),
                   "pixel_ascent_activation": float(pixel.activation[f])}
                  for f in range(len(ex.indices))]
    (tmp / f"filters_{name}.json").write_text(json.dumps({"layer": name, "receptive_field": ex.receptive_field,
                                                          "filters": per_filter}, indent=1))
    return {"filters": int(len(beats)), "share_beating_every_test_face": float(beats.mean()),
            "ascent_alone_share_beating_every_test_face": float(ex.beaten_by(found.activation).mean()),
            "pixel_ascent_share_beating_every_test_face": float(ex.beaten_by(pixel.activation).mean()),
            "seconds": round(time.perf_counter() - t, 2)}


def _num(v) -> Optional[float]:
    return None if v is None or not np.isfinite(v) else float(v)
