"""
Title: Loading FER2013 from image folders: cold vs. warm cache
Author: FER workbench
Date created: 2026/11/22
Last modified: 2026/11/22
Description: Time `fer.data.load_dataset` on the full FER2013 image-folder export, first with an
empty cache (decode every JPEG, write the .npz) and then again (read the .npz).

## Introduction

`load_dataset("../shared/data/fer2013")` reads `train/<class>/*.jpg` and `test/<class>/*.jpg`
(32,298 small JPEGs), holds out a stratified val split, and caches the result as a compressed
`.npz` keyed by the folder listing (paths, sizes, mtimes). This script measures both loads in a
fresh temporary cache directory, so it never touches `~/.cache/fer-workbench`.

Run it from the repository root:

    python bench/load_dataset.py [path/to/fer2013]
"""

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.data import load_dataset  # noqa: E402

"""
## Setup
"""

data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "fer2013"
if not (data_dir / "train").is_dir():
    sys.exit(f"FER2013 image folders not found at {data_dir} (expected train/<class>/*.jpg); "
             "pass the folder as the first argument")

"""
## Cold load (empty cache) and warm load (from the .npz)
"""

with tempfile.TemporaryDirectory(prefix="fer-bench-cache-") as cache_dir:
    t0, c0 = time.perf_counter(), time.process_time()
    cold = load_dataset(data_dir, cache_dir=cache_dir)
    t_cold, c_cold = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    warm = load_dataset(data_dir, cache_dir=cache_dir)
    t_warm, c_warm = time.perf_counter() - t0, time.process_time() - c0
    cache_mb = sum(p.stat().st_size for p in Path(cache_dir).glob("*.npz")) / 2**20

assert warm.fingerprint == cold.fingerprint

"""
## Results
"""

print(cold.origin)
print(f"report: {cold.report.summary()}")
print(f"cold load (decode + write cache): {t_cold:6.2f} s wall, {c_cold:6.2f} s CPU")
print(f"warm load (from cache, {cache_mb:.0f} MiB):  {t_warm:6.2f} s wall, {c_warm:6.2f} s CPU")
print(f"cold / warm: {t_cold / t_warm:.1f}x wall   fingerprint {cold.fingerprint}")

"""
CPU time is shown too because on a shared machine other jobs stretch wall time; with the cores to
itself the two are close (the JPEG decode runs on a small thread pool).
"""
