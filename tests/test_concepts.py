"""TCAV (fer.explain.concepts): a concept planted in the generated faces is found, random faces are
not, and a user's folder becomes a concept or is refused in one line."""
from pathlib import Path

import numpy as np
import pytest

from fer.explain import concepts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    from fer.data import load_dataset

    return load_dataset(None)


def test_the_p_value_is_one_at_the_random_concepts_mean_and_falls_away_from_it():
    null = np.array([0.4, 0.45, 0.5, 0.55, 0.6, 0.42, 0.58, 0.47, 0.53, 0.5])
    ps = [concepts._two_sided_p(s, null) for s in (0.5, 0.6, 0.7, 0.9)]
    assert ps[0] == pytest.approx(1.0) and ps[0] > ps[1] > ps[2] > ps[3] and ps[3] < 0.001
    assert concepts._two_sided_p(0.4, null) == pytest.approx(concepts._two_sided_p(0.6, null))  # two-sided


def test_the_built_in_concepts_of_the_generated_faces_hold_what_their_names_say(demo):
    found = {c.name: c for c in concepts.builtin_concepts(demo, n=40)}
    assert set(found) == {"mouth open", "brows raised", "eyes wide", concepts.CONTROL}
    assert all(len(c.images) == 40 and c.images.shape[1:] == (48, 48) for c in found.values())
    train = demo.indices("train")
    opened = demo.params["mouth_open"][train]
    picked = [int(np.flatnonzero((demo.images[train] == img).all(axis=(1, 2)))[0]) for img in found["mouth open"].images[:5]]
    assert (opened[picked] > 0.6).all()


def test_a_folder_with_too_few_images_is_refused_and_one_with_enough_is_read_as_faces(tmp_path):
    from PIL import Image

    from fer.errors import DataError

    for i in range(12):
        Image.fromarray(np.full((60, 80, 3), 20 * i, np.uint8)).save(tmp_path / f"{i}.png")
    concept = concepts.concept_from_folder("mine", tmp_path)
    assert concept.images.shape == (12, 48, 48) and concept.images.dtype == np.uint8
    for f in list(tmp_path.iterdir())[:4]:
        f.unlink()
    with pytest.raises(DataError, match="holds 8 images"):
        concepts.concept_from_folder("mine", tmp_path)


@pytest.mark.slow
def test_tcav_finds_the_planted_mouth_open_concept_for_surprise_and_not_the_random_control(demo):
    from fer.runs import RunStore

    model = RunStore(ROOT / "models").get("demo-cnn-w0.125").load_model()
    table = concepts.tcav(model, concepts.builtin_concepts(demo), demo)
    middle = concepts.default_layers(model)[0]
    row = table[(table["concept"] == "mouth open") & (table["layer"] == middle) & (table["class"] == "surprise")].iloc[0]
    assert row["significant"] and row["p_value"] < 0.05 / 7 and row["score"] > row["random_score"] + 0.2
    control = table[table["concept"] == concepts.CONTROL]
    assert len(control) == 7 * len(concepts.default_layers(model)) and not control["significant"].any()
    assert table["p_value"].between(0, 1).all() and table["cav_accuracy"].between(0, 1).all()


@pytest.mark.parametrize("arg, message", [("glasses", "give NAME=FOLDER"), ("glasses=/nonexistent", "holds 0 images")])
def test_explain_refuses_a_bad_concept_in_one_line_before_any_work(tmp_path, capsys, arg, message):
    from fer.cli import main

    code = main(["--models", str(ROOT / "models"), "explain", "demo-cnn-w0.125", "--out", str(tmp_path / "out"),
                 "--concept", arg])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert code == 2 and len(errors) == 1 and message in errors[0], errors
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_concept_uploaded_on_class_maps_is_tested_beside_the_control(tmp_path, monkeypatch, demo):
    import io
    import shutil

    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from fer import CLASS_NAMES

    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", tmp_path / "runs" / "demo-cnn-w0.125")
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HOME", str(tmp_path))
    train = demo.indices("train")
    smiles = train[demo.params["mouth_curve"][train] > 0.7][:12]
    files = []
    for i, face in enumerate(demo.images[smiles]):
        buf = io.BytesIO()
        Image.fromarray(face).save(buf, "PNG")
        files.append((f"smile{i}.png", buf.getvalue(), "image/png"))
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.run()
    at.switch_page("views/class_maps.py").run()
    at.text_input(key="cm_tcav_name").input("smiling mouth")
    at.file_uploader(key="cm_tcav_files").set_value(files[:5])
    at.run()
    at.button(key="cm_tcav_own").click().run()
    assert len(at.error) == 1 and "5 images; a concept needs at least 10" in at.error[0].value
    at.file_uploader(key="cm_tcav_files").set_value(files)
    at.run()
    at.button(key="cm_tcav_own").click().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    tables = [df.value for df in at.dataframe if list(df.value.columns) == list(CLASS_NAMES)
              and "smiling mouth" in list(df.value.index)]
    assert len(tables) == 2 and all(set(t.index) == {"smiling mouth", concepts.CONTROL} for t in tables)  # one per layer


