"""A restarted app does not score the same run again: the test-split predictions persist on disk.

Two separate Python processes (two app starts) open the Evaluate page on the same run store with
the same HOME (Streamlit keeps persisted caches in ~/.streamlit/cache; AppTest is given the disk
cache storage that `streamlit run` uses) and count the calls to
`fer.evaluate.predict_proba`. The first start scores the run; the second must read the scores
back. Retraining the run (a new model file) must score it again.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

OPEN_EVALUATE = textwrap.dedent("""
    import fer.evaluate as ev
    calls = []
    real = ev.predict_proba
    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    ev.predict_proba = counting
    # AppTest keeps st.cache_data in memory only; give it the storage `streamlit run` uses
    import streamlit.testing.v1.app_test as app_test
    from streamlit.web.cache_storage_manager_config import create_default_cache_storage_manager
    app_test.MemoryCacheStorageManager = create_default_cache_storage_manager
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file({app!r}, default_timeout=300)
    at.run()
    at.switch_page("views/evaluate.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    print("SCORED", len(calls))
""")


def _start_app_once(home, store):
    env = {**os.environ, "HOME": str(home), "FER_MODELS_DIR": str(store), "PYTHONPATH": str(ROOT)}
    env.pop("FER_DATA", None)
    out = subprocess.run([sys.executable, "-c", OPEN_EVALUATE.format(app=str(ROOT / "streamlit_app.py"))],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return int(out.stdout.split("SCORED")[-1])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import TrainConfig, train

    root = tmp_path_factory.mktemp("persist-models")
    train(TrainConfig(arch="dnn", width=0.1, epochs=1, max_train_images=300, patience=0), load_dataset("synthetic"),
          RunStore(root), run_id="tiny-dnn")
    return root


@pytest.mark.slow
def test_a_restarted_app_reads_the_test_scores_back_and_rescores_a_retrained_run(store, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert _start_app_once(home, store) >= 1
    assert list((home / ".streamlit" / "cache").glob("*.memo")), "nothing was persisted"
    assert _start_app_once(home, store) == 0  # the restart reads the scores back
    model = store / "tiny-dnn" / "model.keras"
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # "retrained": a newer file
    assert _start_app_once(home, store) >= 1
