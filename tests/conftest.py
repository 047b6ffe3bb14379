"""Shared pytest fixtures (keep this small)."""
import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch, tmp_path_factory):
    """No test reads the developer's FER_DATA or writes to ~/.cache: a per-session cache dir."""
    monkeypatch.delenv("FER_DATA", raising=False)
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


@pytest.fixture
def router_like_the_server(monkeypatch):
    """Make AppTest run every page through streamlit_app.py's router, as the server does.

    Streamlit treats an app with a `pages/` folder as a v1 multipage app until the main script
    calls `st.navigation`; the server remembers that for its lifetime, but AppTest forgets it
    on every run, so `switch_page` would execute the page file alone, without the router's
    sidebar and error boundary. This keeps the v2 (st.navigation) mode after each set-up.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
