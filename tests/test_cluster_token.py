"""A cluster started the way docs/scale.md says (`ray start --head`, a token generated first, so the
cluster asks for it): the sweep is refused with a line that says what to set, then runs once it is set.
(Its own module: `ray stop` ends every Ray process of this machine.)"""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
RAY = Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_ray_start_cluster_refuses_a_driver_without_its_token_then_takes_the_sweep(tmp_path):
    pytest.importorskip("ray")
    home = tmp_path / "home"  # ray start writes the cluster's token under ~/.ray
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("RAY_AUTH_MODE", None)
    port = _free_port()
    subprocess.run([str(RAY), "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([str(RAY), "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard=false",
                    "--disable-usage-stats"], env=env, check=True, capture_output=True, timeout=120)
    try:
        sweep = [sys.executable, "-m", "fer", "--models", str(tmp_path / "runs"), "sweep", "--arch", "cnn", "--widths",
                 "0.0625", "--epochs", "1", "--max-train-images", "200", "--ray", f"127.0.0.1:{port}"]
        refused = subprocess.run(sweep, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2, refused.stderr[-2000:]
        errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "set RAY_AUTH_MODE=token here" in errors[0], refused.stderr[-2000:]
        taken = subprocess.run(sweep, cwd=ROOT, env={**env, "RAY_AUTH_MODE": "token"}, capture_output=True, text=True,
                               timeout=600)
        assert taken.returncode == 0, taken.stderr[-3000:]
        assert len(list((tmp_path / "runs").glob("*/run.json"))) == 1
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)
