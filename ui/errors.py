"""The last line of defence: a readable message instead of a traceback (details go to the log)."""
from __future__ import annotations

import logging

import streamlit as st

from fer.errors import FerError

log = logging.getLogger("fer.app")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def show_unexpected(exc: BaseException, where: str = "this page"):
    """An error a user caused (FerError) shows its own message; anything else names where it happened."""
    log.error("error on %s", where, exc_info=exc)
    if isinstance(exc, FerError):
        st.error(first_line(exc))
    else:
        st.error(f"Something went wrong on {where}: {type(exc).__name__}{': ' + first_line(exc) if first_line(exc) else ''}")
    st.caption("The details are in the server log. Try another run or data source, or reload the page.")
