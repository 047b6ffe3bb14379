"""What every page shares: the data source, the run store, the training queue and cached loads.

Streamlit's caches hold the heavy things: `st.cache_resource` for data sets (read-only, one
copy for all sessions, keyed by the source and its modification time), Keras models (keyed by
run id and the model file's mtime) and the process-wide training queue (`fer.jobs`);
`st.cache_data` for the run list (keyed by the store folder's contents), test-split predictions
(per run id and data fingerprint) and model summaries. Pages stay thin and call `fer/`.
Nothing here imports TensorFlow at module level: the Overview page must show in seconds.
"""
from __future__ import annotations

import logging
import os
import sys
import uuid

import streamlit as st

from fer import jobs as _jobs
from fer.data import DataError, load_dataset
from fer.data.access import check_allowed
from fer.runs import META_FILE, MODEL_FILE, RunError, RunStore, default_root

log = logging.getLogger("fer.app")

GENERATED = "Generated demo faces (built in)"


def _leave_mpa_v1():
    """Make a fresh server's first request use the st.navigation router, even on a deep link.

    Streamlit starts with its legacy "pages/ folder" mode switched on because this app has a
    pages/ folder, and only leaves it when st.navigation is first called. Until then a deep link
    (e.g. /train as a fresh server's first request) would run pages/train.py on its own, without
    the router, the sidebar or the page config. Every page imports this module, so on first
    import: switch the legacy mode off and rerun, which goes through streamlit_app.py.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # a future Streamlit without these internals: nothing to fix
        return
    if PagesManager.uses_pages_directory and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


def keep_keras_state_between_runs():
    """Stop Streamlit from resetting Keras after every script run.

    After each run (every fragment tick of every open tab included) Streamlit calls
    `keras.backend.clear_session()`, which swaps Keras' global state, clears TensorFlow's kernel
    cache and runs a full garbage collection. With a training running in a background thread of
    the same process that starves it (measured: still tracing its first batch after 2.5 min with
    two Train tabs open) and pulls Keras state from under it. This app builds models on purpose
    and caches them (st.cache_resource), so there is nothing to clear; matplotlib figures are
    still closed as before. Idempotent; a Streamlit without this hook is left alone.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner as _runner
    except ImportError:
        return
    current = getattr(_runner, "_clean_problem_modules", None)
    if current is None or getattr(current, "_fer_keeps_keras", False):
        return

    def _clean_problem_modules():
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            try:
                plt.close("all")
            except Exception:  # noqa: BLE001 - as Streamlit's own version
                pass

    _clean_problem_modules._fer_keeps_keras = True
    _runner._clean_problem_modules = _clean_problem_modules


def no_full_gc_while_training(manager=None):
    """Streamlit runs gc.collect(2) after every script run (config runner.postScriptGC); with
    TensorFlow loaded that holds the GIL for a long time on every fragment tick. Skip it while
    a training runs (Python's automatic collection still works); restore it when idle."""
    try:
        from streamlit import config as _config

        busy = (manager or get_jobs()).busy
        if _config.get_option("runner.postScriptGC") == busy:
            _config.set_option("runner.postScriptGC", not busy, "fer app: no full GC while a training runs")
    except Exception:  # noqa: BLE001 - a tuning knob, never an error for the user
        pass


TRAIN_PAGE = "pages/train.py"
MISCLASSIFIED_PAGE = "pages/misclassified.py"
SALIENCY_PAGE = "pages/saliency.py"


# -- run store and training queue ------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(root)


def get_store() -> RunStore:
    """The run store (env FER_MODELS_DIR or ./models), one object per folder."""
    return _store(str(default_root()))


@st.cache_resource(show_spinner=False)
def _job_manager(root: str) -> _jobs.JobManager:
    manager = _jobs.manager_for(_store(root))
    if not getattr(manager, "_app_hooked", False):  # once, even if Streamlit's caches are cleared
        manager.on_finish.append(lambda job: _scan.clear())
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
                st_ = os.stat(os.path.join(entry.path, name))
                stamp.append(st_.st_mtime_ns)
            except OSError:
                stamp.append(None)
        out.append(tuple(stamp))
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=8)
def _scan(root: str, signature: tuple):
    return RunStore(root).scan()


def scan_runs():
    """(runs newest first, broken run folders), cached until a run folder changes."""
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


