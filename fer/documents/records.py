"""Benchmark records: what a bench measured, kept as JSON in `bench/records/` with the command that
printed it, so `docs/results.md` shows the figures of the last run and never a typed one.

    write_record("peer_fer_package", "The fer package's model against ours", command, rows)
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from fer.runs import atomic_write_text

RECORDS_DIR = Path(__file__).resolve().parents[2] / "bench" / "records"


def write_record(name: str, title: str, command: str, rows: list, note: str = "", folder: Path = RECORDS_DIR) -> Path:
    """Keep a bench's figures (`rows`: dicts with the same keys, in column order) as `<name>.json`."""
    record = {"title": title, "command": command, "note": note, "rows": rows,
              "measured": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores, {platform.machine()}"}
    path = Path(folder) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return path


def read_records(folder: Path = RECORDS_DIR) -> list:
    """[(name, record)] of every readable record, by name."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("rows"), list):
            out.append((path.stem, record))
    return out
