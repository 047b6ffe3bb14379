"""The background warm-up loads the pages' default runs into the pages' own caches and traces
their explanation functions, so a page opened after the Overview finds them ready."""
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ("demo-cnn-w0.125", "demo-dnn-matched", "demo-mobilenet-w0.5")
REAL = "fer2013-mobilenet-w0.25-leg2"


@pytest.mark.slow
def test_warm_up_fills_the_model_cache_and_traces_the_default_runs(tmp_path, monkeypatch):
    import streamlit as st

    from fer.explain import saliency
    from ui import warmup
    from ui.cache import load_model

    for run in (*DEMO, REAL):
        shutil.copytree(ROOT / "models" / run, tmp_path / run)
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    from fer.data import load_dataset

    fingerprint = load_dataset("synthetic").fingerprint
    assert sorted(warmup._runs_to_warm(fingerprint)) == sorted([*DEMO, REAL])  # the data's runs, then real faces'
    assert warmup._runs_to_warm("other-data") == [REAL]
    warmup._warm(None)  # what the thread runs
    for run_id in (*DEMO, REAL):
        model = load_model(run_id)  # the page's call: the same cached object the warm-up loaded
        assert model in saliency._CACHE, run_id  # ... and already prepared (compiled copies traced)
    st.cache_resource.clear()


def test_warm_up_is_off_in_the_tests_and_starts_once(monkeypatch):
    from ui import warmup

    started = []
    monkeypatch.setattr(warmup.threading, "Thread", lambda **kw: started.append(kw) or _NoThread())
    monkeypatch.setattr(warmup, "_STARTED", warmup.threading.Event())
    warmup.warm_up_in_background(None)  # FER_WARMUP=0 (conftest)
    assert started == []
    monkeypatch.setenv("FER_WARMUP", "1")
    warmup.warm_up_in_background(None)
    warmup.warm_up_in_background(None)
    assert len(started) == 1 and started[0]["daemon"] is True


class _NoThread:
    def start(self):
        pass
