"""The one place that reads the `FER_*` environment variables (everything else asks here).

| variable | what | default |
|---|---|---|
| `FER_DATA` | the data set to open (a path; empty: the generated demo faces) | generated faces |
| `FER_MODELS_DIR` | the run store folder | the checkout's `models/` |
| `FER_CACHE_DIR` | where loaded data sets are cached as `.npz` | `~/.cache/fer-workbench` |
| `FER_DATA_ROOTS` | folders the app may read a typed-in data path from (os.pathsep-separated) | home, cwd, the checkout's parent |
| `FER_RAY_ADDRESS` | a Ray cluster (`HOST:PORT`, or `auto`) that width sweeps and `explain` run on | none: one machine |
| `FER_WARMUP` | `0`: the app does not load and trace the default runs in the background after its first page | `1` |
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def data_source() -> Optional[str]:
    """`FER_DATA`, or None (the generated faces)."""
    return _env("FER_DATA") or None


def models_dir() -> Path:
    """`FER_MODELS_DIR` or the checkout's `models/` folder."""
    return Path(_env("FER_MODELS_DIR") or REPO_ROOT / "models")


def cache_dir() -> Path:
    """`FER_CACHE_DIR` or `~/.cache/fer-workbench`."""
    return Path(_env("FER_CACHE_DIR") or "~/.cache/fer-workbench").expanduser()


def data_roots() -> list[Path]:
    """Folders a data path typed into the app must lie in (resolved), `FER_DATA` included."""
    configured = _env("FER_DATA_ROOTS")
    if configured:
        roots = [Path(os.path.expanduser(p)) for p in configured.split(os.pathsep) if p.strip()]
    else:
        roots = [Path.home(), Path.cwd(), REPO_ROOT.parent]
    if data_source():  # the data set the app was started with is allowed
        roots.append(Path(os.path.expanduser(data_source())))
    return [r.resolve() for r in roots]


def warmup() -> bool:
    """Whether the app warms up in the background (`FER_WARMUP`, on unless `0`)."""
    return _env("FER_WARMUP") != "0"


def shared_batching() -> bool:
    """Whether sessions' map and prediction requests are batched together (`FER_SHARED_BATCHING`,
    on unless `0`; off only to measure what it gains)."""
    return _env("FER_SHARED_BATCHING") != "0"


def ray_address(given: Optional[str] = None) -> Optional[str]:
    """The Ray cluster to run sweeps on: `given` (a `--ray` flag), else `FER_RAY_ADDRESS`, else None."""
    return (given or "").strip() or _env("FER_RAY_ADDRESS") or None
