"""Finding the course's ablations (BatchNorm, augmentation, depth) among saved runs."""
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from fer.ablation import find_ablations, recipe_key
from fer.train import TrainConfig

MODELS = Path(__file__).resolve().parents[1] / "models"


def _run(run_id, fingerprint="abc", **config):
    """A saved run's metadata as fer.train writes it."""
    cfg = TrainConfig(**config)
    meta = {"arch": cfg.arch, "width": cfg.width, "options": cfg.model_options(), "config": dataclasses.asdict(cfg),
            "dataset": {"fingerprint": fingerprint}, "epochs_run": cfg.epochs}
    return SimpleNamespace(id=run_id, meta=meta)


def test_runs_differing_only_in_switches_form_one_ablation_with_the_full_recipe_as_baseline():
    runs = [
        _run("shallow", depth=3, epochs=5),
        _run("noaug", augment=False, epochs=5),
        _run("base", epochs=5),
        _run("nobn", batchnorm=False, epochs=5),
        _run("explicit-default-depth", depth=4, epochs=5),  # the Train page always sets depth: a repeat of base
        _run("longer", epochs=6, batchnorm=False),  # another recipe: not an ablation of base
        _run("other-data", fingerprint="xyz", augment=False, epochs=5),
        _run("described", epochs=5, augment=False, description="renamed"),  # a repeat of noaug
    ]
    [ablation] = find_ablations(runs)
    assert ablation.baseline.id == "base"
    assert [(r.id, diff) for r, diff in ablation.variants] == [
        ("nobn", "no BatchNorm"), ("noaug", "no augmentation"), ("shallow", "depth 3")]
    assert ablation.label == "cnn width 0.5, 5 epochs: baseline vs no BatchNorm, no augmentation, depth 3"
    effects = ablation.effects({"base": 0.60, "nobn": 0.56, "noaug": 0.62})
    assert [d for d, _ in effects] == ["no BatchNorm", "no augmentation"]  # "shallow" has no accuracy
    assert effects[0][1] == pytest.approx(-4.0) and effects[1][1] == pytest.approx(2.0)
    assert ablation.effects({"nobn": 0.5}) == []


def test_no_ablation_without_a_switch_differing_and_baseline_needs_not_be_first():
    assert find_ablations([_run("a", epochs=5), _run("b", epochs=5, seed=1)]) == []
    [ablation] = find_ablations([_run("nobn-noaug", batchnorm=False, augment=False), _run("nobn", batchnorm=False)])
    assert ablation.baseline.id == "nobn"
    assert ablation.variants[0][1] == "no augmentation"


def test_runs_saved_before_an_option_existed_match_runs_with_its_default():
    old = _run("old", epochs=5)
    for key in ("erasing", "teacher", "distill_alpha", "distill_temperature", "init_from"):
        del old.meta["config"][key]
    assert recipe_key(old.meta) == recipe_key(_run("new", epochs=5).meta)
    assert recipe_key(_run("erased", epochs=5, erasing=0.2).meta) != recipe_key(old.meta)


def test_default_depths_agree_with_the_model_builders():
    """switches() reads a run without a depth as DEFAULT_DEPTH: the builders must build that depth."""
    from fer.architectures import ARCH_NAMES, DEFAULT_DEPTH
    from fer.models import build_model

    for arch in ARCH_NAMES:
        plain = build_model(arch, 0.25).count_params()
        assert plain == build_model(arch, 0.25, depth=DEFAULT_DEPTH[arch]).count_params()
        assert plain != build_model(arch, 0.25, depth=DEFAULT_DEPTH[arch] - 1).count_params()


def test_scatter_frame_marks_ablation_variants(tmp_path):
    from fer.sweep import scatter_frame

    runs = []
    for run in (_run("base"), _run("nobn", batchnorm=False), _run("lone-noaug", augment=False, epochs=3)):
        run.meta.update(params=1000, test_accuracy=0.5)
        run.path = tmp_path / run.id
        run.path.mkdir()
        (run.path / "model.keras").write_bytes(b"x")
        run.model_path = run.path / "model.keras"
        runs.append(run)
    frame = scatter_frame(runs)
    # only a run with a baseline beside it is a variant; a lone run without augmentation is a plain point
    assert dict(zip(frame.run, frame.variant)) == {"base": "", "nobn": "no BatchNorm", "lone-noaug": ""}


def test_shipped_runs_answer_the_batchnorm_and_augmentation_question():
    """models/ ships a FER2013 ablation (course A.3 and the one-block-fewer/more question)."""
    from fer.runs import RunStore

    runs, _ = RunStore(MODELS).scan()
    sets = [a for a in find_ablations(runs) if {d for _, d in a.variants} >= {"no BatchNorm", "no augmentation", "depth 3", "depth 5"}]
    assert sets, "no shipped ablation of BatchNorm and augmentation"
    for run in sets[0].runs:
        assert run.meta["dataset"]["name"] == "fer2013"
        assert isinstance(run.meta.get("test_accuracy"), float)


def test_cli_prints_each_ablation_with_its_effect_in_points(tmp_path):
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for run, test, val in ((_run("base", epochs=5), 0.60, 0.61), (_run("nobn", epochs=5, batchnorm=False), 0.5525, 0.58)):
        folder = tmp_path / run.id
        folder.mkdir()
        (folder / "model.keras").write_bytes(b"not read by this command")
        (folder / "run.json").write_text(json.dumps({**run.meta, "id": run.id, "params": 1, "test_accuracy": test,
                                                     "val_accuracy": val, "dataset": {"fingerprint": "abc", "name": "demo"}}))
    env = {**os.environ, "FER_MODELS_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-m", "fer", "ablations"], capture_output=True, text=True, env=env, cwd=root)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "cnn width 0.5, 5 epochs: baseline vs no BatchNorm (demo)"
    assert "base" in lines[1] and "test 60.00%" in lines[1] and "val 61.00%" in lines[1]
    assert "nobn" in lines[2] and "test 55.25% (-4.75 points)" in lines[2] and "val 58.00% (-3.00 points)" in lines[2]
    (tmp_path / "nobn").rename(tmp_path / ".hidden")
    out = subprocess.run([sys.executable, "-m", "fer", "ablations"], capture_output=True, text=True, env=env, cwd=root)
    assert out.returncode == 0 and out.stdout.startswith("no ablation sets among the 1 run(s)")
