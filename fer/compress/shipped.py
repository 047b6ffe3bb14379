"""Figures fixed by a run's model file, kept beside it: its size ladder (`ladder.json`) for the
Compression page and its methods' trust (`trust.json`) for the Saliency page, shown at once.

The ladder of a run is fixed by its model file and the data it is scored on: measuring it again on
every fresh machine took up to a minute (writing, converting and scoring every artefact). `python -m fer
compress RUN --data DATA --keep` measures it once and writes the figures (not the artefacts) into
the run's folder, keyed by the model file's SHA-256, the data set's fingerprint and the pruning
sparsity; `kept_ladder` returns them only when all three still match, so a retrained run or other
data is measured afresh.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from fer.runs import atomic_write_text, model_sha256

LADDER_FILE = "ladder.json"
_ROW_FIELDS = ("key", "step", "bytes", "accuracy", "delta_points", "params", "nonzero", "seconds", "note", "maps_rho")
_ATTRS = ("reference_accuracy", "keras_bytes", "params", "sparsity", "kernel_sparsity")


def _entry_key(fingerprint: str, sparsity: float) -> str:
    return f"{fingerprint}/sparsity={round(float(sparsity), 4):g}"


def _read(run_path: Path, name: str = LADDER_FILE) -> dict:
    try:
        data = json.loads((Path(run_path) / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def keep_ladder(run_path: Path, ladder, fingerprint: str, sparsity: float) -> Path:
    """Write `ladder` (a `size_ladder` DataFrame) into the run's `ladder.json` (atomically),
    beside any ladders kept for other data or sparsities."""
    import math

    def plain(v):
        v = v.item() if hasattr(v, "item") else v
        return None if isinstance(v, float) and math.isnan(v) else v

    data = _read(run_path)
    data["model_sha256"] = model_sha256(run_path)
    entries = data.get("entries") if isinstance(data.get("entries"), dict) else {}
    entries[_entry_key(fingerprint, sparsity)] = {
        "rows": [{f: plain(row.get(f)) for f in _ROW_FIELDS if f in row} for row in ladder.to_dict("records")],
        "attrs": {k: plain(ladder.attrs[k]) for k in _ATTRS if k in ladder.attrs},
    }
    data["entries"] = entries
    path = Path(run_path) / LADDER_FILE
    atomic_write_text(path, json.dumps(data, indent=1))
    return path


TRUST_FILE = "trust.json"


def keep_trust(run_path: Path, table, fingerprint: str, settings: dict) -> Path:
    """Write a `fer.explain.measure.trust_table` beside the run (`trust.json`), keyed like a ladder
    and by the settings it was measured with (how many faces each check saw)."""
    data = {"model_sha256": model_sha256(run_path), "fingerprint": fingerprint, "settings": dict(settings),
            "rows": json.loads(table.to_json(orient="records"))}
    path = Path(run_path) / TRUST_FILE
    atomic_write_text(path, json.dumps(data, indent=1))
    return path


def kept_trust(run_path: Path, fingerprint: str, settings: dict):
    """The kept trust table for this model file, data and settings, or None."""
    import pandas as pd

    data = _read(run_path, TRUST_FILE)
    if (not data or data.get("fingerprint") != fingerprint or data.get("settings") != dict(settings)
            or data.get("model_sha256") != _sha_or_none(run_path)):
        return None
    return pd.DataFrame(data.get("rows") or [])


def kept_ladder(run_path: Path, fingerprint: str, sparsity: float):
    """The kept ladder as a DataFrame (no `file` column: the artefacts are not kept), or None when
    there is none for this model file, data and sparsity."""
    import pandas as pd

    data = _read(run_path)
    entry = (data.get("entries") or {}).get(_entry_key(fingerprint, sparsity))
    if not entry or data.get("model_sha256") != _sha_or_none(run_path):
        return None
    df = pd.DataFrame(entry["rows"])
    df["file"] = ""
    df.attrs.update(entry.get("attrs") or {})
    from fer.compress.ladder import with_ratios

    return with_ratios(df, df.attrs.get("keras_bytes") or float(df.loc[df["key"] == "keras", "bytes"].iloc[0]))


def kept_records(run_path: Path, name: str):
    """A kept file (`ladder.json` or `trust.json`) as its dict, when it was written for the run's
    model file as it is now; else None. For documents that show every kept entry as it stands."""
    data = _read(run_path, name)
    return data if data and data.get("model_sha256") == _sha_or_none(run_path) else None


def _sha_or_none(run_path: Path) -> Optional[str]:
    try:
        return model_sha256(run_path)
    except OSError:
        return None
