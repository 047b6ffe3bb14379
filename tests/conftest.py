"""Shared pytest fixtures and the two tiers (keep this small).

`python -m pytest` runs the fast tier; `python -m pytest --all` (CI) also runs the tests marked
`slow` (long trainings, concurrency, kill tests), `browser` (real Chromium) and `fer2013` (the real
data set at ../shared). The markers are declared in pytest.ini.
"""
import os
import signal
from pathlib import Path

import pytest

FULL_ONLY = ("slow", "browser", "fer2013")

# A suite started as a shell's background job (`bash .ci/run &`) inherits SIGINT ignored, and so
# would every command it starts: their Ctrl-C tests would then find Ctrl-C ignored (Python keeps an
# inherited SIG_IGN) and wait forever. Ctrl-C behaves here as in a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", dest="run_all",
                     help="run the whole suite: also the tests marked " + ", ".join(FULL_ONLY))


def pytest_collection_modifyitems(config, items):
    if config.getoption("run_all"):
        return
    kept, left = [], []
    for item in items:
        (left if any(item.get_closest_marker(m) for m in FULL_ONLY) else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


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
