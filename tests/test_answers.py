"""The course's questions answered in one line from saved runs' metadata (fer.answers, the Overview, the CLI)."""
import dataclasses
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer.answers import GENERATED_NAME, answer_confusion, course_answers, group_by_dataset, preferred_group
from fer.runs import RunStore
from fer.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def _run(run_id, acc, params, fingerprint="abc", featured=False, match_params=None, **config):
    cfg = TrainConfig(**config)
    options = cfg.model_options()
    if match_params:
        options["match_params"] = match_params
    meta = {"arch": cfg.arch, "width": cfg.width, "options": options, "config": dataclasses.asdict(cfg),
            "dataset": {"fingerprint": fingerprint, "name": f"data-{fingerprint}", "origin": "somewhere"},
            "epochs_run": cfg.epochs, "params": params, "test_accuracy": acc}
    if featured:
        meta["featured"] = True
    return SimpleNamespace(id=run_id, meta=meta)


@pytest.fixture
def runs():
    return [
        _run("cnn-main", 0.66, 400_000, featured=True, width=0.5, epochs=30),
        _run("cnn-big", 0.67, 1_600_000, width=1.0, epochs=5),  # more accurate, not featured
        _run("base", 0.55, 110_000, width=0.25, epochs=20),
        _run("nobn", 0.48, 109_000, width=0.25, epochs=20, batchnorm=False),
        _run("noaug", 0.585, 110_000, width=0.25, epochs=20, augment=False),
        _run("shallow", 0.54, 90_000, width=0.25, epochs=20, depth=3),
        _run("cnn-tiny", 0.50, 28_000, width=0.125, epochs=40),
        _run("mob-main", 0.61, 60_000, featured=True, arch="mobilenet", width=1.0),
        _run("mob-half", 0.495, 19_000, arch="mobilenet", width=0.5),
        _run("dnn", 0.45, 400_100, arch="dnn", match_params=400_000),
        _run("elsewhere", 0.99, 400_000, fingerprint="xyz", width=0.5),
    ]


def test_runs_group_by_data_set_in_order_and_answers_use_one_set_only(runs):
    groups = group_by_dataset(runs)
    assert [(g.fingerprint, len(g.runs)) for g in groups] == [("abc", 10), ("xyz", 1)]
    assert groups[0].label == "data-abc (10 runs)" and groups[1].label == "data-xyz (1 run)"
    answers = course_answers(groups[0].runs)
    assert "elsewhere" not in " ".join(answers.values()) and "99.0%" not in answers["cnn"]
    assert course_answers(groups[1].runs).keys() == {"cnn"}  # one CNN answers nothing else
    # the app on the demo faces answers from runs on the generated faces first, else from real data
    generated = _run("demo", 0.9, 1000, fingerprint="gen")
    generated.meta["dataset"]["name"] = "generated"
    groups = group_by_dataset([*runs, generated])
    assert preferred_group(groups, demo_data=True) == 2 and preferred_group(groups, demo_data=False) == 0
    assert preferred_group(groups[:2], demo_data=True) == 0
    from fer.data import load_dataset

    assert load_dataset("synthetic").name == GENERATED_NAME


def test_each_answer_states_the_figures_of_the_runs_it_compares(runs):
    a = course_answers(group_by_dataset(runs)[0].runs)
    assert a["cnn"].startswith("Best CNN `cnn-big`: 1,600,000 params, **67.0%** test")
    # the DNN is compared with the CNN its parameters were matched to, not the best one
    assert "`dnn` (400,100 params): **45.0%** test against 66.0% for the CNN of 400,000 params: **21.0 points lower**" in a["dnn"]
    assert a["batchnorm"] == "Without BatchNorm: **-7.0** points (CNN width 0.25, 20 epochs)."
    assert a["augment"] == "Without augmentation: **+3.5** points (CNN width 0.25, 20 epochs)."
    assert a["depth"] == "One block fewer: **-1.0** points (CNN width 0.25, 20 epochs)."
    # the compressed model against the assignment-A model: the featured runs, not the most accurate
    assert a["compressed"] == ("MobileNet `mob-main`: 60,000 params (6.7x fewer than the CNN's 400,000), **61.0%** test "
                               "against 66.0% (**-5.0** points).")
    # ablation variants are not width points: CNN widths 0.125, 0.25 (the baseline), 0.5 and 1
    assert a["scatter"] == ("MobileNet: 2 widths, 19,000–60,000 params, 49.5%–**61.0%**; "
                            "CNN: 4 widths, 28,000–1,600,000 params, 50.0%–**67.0%**.")
    assert a["equal"] == ("MobileNet width 0.5 (19,000 params) **49.5%** against CNN width 0.125 (28,000) **50.0%**: "
                          "-0.5 points for MobileNet.")


def test_questions_without_the_runs_they_need_get_no_answer(runs):
    by_id = {r.id: r for r in runs}
    only_cnns = [by_id[i] for i in ("cnn-main", "cnn-tiny")]
    assert set(course_answers(only_cnns)) == {"cnn", "scatter"}
    far_dnn = _run("dnn-small", 0.40, 50_000, arch="dnn")  # no CNN within 10% of its size: no fair comparison
    assert "dnn" not in course_answers(only_cnns + [far_dnn])
    assert course_answers([_run("unscored", None, 1000)]) == {}
    odd = _run("odd", 0.7, 5000, width=0.5)
    odd.meta["width"] = "wide"  # a hand-edited run.json spoils the width answers only
    answers = course_answers(only_cnns + [odd])
    assert "scatter" not in answers and answers["cnn"].startswith("Best CNN `odd`")


