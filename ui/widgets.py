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


def set_widget(key: str, value):
    """Set a widget's value through Session State and keep it across page switches, as
    `widget_defaults` does for a default (a value set for a widget not drawn is otherwise dropped)."""
    st.session_state[key] = value
    st.session_state.setdefault("_persist_keys", set()).add(key)


def persist_widget_state():
    """Called once per script run (by the sidebar) before any page draws its widgets."""
    for key in st.session_state.get("_persist_keys", ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def asked_for(button_label: str, key: str, settings) -> bool:
    """A button whose result stays on the page while `settings` stay as they were when it was
    pressed (Streamlit's button is True for one run only); changed settings ask for a new press."""
    if st.button(button_label, key=f"{key}_go"):
        st.session_state[key] = settings
    return st.session_state.get(key) == settings


def maps_grid(face, rows, methods, alpha: float = 0.5, container=None):
    """Maps as a grid: one row per (label, {method: map (48,48) or why there is none}), one column
    per method, the colour scale under it. Each row is one picture (`plots.strip`) under method
    names laid out on the same grid: fast to send and to render (a 3-run page drew 30 images)."""
    from fer.explain import plots

    box = container or st
    spec = [1.2] + [1] * len(methods)
    head = box.columns(spec, gap=None)
    for col, method in zip(head[1:], methods):
        col.markdown(f"**{method}**")
    for label, maps in rows:
        left, right = box.columns([spec[0], sum(spec[1:])], gap=None, vertical_alignment="center")
        left.caption(label.replace("\n", "  \n"))
        tiles = []
        for method in methods:
            value = maps.get(method)
            if isinstance(value, str) or value is None:
                tiles.append(plots.overlay(face, None, note=value or "n/a"))
            else:
                tiles.append(plots.overlay(face, value, alpha=alpha))
        right.image(plots.strip(tiles), width="stretch")
    box.image(plots.colour_bar(), caption="attribution, scaled per map: 0 (blue) to 1 (red)", width=240)
