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
