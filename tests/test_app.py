"""The Streamlit app under AppTest: every page renders on the built-in data, widgets change what
is shown, training from the Train page adds a run, Evaluate shows its confusion matrix, the
Misclassified filters narrow the grid, and user errors are messages, not tracebacks.

A module-scoped fixture trains one tiny CNN on the sidebar's default data (`load_dataset(None)`,
the full generated set; runs are matched to the data by fingerprint) into a tmp run store that
FER_MODELS_DIR points at. Nothing is written to the repository's models/.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from fer import jobs as fjobs
from fer.data import load_dataset
from fer.runs import RunStore
from fer.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
MY_PAGES = ["home", "data", "models", "train", "evaluate", "compare", "misclassified"]
TIMEOUT = 300  # first TensorFlow import and model scoring on 2 shared cores


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("app-models")
    dataset = load_dataset("synthetic")  # = load_dataset(None) without FER_DATA, the sidebar's default
    train(TrainConfig(arch="cnn", width=0.25, epochs=1, max_train_images=300, patience=0, description="app fixture"),
          dataset, RunStore(root))
    return root


@pytest.fixture
def models_env(store_dir, monkeypatch):
    monkeypatch.setenv("FER_MODELS_DIR", str(store_dir))
    return store_dir


def open_page(page=None, **state):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(f"views/{page}.py")
        at.run()
    return at


def assert_clean(at):
    assert not at.exception, [e.value for e in at.exception]
    problems = [e.value for e in at.error]
    assert not problems, problems


def metric(at, label, container=None):
    for m in (container or at).metric:
        if m.label == label:
            return m.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in (container or at).metric]}")


@pytest.mark.parametrize("page", MY_PAGES)
def test_every_page_renders_on_the_generated_data(models_env, page):
    at = open_page(page)
    assert_clean(at)
    assert at.title, "page has no title"


def test_sidebar_labels_the_demo_data_and_counts_runs(models_env):
    at = open_page(None)  # (AppTest drops elements drawn outside the page on reruns: check the first run)
    assert_clean(at)
    sidebar_text = " ".join(c.value for c in at.caption)
    assert "generated demo faces" in sidebar_text and "not real photos" in sidebar_text
    assert "FER_DATA" in sidebar_text and "fer2013.csv" in sidebar_text
    assert "1 saved run(s)" in sidebar_text


def test_overview_shows_within_seconds_without_importing_tensorflow(models_env):
    code = (
        "import sys; from streamlit.testing.v1 import AppTest;"
        f"at = AppTest.from_file({APP!r}, default_timeout=60); at.run();"
        "assert not at.exception, at.exception;"
        "assert at.title[0].value == 'FER workbench';"
        "print('TF' if 'tensorflow' in sys.modules else 'NO-TF')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "FER_MODELS_DIR": str(models_env)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("NO-TF")


def test_width_slider_changes_the_parameter_count(models_env):
    at = open_page("models")
    assert_clean(at)
    before = metric(at, "Total parameters")
    at.slider(key="models_cnn_width").set_value(0.25).run()
    after = metric(at, "Total parameters")
    assert before != after
    assert int(after.replace(",", "")) < int(before.replace(",", ""))
    # the CNN vs parameter-matched DNN pair: counts within 1%
    at.session_state["models_view"] = "CNN vs matched DNN"
    at.run()
    at.slider(key="models_pair_cnn_width").set_value(0.25).run()
    assert_clean(at)
    counts = [int(m.value.replace(",", "")) for m in at.metric if m.label == "Total parameters"]
    assert len(counts) == 2 and abs(counts[0] - counts[1]) <= 0.01 * counts[0]
    assert counts[0] == int(after.replace(",", ""))  # the same CNN as on its own view


def test_retrain_at_this_width_prefills_the_train_page(models_env):
    at = open_page("models", models_view="MobileNet")
    at.slider(key="models_mobilenet_width").set_value(0.35).run()
    at.button(key="models_mobilenet_retrain").click().run()
    assert_clean(at)
    assert at.title[0].value == "Train"
    assert at.selectbox(key="train_arch").value == "mobilenet"
    assert at.slider(key="train_width").value == pytest.approx(0.35)
    from fer.architectures import DEFAULT_DEPTH

    for arch in ("cnn", "dnn", "mobilenet"):  # the Train page opens on the registry's default depths
        assert at.session_state[f"train_depth_{arch}"] == DEFAULT_DEPTH[arch]
    assert at.selectbox(key="train_design").value == "course"


@pytest.mark.slow
def test_a_mobilenet_design_counts_its_own_parameters_and_trains_as_chosen(models_env):
    from fer.models import build_model

    at = open_page("models", models_view="MobileNet")
    at.slider(key="models_mobilenet_width").set_value(0.5)
    at.slider(key="models_mobilenet_depth").set_value(4).run()
    course = metric(at, "Total parameters")
    at.selectbox(key="models_mobilenet_design").set_value("xception").run()
    assert_clean(at)
    xception = int(metric(at, "Total parameters").replace(",", ""))
    assert xception != int(course.replace(",", ""))
    assert xception == build_model("mobilenet", 0.5, depth=4, blocks="xception").count_params()
    at.button(key="models_mobilenet_retrain").click().run()
    assert_clean(at)
    assert at.title[0].value == "Train" and at.selectbox(key="train_design").value == "xception"
    at = open_page("train")  # (AppTest reruns the page it opened, not the one switched to)
    at.selectbox(key="train_arch").set_value("mobilenet").run()
    at.slider(key="train_width").set_value(0.5)
    at.slider(key="train_depth_mobilenet").set_value(4)
    at.selectbox(key="train_design").set_value("xception")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_cap").set_value(200)
    at.number_input(key="train_patience").set_value(0)
    at.button(key="train_start").click().run()
    assert_clean(at)
    job = fjobs.manager_for(RunStore(models_env)).wait(at.session_state["train_job"], timeout=600)
    assert job.status == fjobs.DONE, job.error or job.message
    meta = RunStore(models_env).get(job.run_id).meta
    assert meta["options"]["blocks"] == "xception" and meta["params"] == xception


@pytest.mark.slow
def test_training_from_the_train_page_adds_a_run_and_evaluate_shows_its_confusion_matrix(models_env):
    store = RunStore(models_env)
    before = {r.id for r in store.list()}
    at = open_page("train")
    assert_clean(at)
    at.selectbox(key="train_arch").set_value("dnn").run()
    at.slider(key="train_width").set_value(0.25)
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_cap").set_value(300)
    at.number_input(key="train_patience").set_value(0)
    at.checkbox(key="train_aug").uncheck().run()
    assert at.slider(key="train_erasing").disabled  # erasing is part of the augmentation
    at.checkbox(key="train_aug").check().run()
    at.slider(key="train_erasing").set_value(0.2)
    at.run()
    assert any("On this machine this takes about" in c.value for c in at.caption)
    teacher = next(iter(before))  # the fixture's CNN, trained on the same data: distil from it
    assert at.selectbox(key="train_teacher").options[0].startswith("none")
    assert at.slider(key="train_alpha").disabled  # no teacher, nothing to weigh
    at.selectbox(key="train_teacher").set_value(teacher).run()
    at.slider(key="train_alpha").set_value(0.5)
    at.run()
    at.button(key="train_start").click().run()
    assert_clean(at)
    manager = fjobs.manager_for(store)
    job_id = at.session_state["train_job"]
    job = manager.wait(job_id, timeout=600)
    assert job.status == fjobs.DONE, job.error or job.message
    at.run()
    assert_clean(at)
    assert any("Your last training finished" in s.value for s in at.success)
    after = {r.id for r in store.list()}
    assert after - before == {job.run_id}
    assert store.get(job.run_id).meta["teacher"]["run"] == teacher and store.get(job.run_id).meta["teacher"]["alpha"] == 0.5
    assert store.get(job.run_id).meta["config"]["erasing"] == 0.2

    # the new run is listed first and Evaluate shows its confusion matrix
    at.switch_page("views/evaluate.py")
    at.run()
    assert_clean(at)
    assert at.session_state["run"] == job.run_id
    assert any(s.value == "Confusion matrix" for s in at.subheader)
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 3  # counts, row-normalised, training curves
    tables = [d.value for d in at.dataframe if list(getattr(d.value, "columns", [])) == list(load_dataset("synthetic").class_names)]
    counts = next(t for t in tables if t.to_numpy().dtype.kind == "i")
    assert int(counts.to_numpy().sum()) == len(load_dataset("synthetic").indices("test"))
    saved = json.loads((models_env / job.run_id / "run.json").read_text())
    assert np.array_equal(np.asarray(saved["confusion_matrix"]), counts.to_numpy())


def test_misclassified_filters_narrow_the_grid(models_env):
    at = open_page("misclassified")
    assert_clean(at)
    everything = at.session_state["mis_count"]
    assert everything > 0
    at.checkbox(key="mis_only").uncheck().run()
    all_faces = at.session_state["mis_count"]
    assert all_faces == 1000  # every test face when not only the mistakes
    at.selectbox(key="mis_true").set_value("sad").run()
    sad = at.session_state["mis_count"]
    assert 0 < sad < all_faces
    at.selectbox(key="mis_pred").set_value("happy").run()
    assert at.session_state["mis_count"] <= sad
    assert_clean(at)


@pytest.mark.slow
def test_confusion_cell_jump_and_send_to_saliency(models_env):
    run_id = RunStore(models_env).list()[-1].id  # the fixture run
    at = open_page(None)
    at.session_state["mis_jump"] = {"true": "fear", "pred": "sad", "run": run_id}
    at.switch_page("views/misclassified.py")
    at.run()
    assert_clean(at)
    assert at.selectbox(key="mis_true").value == "fear" and at.selectbox(key="mis_pred").value == "sad"
    at.selectbox(key="mis_true").set_value("any").run()
    at.selectbox(key="mis_pred").set_value("any").run()
    selected = at.session_state["mis_selected"]
    at.button(key="mis_to_saliency").click().run()
    assert at.session_state["saliency_face"] == {"split": "test", "index": selected, "run": run_id}


def test_a_bad_data_path_is_a_clear_message(models_env, tmp_path):
    # (set the sidebar's path box through Session State: AppTest drops elements drawn outside the page on reruns)
    broken_csv = tmp_path / "fer2013.csv"
    broken_csv.write_text("this is not,a fer csv\n1,2\n")
    for source, expected in ((tmp_path / "not-there", "no such file or folder"), (broken_csv, "Could not load the data")):
        for page in ("data", "train", "evaluate", "misclassified"):
            at = open_page(page, data_source=str(source))
            assert not at.exception
            assert any(expected in e.value for e in at.error), (page, [e.value for e in at.error])


def test_sidebar_tells_a_live_cli_training_from_an_interrupted_one(store_dir, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "store"
    shutil.copytree(store_dir, root)
    store = RunStore(root)
    (store.work_dir("cli-run") / "status.json").write_text(json.dumps({"state": "training", "pid": os.getpid()}))
    (store.work_dir("killed-run") / "status.json").write_text(json.dumps({"state": "training", "pid": 0}))
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    at = open_page(None)
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Training now in another process" in captions and "`cli-run`" in captions
    assert "can be resumed" in captions and "`killed-run`" in captions
    assert captions.index("`cli-run`") < captions.index("can be resumed")


def test_a_data_path_outside_the_data_folders_is_refused_with_a_message(models_env, monkeypatch, tmp_path):
    monkeypatch.delenv("FER_DATA_ROOTS")  # the defaults: home, the working folder, the checkout's parent
    monkeypatch.setenv("HOME", str(tmp_path))
    at = open_page("data", data_source="/etc")
    assert not at.exception
    assert any("outside the folders this app may read data from" in e.value for e in at.error), [e.value for e in at.error]


def test_broken_run_folders_are_reported_not_fatal(tmp_path, monkeypatch, store_dir):
    import shutil

    root = tmp_path / "store"
    root.mkdir()
    good = RunStore(store_dir).list()[-1]
    shutil.copytree(good.path, root / good.id)
    (root / "no-meta").mkdir()
    bad_model = root / "bad-model"
    bad_model.mkdir()
    meta = json.loads((good.path / "run.json").read_text())
    meta.update(id="bad-model", created="9999")  # newest: the default selection on every page
    (bad_model / "run.json").write_text(json.dumps(meta))
    (bad_model / "model.keras").write_bytes(b"not a zip")
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    at = open_page(None)
    assert not at.exception
    assert any("no-meta" in w.value and "missing run.json" in w.value for w in at.warning)
    for page in ("evaluate", "misclassified"):
        at.switch_page(f"views/{page}.py")
        at.run()
        assert not at.exception
        assert any("cannot be used" in e.value for e in at.error), [e.value for e in at.error]
    at.switch_page("views/compare.py")
    at.run()
    assert not at.exception
    assert any("bad-model" in e.value for e in at.error)


def test_pages_without_a_model_offer_a_quick_training(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "empty"))
    for page in ("evaluate", "misclassified", "compare"):
        at = open_page(page)
        assert not at.exception
        assert any("No trained model" in w.value for w in at.warning)
        quick = [b for b in at.button if b.label.startswith("Train a quick default model (about")]
        assert quick, [b.label for b in at.button]


def test_data_page_lists_skipped_rows_with_reasons(models_env, tmp_path):
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i in range(300):
        usage = ("Training", "PublicTest", "PrivateTest")[i % 3]
        rows.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    rows.append("3,1 2 3,Training")  # too few pixels: skipped, not fatal
    csv = tmp_path / "fer2013.csv"
    csv.write_text("\n".join(rows) + "\n")
    at = open_page("data", data_source=str(csv))
    assert_clean(at)
    assert any("were skipped" in w.value for w in at.warning)
    skipped = next(d.value for d in at.dataframe if "reason" in getattr(d.value, "columns", []))
    assert len(skipped) == 1 and "pixel" in skipped["reason"].iloc[0]
    assert metric(at, "Images") == "300"


def test_a_crash_inside_one_page_is_a_message_and_the_other_pages_keep_working(models_env, monkeypatch):
    """An unexpected exception in the Data page's code: that page shows a one-line error (no
    traceback), and in the same session the Evaluate page and then the Data page (fixed) work."""
    from fer import figures

    real = figures.class_distribution_chart

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure in the class chart")

    monkeypatch.setattr(figures, "class_distribution_chart", broken)
    at = open_page("data")
    assert not at.exception
    assert any("Something went wrong on the Data page: RuntimeError: injected failure" in e.value for e in at.error)
    at.switch_page("views/evaluate.py")
    at.run()
    assert_clean(at)
    assert at.title and "Evaluate" in at.title[0].value
    monkeypatch.setattr(figures, "class_distribution_chart", real)
    at.switch_page("views/data.py")
    at.run()
    assert_clean(at)


def test_evaluate_and_compare_draw_a_warm_started_runs_whole_chain(tmp_path, monkeypatch, store_dir):
    import shutil

    good = RunStore(store_dir).list()[-1]
    root = tmp_path / "store"
    shutil.copytree(good.path, root / good.id)
    meta = json.loads((good.path / "run.json").read_text())
    earlier = {k: [v[0]] * 4 for k, v in meta["history"].items()}  # a 4-epoch first leg
    meta["init_from"] = {"run": "first-leg", "epochs_run": 4, "history": earlier}
    (root / good.id / "run.json").write_text(json.dumps(meta))
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    legs = len(meta["history"]["loss"])
    at = open_page("evaluate")
    assert_clean(at)
    assert at.toggle(key="eval_chain").value
    assert any(c.value.startswith(f"{4 + legs} epoch(s) in 2 warm-started legs") for c in at.caption), [c.value for c in at.caption]
    at.toggle(key="eval_chain").set_value(False).run()
    assert any(c.value.startswith(f"{legs} epoch(s); the saved weights") for c in at.caption)
    at.switch_page("views/compare.py")
    at.run()
    assert_clean(at)
    assert at.toggle(key="cmp_chain").value


@pytest.mark.slow
def test_compare_selects_an_ablation_set_and_states_each_switchs_effect(tmp_path, monkeypatch, store_dir):
    """A run trained like the fixture's but without BatchNorm: Compare offers the pair as an
    ablation set, selects both, and states the difference in test accuracy its table shows."""
    import shutil

    base = RunStore(store_dir).list()[-1]
    root = tmp_path / "store"
    shutil.copytree(base.path, root / base.id)
    train(TrainConfig(arch="cnn", width=0.25, epochs=1, max_train_images=300, patience=0, batchnorm=False,
                      description="without BatchNorm"), load_dataset("synthetic"), RunStore(root), run_id="nobn")
    monkeypatch.setenv("FER_MODELS_DIR", str(root))
    at = open_page("compare", cmp_runs=[base.id])
    assert_clean(at)
    box = at.selectbox(key="cmp_ablation")
    assert box.options == ["cnn width 0.25, 1 epochs: baseline vs no BatchNorm"]
    box.select_index(0).run()
    assert_clean(at)
    assert at.multiselect(key="cmp_runs").value == [base.id, "nobn"]
    table = at.dataframe[0].value.set_index("run")["test accuracy"]
    points = 100 * (table["nobn"] - table[base.id])
    assert any(f"no BatchNorm: **{points:+.1f}** points" in m.value for m in at.markdown), [m.value for m in at.markdown]


def test_every_page_shows_results_at_once_with_the_shipped_runs_on_the_demo_faces(monkeypatch, tmp_path):
    """A fresh machine: the repository's models/ and the built-in demo faces, no training first.
    The shipped demo runs (CNN, parameter-matched DNN, MobileNet) are matched by the generated
    data's fingerprint, so no page says "No trained model"."""
    monkeypatch.setenv("FER_MODELS_DIR", str(ROOT / "models"))
    monkeypatch.setenv("HOME", str(tmp_path))  # a fresh machine's empty ~/.streamlit cache
    at = open_page(None)
    assert_clean(at)
    for page in ("evaluate", "compare", "misclassified", "saliency", "filters", "compression"):
        at.switch_page(f"views/{page}.py")
        at.run()
        assert_clean(at)
        assert not any("No trained model" in w.value for w in at.warning), page
        assert at.selectbox or at.multiselect, page
    at.switch_page("views/evaluate.py")
    at.run()
    assert at.selectbox(key="_run_select").value == "demo-cnn-w0.125"  # the featured demo CNN first
    assert at.metric[0].label == "Test accuracy" and float(at.metric[0].value.rstrip("%")) > 75
