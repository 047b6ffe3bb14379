"""The run store, its cached listing, and the process-wide job queue every session shares."""
from __future__ import annotations

import os
import uuid

import streamlit as st

from fer import jobs as _jobs
from fer.runs import META_FILE, MODEL_FILE, RunStore, default_root


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


def get_store() -> RunStore:
    """The run store (`fer.settings.models_dir()`), one object per folder."""
    return _store(str(default_root()))


@st.cache_resource(show_spinner=False)
def _job_manager(root: str) -> _jobs.JobManager:
    manager = _jobs.manager_for(_store(root))
    if not getattr(manager, "_app_hooked", False):  # once, even if Streamlit's caches are cleared
        manager.on_finish.append(lambda job: refresh_runs())
        manager._app_hooked = True
    return manager


def get_jobs() -> _jobs.JobManager:
    """The process-wide training queue shared by every session (browser tab)."""
    return _job_manager(str(get_store().root))


def store_signature(root) -> tuple:
    """Cheap fingerprint of the store's contents: names and mtimes of run.json / model.keras."""
    out = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return ()
    for entry in entries:
        if entry.name.startswith("."):
            continue
        stamp = [entry.name]
        for name in (META_FILE, MODEL_FILE):
            try:
                stamp.append(os.stat(os.path.join(entry.path, name)).st_mtime_ns)
            except OSError:
                stamp.append(None)
        out.append(tuple(stamp))
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=8)
def _scan(root: str, signature: tuple):
    return RunStore(root).scan()


def refresh_runs():
    """Forget the cached listing (a training finished)."""
    _scan.clear()


def scan_runs():
    """(runs, featured first then newest first; broken run folders), cached until a run folder changes."""
    store = get_store()
    try:
        return _scan(str(store.root), store_signature(store.root))
    except OSError as exc:
        st.error(f"Cannot read the run store {store.root}: {exc.strerror or exc}")
        return [], []


def list_runs():
    return scan_runs()[0]


def session_tag() -> str:
    """A short id for this browser session (names who queued a training)."""
    if "_session_tag" not in st.session_state:
        st.session_state["_session_tag"] = f"tab {uuid.uuid4().hex[:6]}"
    return st.session_state["_session_tag"]
