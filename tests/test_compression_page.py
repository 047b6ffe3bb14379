"""The Compression page renders under AppTest on a temporary run store of two tiny runs: the
size ladder with a download button per artefact, and a parameters-vs-accuracy scatter with one
point per run; the Sweep button starts the background sweep and its run becomes a new point."""
import shutil
from pathlib import Path

import pytest

from fer.compress.ladder import DEFAULT_STEPS

N_LADDER_STEPS = len(DEFAULT_STEPS)  # every step of the ladder, each with its download button
APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """Two tiny runs (cnn + mobilenet) trained on the app's default data, in a temporary store."""
    mp = pytest.MonkeyPatch()
    mp.delenv("FER_DATA", raising=False)
    root = tmp_path_factory.mktemp("models")
    mp.setenv("FER_MODELS_DIR", str(root))
    from fer.data import load_dataset
    from fer.runs import RunStore
    from fer.train import TrainConfig, train

    dataset = load_dataset(None)
    store = RunStore(root)
    for arch, width in (("cnn", 0.125), ("mobilenet", 0.25)):
        train(TrainConfig(arch=arch, width=width, max_train_images=300, epochs=1, augment=False), dataset, store)
    yield root
    mp.undo()


@pytest.fixture
def app(store_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(store_dir))
    at = AppTest.from_file(str(APP), default_timeout=300)  # the first render writes the whole ladder
    at.switch_page("views/compression.py")
    return at


