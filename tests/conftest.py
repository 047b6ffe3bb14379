"""Shared pytest fixtures (keep this small)."""
import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's FER_DATA or writes to ~/.cache: a per-session cache dir."""
    monkeypatch.delenv("FER_DATA", raising=False)
    monkeypatch.setenv("FER_WARMUP", "0")  # no background warm-up thread competing with the tests
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fer-cache"))
    # the app may read data from the tests' temporary folders and the checkout's parent (../shared)
    monkeypatch.setenv("FER_DATA_ROOTS", os.pathsep.join([str(tmp_path_factory.getbasetemp()),
                                                          str(Path(__file__).resolve().parents[2])]))


@pytest.fixture
def cache_dir(tmp_path):
    """A fresh, empty cache directory for one test."""
    d = tmp_path / "cache"
    d.mkdir()
    return d
