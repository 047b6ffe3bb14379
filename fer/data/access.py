"""Which folders the app may read data from when a user types a path into it.

The app reads what its user points it at, so a path typed into the browser is limited to
configured folders: `FER_DATA_ROOTS` (paths separated by os.pathsep), or by default the user's
home, the folder the app was started from, and the folder holding this checkout (where
`../shared/data` and sibling data folders live). Paths are resolved first, so `..` and symbolic
links cannot step outside. The CLI is not limited: its paths come from the user's own shell.
"""
from __future__ import annotations

import os
from pathlib import Path

from fer import settings
from fer.data.dataset import DataError
from fer.data.loaders import SYNTHETIC_NAMES



def check_allowed(source) -> None:
    """Raise DataError when `source` (a user-typed path) resolves outside every data root."""
    if source is None or str(source).strip().lower() in ("", *SYNTHETIC_NAMES):
        return
    path = Path(os.path.expanduser(str(source).strip())).resolve()
    roots = settings.data_roots()
    if not any(path == root or path.is_relative_to(root) for root in roots):
        raise DataError(f"{source}: outside the folders this app may read data from "
                        f"({', '.join(str(r) for r in roots)}); to allow another folder, start the app "
                        f"with FER_DATA_ROOTS set to it")
