"""FER workbench: `streamlit run streamlit_app.py`. A thin router; the pages live in pages/."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import streamlit as st  # noqa: E402

from pages.common import keep_keras_state_between_runs, no_full_gc_while_training, show_unexpected, sidebar  # noqa: E402

st.set_page_config(page_title="FER workbench", page_icon="🙂", layout="wide")
keep_keras_state_between_runs()  # background trainings share this process: see pages/common.py

PAGES = {
    "Explore": [
        st.Page("pages/home.py", title="Overview", icon="🏠", default=True),
        st.Page("pages/data.py", title="Data", icon="🖼️"),
        st.Page("pages/models.py", title="Models", icon="🧱"),
        st.Page("pages/train.py", title="Train", icon="🏋️"),
    ],
    "Evaluate": [
        st.Page("pages/evaluate.py", title="Evaluate", icon="📊"),
        st.Page("pages/compare.py", title="Compare runs", icon="⚖️"),
        st.Page("pages/misclassified.py", title="Misclassified", icon="❌"),
    ],
    "Explain": [
        st.Page("pages/saliency.py", title="Saliency", icon="🔥"),
        st.Page("pages/filters.py", title="Filters", icon="🔍"),
    ],
    "Compress": [
        st.Page("pages/compression.py", title="Compression", icon="🗜️"),
    ],
}

page = st.navigation(PAGES)
try:
    sidebar()
except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
    show_unexpected(exc, "the sidebar")
try:
    page.run()
except Exception as exc:  # noqa: BLE001 - st.stop/st.rerun/st.switch_page are BaseExceptions and pass through
    show_unexpected(exc, f"the {page.title} page")
finally:
    no_full_gc_while_training()
