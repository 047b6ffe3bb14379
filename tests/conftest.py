"""Shared pytest fixtures (keep this small)."""
import pytest


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's FER_DATA or writes to ~/.cache: a per-session cache dir."""
    monkeypatch.delenv("FER_DATA", raising=False)
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fer-cache"))


@pytest.fixture
def cache_dir(tmp_path):
    """A fresh, empty cache directory for one test."""
    d = tmp_path / "cache"
    d.mkdir()
    return d
