"""A model card beside each run (`models/<run>/README.md`), in the form of Mitchell et al. 2019:
what the model is, the data and splits, how it was trained (every leg's command and hours), how
well it does (test accuracy, per-class precision and recall, the largest confusions, the kept
compression ladder and trust table), what it is for and what it is not.

    python -m fer cards            # every run in the store; --check only compares
"""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from fer import CLASS_NAMES
from fer.architectures import model_title
from fer.compress.shipped import LADDER_FILE, TRUST_FILE, kept_records
from fer.data.dataset import GENERATED_NAME
from fer.documents.markdown import GENERATED_NOTE, code, hours, pct, points, table
from fer.runs import atomic_write_text, chain_legs

CARD_FILE = "README.md"
CARDS_COMMAND = "python -m fer cards"

INTENDED_USE = (
    "Teaching and research on facial-expression recognition and on how such models can be explained: "
    "looking at what a small network learns from 48x48 faces, comparing architectures, explanation "
    "methods and compressed forms. **Not** for decisions about people (hiring, policing, health, "
    "education, security): a label read off a face is not what that person feels."
)
LIMITATIONS_FER2013 = [
    "FER2013's labels are noisy: its authors put human accuracy on it at 65 +/- 5% (Goodfellow et al. "
    "2013), so part of what looks like error is disagreement about the label.",
    "48x48 grayscale web images, mostly frontal and cropped by a detector: faces in other poses, "
    "lighting, resolutions or colour pipelines are read less well (the Your face page frames photos "
    "like FER2013 to narrow the gap).",
    "The images were found by web searches for emotion words: many expressions are posed, and age, "
    "gender and skin tone are not balanced; accuracy per group has not been measured.",
    "Expression is not emotion: the classes name facial configurations, and people show the same "
    "feeling in different ways (and the same face for different feelings).",
]
LIMITATIONS_GENERATED = [
    "Trained on the built-in generated cartoon faces, whose expressions are drawn from known facial "
    "features: it has never seen a real face and is refused by the photo path. It exists so every page "
    "shows something on a fresh machine, and so saliency maps can be scored against ground truth.",
]


def write_cards(store, check: bool = False) -> list:
    """Write (or with `check`, only compare) every run's card. Returns the paths that were out of date."""
    stale = []
    for run in store.list():
        path, text = run.path / CARD_FILE, model_card(run)
        if _read(path) != text:
            stale.append(path)
            if not check:
                atomic_write_text(path, text)
    return stale


def model_card(run) -> str:
    """The card of one run, as Markdown."""
    meta = run.meta
    parts = [f"# {model_title(meta.get('arch'), meta.get('options'))}: `{run.id}`",
             GENERATED_NOTE.format(command=CARDS_COMMAND), str(meta.get("description") or ""),
             "## Model", table(["property", "value"], _facts(meta)),
             "## Training", _training(meta),
             "## Evaluation", _evaluation(meta),
             "## Compression", _ladder(run),
             "## Trust in the explanations", _trust(run),
             "## Intended use", INTENDED_USE,
             "## Limitations", "\n".join(f"- {line}" for line in _limitations(meta)),
             "## Reproduce", _reproduce(run)]
    return "\n\n".join(p for p in parts if p) + "\n"


def _read(path: Path):
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _guest_facts(meta) -> list:
    """An imported model's facts: its file, the adapter between it and a 48x48 face, its score."""
    guest, data = meta["guest"], meta.get("dataset") or {}
    adapter = guest.get("adapter") or {}
    size = adapter.get("size") or ["?", "?"]
    params = meta.get("params")
    extra = [c for c in adapter.get("classes") or [] if c not in CLASS_NAMES]
    return [("file", f"`{guest.get('source')}` ({guest.get('format')}, SHA-256 `{str(guest.get('source_sha256'))[:16]}…`)"),
            ("parameters", "?" if params is None else f"{params:,}"),
            ("input", f"the 48x48 face resized to {size[0]}x{size[1]}, {adapter.get('channels')} channel(s), "
                      f"{adapter.get('layout')}, pixels 0..255 mapped onto {adapter.get('low'):g}..{adapter.get('high'):g}"),
            ("output", f"{len(adapter.get('classes') or [])} {'logits (a softmax follows)' if adapter.get('softmax') else 'probabilities'}: "
                       + ", ".join(adapter.get("classes") or []) + (f" ({', '.join(extra)}: not a FER2013 class, kept out of the seven)" if extra else "")),
            ("data", f"scored on {data.get('name')}: {data.get('origin')} (fingerprint `{data.get('fingerprint')}`)"),
            ("test accuracy", f"**{pct(meta.get('test_accuracy'))}** on {data.get('test', '?')} test faces")]


