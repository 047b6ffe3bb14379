"""The data source the sidebar chose and the cached data set (one copy for all sessions)."""
from __future__ import annotations

import os

import streamlit as st

from fer import settings
from fer.data import load_dataset
from fer.data.access import check_allowed
from fer.errors import FerError


def data_source() -> str | None:
    """The source the sidebar chose: None for the generated faces, else a path (default: FER_DATA)."""
    value = st.session_state.get("data_source")
    if value is None:
        value = settings.data_source() or ""
    return value.strip() or None


def _source_stamp(source: str | None):
    if not source or source.strip().lower() in ("synthetic", "generated"):
        return None
    try:
        return os.stat(os.path.expanduser(source)).st_mtime_ns
    except OSError:
        return None


@st.cache_resource(show_spinner="Loading data…", max_entries=4)
def _load(source: str | None, stamp):
    return load_dataset(source or "synthetic")


def get_dataset():
    """The current data set, or stop the page with a clear message when it cannot load."""
    source = data_source()
    try:
        check_allowed(source)  # a path typed in the browser stays inside the configured data folders
        return _load(source, _source_stamp(source))
    except (FerError, OSError) as exc:
        st.error(f"Could not load the data from `{source}`: {exc}")
        st.info("Fix the path in the sidebar, or clear it to use the generated demo faces.")
        st.stop()
    except MemoryError:
        st.error("Not enough memory to load this data set.")
        st.stop()
