"""The sidebar on every page: data source, run store and training status."""
from __future__ import annotations

import streamlit as st

from fer import settings
from ui import nav
from ui.store import get_jobs, get_store, scan_runs
from ui.widgets import persist_widget_state


def _job_status_line(manager):
    current = manager.current()
    queued = manager.queued()
    if current is None and not queued:
        return
    if current is not None:
        pct = int(100 * current.fraction)
        st.caption(f"🏋️ Training {current.label}: {current.message or current.status} ({pct}%)")
    if queued:
        st.caption(f"{len(queued)} more training(s) queued")
    st.page_link(nav.TRAIN, label="Training progress", icon="⏱️")


def sidebar():
    """Data source, run store and training status, shown on every page by streamlit_app.py."""
    persist_widget_state()
    with st.sidebar:
        st.subheader("Data")
        if "data_source" not in st.session_state:
            st.session_state["data_source"] = settings.data_source() or ""
        path = st.text_input(
            "FER2013 path (empty = generated demo faces)",
            key="data_source",
            help="fer2013.csv (Kaggle: emotion,pixels,Usage), train.csv (label,feature) or a folder with "
            "train/<class>/ and test/<class>/ images. Also settable with the FER_DATA environment variable.",
        )
        if not (path or "").strip():
            st.caption(
                "Using **generated demo faces** (drawn cartoons, *not real photos*): good for trying the app; "
                "accuracies here say nothing about FER2013. To use real data, download FER2013 (Kaggle "
                "`fer2013.csv`, or the train/ and test/ image folders) and enter its path above, or start the "
                "app with `FER_DATA=/path/to/fer2013 streamlit run streamlit_app.py`."
            )
        else:
            st.caption("Data is loaded once and cached; a bad path shows what is wrong on each page.")

        store = get_store()
        runs, broken = scan_runs()
        st.subheader("Models")
        st.caption(f"{len(runs)} saved run(s) in `{store.root}`")
        if broken:
            with st.expander(f"⚠️ {len(broken)} broken run folder(s) skipped", expanded=len(broken) <= 2):
                for b in broken:
                    st.warning(f"**{b.id}**: {b.reason}", icon="⚠️")
        try:
            interrupted = store.interrupted()
            elsewhere = set(store.training_elsewhere(interrupted))
        except OSError:
            interrupted, elsewhere = [], set()
        manager = get_jobs()
        active_ids = {j.run_id for j in manager.jobs() if j.active}
        interrupted = [(i, s) for i, s in interrupted if i not in active_ids and i not in elsewhere]
        elsewhere -= active_ids
        if elsewhere:
            st.caption("Training now in another process (e.g. the command line): "
                       + ", ".join(f"`{i}`" for i in sorted(elsewhere)[:3]))
        if interrupted:
            st.caption(f"{len(interrupted)} unfinished training(s) can be resumed with `python -m fer resume <run-id>`: "
                       + ", ".join(f"`{i}`" for i, _ in interrupted[:3]))
        _job_status_line(manager)