def _facts(meta) -> list:
    if meta.get("guest"):
        return _guest_facts(meta)
    data = meta.get("dataset") or {}
    plain = (meta.get("mirror") or {}).get("test_accuracy")
    rows = [("architecture", f"{model_title(meta.get('arch'), meta.get('options'))}, width {meta.get('width'):g}, "
                             f"options {code(_options(meta))}"),
            ("parameters", f"{meta.get('params', 0):,}"),
            ("input", "a 48x48 grayscale face, pixels 0..255 (the model scales them)"),
            ("output", "7 probabilities: " + ", ".join(CLASS_NAMES)),
            ("data", f"{data.get('name')}: {data.get('origin')} (fingerprint `{data.get('fingerprint')}`)"),
            ("test accuracy", f"**{pct(meta.get('test_accuracy'))}** on {data.get('test', '?'):,} test faces")]
    if isinstance(plain, (int, float)):
        rows.append(("mirror average", f"inside the model: each face and its mirror image, outputs averaged "
                                       f"(the network alone: {pct(plain)})"))
    return rows


def _options(meta) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((meta.get("options") or {}).items()))


def legs(meta) -> list:
    """Every training leg of a run's warm-start chain, oldest first: (run, epochs, seconds, test, command).

    A mirror-averaged run records the `mirror` command as its own; the training command of its
    network is in its `mirror` record, and `test` is then the network's own score."""
    out = []
    for leg in chain_legs(meta):
        mirror = leg.get("mirror") or {}
        out.append({"run": mirror.get("run") or leg.get("run") or leg.get("id"),
                    "epochs": leg.get("epochs_run"), "seconds": leg.get("wall_time_s"),
                    "test": mirror.get("test_accuracy", leg.get("test_accuracy")),
                    "command": mirror.get("command") or leg.get("command")})
    return out


def _training(meta) -> str:
    if meta.get("guest"):
        return (f"Trained elsewhere, by its authors; imported with `{meta.get('command')}`. Its training data is not "
                "known here: it may include some of the faces that score it, which would make its figures an upper bound.")
    chain = legs(meta)
    rows = [(i, code(leg["run"]), leg["epochs"], hours(leg["seconds"]), pct(leg["test"]), code(leg["command"]))
            for i, leg in enumerate(chain, start=1)]
    machine = meta.get("machine") or {}
    total_epochs = sum(int(leg["epochs"] or 0) for leg in chain)
    total_s = sum(float(leg["seconds"] or 0) for leg in chain)
    lines = [f"{total_epochs} epochs in {len(rows)} leg(s), {hours(total_s)} hours on {machine.get('cores', '?')} "
             f"CPU cores ({machine.get('cpu', '?')}, GPUs: {', '.join(machine.get('gpus') or []) or 'none'}); "
             f"each leg warm-starts from the one before. \"test\" is the network's own score after the leg.",
             table(["leg", "run", "epochs", "hours", "test", "command"], rows)]
    if meta.get("mirror"):
        lines.append(f"Then {code(meta.get('command'))}: the network averaged with its mirror image, inside the model.")
    versions = meta.get("versions") or {}
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".")
    return "\n\n".join(lines)


def _evaluation(meta) -> str:
    per_class = meta.get("per_class") or {}
    rows = [(c, pct(v.get("precision"), 1), pct(v.get("recall"), 1), f"{v.get('f1', 0):.3f}", v.get("support"))
            for c, v in per_class.items()]
    parts = [f"On the {meta.get('confusion_split', 'test')} split:", table(["class", "precision", "recall", "F1", "faces"], rows)]
    confusions = largest_confusions(meta.get("confusion_matrix"))
    if confusions:
        parts.append("Largest confusions (true class read as another):\n\n"
                     + table(["true", "read as", "faces", "share of the true class"],
                             [(t, p, n, pct(share, 1)) for t, p, n, share in confusions]))
    return "\n\n".join(parts)