# -- data ----------------------------------------------------------------------------
def _source_stamp(source: str | None):
    path = source or os.environ.get("FER_DATA", "").strip()
    if not path or path.strip().lower() in ("synthetic", "generated"):
        return None
    try:
        return os.stat(os.path.expanduser(path)).st_mtime_ns
    except OSError:
        return None


@st.cache_resource(show_spinner="Loading data…", max_entries=4)
def _load_resource(source: str | None, stamp):
    return load_dataset(source)


def _load(source: str | None):
    """Kept for callers of the old name: the cached data set for `source`."""
    return _load_resource(source, _source_stamp(source))


def data_source() -> str | None:
    """The source the sidebar chose: None for the generated faces (or env FER_DATA), else a path."""
    value = st.session_state.get("data_source")
    if value is None:
        value = os.environ.get("FER_DATA", "")
    return value.strip() or None


def get_dataset():
    """The current data set, or stop the page with a clear message when it cannot load."""
    source = data_source()
    try:
        check_allowed(source)  # a path typed in the browser stays inside the configured data folders
        return _load(source)
    except (DataError, OSError, ValueError) as exc:
        st.error(f"Could not load the data from `{source or os.environ.get('FER_DATA', '')}`: {exc}")
        st.info("Fix the path in the sidebar, or clear it to use the generated demo faces.")
        st.stop()
    except MemoryError:
        st.error("Not enough memory to load this data set.")
        st.stop()


# -- models and predictions --------------------------------------------------------------
@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _load_model(run_id: str, mtime: float):
    return get_store().get(run_id).load_model()


def load_model(run_id: str):
    """The Keras model of a run (cached); raises RunError for a missing or broken run."""
    run = get_store().get(run_id)
    try:
        mtime = run.model_path.stat().st_mtime
    except OSError as exc:
        raise RunError(f"run {run_id}: cannot read {MODEL_FILE} ({exc.strerror or exc})") from None
    return _load_model(run_id, mtime)


# persist="disk" (in ~/.streamlit/cache): a restarted app does not score every run again. The key
# holds the model file's path and mtime and the data's fingerprint, so a retrained run or other
# data is scored afresh.
@st.cache_data(show_spinner="Scoring the test split…", max_entries=64, persist="disk")
def _test_probs(run_id: str, model_path: str, mtime: float, fingerprint: str, _dataset):
    from fer.evaluate import predict_proba

    model = load_model(run_id)
    images, _ = _dataset.split("test")
    return predict_proba(model, images)


def test_probs(run, dataset=None):
    """Class probabilities (N_test, 7) of `run` on the current data set's test split (cached per run)."""
    dataset = dataset or get_dataset()
    try:
        mtime = run.model_path.stat().st_mtime
    except OSError as exc:
        raise RunError(f"run {run.id}: cannot read {MODEL_FILE} ({exc.strerror or exc})") from None
    return _test_probs(run.id, str(run.model_path), mtime, dataset.fingerprint, dataset)


