"""The course's questions answered in one line each, from the saved runs' `run.json` alone.

Why: the Overview should state each answer ("the matched DNN is 21.0 points below the CNN"), not
only point at the page that shows it; every figure it needs (test accuracy, parameters, confusion
matrix, the ablation switches) is already in the run metadata, so the answers cost no model load,
no data load and no TensorFlow. Questions that need predictions (ensembles) or pictures
(saliency, filters) have no one-line answer here.

    for group in group_by_dataset(runs):
        answers = course_answers(group.runs)   # {"dnn": "...", "batchnorm": "...", ...}
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer import CLASS_NAMES
from fer.ablation import find_ablations, switches, variant_labels
from fer.architectures import model_title, title
from fer.data.dataset import GENERATED_NAME

QUESTIONS = ("cnn", "dnn", "batchnorm", "augment", "confusion", "depth", "compressed", "scatter", "equal")
# What the course's students reported (../shared/course.md), shown next to the live answers.
COURSE_REPORTED = {
    "cnn": "single CNNs 64.6–69.1% (895k to 3.26M params)",
    "dnn": "~42% at 3.53M params after 300 epochs",
    "batchnorm": "56% → 60% with BatchNorm",
    "augment": "60% → 65% with augmentation",
    "confusion": "fear and sad hardest; fear most often taken for sad, sad for neutral",
    "compressed": "895,431 → 61,287 params, 64.6% → 63.8%; 3,258,379 → 73,663, 67.4% → 63.0%",
    "equal": "about equal at ~10k params for one student; for another MobileNet wins small, the CNN large",
}


@dataclass
class DatasetRuns:
    """Runs trained on one data set (same fingerprint), in the order they were given."""

    fingerprint: str
    name: str
    origin: str
    runs: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name} ({len(self.runs)} run{'s' if len(self.runs) != 1 else ''})"


def group_by_dataset(runs) -> list:
    """[DatasetRuns] in order of first appearance (the store lists featured runs first)."""
    groups: dict = {}
    for run in runs:
        ds = run.meta.get("dataset") or {}
        key = ds.get("fingerprint") or "?"
        if key not in groups:
            groups[key] = DatasetRuns(key, str(ds.get("name") or "unknown data"), str(ds.get("origin") or ""))
        groups[key].runs.append(run)
    return list(groups.values())


def preferred_group(groups, demo_data: bool) -> int:
    """Index of the group to answer from first: the generated faces' runs when the app is on the
    demo faces, else the first group of real data (the store lists the featured runs first)."""
    for i, group in enumerate(groups):
        if (group.name == GENERATED_NAME) == demo_data:
            return i
    return 0


def _acc(run):
    acc = run.meta.get("test_accuracy")
    return float(acc) if isinstance(acc, (int, float)) else None


def _params(run):
    p = run.meta.get("params")
    return int(p) if isinstance(p, (int, float)) and p > 0 else None


def _scored(runs, arch=None) -> list:
    return [r for r in runs if _acc(r) is not None and _params(r) and (arch is None or r.meta.get("arch") == arch)]


def _best(runs, arch):
    scored = _scored(runs, arch)
    return max(scored, key=_acc) if scored else None


def _pct(x) -> str:
    return f"{100 * x:.1f}%"


def _recipe(ablation) -> str:
    m = ablation.baseline.meta
    epochs = m.get("epochs_run") or (m.get("config") or {}).get("epochs")
    return f"{title(m.get('arch'))} width {float(m.get('width') or 0):g}, {epochs} epochs"


def _main_run(runs, arch):
    """The featured run of an architecture if there is one, else its most accurate."""
    featured = [r for r in _scored(runs, arch) if r.meta.get("featured") is True]
    return max(featured, key=_acc) if featured else _best(runs, arch)


def answer_cnn(runs):
    best = _best(runs, "cnn")
    if best is None:
        return None
    tta, plain = best.meta.get("test_accuracy_tta"), (best.meta.get("mirror") or {}).get("test_accuracy")
    if isinstance(plain, (int, float)):  # the average is inside the model already
        flip = f", averaging the face with its mirror image inside the model ({_pct(plain)} without)"
    else:
        flip = f" ({_pct(tta)} averaged with its mirror image)" if isinstance(tta, (int, float)) else ""
    return f"Best CNN `{best.id}`: {_params(best):,} params, **{_pct(_acc(best))}** test{flip}."


def answer_dnn(runs):
    """The best DNN against the CNN its parameters were matched to (or the CNN nearest in size, within 10%)."""
    dnn = _best(runs, "dnn")
    cnns = _scored(runs, "cnn")
    if dnn is None or not cnns:
        return None
    target = (dnn.meta.get("options") or {}).get("match_params") or _params(dnn)
    cnn = min(cnns, key=lambda r: (abs(_params(r) - target), -_acc(r)))
    if abs(_params(cnn) - _params(dnn)) > 0.1 * max(_params(cnn), _params(dnn)):
        return None
    gap = 100 * (_acc(cnn) - _acc(dnn))
    return (f"DNN `{dnn.id}` ({_params(dnn):,} params): **{_pct(_acc(dnn))}** test against {_pct(_acc(cnn))} for the "
            f"CNN of {_params(cnn):,} params: **{gap:.1f} points {'lower' if gap >= 0 else 'higher'}**.")


def _switch_effects(runs, switch: str) -> list:
    """[(points against the baseline, ablation)] for variants that differ from their baseline in `switch` only."""
    accuracy = {r.id: _acc(r) for r in runs if _acc(r) is not None}
    found = []
    for ablation in find_ablations(runs):
        base = switches(ablation.baseline.meta)
        for run, _ in ablation.variants:
            mine = switches(run.meta)
            changed = [k for k in base if base[k] != mine[k]]
            if changed == [switch] and run.id in accuracy and ablation.baseline.id in accuracy:
                found.append((100 * (accuracy[run.id] - accuracy[ablation.baseline.id]), ablation, run))
    return found


def _effect_list(effects) -> str:
    return "; ".join(f"**{points:+.1f}** points ({_recipe(ablation)})" for points, ablation, _ in effects)


def answer_batchnorm(runs):
    effects = _switch_effects(runs, "batchnorm")
    return f"Without BatchNorm: {_effect_list(effects)}." if effects else None


def answer_augment(runs):
    effects = _switch_effects(runs, "augment")
    return f"Without augmentation: {_effect_list(effects)}." if effects else None


def answer_depth(runs):
    effects = _switch_effects(runs, "depth")
    if not effects:
        return None
    parts = []
    for points, ablation, run in effects:
        base, mine = switches(ablation.baseline.meta)["depth"], switches(run.meta)["depth"]
        step = mine - base
        what = ("one block more" if step == 1 else "one block fewer" if step == -1
                else f"{abs(step)} blocks {'more' if step > 0 else 'fewer'}")
        parts.append(f"{what}: **{points:+.1f}** points ({_recipe(ablation)})")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def answer_confusion(runs):
    """Lowest-recall classes of the main CNN (or any run with a confusion matrix) and where their faces go."""
    run = _main_run(runs, "cnn")
    candidates = [run] if run is not None else []
    candidates += sorted(_scored(runs), key=_acc, reverse=True)
    for run in candidates:
        cm = run.meta.get("confusion_matrix")
        try:
            cm = np.asarray(cm, dtype=int)
        except (TypeError, ValueError):
            continue
        if cm.shape == (len(CLASS_NAMES), len(CLASS_NAMES)) and cm.sum() > 0:
            break
    else:
        return None
    support = cm.sum(1)
    recall = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    order = [i for i in np.argsort(recall) if support[i] > 0][:2]
    parts = []
    for i in order:
        off = cm[i].copy()
        off[i] = -1
        j = int(off.argmax())
        parts.append(f"**{CLASS_NAMES[i]}** (recall {100 * recall[i]:.0f}% of {support[i]:,} faces; most often taken "
                     f"for {CLASS_NAMES[j]}: {cm[i, j]:,})")
    return f"Hardest for `{run.id}`: " + ", then ".join(parts) + "."


def answer_compressed(runs):
    cnn, mob = _main_run(runs, "cnn"), _main_run(runs, "mobilenet")
    if cnn is None or mob is None:
        return None
    gap = 100 * (_acc(mob) - _acc(cnn))
    return (f"{model_title('mobilenet', mob.meta.get('options'))} `{mob.id}`: {_params(mob):,} params ({_params(cnn) / _params(mob):.1f}x fewer than the CNN's "
            f"{_params(cnn):,}), **{_pct(_acc(mob))}** test against {_pct(_acc(cnn))} (**{gap:+.1f}** points).")


def _width_points(runs, arch) -> list:
    """The best run per width of an architecture, ablation variants left out (they differ in more than width)."""
    variants = variant_labels(runs)
    best: dict = {}
    for r in _scored(runs, arch):
        if r.id in variants:
            continue
        w = float(r.meta.get("width") or 0)
        if w not in best or _acc(r) > _acc(best[w]):
            best[w] = r
    return [best[w] for w in sorted(best)]


def answer_scatter(runs):
    parts = []
    for arch, name in (("mobilenet", "MobileNet"), ("cnn", "CNN")):
        points = _width_points(runs, arch)
        if len(points) >= 2:
            params = [_params(r) for r in points]
            accs = [_acc(r) for r in points]
            parts.append(f"{name}: {len(points)} widths, {min(params):,}–{max(params):,} params, "
                         f"{_pct(min(accs))}–**{_pct(max(accs))}**")
    return ("; ".join(parts) + ".") if parts else None


def answer_equal(runs):
    """The closest-in-size MobileNet and CNN width points, paired as the Compression page pairs them
    (`fer.sweep.equal_params_pairs`)."""
    import pandas as pd

    from fer.sweep import equal_params_pairs

    points = pd.DataFrame([{"arch": r.meta.get("arch"), "width": float(r.meta.get("width")), "params": _params(r),
                            "test_accuracy": _acc(r)} for arch in ("cnn", "mobilenet") for r in _width_points(runs, arch)],
                          columns=["arch", "width", "params", "test_accuracy"])
    pairs = equal_params_pairs(points)
    if not pairs:
        return None
    c, m, diff = pairs[0]
    return (f"MobileNet width {m.width:g} ({m.params:,} params) **{_pct(m.test_accuracy)}** against CNN width "
            f"{c.width:g} ({c.params:,}) **{_pct(c.test_accuracy)}**: {diff:+.1f} points for MobileNet.")


_ANSWERS = {"cnn": answer_cnn, "dnn": answer_dnn, "batchnorm": answer_batchnorm, "augment": answer_augment,
            "confusion": answer_confusion, "depth": answer_depth, "compressed": answer_compressed,
            "scatter": answer_scatter, "equal": answer_equal}


def course_answers(runs) -> dict:
    """{question key: one-line markdown answer} for the questions these runs answer (all from one data set)."""
    runs = list(runs)
    found = {}
    for key in QUESTIONS:
        try:
            text = _ANSWERS[key](runs)
        except (TypeError, ValueError, KeyError, AttributeError):  # a hand-edited run.json: that answer waits
            text = None
        if text:
            found[key] = text
    return found