@pytest.mark.fer2013
@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "fer2013").is_dir(), reason="needs ../shared/data/fer2013")
def test_the_featured_runs_ship_their_tcav_tables_for_fer2013_and_serve_none_for_other_data():
    from fer.data import load_dataset
    from fer.explain.craft import CRAFT_FACES
    from fer.explain.kept import kept_discovered, kept_tcav

    ds = load_dataset(str(ROOT.parent / "shared" / "data" / "fer2013"))
    for run in ("fer2013-cnn-w1-mirror", "fer2013-mobilenet-w1.1-xception-mirror", "fer2013-dnn-matched-w1-mirror"):
        table = kept_tcav(ROOT / "models" / run, ds.fingerprint)
        assert table is not None, run
        assert set(table["concept"]) == {"wide mouth", "tilted head", "turned head", concepts.CONTROL}
        assert not table[table["concept"] == concepts.CONTROL]["significant"].any(), run
        assert kept_tcav(ROOT / "models" / run, "another data set") is None
        found = kept_discovered(ROOT / "models" / run, ds.fingerprint, CRAFT_FACES, 3)
        assert (found is None) == (run == "fer2013-dnn-matched-w1-mirror"), run  # the DNN has no conv layer


@pytest.mark.slow
def test_the_concept_found_most_important_for_angry_demo_faces_sits_on_the_brows(demo):
    """The generated angry face is drawn by lowering and gathering the brows above all
    (fer.data.synthetic.CLASS_MEANS): the concept the factorisation finds most important for the
    demo CNN sits on the brows' ground-truth region more than on any other."""
    from fer import CLASS_NAMES
    from fer.explain import parts
    from fer.explain.craft import discover
    from fer.runs import RunStore

    x, y = demo.split("test")
    angry = CLASS_NAMES.index("angry")
    idx = np.flatnonzero(y == angry)[:300]
    found = discover(RunStore(ROOT / "models").get("demo-cnn-w0.125").load_model(), x[idx], angry)
    assert list(found.importance) == sorted(found.importance, reverse=True)
    assert np.abs(found.share).sum() == pytest.approx(1) and found.maps.min() >= 0 and found.maps.max() <= 1
    assert found.top_faces.shape == (5, 6) and all(len(set(row)) == 6 for row in found.top_faces)
    labels = parts.face_parts(demo, idx[found.top_faces[0]]).labels
    ratio = {name: (found.maps[0] * (labels == p)).sum() / found.maps[0].sum() / (labels == p).mean()
             for p, name in enumerate(parts.GENERATED_PARTS)}
    assert max(ratio, key=ratio.get) == "brows", ratio


@pytest.mark.slow
def test_concepts_found_are_kept_beside_the_run_and_served_only_for_the_same_data(tmp_path, demo):
    import shutil

    from fer.explain.craft import discover
    from fer.explain.kept import keep_discovered, kept_discovered
    from fer.runs import RunStore

    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", tmp_path / "demo-cnn-w0.125")
    run = RunStore(tmp_path).get("demo-cnn-w0.125")
    model = run.load_model()
    assert keep_discovered(run.path, model, demo, 60) == 7
    x, y = demo.split("test")
    kept = kept_discovered(run.path, demo.fingerprint, 60, 5)
    fresh = discover(model, x[y == 5][:60], 5)
    np.testing.assert_allclose(kept.importance, fresh.importance, rtol=1e-5)
    np.testing.assert_array_equal(kept.top_faces, fresh.top_faces)
    assert np.abs(kept.maps - fresh.maps).max() <= 1 / 255 and kept.layer == fresh.layer
    assert kept_discovered(run.path, "another data set", 60, 5) is None
    assert kept_discovered(run.path, demo.fingerprint, 300, 5) is None  # another number of faces
