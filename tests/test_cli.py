"""`python -m fer` end to end: summary, train, list, evaluate, and one-line errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def fer(*args, models, cache, timeout=600):
    env = {**os.environ, "FER_MODELS_DIR": str(models), "FER_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("FER_DATA", None)
    return subprocess.run([sys.executable, "-m", "fer", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("models"), tmp_path_factory.mktemp("cache")


@pytest.mark.slow
def test_summary_prints_layers_and_counts(dirs):
    out = fer("summary", "--arch", "mobilenet", "--width", "0.75", models=dirs[0], cache=dirs[1])
    assert out.returncode == 0, out.stderr
    assert "DepthwiseConv2D" in out.stdout and "last_conv" in out.stdout
    assert "total 37,399" in out.stdout


@pytest.mark.slow
def test_train_list_evaluate_end_to_end(dirs):
    models, cache = dirs
    out = fer("train", "--arch", "cnn", "--width", "0.25", "--epochs", "1", "--max-train-images", "300", "--run-id", "cli-run",
              "--erasing", "0.5", models=models, cache=cache)
    assert out.returncode == 0, out.stderr
    assert "saved run cli-run" in out.stdout
    assert json.loads((models / "cli-run" / "run.json").read_text())["config"]["erasing"] == 0.5
    assert "epoch 1/1" in out.stderr and "Generated demo faces" in out.stderr
    listed = fer("list", models=models, cache=cache)
    assert listed.returncode == 0 and "cli-run" in listed.stdout and "test" in listed.stdout
    ev = fer("evaluate", "cli-run", "--tta", models=models, cache=cache)
    assert ev.returncode == 0, ev.stderr
    assert "accuracy" in ev.stdout and "confusion matrix" in ev.stdout and "flip averaging" in ev.stdout


def test_malformed_csv_is_one_line_naming_the_row(dirs, tmp_path):
    bad = tmp_path / "train.csv"
    good_row = " ".join(["7"] * 2304)
    bad.write_text("label,feature\n" + f"3,{good_row}\n" + "2,1 2 3\n")
    out = fer("train", "--data", str(bad), "--epochs", "1", models=dirs[0], cache=dirs[1])
    assert out.returncode == 2
    lines = [l for l in out.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), out.stderr
    assert "train.csv" in lines[0] and "row" in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("args, expected", [
    (("evaluate", "no-such-run"), "no run 'no-such-run'"),
    (("evaluate", "../../etc"), "invalid run id"),
    (("train", "--data", "/no/such/place"), "/no/such/place"),
    (("train", "--width", "0"), "width must be"),
    (("train", "--teacher", "no-such-teacher"), "no run 'no-such-teacher'"),
    (("train", "--teacher", "x", "--distill-alpha", "1.5"), "distillation alpha must be in [0, 1]"),
    (("train", "--erasing", "1.5"), "random erasing is a chance per face, in [0, 1]"),
    (("train", "--no-augment", "--erasing", "0.2"), "random erasing is part of the augmentation"),
])
def test_user_errors_exit_2_without_traceback(dirs, args, expected):
    out = fer(*args, models=dirs[0], cache=dirs[1])
    assert out.returncode == 2
    assert expected in out.stderr and "Traceback" not in out.stderr


FER_DIR = ROOT.parent / "shared" / "data" / "fer2013"


def test_predict_refuses_runs_trained_on_the_generated_faces(dirs):
    out = fer("predict", "x.png", "--run", "demo-cnn-w0.125", models=ROOT / "models", cache=dirs[1])
    assert out.returncode == 2 and "generated cartoon faces" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.fer2013
@pytest.mark.skipif(not (FER_DIR / "test").is_dir(), reason=f"no FER2013 folder at {FER_DIR}")
def test_predict_finds_faces_and_reports_bad_and_empty_photos_one_line_each(dirs, tmp_path):
    """A photo with two FER2013 faces, one without a face, a text file and a missing file: one JSON
    line per face (box in the photo's pixels), one null line for the empty photo, one stderr line
    per bad file, the good photos still processed, exit 2 at the end."""
    import cv2
    from PIL import Image

    from fer.data import load_dataset

    x, _ = load_dataset(FER_DIR).split("test")
    photo = np.full((400, 900), 115, np.uint8)
    for k, left in enumerate((60, 500)):
        photo[100:292, left:left + 192] = cv2.resize(x[k], (192, 192), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(photo).convert("RGB").save(tmp_path / "two.jpg", quality=95)
    Image.fromarray(np.full((300, 400), 90, np.uint8)).save(tmp_path / "wall.png")
    (tmp_path / "notes.txt").write_text("not a photo\n")
    files = [str(tmp_path / n) for n in ("two.jpg", "notes.txt", "wall.png", "missing.png")]
    out = fer("predict", *files, "--json", models=ROOT / "models", cache=dirs[1])
    assert out.returncode == 2 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]  # TensorFlow logs too
    assert len(errors) == 2 and "notes.txt is not an image" in errors[0] and "missing.png" in errors[1]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    faces = [d for d in lines if d["file"].endswith("two.jpg")]
    assert len(faces) == 2 and sorted(d["box"][0] for d in faces)[0] < 250 < sorted(d["box"][0] for d in faces)[1]
    for d in faces:
        assert d["label"] in d["probs"] and abs(sum(d["probs"].values()) - 1) < 1e-3
        assert d["probs"][d["label"]] == max(d["probs"].values())
    assert [d for d in lines if d["file"].endswith("wall.png")] == [{"file": files[2], "box": None, "label": None, "probs": None}]
    text = fer("predict", files[0], models=ROOT / "models", cache=dirs[1])
    assert text.returncode == 0 and "run fer2013-cnn-w1-mirror" in text.stdout and "face 2 at" in text.stdout


def _interrupt_after(args, line_starts: str, models, cache, timeout=300):
    """Run `python -m fer ARGS`, send Ctrl-C (SIGINT) once stderr shows a line starting with
    `line_starts`; (exit status, stderr lines)."""
    import signal
    import time

    env = {**os.environ, "FER_MODELS_DIR": str(models), "FER_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT),
           "PYTHONUNBUFFERED": "1"}
    env.pop("FER_DATA", None)
    proc = subprocess.Popen([sys.executable, "-m", "fer", *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env, cwd=ROOT)
    lines, deadline = [], time.monotonic() + timeout
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        if line.startswith(line_starts) or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    lines += proc.stderr.read().splitlines()
    return proc.wait(timeout=60), lines


@pytest.mark.slow
def test_ctrl_c_during_a_training_exits_130_with_one_line_that_resumes_it(tmp_path):
    models, cache = tmp_path / "models", tmp_path / "cache"
    status, lines = _interrupt_after(["train", "--arch", "cnn", "--width", "0.25", "--epochs", "20",
                                      "--max-train-images", "2000", "--run-id", "stopped-by-hand"],
                                     "epoch 1/20", models, cache)
    assert status == 130, lines
    assert not [line for line in lines if "Traceback" in line], lines
    last = lines[-1]
    assert last.startswith("interrupted: training stopped-by-hand keeps ") and " of 20 epoch(s) in " in last, last
    assert last.endswith("resume it with `python -m fer resume stopped-by-hand`")
    status = json.loads((models / ".work" / "stopped-by-hand" / "status.json").read_text())
    assert status["state"] == "interrupted" and len(status["history"]["loss"]) >= 1
    assert f"keeps {len(status['history']['loss'])} of 20" in last


@pytest.mark.parametrize("command, args, says", [
    ("explain", ["explain", "some-run", "--out", "maps-out"], "the files written so far are in maps-out; run the same "
                                                             "command again for all of them"),
    ("compress", ["compress", "some-run"], "nothing was kept; run the same command again"),
    ("evaluate", ["evaluate", "some-run"], "nothing was changed; run the same command again"),
])
def test_ctrl_c_in_other_commands_exits_130_saying_what_was_kept(command, args, says, monkeypatch, capsys, tmp_path):
    from fer import cli

    def interrupted(args, store):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, command, interrupted)
    assert cli.main(["--models", str(tmp_path), *args]) == 130
    assert capsys.readouterr().err.strip() == f"interrupted: {says}"


def test_sweep_trains_every_width_and_seed_in_the_local_queue_and_saves_each_run(tmp_path):
    models, cache = tmp_path / "models", tmp_path / "cache"
    out = fer("sweep", "--arch", "cnn", "--widths", "0.0625", "--seeds", "0,1", "--epochs", "1", "--max-train-images", "200",
              models=models, cache=cache)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 training(s) of cnn on this machine's training queue" in out.stderr
    metas = sorted((json.loads(p.read_text()) for p in models.glob("*/run.json")), key=lambda m: m["config"]["seed"])
    assert [(m["width"], m["config"]["seed"], m["epochs_run"]) for m in metas] == [(0.0625, 0, 1), (0.0625, 1, 1)]
    assert all(m["command"].startswith("python -m fer sweep --arch cnn") for m in metas)
    assert [line for line in out.stdout.splitlines() if line.startswith("saved run ")] == [
        line for line in out.stdout.splitlines() if line.strip()] and out.stdout.count("saved run ") == 2


@pytest.mark.parametrize("args, expected", [
    (("sweep", "--widths", "0.5,wide"), "--widths takes comma-separated numbers, got '0.5,wide'"),
    (("sweep", "--widths", ","), "--widths names no value"),
    (("sweep", "--widths", "0"), "width must be"),
    (("sweep", "--widths", "0.25", "--ray", "127.0.0.1:9"), "cannot reach a Ray cluster at '127.0.0.1:9'"),
    (("explain", "demo-cnn-w0.125", "--out", "never-written", "--ray", "127.0.0.1:9"), "cannot reach a Ray cluster"),
    (("sweep", "--widths", "0.25", "--ray", "127.0.0.1:9", "--cpus-per-training", "0"), "a training reserves more than 0 CPUs"),
])
def test_sweep_and_cluster_errors_exit_2_in_one_line(dirs, args, expected):
    out = fer(*args, models=ROOT / "models" if args[0] == "explain" else dirs[0], cache=dirs[1], timeout=120)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], out.stderr
    assert "Traceback" not in out.stderr
    assert not (ROOT / "never-written").exists()


@pytest.mark.slow
def test_ctrl_c_during_a_sweep_exits_130_naming_what_was_kept_and_the_training_is_resumable(tmp_path):
    models, cache = tmp_path / "models", tmp_path / "cache"
    status, lines = _interrupt_after(["sweep", "--arch", "cnn", "--widths", "0.125,0.25", "--epochs", "20",
                                      "--max-train-images", "2000"], "  cnn width 0.125 seed 0: running, epoch 1/",
                                     models, cache)
    assert status == 130, lines
    assert not [line for line in lines if "Traceback" in line], lines
    assert lines[-1].startswith("interrupted: the sweep kept 0 of 2 run(s) (none); the rest were cancelled"), lines[-1]
    listed = fer("list", models=models, cache=cache)
    assert "INTERRUPTED (cancelled" in listed.stdout and "python -m fer resume cnn-w0.125-" in listed.stdout, listed.stdout