def _chart_frames(at):
    """Every vega-lite chart's data sets as DataFrames."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    frames = []
    for chart in at.get("vega_lite_chart"):
        proto = chart.proto
        for ds in proto.datasets:
            frames.append(convert_arrow_bytes_to_pandas_df(ds.data.data))
        if proto.HasField("data") and proto.data.data:
            frames.append(convert_arrow_bytes_to_pandas_df(proto.data.data))
    return frames


def _scatter_points(at):
    frames = [f for f in _chart_frames(at) if {"run", "params", "test_accuracy", "size_bytes"} <= set(f.columns)]
    assert len(frames) == 1, f"expected one scatter data set, got {len(frames)}"
    return frames[0]


@pytest.mark.slow
def test_compression_page_renders_ladder_and_one_scatter_point_per_run(app, store_dir):
    at = app.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Compression" in t.value for t in at.title)
    assert not at.error, [e.value for e in at.error]
    run_ids = sorted(p.name for p in store_dir.iterdir() if (p / "run.json").is_file())
    points = _scatter_points(at)
    assert sorted(points["run"]) == run_ids  # one point per run of the current data
    assert (points["size_bytes"] > 0).all()
    assert len(at.get("download_button")) == N_LADDER_STEPS  # one per artefact
    ladder_frames = [f for f in _chart_frames(at) if {"step", "bytes", "accuracy"} <= set(f.columns)]
    assert ladder_frames and len(ladder_frames[0]) == N_LADDER_STEPS
    # the sparsity slider re-runs the ladder for the new sparsity
    at.slider(key="compress_sparsity").set_value(0.8).run()
    assert not at.exception
    ladder = [f for f in _chart_frames(at) if {"step", "bytes", "accuracy"} <= set(f.columns)][0]
    assert any("80%" in s for s in ladder["step"])


@pytest.mark.slow
def test_sweep_button_starts_a_background_sweep_whose_run_becomes_a_point(app, store_dir):
    from fer.runs import RunStore
    from fer.sweep import sweep_for

    store = RunStore(store_dir)
    template = store.list()[0]
    calls = []

    def fake_train(config, dataset, store_, run_id=None, progress=None, cancel=None):
        """Stands in for fer.train.train: saves a copy of an existing run as the new width."""
        calls.append((config.arch, config.width, config.epochs))
        meta = {**template.meta, "arch": config.arch, "width": config.width, "params": 12345, "test_accuracy": 0.5,
                "config": {**template.meta["config"], "arch": config.arch, "width": config.width, "epochs": config.epochs}}
        return store_.save(f"sweep-{config.arch}-{config.width:g}", template.load_model(), meta)

    sweep = sweep_for(store)
    sweep.manager._train_fn = fake_train
    try:
        at = app.run()
        assert not at.exception
        before = len(_scatter_points(at))
        at.multiselect(key="sweep_cnn_widths").set_value([0.0625])
        at.multiselect(key="sweep_mobilenet_widths").set_value([])
        at.number_input(key="sweep_epochs").set_value(2)
        at.button(key="sweep_go").click().run()
        assert not at.exception
        assert sweep.join(60)
        assert calls == [("cnn", 0.0625, 2)]
        at.run()
        assert not at.exception
        points = _scatter_points(at)
        assert len(points) == before + 1 and "sweep-cnn-0.0625" in set(points["run"])
    finally:
        sweep.manager._train_fn = None
        shutil.rmtree(store_dir / "sweep-cnn-0.0625", ignore_errors=True)


@pytest.mark.slow
def test_distillation_button_compares_student_alone_and_distilled(app):
    at = app.run()
    assert not at.exception
    at.select_slider(key="distill_width").set_value(0.125)
    at.number_input(key="distill_epochs").set_value(1)
    at.number_input(key="distill_images").set_value(200)
    at.button(key="distill_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.session_state["distill_result"]
    assert {"alone_accuracy", "distilled_accuracy", "gain_points", "teacher"} <= set(result)
    assert result["row"]["bytes"] > 0 and result["train_images"] == 200
    labels = [m.label for m in at.metric]
    assert "Student alone" in labels and "Student distilled" in labels


def test_page_without_runs_still_offers_the_sweep(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "empty"))
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("views/compression.py")
    at.run()
    assert not at.exception
    assert any("No trained model" in w.value for w in at.warning)
    assert at.button(key="sweep_go") is not None
    assert not at.get("vega_lite_chart")  # nothing to plot yet


@pytest.mark.slow
def test_ablation_variants_stay_out_of_the_width_scatter_until_asked(app, store_dir):
    """A run trained like another but without BatchNorm is an ablation, not a width point."""
    import json

    template = sorted(p for p in store_dir.iterdir() if (p / "run.json").is_file())[0]
    variant = store_dir / "variant-nobn"
    shutil.copytree(template, variant)
    meta = json.loads((variant / "run.json").read_text())
    meta["options"]["batchnorm"] = meta["config"]["batchnorm"] = False
    (variant / "run.json").write_text(json.dumps(meta))
    try:
        at = app.run()
        assert not at.exception
        assert "variant-nobn" not in set(_scatter_points(at)["run"])
        toggle = at.toggle(key="scatter_variants")
        assert toggle.label == "Include 1 ablation run(s)"
        toggle.set_value(True).run()
        assert not at.exception
        points = _scatter_points(at)
        assert dict(zip(points.run, points.variant))["variant-nobn"] == "no BatchNorm"
    finally:
        shutil.rmtree(variant, ignore_errors=True)


@pytest.mark.slow
def test_a_kept_ladder_is_shown_at_once_and_the_artefacts_written_on_request(store_dir, monkeypatch, capsys):
    """`python -m fer compress RUN --keep` writes the figures beside the run; the page shows them
    without measuring (no download buttons until asked), and a changed model file voids them."""
    import json

    from streamlit.testing.v1 import AppTest

    from fer.cli import main
    from fer.compress.shipped import LADDER_FILE, kept_ladder
    from fer.data import load_dataset
    from fer.runs import RunStore

    run = sorted(RunStore(store_dir).list(), key=lambda r: r.meta.get("arch") != "cnn")[0]
    assert main(["--models", str(store_dir), "compress", run.id, "--keep"]) == 0
    printed = capsys.readouterr().out
    assert "TFLite full int8" in printed and "pruned 50%" in printed
    kept = json.loads((run.path / LADDER_FILE).read_text())
    fingerprint = load_dataset(None).fingerprint
    [entry] = kept["entries"].values()
    assert len(entry["rows"]) == N_LADDER_STEPS
    assert kept_ladder(run.path, fingerprint, 0.5) is not None
    assert kept_ladder(run.path, "another-data-set", 0.5) is None
    assert kept_ladder(run.path, fingerprint, 0.8) is None

    monkeypatch.setenv("FER_MODELS_DIR", str(store_dir))
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.switch_page("views/compression.py")
    at.session_state["compress_run"] = run.id
    at.run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert any("kept beside the run" in i.value for i in at.info)
    assert len(at.get("download_button")) == 0
    ladders = [f for f in _chart_frames(at) if {"step", "bytes", "accuracy"} <= set(f.columns)]
    assert len(ladders[0]) == N_LADDER_STEPS
    assert sorted(ladders[0]["bytes"]) == sorted(r["bytes"] for r in entry["rows"])  # the kept figures
    at.button(key=f"compress_write_btn_{run.id}").click().run()
    assert not at.exception
    assert len(at.get("download_button")) == N_LADDER_STEPS  # measured and written now

    original = (run.path / "model.keras").read_bytes()
    try:
        (run.path / "model.keras").write_bytes(original + b"\0")  # another model file: the figures no longer apply
        assert kept_ladder(run.path, fingerprint, 0.5) is None
    finally:
        (run.path / "model.keras").write_bytes(original)
        (run.path / LADDER_FILE).unlink()


def test_compress_cli_refuses_a_bad_sparsity_and_an_unknown_run(tmp_path, capsys):
    from fer.cli import main

    store_dir = tmp_path / "models"
    shutil.copytree(Path(__file__).resolve().parents[1] / "models" / "demo-cnn-w0.125", store_dir / "demo-cnn-w0.125")
    assert main(["--models", str(store_dir), "compress", "no-such-run"]) == 2
    assert "no-such-run" in capsys.readouterr().err
    run_id = next(p.name for p in store_dir.iterdir() if (p / "run.json").is_file())
    assert main(["--models", str(store_dir), "compress", run_id, "--sparsity", "1.5"]) == 2
    assert "--sparsity" in capsys.readouterr().err


def test_with_a_cluster_address_the_sweep_goes_to_it_and_an_unreachable_one_is_one_message(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    pytest.importorskip("ray")
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("FER_RAY_ADDRESS", "127.0.0.1:9")
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.switch_page("views/compression.py")
    at.run()
    assert not at.exception
    assert any("Ray cluster at `127.0.0.1:9`" in c.value for c in at.caption)
    at.multiselect(key="sweep_cnn_widths").set_value([0.0625])
    at.multiselect(key="sweep_mobilenet_widths").set_value([])
    at.button(key="sweep_go").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Cannot start the sweep: cannot reach a Ray cluster at '127.0.0.1:9': "
                                          "Connection refused; start one with `ray start --head` and give the address "
                                          "it prints"]
    assert not (tmp_path / "empty").exists() or not any((tmp_path / "empty").iterdir())
