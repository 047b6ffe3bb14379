"""Reliability and security cases from issue 8 that the other test files do not cover yet.

Cheap by design: no training beyond a dnn of width 0.1 on <=300 images, every wait bounded.
docs/reliability.md maps each case of the issue to the test that proves it.
"""
import ast
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer.data import DataError, load_dataset
from fer.runs import RunError, RunStore

ROOT = Path(__file__).resolve().parents[1]
# The issue asks for "a folder of 100k tiny files". CI machines here have 2 busy cores, so the
# test uses 20k (same code path: one listing, one stat and one failed decode per file); set
# FER_MANY_FILES=100000 to run the full size locally.
MANY_FILES = int(os.environ.get("FER_MANY_FILES", "20000"))
MANY_FILES_SECONDS = 120
KILL_WAIT_SECONDS = 300


def tiny_model():
    import keras

    inp = keras.Input((48, 48, 1))
    out = keras.layers.Dense(7, activation="softmax")(keras.layers.Flatten()(inp))
    return keras.Model(inp, out)


META = {"arch": "dnn", "width": 0.1, "params": 16135, "test_accuracy": 0.1, "created": "2020-01-01T00:00:00"}


# ------------------------------------------------------------------------------ security


def test_keras_file_with_lambda_layer_is_refused_by_safe_mode(tmp_path):
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Lambda(lambda x: x * 2)(inp))
    run_dir = tmp_path / "lambda-run"
    run_dir.mkdir()
    model.save(str(run_dir / "model.keras"))
    (run_dir / "run.json").write_text(json.dumps({"id": "lambda-run", **META}))
    store = RunStore(tmp_path)
    assert [r.id for r in store.list()] == ["lambda-run"]  # a valid-looking folder ...
    with pytest.raises(RunError, match=r"run lambda-run: cannot load model\.keras: .*") as info:
        store.get("lambda-run").load_model()  # ... whose code never runs
    assert "\n" not in str(info.value)
    assert "lambda" in str(info.value).lower() or "safe" in str(info.value).lower()


def _python_files(*folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "streamlit_app.py"


def _calls(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)], tree


def test_np_load_never_allows_pickle():
    seen = 0
    for path in _python_files("fer", "ui", "views"):
        calls, _ = _calls(path)
        for call in calls:
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "load" and isinstance(f.value, ast.Name) and f.value.id in ("np", "numpy"):
                seen += 1
                kw = {k.arg: k.value for k in call.keywords}
                ok = isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False
                assert ok, f"{path.relative_to(ROOT)}:{call.lineno}: np.load without allow_pickle=False"
    assert seen >= 1  # the cache and the compression artefacts use np.load


def test_no_eval_exec_or_pickle_in_the_app():
    for path in _python_files("fer", "ui", "views"):
        calls, tree = _calls(path)
        where = str(path.relative_to(ROOT))
        for call in calls:
            f = call.func
            if isinstance(f, ast.Name):
                assert f.id not in ("eval", "exec", "compile", "__import__"), f"{where}:{call.lineno}: {f.id}()"
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                assert not (f.value.id in ("pickle", "cPickle", "dill", "joblib", "marshal") and f.attr in ("load", "loads")), \
                    f"{where}:{call.lineno}: {f.value.id}.{f.attr}()"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {"pickle", "cPickle", "dill", "marshal", "shelve"} & set(names), f"{where}:{node.lineno}: imports {names}"


def test_server_binds_to_localhost_and_limits_uploads():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = config["server"]
    assert server["address"] == "127.0.0.1"
    assert 15 <= server["maxUploadSize"] <= 32  # MB: one phone photo (a 48 MP JPEG is 8-15 MB), not a data set
    from fer.faces import MAX_UPLOAD_BYTES

    assert MAX_UPLOAD_BYTES == server["maxUploadSize"] * 1024 * 1024  # the app's own check says the same limit
    assert config["client"]["showErrorDetails"] in ("none", False)  # no tracebacks in the browser
    assert config["runner"]["postScriptGC"] is False  # a full GC after every run (~0.4 s with TF) delayed each rerun


# ----------------------------------------------------------------------------- bad input


@pytest.mark.slow
def test_folder_of_many_tiny_files_fails_fast_with_a_clear_message(tmp_path):
    happy = tmp_path / "faces" / "train" / "happy"
    happy.mkdir(parents=True)
    for i in range(MANY_FILES):
        (happy / f"e{i:06d}.jpg").touch()
    sad = tmp_path / "faces" / "train" / "sad"
    sad.mkdir()
    for i in range(50):
        Image.fromarray(np.full((48, 48), i, np.uint8)).save(sad / f"ok{i}.png")
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path / "faces", use_cache=False)
    elapsed = time.monotonic() - start
    msg = str(info.value)
    assert "empty file (0 bytes)" in msg and f"({MANY_FILES} of {MANY_FILES + 50} image files are bad" in msg, msg
    assert "\n" not in msg
    assert elapsed < MANY_FILES_SECONDS, f"{MANY_FILES} tiny files took {elapsed:.0f} s"


# -------------------------------------------------------------------------------- faults


