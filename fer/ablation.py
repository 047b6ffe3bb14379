"""Which saved runs are ablations of one another: the same recipe but for a switch the course
turns off (BatchNorm, augmentation) or a conv block more or less (depth).

The course asks "do BatchNorm and augmentation help?" (assignment A.3) and compares one conv
layer fewer and one more. Its answer is a set of runs trained identically except for that one
switch; this module finds such sets among saved runs and names how each member differs from the
baseline, so the Compare page can select one and the parameters-vs-accuracy scatter, whose
points should differ in width only, can leave the variants out. Reads `run.json` metadata only: no TensorFlow.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from fer.architectures import DEFAULT_DEPTH
from fer.train import TrainConfig

SWITCHES = ("batchnorm", "augment", "depth")
# TrainConfig fields newer than some saved runs: those runs trained with the field's default.
_ADDED_LATER = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                if f.name in ("optimizer", "weight_decay", "erasing", "init_from", "teacher", "distill_alpha", "distill_temperature",
                                  "stem", "head", "blocks", "upsample", "train_on_val")}


def switches(meta: dict) -> dict:
    """The run's BatchNorm, augmentation and depth (a depth left unset is its architecture's default)."""
    cfg = meta.get("config") or {}
    opts = meta.get("options") or {}
    depth = opts.get("depth", cfg.get("depth"))
    if depth is None:
        depth = DEFAULT_DEPTH.get(meta.get("arch") or cfg.get("arch"))
    return {"batchnorm": bool(opts.get("batchnorm", cfg.get("batchnorm", True))),
            "augment": bool(cfg.get("augment", True)), "depth": depth}


def recipe_key(meta: dict) -> tuple:
    """Everything that shapes a run but the switches (data, architecture, width, epochs, schedule,
    seed, warm start...): runs with equal keys are ablations of one another."""
    cfg = dict(meta.get("config") or {})
    cfg.setdefault("arch", meta.get("arch"))
    cfg.setdefault("width", meta.get("width"))
    for key, default in _ADDED_LATER.items():  # runs saved before an option existed trained without it
        cfg.setdefault(key, default)
    for key in (*SWITCHES, "description"):
        cfg.pop(key, None)
    return ((meta.get("dataset") or {}).get("fingerprint"), tuple(sorted((k, repr(v)) for k, v in cfg.items())))


def difference(meta: dict, baseline: dict) -> str:
    """How a run's switches differ from the baseline's, in words ("no BatchNorm, depth 3")."""
    a, b = switches(meta), switches(baseline)
    parts = []
    if a["batchnorm"] != b["batchnorm"]:
        parts.append("BatchNorm" if a["batchnorm"] else "no BatchNorm")
    if a["augment"] != b["augment"]:
        parts.append("augmentation" if a["augment"] else "no augmentation")
    if a["depth"] != b["depth"]:
        parts.append(f"depth {a['depth']}")
    return ", ".join(parts) or "same switches"


def _fullness(run) -> tuple:
    """Baseline preference: BatchNorm on, augmentation on, the architecture's default depth."""
    s = switches(run.meta)
    return (s["batchnorm"], s["augment"], s["depth"] == DEFAULT_DEPTH.get(run.meta.get("arch")))


@dataclass
class Ablation:
    """A baseline run and the runs trained like it but for BatchNorm, augmentation or depth."""

    baseline: object
    variants: list = field(default_factory=list)  # [(run, "no BatchNorm"), ...]

    @property
    def runs(self) -> list:
        return [self.baseline] + [run for run, _ in self.variants]

    @property
    def label(self) -> str:
        m = self.baseline.meta
        epochs = m.get("epochs_run") or (m.get("config") or {}).get("epochs")
        return (f"{m.get('arch')} width {float(m.get('width') or 0):g}, {epochs} epochs: baseline vs "
                + ", ".join(diff for _, diff in self.variants))

    def effects(self, accuracy: dict) -> list:
        """[(difference, accuracy points against the baseline)] from `accuracy` (run id -> fraction);
        members without an accuracy are left out, and all are when the baseline has none."""
        base = accuracy.get(self.baseline.id)
        if base is None:
            return []
        return [(diff, 100 * (accuracy[run.id] - base)) for run, diff in self.variants if accuracy.get(run.id) is not None]


def find_ablations(runs) -> list:
    """Sets of runs trained alike except for their switches, largest first.

    The baseline of a set is the member with the most switched on (BatchNorm, augmentation, the
    default depth); the others follow in a fixed order (BatchNorm off first, then augmentation
    off, then depths ascending). Of runs with identical switches (repeats) only the first counts.
    """
    groups: dict = {}
    for run in runs:
        groups.setdefault(recipe_key(run.meta), []).append(run)
    found = []
    for members in groups.values():
        distinct, seen = [], set()
        for run in members:
            marker = tuple(switches(run.meta).values())
            if marker not in seen:
                seen.add(marker)
                distinct.append(run)
        if len(distinct) < 2:
            continue
        baseline = max(distinct, key=_fullness)
        others = sorted((r for r in distinct if r is not baseline), key=lambda r: tuple(switches(r.meta).values()))
        found.append(Ablation(baseline, [(r, difference(r.meta, baseline.meta)) for r in others]))
    found.sort(key=lambda a: (-len(a.variants), a.baseline.id))
    return found


def variant_labels(runs) -> dict:
    """{run id: how it differs from its baseline} for every run that is an ablation variant of
    another run in `runs`. Such runs differ in more than width, so the width scatter leaves them
    out; a lone run with BatchNorm off is not a variant of anything and stays."""
    return {run.id: diff for ablation in find_ablations(runs) for run, diff in ablation.variants}