def test_probs_or_stop(run, dataset=None):
    """test_probs, or a clear message and a stopped page when the run's model cannot be used."""
    try:
        return test_probs(run, dataset)
    except RunError as exc:
        st.error(f"This run cannot be used: {exc}")
        st.info("Pick another run, or delete the broken folder from the run store.")
        st.stop()
    except Exception as exc:  # noqa: BLE001 - e.g. a model that does not fit 48x48 input
        st.error(f"Scoring run {run.id} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        st.stop()


@st.cache_data(show_spinner="Building the model…", max_entries=256)
def model_summary(arch: str, width: float, depth: int | None = None, batchnorm: bool = True, match_params: int | None = None):
    """(layer table, counts dict) of an untrained model; cached per configuration."""
    from fer.models import build_model, summary_table

    opts = {"depth": depth, "batchnorm": batchnorm}
    if arch == "dnn" and match_params:
        opts["match_params"] = int(match_params)
    return summary_table(build_model(arch, float(width), **opts))


# -- runs for the current data ----------------------------------------------------------
def runs_for_dataset(dataset=None, arch: tuple | None = None):
    """Runs trained on the current data set (by fingerprint), newest first."""
    dataset = dataset or get_dataset()
    runs = [r for r in list_runs() if (r.meta.get("dataset") or {}).get("fingerprint") == dataset.fingerprint]
    return [r for r in runs if arch is None or r.meta.get("arch") in arch]


def offer_quick_training(dataset=None, key: str = "quick"):
    """A one-click button that queues the quick default training and opens the Train page."""
    manager = get_jobs()
    config = _jobs.quick_config()
    n_train = config.max_train_images
    if dataset is not None:
        n_train = min(n_train, int(len(dataset.indices("train"))))
    sizes = _jobs.split_sizes(dataset) if dataset is not None else {}
    estimate = _jobs.estimate_text(config, n_train, list_runs(), **sizes)
    active = [j for j in manager.jobs() if j.active]
    if active:
        st.info(f"A training is running or queued ({active[0].label}); it appears here when it finishes.")
        st.page_link(TRAIN_PAGE, label="Watch its progress on the Train page", icon="🏋️")
        return
    if st.button(f"Train a quick default model ({estimate.split(' (')[0]})", key=f"{key}_quick_train", type="primary",
                 help=f"cnn width 0.25, 3 epochs on {n_train:,} training images: {estimate}"):
        dataset = dataset or get_dataset()
        job = manager.submit(config, dataset, owner=session_tag())
        st.session_state["train_job"] = job.id
        st.switch_page(TRAIN_PAGE)
    st.caption(f"Estimated {estimate}. Or choose your own settings on the Train page.")


def pick_run(label="Run", key="run", dataset=None, arch=None, help=None):
    """A run selector; on no runs it says so, offers a quick default training, then stops the page."""
    dataset = dataset or get_dataset()
    runs = runs_for_dataset(dataset, arch)
    if not runs:
        what = f" ({'/'.join(arch)})" if arch else ""
        st.warning(f"No trained model{what} for this data set yet ({dataset.name}). This page needs one.")
        offer_quick_training(dataset, key=f"{key}_pick")
        st.page_link(TRAIN_PAGE, label="Open the Train page", icon="🏋️")
        st.stop()
    ids = [r.id for r in runs]
    default = st.session_state.get(key)
    index = ids.index(default) if default in ids else 0
    labels = {r.id: r.label for r in runs}
    chosen = st.selectbox(label, ids, index=index, key=f"_{key}_select", format_func=lambda i: labels.get(i, i), help=help)
    st.session_state[key] = chosen
    return next(r for r in runs if r.id == chosen)


# -- widget state that survives page switches --------------------------------------------
def widget_defaults(values: dict):
    """Give widgets their defaults through Session State (create them without `value=`) and keep
    their values when the user switches pages and comes back (Streamlit drops the state of
    widgets that a run does not draw, unless it was set through the Session State API)."""
    keep = st.session_state.setdefault("_persist_keys", set())
    for key, value in values.items():
        st.session_state.setdefault(key, value)
        keep.add(key)


def _persist_widget_state():
    for key in st.session_state.get("_persist_keys", ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


# -- the sidebar -----------------------------------------------------------------------
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
    st.page_link(TRAIN_PAGE, label="Training progress", icon="⏱️")


def sidebar():
    """Data source, run store and training status, shown on every page by streamlit_app.py."""
    _persist_widget_state()
    with st.sidebar:
        st.subheader("Data")
        if "data_source" not in st.session_state:
            st.session_state["data_source"] = os.environ.get("FER_DATA", "")
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


def show_error(exc: Exception, what: str):
    st.error(f"{what}: {exc}")


def show_unexpected(exc: BaseException, where: str = "this page"):
    """The last line of defence: a readable message instead of a traceback (details go to the log)."""
    log.error("unexpected error on %s", where, exc_info=exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (RunError, DataError)):
        st.error(f"{first}")
    else:
        st.error(f"Something went wrong on {where}: {type(exc).__name__}{': ' + first if first else ''}")
    st.caption("The details are in the server log. Try another run or data source, or reload the page.")


__all__ = [
    "DataError", "RunError", "GENERATED", "get_store", "get_jobs", "get_dataset", "load_model", "runs_for_dataset",
    "pick_run", "sidebar", "data_source", "scan_runs", "list_runs", "test_probs", "test_probs_or_stop",
    "model_summary", "offer_quick_training", "session_tag", "show_error", "show_unexpected",
]

# Last, once every name above exists: its st.rerun() aborts this import, and a session importing
# this module at the same moment (several tabs deep-linking into a fresh server) is handed the
# aborted module object by Python's import machinery. Called at the top, that object had no
# get_dataset yet: "ImportError: cannot import name 'get_dataset' from 'pages.common'" in the
# browser (seen with 4 sessions opening /saliency at once, bench/concurrent_sessions.py).
_leave_mpa_v1()
