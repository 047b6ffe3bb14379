"""Sweeps and data-set explanations on a Ray cluster started inside the test (two nodes, one CPU
each), driven through the command line as a user would; and the one-host MirroredStrategy path."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cluster_harness import training_workers

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    yield c
    c.shutdown()


def _fer(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "fer", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_a_sweep_on_two_nodes_saves_every_run_once_though_a_worker_is_killed_mid_training(cluster, tmp_path):
    store = tmp_path / "runs"
    killed = []

    def kill_one_worker_once_it_trains():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            pids = training_workers()
            if pids:
                time.sleep(4)  # inside the training, past TensorFlow's import
                if pids[0] in training_workers():
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one_worker_once_it_trains, daemon=True)
    killer.start()
    result = _fer("--models", str(store), "sweep", "--arch", "cnn", "--widths", "0.0625,0.125", "--seeds", "0,1",
                  "--epochs", "2", "--max-train-images", "600", "--ray", cluster.address, "--cpus-per-training", "1")
    killer.join(5)
    assert result.returncode == 0, result.stderr[-3000:]
    assert killed, "no training worker was found to kill"
    runs = sorted(p for p in store.iterdir() if not p.name.startswith("."))
    recipes = sorted((json.loads((p / "run.json").read_text())["width"], json.loads((p / "run.json").read_text())["config"]["seed"])
                     for p in runs)
    assert recipes == [(0.0625, 0), (0.0625, 1), (0.125, 0), (0.125, 1)]  # four runs, none twice
    assert all((p / "model.keras").is_file() for p in runs)
    assert not list(store.glob(".tmp-*"))
    assert "4 run(s) saved" in result.stderr
    assert result.stdout.count("saved run ") == 4


def test_explain_on_the_cluster_writes_the_files_of_a_local_run(cluster, tmp_path):
    common = ["explain", "demo-cnn-w0.125", "--compare", "demo-mobilenet-w0.5", "--layers", "block1_conv1",
              "--steps", "5", "--top-k", "4"]
    local = _fer(*common, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr[-3000:]
    spread = _fer(*common, "--out", str(tmp_path / "ray"), "--ray", cluster.address, "--shard", "96")
    assert spread.returncode == 0, spread.stderr[-3000:]
    assert "shards of 96" in spread.stderr
    a, b = tmp_path / "local", tmp_path / "ray"
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for path in a.glob("*.npy"):
        np.testing.assert_allclose(np.load(path), np.load(b / path.name), atol=2e-3, equal_nan=True, err_msg=path.name)
    for path in a.glob("*.csv"):
        if "count" in path.name:
            assert path.read_text() == (b / path.name).read_text()
    import pandas as pd

    agree_a, agree_b = (pd.read_csv(d / "agreement_Grad-CAM.csv") for d in (a, b))
    np.testing.assert_allclose(agree_a["spearman"], agree_b["spearman"], atol=1e-2)
    fa, fb = (json.loads((d / "filters_block1_conv1.json").read_text()) for d in (a, b))
    assert [f["top_test_faces"] for f in fa["filters"]] == [f["top_test_faces"] for f in fb["filters"]]
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa["class_counts"] == sb["class_counts"] and sa["accuracy"] == sb["accuracy"]


MIRRORED = r"""
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from fer.data import load_dataset
from fer.runs import RunStore
from fer.train import TrainConfig, train
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
run = train(TrainConfig(arch="cnn", width=0.0625, epochs=1, batch_size=32, max_train_images=256, augment=False),
            load_dataset(None), RunStore(sys.argv[1]), run_id="mirrored", strategy=strategy)
print("replicas", strategy.num_replicas_in_sync, "params", run.meta["params"], "test", run.meta["test_accuracy"])
"""


def test_mirrored_strategy_over_two_devices_trains_and_saves_a_run_that_loads(tmp_path):
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    from fer.runs import RunStore

    run = RunStore(tmp_path).get("mirrored")
    model = run.load_model()
    assert model.count_params() == run.meta["params"]
    assert 0.0 <= run.meta["test_accuracy"] <= 1.0
    probs = model.predict(np.zeros((2, 48, 48, 1), np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)


def test_the_compression_pages_sweep_trains_on_the_cluster_when_the_address_is_set(cluster, tmp_path, monkeypatch):
    import ray
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_RAY_ADDRESS", cluster.address)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=180)
    at.switch_page("views/compression.py")
    at.run()
    try:
        at.multiselect(key="sweep_cnn_widths").set_value([0.0625, 0.125])
        at.multiselect(key="sweep_mobilenet_widths").set_value([])
        at.number_input(key="sweep_epochs").set_value(1)
        at.number_input(key="sweep_images").set_value(200)
        at.button(key="sweep_go").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        from fer.runs import RunStore
        from fer.cluster.sweep import choose_sweep

        sweep = choose_sweep(RunStore(tmp_path / "runs"))
        assert type(sweep).__name__ == "ClusterSweep"
        assert sweep.join(300)
        snap = sweep.snapshot()
        assert snap["state"] == "done" and len(snap["done"]) == 2, snap
        assert all(job.message.startswith("saved run ") for job in sweep.jobs())
        at.run()
        assert not at.exception
        assert any("finished: 2 run(s) saved" in s.value for s in at.success)
        assert sorted(RunStore(tmp_path / "runs").list(), key=lambda r: r.meta["width"])[0].meta["width"] == 0.0625
    finally:
        ray.shutdown()


def test_ctrl_c_during_a_cluster_sweep_cancels_it_and_names_what_was_kept(cluster, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fer", "--models", str(tmp_path), "sweep", "--arch", "cnn", "--widths",
                             "0.125,0.25", "--epochs", "30", "--max-train-images", "2000", "--ray", cluster.address],
                            cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    lines = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if ": running, epoch 1/30 done" in line:
            break
    proc.send_signal(signal.SIGINT)
    lines += proc.stderr.read().splitlines()
    assert proc.wait(timeout=120) == 130, lines
    assert not [line for line in lines if "Traceback" in line], lines
    assert lines[-1].startswith("interrupted: the sweep kept 0 of 2 run(s) (none); the rest were cancelled"), lines[-1]
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    time.sleep(3)
    assert not training_workers()  # the workers stopped training


def test_ray_local_starts_ray_on_this_machine_for_one_command(tmp_path):
    pytest.importorskip("ray")
    result = _fer("--models", str(tmp_path), "sweep", "--arch", "cnn", "--widths", "0.0625", "--epochs", "1",
                  "--max-train-images", "200", "--ray", "local")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on the Ray cluster at local" in result.stderr
    assert len([p for p in tmp_path.iterdir() if (p / "run.json").is_file()]) == 1
