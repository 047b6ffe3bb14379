"""Tests for the built-in generated dataset (fer.data.synthetic). All small and fast."""

import numpy as np
import pytest

from fer import CLASS_NAMES
from fer.data import synthetic as S
from fer.data.dataset import Dataset

FER_TRAIN = np.array([3995, 436, 4097, 7215, 4830, 3171, 4965], float)


@pytest.fixture(scope="module")
def small():
    return S.generate(n_train=700, n_val=150, n_test=150, seed=3)


def _random_params(n, seed, occluders=True):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASS_NAMES), n)
    p = S.sample_expression(labels, rng)
    p.update(S.sample_nuisance(n, rng))
    if occluders:  # make sure both kinds of glasses and the hand appear
        p["glasses"][: n // 10] = 1
        p["glasses"][n // 10: n // 5] = 2
        p["hand"][n // 5: n // 4] = 1
    return p


def test_constants():
    assert S.REGION_BITS == {"brows": 1, "eyes": 2, "nose": 4, "mouth": 8}
    assert [S.CLASS_FREQUENCIES[c] for c in CLASS_NAMES] == FER_TRAIN.astype(int).tolist()
    assert set(S.REGION_PARAMS) == set(S.REGION_BITS)
    assert set(S.EXPRESSION_PARAMS).isdisjoint(S.NUISANCE_PARAMS)


def test_deterministic_and_seed_dependent():
    a = S.generate(120, 30, 30, seed=7)
    b = S.generate(120, 30, 30, seed=7)
    c = S.generate(120, 30, 30, seed=8)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.masks.tobytes() == b.masks.tobytes()
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.splits, b.splits)
    assert a.fingerprint == b.fingerprint
    assert all(np.array_equal(a.params[k], b.params[k]) for k in S.ALL_PARAMS)
    assert a.images.tobytes() != c.images.tobytes()
    assert a.fingerprint != c.fingerprint


def test_dataset_fields(small):
    ds = small
    assert isinstance(ds, Dataset) and ds.is_synthetic
    assert ds.name == "generated"
    assert "seed 3" in ds.origin and "700 train / 150 val / 150 test" in ds.origin
    assert "not real photos" in ds.origin
    # the generator's identity (version and arguments), the same on every machine
    assert ds.fingerprint == S.fingerprint(3, (700, 150, 150), False)
    assert S.fingerprint(3, (700, 150, 150), True) != ds.fingerprint != S.fingerprint(4, (700, 150, 150), False)
    assert ds.images.dtype == np.uint8 and ds.images.shape == (1000, 48, 48)
    assert ds.labels.dtype == np.int64 and ds.splits.dtype == np.uint8
    assert ds.masks.dtype == np.uint8 and ds.masks.shape == ds.images.shape
    assert set(ds.params) == set(S.ALL_PARAMS)
    assert all(v.shape == (1000,) for v in ds.params.values())
    for k in S.EXPRESSION_PARAMS:
        assert np.all(np.abs(ds.params[k]) <= 1.0)


def test_split_counts_and_class_frequencies(small):
    ds = small
    assert [len(ds.indices(s)) for s in ("train", "val", "test")] == [700, 150, 150]
    for split, n in (("train", 700), ("val", 150), ("test", 150)):
        counts = np.bincount(ds.split(split)[1], minlength=7)
        assert counts.sum() == n
        expected = n * FER_TRAIN / FER_TRAIN.sum()
        assert np.all(np.abs(counts - expected) < 1.0), (split, counts, expected)
    train_counts = np.bincount(ds.split("train")[1], minlength=7)
    assert train_counts.argmin() == CLASS_NAMES.index("disgust")
    assert train_counts.argmax() == CLASS_NAMES.index("happy")
    # the default size follows FER2013 proportions closely
    big = S.class_counts(7000)
    assert big.sum() == 7000
    assert np.allclose(big / 7000, FER_TRAIN / FER_TRAIN.sum(), atol=2e-4)


def test_balanced():
    ds = S.generate(140, 70, 35, seed=0, balanced=True)
    for split, n in (("train", 140), ("val", 70), ("test", 35)):
        counts = np.bincount(ds.split(split)[1], minlength=7)
        assert np.all(counts == n // 7)
    assert "balanced" in ds.origin
    assert sorted(S.class_counts(10, balanced=True)) == [1, 1, 1, 1, 2, 2, 2]


def test_images_valid(small):
    im = small.images
    assert im.min() < 40 and im.max() > 200  # uses the grey range
    per_image_std = im.reshape(len(im), -1).std(1)
    assert per_image_std.min() > 5  # no blank images
    assert len(np.unique(im[:50].reshape(50, -1), axis=0)) == 50


def test_render_reproduces_dataset(small):
    images, masks = S.render_batch(small.params)
    assert np.array_equal(images, small.images) and np.array_equal(masks, small.masks)
    for i in (0, 417, 999):
        img, m = S.render(S.param_row(small, i))
        assert np.array_equal(img, small.images[i]) and np.array_equal(m, small.masks[i])


@pytest.mark.parametrize("region", list(S.REGION_BITS))
def test_mask_covers_every_pixel_the_region_changes(region):
    n = 300
    p = _random_params(n, seed=11)
    base, mask0 = S.render_batch(p)
    rng = np.random.default_rng(12)
    bit = S.REGION_BITS[region]
    inside = (mask0 & bit) > 0
    changed_any = np.zeros_like(inside)
    for trial in range(3):
        q = {k: v.copy() for k, v in p.items()}
        for k in S.REGION_PARAMS[region]:
            # random values, and the extremes of the range
            q[k] = rng.uniform(-1, 1, n) if trial < 2 else rng.choice([-1.0, 1.0], n)
        img, mask1 = S.render_batch(q)
        assert np.array_equal(mask0, mask1)  # masks depend on nuisance only
        changed = img != base
        assert not np.any(changed & ~inside), f"{region}: pixels changed outside its mask"
        changed_any |= changed
    # the region really draws something and its mask is not the whole picture
    assert changed_any.sum() > 0.1 * inside.sum()
    assert 0.02 < inside.mean() < 0.35


def test_mask_single_face_mouth_and_other_regions():
    nuis = S.default_nuisance()
    nuis.update(shift_x=2.5, rotation=-7.0, scale=1.05)
    a, ma = S.render({"mouth_curve": -0.8}, nuis)
    b, mb = S.render({"mouth_curve": 0.9, "mouth_open": 0.7, "mouth_asym": 0.5}, nuis)
    assert np.array_equal(ma, mb)
    changed = a != b
    assert changed.sum() > 10
    assert not np.any(changed & ((ma & S.REGION_BITS["mouth"]) == 0))
    # every region has a non-empty mask in a centred face
    for bit in S.REGION_BITS.values():
        assert ((ma & bit) > 0).sum() > 30


def _centroid(mask_bits):
    ys, xs = np.nonzero(mask_bits)
    return xs.mean(), ys.mean()


def test_nuisance_moves_face_not_expression():
    expr = dict(zip(S.EXPRESSION_PARAMS, S.CLASS_MEANS["happy"]))
    nuis = S.default_nuisance()
    a, ma = S.render(expr, nuis)
    b, mb = S.render(expr, {**nuis, "shift_x": 3.0, "shift_y": -2.0})
    assert not np.array_equal(a, b)
    for bit in S.REGION_BITS.values():
        (xa, ya), (xb, yb) = _centroid(ma & bit), _centroid(mb & bit)
        assert abs(xb - xa - 3.0) < 0.6 and abs(yb - ya + 2.0) < 0.6
    # rotation turns the face: the eye line tilts by the rotation angle (image y points down)
    c, mc = S.render(expr, {**nuis, "rotation": 10.0})
    eyes = (mc & S.REGION_BITS["eyes"]) > 0
    left, right = eyes.copy(), eyes.copy()
    left[:, 24:] = False
    right[:, :24] = False
    (xl, yl), (xr, yr) = _centroid(left), _centroid(right)
    assert np.degrees(np.arctan2(yr - yl, xr - xl)) == pytest.approx(10.0, abs=3.0)
    # nuisance sampling never touches the expression parameters or labels
    ds1 = S.generate(50, 10, 10, seed=5)
    assert ds1.labels.tolist() == S.generate(50, 10, 10, seed=5).labels.tolist()
    for k in S.EXPRESSION_PARAMS:
        assert np.array_equal(ds1.params[k], S.generate(50, 10, 10, seed=5).params[k])


def test_classes_differ_in_expected_direction(small):
    p, y = small.params, small.labels
    mean = {c: {k: p[k][y == i].mean() for k in S.EXPRESSION_PARAMS} for i, c in enumerate(CLASS_NAMES)}
    assert mean["happy"]["mouth_curve"] > 0.4 and mean["sad"]["mouth_curve"] < -0.3
    assert mean["surprise"]["mouth_open"] > 0.4 and mean["surprise"]["eye_open"] > 0.4
    assert mean["disgust"]["nose_wrinkle"] > 0.4
    assert mean["angry"]["brow_height"] < -0.3
    assert all(abs(v) < 0.2 for v in mean["neutral"].values())
