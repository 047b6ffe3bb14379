"""Widget values that survive page switches."""
from __future__ import annotations

import streamlit as st


def widget_defaults(values: dict):
    """Give widgets their defaults through Session State (create them without `value=`) and keep
    their values when the user switches pages and comes back (Streamlit drops the state of
    widgets that a run does not draw, unless it was set through the Session State API)."""
    keep = st.session_state.setdefault("_persist_keys", set())
    for key, value in values.items():
        st.session_state.setdefault(key, value)
        keep.add(key)


def persist_widget_state():
    """Called once per script run (by the sidebar) before any page draws its widgets."""
    for key in st.session_state.get("_persist_keys", ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
