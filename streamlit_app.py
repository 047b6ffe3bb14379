"""FER workbench: `streamlit run streamlit_app.py`. A thin router; the pages live in views/."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import threading  # noqa: E402

import streamlit as st  # noqa: E402

from fer import stopping  # noqa: E402
from ui import nav  # noqa: E402
from ui.data import data_source  # noqa: E402
from ui.errors import show_unexpected  # noqa: E402
from ui.runtime import keep_keras_state_between_runs, stop_as_a_server  # noqa: E402
from ui.sidebar import sidebar  # noqa: E402
from ui.warmup import warm_up_in_background  # noqa: E402

st.set_page_config(page_title="FER workbench", page_icon="🙂", layout="wide")
keep_keras_state_between_runs()  # background trainings share this process: see ui/runtime.py
stop_as_a_server()  # Ctrl-C never aborts inside TensorFlow: see fer/stopping.py

PAGES = {
    "Explore": [
        st.Page(nav.HOME, title="Overview", icon="🏠", default=True),
        st.Page(nav.DATA, title="Data", icon="🖼️"),
        st.Page(nav.MODELS, title="Models", icon="🧱"),
        st.Page(nav.TRAIN, title="Train", icon="🏋️"),
    ],
    "Evaluate": [
        st.Page(nav.EVALUATE, title="Evaluate", icon="📊"),
        st.Page(nav.COMPARE, title="Compare runs", icon="⚖️"),
        st.Page(nav.MISCLASSIFIED, title="Misclassified", icon="❌"),
    ],
    "Explain": [
        st.Page(nav.YOUR_FACE, title="Your face", icon="🙂"),
        st.Page(nav.SALIENCY, title="Saliency", icon="🔥"),
        st.Page(nav.CLASS_MAPS, title="Class maps", icon="🗺️"),
        st.Page(nav.FILTERS, title="Filters", icon="🔍"),
    ],
    "Compress": [
        st.Page(nav.COMPRESSION, title="Compression", icon="🗜️"),
    ],
}

page = st.navigation(PAGES)
stopping.watch(threading.current_thread())  # the server's exit waits for a page still computing
try:
    try:
        sidebar()
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        show_unexpected(exc, "the sidebar")
    try:
        page.run()
    except Exception as exc:  # noqa: BLE001 - st.stop/st.rerun/st.switch_page are BaseExceptions and pass through
        show_unexpected(exc, f"the {page.title} page")
except stopping.Stopped:  # the server is stopping: no page is left to show anything on
    st.stop()
warm_up_in_background(data_source())  # once per process, after the first page is drawn: see ui/warmup.py
