"""`docs/results.md`: the shipped runs, the course's answers, the ablations, the kept compression
and trust figures and the benchmark records, written from the records alone.

    python -m fer results            # --check only compares
"""
from __future__ import annotations

from pathlib import Path

from fer.ablation import find_ablations
from fer.answers import COURSE_REPORTED, course_answers, group_by_dataset
from fer.architectures import model_title
from fer.compress.shipped import LADDER_FILE, TRUST_FILE, kept_records
from fer.documents.cards import CARD_FILE, legs
from fer.documents.markdown import GENERATED_NOTE, code, hours, pct, points, table
from fer.documents.records import RECORDS_DIR, read_records
from fer.runs import atomic_write_text

RESULTS_FILE = Path("docs") / "results.md"
RESULTS_COMMAND = "python -m fer results"
LOSS_LIMIT_POINTS = 1.0  # the course's bar for a compressed form: at most one point of test accuracy lost


def write_results(store, root: Path, check: bool = False, records: Path = RECORDS_DIR) -> bool:
    """Write (or with `check`, only compare) `root/docs/results.md`. Returns whether it was out of date."""
    path = Path(root) / RESULTS_FILE
    text = results_page(store, Path(root), records)
    try:
        stale = path.read_text(encoding="utf-8") != text
    except OSError:
        stale = True
    if stale and not check:
        atomic_write_text(path, text)
    return stale


def results_page(store, root: Path, records: Path = RECORDS_DIR) -> str:
    runs = store.list()
    parts = ["# Results", GENERATED_NOTE.format(command=RESULTS_COMMAND),
             "Every figure below comes from a run's `run.json`, the figures kept beside it (`ladder.json`, "
             "`trust.json`) or a benchmark record in `bench/records/`; each run's card (linked) has the rest: "
             "per-class figures, confusions, every training leg's command."]
    for group in group_by_dataset(runs):
        parts += [f"## {group.name}: {group.origin}", _runs_table(group.runs, store, root),
                  "### The course's questions", _answers(group.runs)]
        parts += _ablations(group.runs)
    parts += ["## Compression and trust of the featured runs", _featured(runs)]
    parts += ["## Benchmarks", _benchmarks(records, root)]
    return "\n\n".join(p for p in parts if p) + "\n"


def _runs_table(runs, store, root) -> str:
    rows = []
    for run in runs:
        m = run.meta
        chain = legs(m)
        card = Path(store.root, run.id, CARD_FILE)
        link = f"[`{run.id}`]({_relative(card, root / RESULTS_FILE.parent)})" + (" (featured)" if m.get("featured") else "")
        rows.append((link, model_title(m.get("arch"), m.get("options")), f"{m.get('width'):g}", f"{m.get('params', 0):,}",
                     sum(int(leg["epochs"] or 0) for leg in chain), hours(sum(float(leg["seconds"] or 0) for leg in chain)),
                     pct(m.get("val_accuracy")), f"**{pct(m.get('test_accuracy'))}**",
                     pct((m.get("mirror") or {}).get("test_accuracy")) if m.get("mirror") else ""))
    return ("\"test\" is what `model.predict` on raw faces scores; a mirror-averaged run's \"network alone\" is "
            "its weights without the average. A val figure of a run trained with `--train-on-val` was seen in "
            "training.\n\n"
            + table(["run", "model", "width", "params", "epochs", "hours", "val", "test", "network alone"], rows))


def _relative(path: Path, start: Path) -> str:
    import os

    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def _answers(runs) -> str:
    found = course_answers(runs)
    if not found:
        return "No question answered: these runs have no test accuracy."
    return "\n".join(f"- **{key}**: {text}" + (f" (the course's students: {COURSE_REPORTED[key]})" if key in COURSE_REPORTED else "")
                     for key, text in found.items())


def _ablations(runs) -> list:
    parts = []
    for ablation in find_ablations(runs):
        test = {r.id: r.meta.get("test_accuracy") for r in ablation.runs}
        val = {r.id: r.meta.get("val_accuracy") for r in ablation.runs}
        effects = dict(ablation.effects(test))
        rows = [(code(ablation.baseline.id), "baseline", f"{ablation.baseline.meta.get('params', 0):,}",
                 pct(val[ablation.baseline.id]), pct(test[ablation.baseline.id]), "")]
        rows += [(code(run.id), diff, f"{run.meta.get('params', 0):,}", pct(val[run.id]), pct(test[run.id]),
                  points(effects.get(diff))) for run, diff in ablation.variants]
        parts += [f"### Ablation: {ablation.label}", f"`{ablation.baseline.meta.get('command')}`, one switch changed "
                  "in each other run (`python -m fer ablations` prints the same).",
                  table(["run", "change", "params", "val", "test", "test against the baseline (points)"], rows)]
    return parts


def _featured(runs) -> str:
    rows = []
    for run in (r for r in runs if r.meta.get("featured")):
        ladder, trust = kept_records(run.path, LADDER_FILE), kept_records(run.path, TRUST_FILE)
        smallest = _smallest_form(ladder)
        flagged = [r["method"] for r in (trust or {}).get("rows", []) if r.get("fails_randomisation")]
        empty = [f"{r['method']} {pct(r['empty_share'], 0)}" for r in (trust or {}).get("rows", [])
                 if isinstance(r.get("empty_share"), (int, float)) and r["empty_share"] > 0]
        rows.append((code(run.id), pct(run.meta.get("test_accuracy")),
                     f"{smallest['step']}: {smallest['bytes']:,} B, {points(smallest['delta_points'])}" if smallest else "not kept",
                     ("none" if not flagged else ", ".join(flagged)) if trust else "not kept",
                     ("none" if not empty else ", ".join(empty)) if trust else "not kept"))
    return (f"The smallest file of each featured run's kept size ladder that loses at most {LOSS_LIMIT_POINTS:g} point, and the attribution methods its kept trust "
            "table flags (the card has both tables whole).\n\n"
            + table(["run", "test", "smallest form (test change, points)", "fails the randomisation check",
                     "empty maps"], rows))


def _smallest_form(ladder):
    rows = [r for e in (ladder or {}).get("entries", {}).values() for r in e.get("rows") or []
            if r.get("bytes") and (r.get("delta_points") or 0) >= -LOSS_LIMIT_POINTS]
    return min(rows, key=lambda r: r["bytes"]) if rows else None


def _benchmarks(records: Path, root: Path) -> str:
    kept = read_records(records)
    if not kept:
        return f"No benchmark records in `{_relative(records, root)}`: each bench's `--record` flag writes one."
    parts = []
    for name, record in kept:
        header = list(record["rows"][0]) if record["rows"] else []
        rows = [[_cell(r.get(k)) for k in header] for r in record["rows"]]
        parts += [f"### {record.get('title') or name}",
                  f"`{record.get('command')}` ({record.get('measured')}, {record.get('machine')}). {record.get('note') or ''}".strip(),
                  table(header, rows)]
    return "\n\n".join(parts)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
