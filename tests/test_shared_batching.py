"""Shared batching: requests from several sessions for the same run and method as one batch."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fer.explain.shared import Batcher


def _doubling(calls):
    def compute(key, images, extra):
        calls.append((key, len(images)))
        return images * 2 + (0 if extra is None else extra[:, None])
    return compute


def test_a_request_alone_is_computed_at_once_as_its_own_batch():
    calls = []
    batcher = Batcher(_doubling(calls))
    start = time.perf_counter()
    out = batcher("k", np.ones((2, 3)), np.array([10, 20]))
    assert time.perf_counter() - start < 0.5
    np.testing.assert_array_equal(out, [[12, 12, 12], [22, 22, 22]])
    assert calls == [("k", 2)] and list(batcher.batch_sizes) == [2]


def test_requests_arriving_during_a_batch_go_together_and_each_gets_its_own_rows():
    gate, calls = threading.Event(), []
    inner = _doubling(calls)

    def compute(key, images, extra):
        if not calls:
            gate.wait(10)  # the first batch is still being computed while the others arrive
        return inner(key, images, extra)

    batcher = Batcher(compute)
    results = {}

    def ask(i):
        results[i] = batcher("k", np.full((1, 2), i, float))

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    while not batcher._pending:  # the first batch has started
        time.sleep(0.001)
    others = [threading.Thread(target=ask, args=(i,)) for i in range(1, 6)]
    for t in others:
        t.start()
    while len(batcher._pending.get("k", [])) < 5:
        time.sleep(0.001)
    gate.set()
    for t in [first, *others]:
        t.join(10)
    assert list(batcher.batch_sizes) == [1, 5]
    assert {i: r.tolist() for i, r in results.items()} == {i: [[2 * i, 2 * i]] for i in range(6)}


def test_different_keys_are_never_mixed_and_an_error_reaches_only_its_batch():
    def compute(key, images, extra):
        if key == "bad":
            raise ValueError("this model cannot")
        return images + 1

    batcher = Batcher(compute)
    with pytest.raises(ValueError, match="cannot"):
        batcher("bad", np.zeros((1, 1)))
    np.testing.assert_array_equal(batcher("good", np.zeros((1, 1))), [[1]])
    assert batcher._pending == {}  # nothing left waiting after an error


def test_a_batch_is_capped_and_the_rest_waits_for_the_next_one():
    gate, sizes = threading.Event(), []

    def compute(key, images, extra):
        if not sizes:
            gate.wait(10)
        sizes.append(len(images))
        return images

    batcher = Batcher(compute, max_faces=4)
    threads = [threading.Thread(target=batcher, args=("k", np.zeros((1, 1))))]
    threads[0].start()
    while not batcher._pending:
        time.sleep(0.001)
    threads += [threading.Thread(target=batcher, args=("k", np.zeros((2, 1)))) for _ in range(3)]
    for t in threads[1:]:
        t.start()
    while len(batcher._pending.get("k", [])) < 3:
        time.sleep(0.001)
    gate.set()
    for t in threads:
        t.join(10)
    assert sizes == [1, 4, 2]


@pytest.fixture(scope="module")
def small_cnn():
    from fer.models import build_model

    return build_model("cnn", 0.125)


def test_shared_maps_and_probs_equal_the_direct_calls_when_sessions_ask_at_once(small_cnn):
    from fer.explain import METHODS, predict
    from fer.explain.shared import shared_maps, shared_probs

    faces = np.random.default_rng(0).integers(0, 255, (6, 48, 48)).astype(np.uint8)
    classes = [3, 1, 4, 1, 5, 6]
    expected = {m: METHODS[m](small_cnn, faces, classes) for m in ("Grad-CAM++", "Saliency", "SmoothGrad")}
    got = {}

    def session(i):
        for m in expected:
            got[i, m] = shared_maps(small_cnn, m, faces[i:i + 1], [classes[i]])
        got[i, "probs"] = shared_probs(small_cnn, faces[i:i + 1])

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(faces))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i in range(len(faces)):
        for m in ("Grad-CAM++", "Saliency"):
            np.testing.assert_allclose(got[i, m][0], expected[m][i], atol=1e-4)
        np.testing.assert_allclose(got[i, "probs"][0], predict(small_cnn, faces[i:i + 1])[0], atol=1e-5)
    # SmoothGrad's noise is drawn per call: it is not batched, so each session gets its face's own call
    np.testing.assert_allclose(got[2, "SmoothGrad"][0], METHODS["SmoothGrad"](small_cnn, faces[2:3], [classes[2]])[0],
                               atol=1e-5)
