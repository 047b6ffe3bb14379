"""Preferred inputs checked against real faces (`fer.explain.filters.sharpen`): an image a test face
beats is pushed on until it wins, from the ascent's image first and from that face where that is
not enough; an image that already wins is left as it was."""
from pathlib import Path

import numpy as np
import pytest

from fer.explain.filters import AscentSettings, filter_activation, visualize_filters
from fer.explain.filters import sharpen as sharpen_module
from fer.explain.filters.sharpen import CONTINUED, ENGINE, FROM_FACE, continue_ascent, sharpen

LAYER = "block2_conv1"


@pytest.fixture(scope="module")
def demo():
    """The shipped demo CNN, 200 of the generated test faces and a short ascent's images."""
    from fer.data import load_dataset
    from fer.runs import RunStore

    x, _ = load_dataset("synthetic").split("test")
    model = RunStore(Path(__file__).resolve().parents[1] / "models").get("demo-cnn-w0.125").load_model()
    found = visualize_filters(model, LAYER, settings=AscentSettings(steps=10))
    return model, x[:200], found


def test_continuing_an_ascent_never_ends_below_its_start(demo):
    model, faces, _ = demo
    filters = np.arange(4)
    start = faces[:4].astype(np.float32)
    before = filter_activation(model, LAYER, start, filters)
    after = continue_ascent(model, LAYER, start, filters, steps=20)
    assert after.shape == (4, 48, 48) and after.min() >= 0 and after.max() <= 255
    reached = filter_activation(model, LAYER, after, filters)
    assert np.all(reached >= before - 1e-4 * np.abs(before).max())
    assert np.all(reached > before)  # a trained filter's gradient is not zero on a real face


def test_only_the_images_a_face_beats_are_pushed_on_and_they_then_win(demo):
    model, faces, found = demo
    n = len(found.filters)
    rivals = found.activation + np.where(np.arange(n) % 2 == 0, 1e-3, -1e-3) * np.abs(found.activation).max()
    shown = sharpen(model, LAYER, found, rivals)
    losing = np.arange(n) % 2 == 0
    np.testing.assert_array_equal(shown.images[~losing], found.images[~losing])
    assert set(shown.origin[~losing]) == {ENGINE}
    assert set(shown.origin[losing]) == {CONTINUED}
    assert np.all(shown.activation[losing] > rivals[losing])
    np.testing.assert_allclose(shown.activation, filter_activation(model, LAYER, shown.images, shown.filters),
                               rtol=1e-4, atol=1e-5)  # the activations given are the images' own
    np.testing.assert_array_equal(shown.rival_activation, rivals.astype(np.float32))


def test_where_the_continued_image_still_loses_the_winning_face_is_continued(demo, monkeypatch):
    """The second start: the continued image made to fail (the ascent returns its start
    unchanged), the face that beat each filter is pushed on and wins."""
    model, faces, _ = demo
    found = visualize_filters(model, LAYER, settings=AscentSettings(steps=0))  # the start images: faces beat them
    real = sharpen_module.continue_ascent
    calls = []

    def failing_first(model_, layer, images, filters, steps=sharpen_module.STEPS):
        calls.append(len(images))
        return np.asarray(images, np.float32) if len(calls) == 1 else real(model_, layer, images, filters, steps)

    monkeypatch.setattr(sharpen_module, "continue_ascent", failing_first)
    n = len(found.filters)
    best = filter_activation(model, LAYER, faces).argmax(0)  # (C,) each filter's best face
    rival_faces = faces[best]
    rivals = filter_activation(model, LAYER, rival_faces)[np.arange(n), np.arange(n)]
    losing = found.activation <= rivals
    assert losing.any()
    shown = sharpen(model, LAYER, found, rivals, rival_faces)
    assert calls == [int(losing.sum()), int(losing.sum())]
    assert set(shown.origin[losing]) <= {FROM_FACE, ENGINE}
    assert (shown.origin[losing] == FROM_FACE).mean() >= 0.9
    won = shown.origin == FROM_FACE
    assert np.all(shown.activation[won] > rivals[won])
    np.testing.assert_array_equal(shown.images[~losing], found.images[~losing])