def test_confusion_answer_names_the_lowest_recall_classes_and_where_their_faces_go():
    cm = np.diag([90, 10, 40, 95, 60, 80, 70])
    cm[2, 4] = 50  # fear -> sad
    cm[2, 0] = 10
    cm[4, 6] = 30  # sad -> neutral
    cm[1, 0] = 2   # disgust: 10 of 12 right
    run = _run("c", 0.6, 1000, featured=True)
    run.meta["confusion_matrix"] = cm.tolist()
    text = answer_confusion([run])
    assert text == (f"Hardest for `c`: **fear** (recall 40% of 100 faces; most often taken for sad: 50), "
                    f"then **sad** (recall 67% of 90 faces; most often taken for neutral: 30).")
    run.meta["confusion_matrix"] = "not a matrix"
    assert answer_confusion([run]) is None


def test_shipped_runs_answer_the_dnn_question_with_their_recorded_accuracies():
    runs = RunStore(MODELS).list()
    by_id = {r.id: r for r in runs}
    cnn, dnn = by_id["fer2013-cnn-w1-mirror"].meta, by_id["fer2013-dnn-matched-w1-mirror"].meta
    [fer2013] = [g for g in group_by_dataset(runs) if g.name == "fer2013"]
    answers = course_answers(fer2013.runs)
    gap = 100 * (cnn["test_accuracy"] - dnn["test_accuracy"])
    assert f"{gap:.1f} points lower" in answers["dnn"] and "`fer2013-dnn-matched-w1-mirror`" in answers["dnn"]
    assert f"{100 * cnn['test_accuracy']:.1f}% for the CNN of {cnn['params']:,} params" in answers["dnn"]
    assert answers["compressed"].startswith("MobileNet (mini-Xception modules) `fer2013-mobilenet-w1.1-xception-mirror`")


def test_cli_prints_the_answers_without_markdown(tmp_path):
    env = {"FER_MODELS_DIR": str(MODELS), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "fer", "answers"], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fer2013 (" in out.stdout and "dnn        DNN fer2013-dnn-matched-w1-mirror" in out.stdout
    assert "**" not in out.stdout and "course: ~42%" in out.stdout
    empty = subprocess.run([sys.executable, "-m", "fer", "answers"], capture_output=True, text=True, cwd=tmp_path,
                           env={**env, "FER_MODELS_DIR": str(tmp_path / "none")}, timeout=120)
    assert empty.returncode == 0 and "no saved runs" in empty.stdout


def test_overview_page_shows_the_answers_of_the_shipped_runs(monkeypatch):
    monkeypatch.setenv("FER_MODELS_DIR", str(MODELS))
    monkeypatch.delenv("FER_DATA", raising=False)  # on the demo faces: the shipped demo runs answer, live
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "DNN `demo-dnn-matched`" in text and "points lower" in text
    assert any("show them live" in c.value for c in at.caption)
    fer2013 = RunStore(MODELS).get("fer2013-cnn-w1-mirror").meta["dataset"]["fingerprint"]
    at.selectbox(key="home_answers_data").select(fer2013).run()  # the shipped FER2013 runs, said so
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(m.value for m in at.markdown)
    assert "points lower" in text and "Without BatchNorm:" in text and "*Course: ~42% at 3.53M params" in text
    [caption] = [c.value for c in at.caption if "trained on **fer2013**" in c.value]
    assert "point the sidebar at this data" in caption


def test_overview_answers_from_the_data_the_app_is_on_and_lets_the_user_switch(tmp_path, monkeypatch):
    import json
    import shutil

    for run_id in ("fer2013-cnn-w0.125-leg3", "fer2013-mobilenet-w0.25-leg2"):
        shutil.copytree(MODELS / run_id, tmp_path / run_id)
    demo = tmp_path / "demo-cnn"
    shutil.copytree(MODELS / "fer2013-cnn-w0.125-leg3", demo)
    meta = json.loads((demo / "run.json").read_text())
    meta.update(id="demo-cnn", test_accuracy=0.9, dataset={"name": GENERATED_NAME, "fingerprint": "gen", "origin": "demo"})
    (demo / "run.json").write_text(json.dumps(meta))
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("FER_DATA", raising=False)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = at.selectbox(key="home_answers_data")
    assert box.value == "gen"  # the app is on the demo faces
    assert "Best CNN `demo-cnn`" in " ".join(m.value for m in at.markdown)
    assert any("show them live" in c.value for c in at.caption)
    fer2013 = RunStore(MODELS).get("fer2013-cnn-w0.125-leg3").meta["dataset"]["fingerprint"]
    box.select(fer2013).run()
    text = " ".join(m.value for m in at.markdown)
    assert at.selectbox(key="home_answers_data").value == fer2013
    assert "Best CNN `fer2013-cnn-w0.125-leg3`" in text and "demo-cnn" not in text
    assert any("point the sidebar at this data" in c.value for c in at.caption)


def test_the_cnn_answer_says_when_the_mirror_average_is_inside_the_model():
    from fer.answers import answer_cnn

    plain = _run("plain", 0.6779, 1000)
    plain.meta["test_accuracy_tta"] = 0.6888
    assert answer_cnn([plain]) == "Best CNN `plain`: 1,000 params, **67.8%** test (68.9% averaged with its mirror image)."
    inside = _run("inside", 0.6888, 1000)
    inside.meta.update(test_accuracy_tta=0.6888, mirror={"run": "plain", "test_accuracy": 0.6779})
    assert answer_cnn([inside]) == ("Best CNN `inside`: 1,000 params, **68.9%** test, averaging the face with its "
                                    "mirror image inside the model (67.8% without).")