def largest_confusions(matrix, top: int = 5) -> list:
    """[(true, predicted, count, share of the true class)] for the largest off-diagonal cells."""
    if not matrix:
        return []
    cm = np.asarray(matrix, dtype=float)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    cells = sorted(zip(*np.nonzero(off)), key=lambda ij: -off[ij])[:top]
    return [(CLASS_NAMES[i], CLASS_NAMES[j], int(cm[i, j]), cm[i, j] / max(cm[i].sum(), 1)) for i, j in cells]


def _ladder(run) -> str:
    kept = kept_records(run.path, LADDER_FILE)
    if not kept and not run.is_keras:
        return "None: the size ladder compresses a Keras model's layers; this imported model is its own file."
    if not kept:
        return (f"No kept size ladder: {code(_fer_command('compress', run, '--keep'))} "
                "measures one and keeps it beside the run.")
    parts = []
    for key, entry in sorted((kept.get("entries") or {}).items()):
        fingerprint, sparsity = key.split("/", 1)
        rows = [(r.get("step"), f"{r.get('bytes', 0):,}", pct(r.get("accuracy")), points(r.get("delta_points")))
                for r in entry.get("rows") or []]
        parts.append(f"Every compressed form written, loaded back and scored on the test split of data "
                     f"`{fingerprint}` (pruning at {sparsity}):\n\n"
                     + table(["form", "bytes", "test", "change (points)"], rows))
    return "\n\n".join(parts)


def _trust(run) -> str:
    kept = kept_records(run.path, TRUST_FILE)
    if not kept:
        return f"No kept trust table: {code(_fer_command('trust', run, '--keep'))} measures one."
    s = kept.get("settings") or {}
    rows = [(r.get("method"), _num(r.get("deletion_auc")), _num(r.get("random_deletion_auc")),
             _num(r.get("randomised_rho")), _randomisation_verdict(r),
             pct(r.get("empty_share"), 0)) for r in kept.get("rows") or []]
    return (f"Deletion AUC on {s.get('deletion_n')} test faces (lower is better; against a random order), the "
            f"rank correlation of each method's maps with those of the model re-initialised layer by layer on "
            f"{s.get('randomisation_n')} faces (a method that still agrees fails), and the share of empty maps on "
            f"{s.get('empty_n')} faces:\n\n"
            + table(["method", "deletion AUC", "random order", "randomised rho", "randomisation check", "empty maps"], rows))


def _randomisation_verdict(row) -> str:
    if row.get("fails_randomisation"):
        return "fails"
    return "passes" if isinstance(row.get("randomised_rho"), (int, float)) else "n/a (the randomised model's maps are empty)"


def _num(value) -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:.3f}"


def _limitations(meta) -> list:
    if meta.get("guest"):
        return [LIMITATIONS_FER2013[0], "Trained elsewhere on data not known here; scored with the adapter above "
                "(resizing, pixel range, class order), which decides its figures as much as its weights do."]
    if (meta.get("dataset") or {}).get("name") == GENERATED_NAME:
        return LIMITATIONS_GENERATED
    support = {c: v.get("support") for c, v in (meta.get("per_class") or {}).items() if v.get("support")}
    if not support:
        return LIMITATIONS_FER2013
    rare, common = min(support, key=support.get), max(support, key=support.get)
    return LIMITATIONS_FER2013 + [f"The classes are unbalanced: `{rare}` has {support[rare]} test faces against "
                                  f"{support[common]} for `{common}`, so its figures are the least certain."]


def _data_path(meta):
    """The `--data` path the run's last training (or import) command gave, or None (the generated faces)."""
    for leg in reversed(legs(meta) if not meta.get("guest") else [meta]):
        words = shlex.split(leg["command"] or "")
        if "--data" in words[:-1]:
            return words[words.index("--data") + 1]
    return None


def _fer_command(command: str, run, *flags) -> str:
    """`python -m fer COMMAND RUN [--data PATH] FLAGS...` for this run's data."""
    data = _data_path(run.meta)
    return " ".join(["python -m fer", command, run.id, *(["--data", data] if data else []), *flags])


def _reproduce(run) -> str:
    return (f"```bash\n{_fer_command('evaluate', run)}\n```\n\n"
            f"prints the test accuracy, the per-class figures and the confusion matrix above; "
            f"`python -m fer list` shows the run beside the others.")