def _fer_env(models, cache):
    env = {**os.environ, "FER_MODELS_DIR": str(models), "FER_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("FER_DATA", None)
    return env


def _epochs_done(status_file):
    try:
        return len(json.loads(status_file.read_text(encoding="utf-8")).get("history", {}).get("loss", []))
    except (OSError, ValueError):
        return 0


def _sigkill(proc):
    """SIGKILL the process if it still runs (the kill under test, or clean-up after a failure)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_during_training_keeps_earlier_runs_and_marks_the_victim_interrupted(tmp_path):
    models, cache = tmp_path / "models", tmp_path / "cache"
    store = RunStore(models)
    store.save("earlier", tiny_model(), META)
    env = _fer_env(models, cache)
    log = open(tmp_path / "train.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer", "train", "--arch", "dnn", "--width", "0.1", "--epochs", "50",
         "--max-train-images", "300", "--run-id", "victim"],
        env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    status_file = models / ".work" / "victim" / "status.json"
    try:
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while _epochs_done(status_file) < 1:
            if proc.poll() is not None:
                pytest.fail(f"training exited ({proc.returncode}) before it could be killed:\n"
                            + (tmp_path / "train.log").read_text(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                pytest.skip(f"training did not finish an epoch within {KILL_WAIT_SECONDS} s on this machine")
            time.sleep(0.1)
    finally:
        _sigkill(proc)
        log.close()
    assert proc.returncode == -signal.SIGKILL, "training finished before the kill landed"

    runs, broken = store.scan()
    assert [r.id for r in runs] == ["earlier"] and broken == []
    assert store.get("earlier").load_model().count_params() == tiny_model().count_params()
    interrupted = dict(store.interrupted())
    assert "victim" in interrupted and len(interrupted["victim"]["history"]["loss"]) >= 1
    assert store.busy() is None  # the dead trainer's lock went with it

    out = subprocess.run([sys.executable, "-m", "fer", "list"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    victim_lines = [line for line in out.stdout.splitlines() if line.startswith("victim")]
    assert len(victim_lines) == 1 and "INTERRUPTED" in victim_lines[0], out.stdout
    assert "python -m fer resume victim" in victim_lines[0] and "python -m fer finish victim" in victim_lines[0]
    assert any(line.startswith("earlier") and "BROKEN" not in line for line in out.stdout.splitlines())


KILL_IN_SAVE = """
import sys, time
import fer.runs as runs
from fer.cli import main
original = runs.save_clean_model
def slow_save(model, path):
    original(model, path)  # model.keras is written into the hidden temp folder ...
    print("IN-SAVE", flush=True)
    time.sleep(120)  # ... and the kill lands before the folder is renamed into place
runs.save_clean_model = slow_save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_sigkill_during_save_lists_nothing_half_written_and_the_run_can_still_be_finished(tmp_path):
    """A real SIGKILL while a finished training is being saved: earlier runs intact, the victim
    not listed (its model.keras only exists in a hidden temp folder), the training's checkpoint
    still there, so `fer finish` saves it; the next save sweeps the dead process's temp folder."""
    models, cache = tmp_path / "models", tmp_path / "cache"
    store = RunStore(models)
    store.save("earlier", tiny_model(), META)
    env = _fer_env(models, cache)
    proc = subprocess.Popen([sys.executable, "-c", KILL_IN_SAVE, "train", "--arch", "dnn", "--width", "0.1", "--epochs",
                             "1", "--max-train-images", "300", "--run-id", "victim"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        for line in proc.stdout:
            if b"IN-SAVE" in line:
                break
            if time.monotonic() > deadline:
                pytest.skip(f"training did not reach its save within {KILL_WAIT_SECONDS} s on this machine")
        else:
            pytest.fail(f"training exited ({proc.wait()}) before it reached its save")
    finally:
        _sigkill(proc)
    assert proc.returncode == -signal.SIGKILL

    leftovers = [p.name for p in models.iterdir() if p.name.startswith(".tmp-victim-")]
    assert len(leftovers) == 1 and (models / leftovers[0] / "model.keras").is_file()  # the kill landed mid-save
    runs, broken = store.scan()
    assert [r.id for r in runs] == ["earlier"] and broken == []
    assert store.get("earlier").load_model().count_params() == tiny_model().count_params()
    assert "victim" in dict(store.interrupted())

    out = subprocess.run([sys.executable, "-m", "fer", "finish", "victim"], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(r.id for r in store.list()) == ["earlier", "victim"]
    assert store.get("victim").load_model().count_params() > 0
    assert not (models / leftovers[0]).exists()  # swept by the next save: its owner is dead


def test_app_data_paths_stay_inside_the_configured_data_folders(tmp_path, monkeypatch):
    from fer.data.access import check_allowed

    allowed = tmp_path / "data"
    (allowed / "fer2013").mkdir(parents=True)
    outside = tmp_path / "private"
    outside.mkdir()
    (allowed / "link-out").symlink_to(outside)
    monkeypatch.setenv("FER_DATA_ROOTS", str(allowed))
    check_allowed(allowed / "fer2013")
    check_allowed(None)
    check_allowed("synthetic")
    for escape in (outside, allowed / ".." / "private", allowed / "link-out", "/etc/passwd"):
        with pytest.raises(DataError, match="outside the folders this app may read data from .*FER_DATA_ROOTS"):
            check_allowed(escape)
    monkeypatch.setenv("FER_DATA", str(outside))  # the data set the app was started with is allowed
    check_allowed(outside)
    monkeypatch.delenv("FER_DATA")
    monkeypatch.delenv("FER_DATA_ROOTS")  # defaults: home, the working folder, the checkout's parent
    monkeypatch.setenv("HOME", str(tmp_path))
    check_allowed(Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013")
    with pytest.raises(DataError, match="outside"):
        check_allowed("/etc")
