"""The real FER2013 image-folder export in ../shared/data/fer2013 (skipped when it is absent).

A cold load decodes all 32,298 JPEGs (about 10 s on 2 cores, more when they are shared); the second
load comes from the cache this test writes into its own tmp dir (under 1 s of CPU).
"""
import time
from pathlib import Path

import numpy as np
import pytest

from fer import CLASS_NAMES
from fer.data import load_dataset

FER_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013"

TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "sad": 4830, "surprise": 3171, "neutral": 4965}
TEST = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "sad": 653, "surprise": 415, "neutral": 607}

pytestmark = [pytest.mark.fer2013,
              pytest.mark.skipif(not (FER_DIR / "train").is_dir(), reason=f"no FER2013 folder at {FER_DIR}")]


@pytest.fixture(scope="module")
def loads(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("fer-real-cache")
    t0 = time.perf_counter()
    cold = load_dataset(FER_DIR, cache_dir=cache_dir)
    t1, c1 = time.perf_counter(), time.process_time()
    warm = load_dataset(FER_DIR, cache_dir=cache_dir)
    return cold, warm, t1 - t0, time.perf_counter() - t1, time.process_time() - c1


def test_split_sizes_and_per_class_counts(loads):
    ds = loads[0]
    counts = ds.counts()
    assert len(ds.images) == 28709 + 3589
    assert counts["train"].sum() + counts["val"].sum() == 28709 and counts["test"].sum() == 3589
    assert counts["val"].sum() == 2871  # ceil(10% of train), stratified
    assert (counts["train"] + counts["val"]).to_dict() == TRAIN
    assert counts["test"].to_dict() == TEST
    assert list(counts.index) == list(CLASS_NAMES)
    assert ds.images.dtype == np.uint8 and ds.images.shape[1:] == (48, 48)
    assert ds.report.n_skipped == 0 and ds.report.converted == 0
    assert 100 < ds.images.mean() < 160 and ds.images.std() > 40  # real faces, not blanks


def test_val_is_stratified(loads):
    counts = loads[0].counts()
    share = counts["val"] / (counts["train"] + counts["val"])
    assert ((share - 0.1).abs() < 0.005).all()


def test_warm_load_comes_from_cache_identical_and_fast(loads):
    cold, warm, t_cold, t_warm, cpu_warm = loads
    print(f"\ncold {t_cold:.2f}s, warm {t_warm:.2f}s wall / {cpu_warm:.2f}s CPU")
    assert warm.fingerprint == cold.fingerprint
    np.testing.assert_array_equal(warm.images, cold.images)
    np.testing.assert_array_equal(warm.splits, cold.splits)
    # CPU time, not wall: on a shared 2-core box other jobs can stretch wall time several-fold
    assert cpu_warm <= 2.0, f"warm load used {cpu_warm:.2f}s CPU ({t_warm:.2f}s wall; cold {t_cold:.2f}s)"
