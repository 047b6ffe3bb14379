"""Real-data loaders on small files written into tmp_path: CSVs, image folders, cache, bad input."""
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fer import CLASS_NAMES
from fer.data import DataError, Dataset, LoadReport, load_dataset
from fer.data import cache as fer_cache
from fer.data import loaders

KAGGLE_HEADER = "emotion,pixels,Usage"
COURSE_HEADER = "label,feature"


def face(value, seed=0):
    """A 48x48 uint8 image whose top-left pixel is `value` (so tests can read back the label)."""
    img = np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)
    img[0, 0] = value
    return img


def pix(img):
    return " ".join(map(str, np.asarray(img).ravel().tolist()))


def write_csv(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def good_kaggle_rows(n, usage="Training"):
    return [(i % 7, pix(face(i % 7, i)), usage) for i in range(n)]


def assert_valid(ds):
    assert isinstance(ds, Dataset)
    assert ds.images.dtype == np.uint8 and ds.images.ndim == 3 and ds.images.shape[1:] == (48, 48)
    assert ds.labels.dtype == np.int64 and ds.splits.dtype == np.uint8
    assert len(ds.images) == len(ds.labels) == len(ds.splits) > 0
    assert ds.labels.min() >= 0 and ds.labels.max() <= 6 and ds.splits.max() <= 2
    assert re.fullmatch(r"[0-9a-f]{16}", ds.fingerprint)


def raises_naming(path, fragment):
    """pytest.raises(DataError) whose message names `path` and then contains regex `fragment`."""
    return pytest.raises(DataError, match=re.escape(str(path)) + ".*" + fragment)


# ----------------------------------------------------------------------------------- CSV


def test_kaggle_csv_maps_usage_to_splits(tmp_path):
    rows = [(3, pix(face(3, 0)), "Training"), (0, pix(face(0, 1)), "PublicTest"),
            (6, pix(face(6, 2)), "PrivateTest"), (5, pix(face(5, 3)), "Training")]
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, rows)
    ds = load_dataset(path, use_cache=False)
    assert_valid(ds)
    assert ds.splits.tolist() == [0, 1, 2, 0]
    assert ds.labels.tolist() == [3, 0, 6, 5]
    np.testing.assert_array_equal(ds.images[2], face(6, 2))
    assert ds.name == "fer2013" and str(path) in ds.origin and "train 2 / val 1 / test 1" in ds.origin
    # a directory holding fer2013.csv is the same source
    assert load_dataset(tmp_path, use_cache=False).fingerprint == ds.fingerprint


def test_course_csv_holds_out_stratified_val_and_test_by_seed(tmp_path):
    rows = [(c, pix(face(c, 100 * c + i))) for c in range(7) for i in range(20)]
    path = write_csv(tmp_path / "train.csv", COURSE_HEADER, rows)
    ds = load_dataset(path, use_cache=False, seed=0)
    assert_valid(ds)
    assert ds.name == "course-csv"
    counts = ds.counts()
    assert (counts["test"] == 2).all() and (counts["val"] == 2).all() and (counts["train"] == 16).all()
    again = load_dataset(tmp_path, use_cache=False, seed=0)  # folder holding train.csv
    np.testing.assert_array_equal(again.splits, ds.splits)
    other = load_dataset(path, use_cache=False, seed=1)
    assert not np.array_equal(other.splits, ds.splits)
    assert (other.counts()["val"] == 2).all()
    # labels still belong to their pixels
    np.testing.assert_array_equal(ds.images[:, 0, 0], ds.labels)


def test_few_bad_rows_are_skipped_and_reported(tmp_path):
    rows = good_kaggle_rows(150)
    rows.insert(40, (2, pix(face(2))[:-4], "Training"))  # 2303 pixels, on line 42
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, rows)
    ds = load_dataset(path, use_cache=False)
    assert len(ds.images) == 150
    assert ds.report.skipped == [(str(path), 42, "expected 2304 pixel values, found 2303")]
    assert "skipped 1 bad item" in ds.report.summary()


def test_blank_lines_and_bom_and_spaced_header_are_fine(tmp_path):
    path = tmp_path / "icml_face_data.csv"
    body = "\ufeffemotion, Usage, pixels\n" + f"1,Training,{pix(face(1))}\n\n" + f"2,PublicTest,{pix(face(2))}\n"
    path.write_text(body, encoding="utf-8")
    ds = load_dataset(path, use_cache=False)
    assert ds.labels.tolist() == [1, 2] and ds.splits.tolist() == [0, 1] and not ds.report.skipped


P = pix(face(1))


def with_token(k, tok):
    toks = P.split()
    toks[k] = tok
    return " ".join(toks)


BAD_ROWS = {  # name: (bad row, message fragment); the bad row is on line 3 of a 3-row file
    "wrong pixel count": ((1, P + " 7", "Training"), "line 3: expected 2304 pixel values, found 2305"),
    "non-numeric pixel": ((1, with_token(1, "ab"), "Training"), r"line 3: pixel 2 is not a number: 'ab'"),
    "NaN pixel": ((1, with_token(0, "nan"), "Training"), "line 3: pixel 1 is NaN"),
    "pixel > 255": ((1, with_token(0, "256"), "Training"), "line 3: pixel 1 is 256, outside 0..255"),
    "negative pixel": ((1, with_token(0, "-1"), "Training"), "line 3: pixel 1 is '-1', outside 0..255"),
    "float pixel": ((1, with_token(0, "1.5"), "Training"), "line 3: pixel 1 is not an integer: '1.5'"),
    "label out of range": ((7, P, "Training"), "line 3: label '7' outside 0..6"),
    "label not integer": ((2.5, P, "Training"), r"line 3: label '2.5' is not an integer 0..6"),
    "label missing": (("", P, "Training"), "line 3: missing label"),
    "unknown Usage": ((1, P, "Validation set"), r"line 3: unknown Usage value 'Validation set' \(expected Training"),
    "extra field": ((1, P, "Training,x"), "line 3: expected 3 fields, saw 4"),
    "empty pixels": ((1, "", "Training"), "line 3: empty pixel field"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_csv_row_raises_naming_file_and_line(tmp_path, case):
    bad, fragment = BAD_ROWS[case]
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, [good_kaggle_rows(1)[0], bad, good_kaggle_rows(2)[1]])
    with raises_naming(path, fragment + r".*1 of 3 rows are bad"):
        load_dataset(path, use_cache=False)


def test_all_rows_bad_single_row(tmp_path):
    path = write_csv(tmp_path / "train.csv", COURSE_HEADER, [(9, P)])
    with raises_naming(path, r"line 2: label '9' outside 0..6$"):
        load_dataset(path, use_cache=False)


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty file"),
        (b"emotion,pixels,Usage\n", "header only, no data rows"),
        (b"a,b\n1,2\n", r"expected the header 'emotion,pixels,Usage' .* or 'label,feature' .* found 'a,b'"),
        (("0," + P + ",Training\n").encode(), "found '0,.*no header line"),
        (b"emotion,pixels,Usage\n1,\xff\xfe 2,Training\n", r"not UTF-8 text \(byte 0xff at line 2\)"),
        (b'emotion,pixels,Usage\n1,"2 3,Training\n', "not a readable CSV file"),
    ],
    ids=["empty", "header-only", "wrong-header", "no-header", "not-utf8", "unclosed-quote"],
)
def test_bad_csv_file_raises_naming_file(tmp_path, content, fragment):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with raises_naming(path, fragment):
        load_dataset(path, use_cache=False)


# --------------------------------------------------------------------------- image folders


def save(path, img, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, **kw)


def flat(value, size=48):
    return np.full((size, size), value, np.uint8)


def make_folders(root, per_class=3, names=("Happy", "ANGRY", "sad", "Neutral"), test_names=("neutral", "Disgust")):
    """Class folders in odd case and non-alphabetical creation order; pixel value = 30 * label + 10."""
    for split, folders in (("train", names), ("test", test_names)):
        for name in folders:
            label = CLASS_NAMES.index(name.lower())
            for i in range(per_class):
                save(root / split / name / f"img{i}.png", flat(30 * label + 10))
    return root


def test_image_folders_map_classes_by_name_not_order(tmp_path):
    root = make_folders(tmp_path / "faces", per_class=10)
    ds = load_dataset(root, use_cache=False)
    assert_valid(ds)
    np.testing.assert_array_equal(ds.images[:, 5, 5], 30 * ds.labels + 10)
    counts = ds.counts()
    assert counts.loc["happy", "train"] + counts.loc["happy", "val"] == 10
    assert counts.loc["neutral", "test"] == 10 and counts.loc["disgust", "test"] == 10
    assert counts["val"].sum() == 4  # ceil(0.1 * 40) from train
    assert counts.loc["fear"].sum() == 0 and counts.loc["disgust", "train"] == 0
    assert ds.name == "fer2013" and "train 36 / val 4 / test 20" in ds.origin
    assert ds.report.converted == 0


def test_train_only_folder_holds_out_test_too(tmp_path):
    root = make_folders(tmp_path / "faces", per_class=10, test_names=())
    ds = load_dataset(root, use_cache=False)
    assert (np.bincount(ds.splits, minlength=3) == [32, 4, 4]).all()


def test_colour_and_odd_sized_images_are_converted_and_counted(tmp_path):
    root = tmp_path / "faces"
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 1] = 200
    save(root / "train" / "happy" / "rgb.png", rgb)
    save(root / "train" / "happy" / "big.jpg", flat(120, 100), quality=95)
    save(root / "train" / "sad" / "ok.png", flat(50))
    save(root / "train" / "sad" / "rgba.png", np.dstack([flat(80)] * 3 + [flat(255)]))
    Image.fromarray(flat(90)).save(root / "train" / "sad" / "anim.gif", save_all=True,
                                   append_images=[Image.fromarray(flat(10))])
    save(root / "train" / "sad" / "wide.bmp", np.full((30, 60), 70, np.uint8))
    ds = load_dataset(root, use_cache=False, val_fraction=0, test_fraction=0)
    assert ds.report.converted == 5
    assert any("converted 5 image(s) to 48x48 grayscale" in n and "1 animated: first frame" in n
               for n in ds.report.notes)
    # order: split, label, path -> happy: big.jpg, rgb.png; sad: anim.gif, ok.png, rgba.png, wide.bmp
    expected = [120, round(0.587 * 200), 90, 50, 80, 70]
    np.testing.assert_allclose(ds.images[:, 24, 24], expected, atol=3)
    assert (ds.images.reshape(6, -1).std(1) < 3).all()


def test_huge_image_is_downscaled_and_bomb_is_reported(tmp_path, monkeypatch):
    root = make_folders(tmp_path / "faces", per_class=50, names=("happy", "sad"), test_names=())
    save(root / "train" / "happy" / "huge.png", flat(30 * 3 + 10, 4000))
    ds = load_dataset(root, use_cache=False)
    assert ds.report.converted == 1 and len(ds.images) == 101
    monkeypatch.setattr(loaders, "MAX_IMAGE_PIXELS", 1000 * 1000)
    ds = load_dataset(root, use_cache=False)
    assert len(ds.images) == 100
    assert ds.report.skipped[0][0].endswith("huge.png") and "too large (4000x4000" in ds.report.skipped[0][2]
    monkeypatch.setattr(loaders, "MAX_IMAGE_PIXELS", 10**8)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10**6)  # Pillow's own bomb guard
    ds = load_dataset(root, use_cache=False)
    assert len(ds.images) == 100 and "too large" in ds.report.skipped[0][2]


def test_few_unreadable_images_are_skipped_many_raise(tmp_path):
    root = make_folders(tmp_path / "faces", per_class=60, names=("happy", "sad"), test_names=())
    bad = root / "train" / "sad" / "zz_truncated.jpg"
    Image.fromarray(flat(5, 200)).save(bad, quality=90)
    bad.write_bytes(bad.read_bytes()[:300])
    ds = load_dataset(root, use_cache=False)
    assert len(ds.images) == 120
    assert [s[0] for s in ds.report.skipped] == [str(bad)]
    (root / "train" / "sad" / "zz_empty.png").write_bytes(b"")
    (root / "train" / "sad" / "zz_text.jpg").write_text("not a picture")
    with raises_naming(root / "train" / "sad" / "zz_empty.png", r"empty file \(0 bytes\) \(3 of 123 image files"):
        load_dataset(root, use_cache=False)


def test_all_images_unreadable_raises(tmp_path):
    path = tmp_path / "faces" / "train" / "happy" / "a.jpg"
    path.parent.mkdir(parents=True)
    path.write_text("hello")
    with raises_naming(path, "not an image Pillow can read$"):
        load_dataset(tmp_path / "faces", use_cache=False)


def test_unknown_class_folder_raises_listing_valid_names(tmp_path):
    root = make_folders(tmp_path / "faces", test_names=())
    save(root / "train" / "Smiling" / "a.png", flat(1))
    with raises_naming(root / "train" / "Smiling", "unknown class folder 'Smiling'.*angry, disgust, fear, happy, sad"):
        load_dataset(root, use_cache=False)


def test_folder_layout_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises_naming(empty, "found no fer2013.csv, train.csv or train/<class>/ image folders"):
        load_dataset(empty)
    (empty / "train").mkdir()
    with raises_naming(empty / "train", "no class folders"):
        load_dataset(empty)
    (empty / "train" / "happy").mkdir()
    with raises_naming(empty, "no image files in the class folders"):
        load_dataset(empty)
    with raises_naming(tmp_path / "nope", "no such file or folder"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "fer.zip").write_bytes(b"PK\x03\x04")
    with raises_naming(tmp_path / "fer.zip", "archive; unpack it first"):
        load_dataset(tmp_path / "fer.zip")


def test_unreadable_path_raises(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, good_kaggle_rows(2))
    monkeypatch.setattr(loaders.os, "access", lambda p, mode: False)  # root can read anything
    with raises_naming(path, r"not readable \(permission denied\)"):
        load_dataset(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_class_folder_raises(tmp_path):
    root = make_folders(tmp_path / "faces", test_names=())
    (root / "train" / "sad").chmod(0)
    try:
        with raises_naming(root / "train" / "sad", "not readable"):
            load_dataset(root, use_cache=False)
    finally:
        (root / "train" / "sad").chmod(0o755)


def test_symlinked_folders_and_stray_files_do_not_hang_or_fail(tmp_path):
    root = make_folders(tmp_path / "faces", per_class=5, test_names=())
    (root / "train" / "Happy" / "loop").symlink_to(root / "train" / "Happy", target_is_directory=True)
    (root / "train" / "sad" / "up").symlink_to(root / "train", target_is_directory=True)
    (root / "train" / "sad" / "notes.txt").write_text("hi")
    (root / "train" / "stray.png").write_bytes(b"")
    (root / "train" / ".DS_Store").write_bytes(b"junk")
    (root / "README.md").write_text("about")
    (root / "train" / "angry2").symlink_to(root / "train" / "ANGRY", target_is_directory=True)
    (root / "train" / "Fear").symlink_to(root / "train" / "ANGRY", target_is_directory=True)
    with raises_naming(root / "train" / "angry2", "unknown class folder"):
        load_dataset(root, use_cache=False)
    (root / "train" / "angry2").unlink()
    ds = load_dataset(root, use_cache=False)
    reasons = {Path(f).name: why for f, _, why in ds.report.skipped}
    assert "not an image file" in reasons["notes.txt"] and "not inside a class folder" in reasons["stray.png"]
    assert "not followed" in reasons["loop"] and "not followed" in reasons["up"]
    assert ".DS_Store" not in reasons
    assert any("same folder as one already read" in n for n in ds.report.notes)  # Fear -> ANGRY
    assert len(ds.images) == 20 and (ds.images[:, 0, 0] == 30 * ds.labels + 10).all()


# ----------------------------------------------------------------------------------- cache


def test_cache_hit_is_identical_and_skips_decoding(tmp_path, cache_dir, monkeypatch):
    root = make_folders(tmp_path / "faces", per_class=10)
    cold = load_dataset(root, cache_dir=cache_dir)
    assert len(list(cache_dir.glob("*.npz"))) == 1

    def boom(*a, **k):
        raise AssertionError("decoded an image despite the cache")

    monkeypatch.setattr(loaders, "read_image", boom)
    warm = load_dataset(root, cache_dir=cache_dir)
    for a in ("images", "labels", "splits"):
        np.testing.assert_array_equal(getattr(warm, a), getattr(cold, a))
        assert getattr(warm, a).dtype == getattr(cold, a).dtype
    assert (warm.fingerprint, warm.origin, warm.name) == (cold.fingerprint, cold.origin, cold.name)
    assert warm.report.notes == cold.report.notes
    # another seed or fraction is another cache entry
    with pytest.raises(AssertionError, match="despite the cache"):
        load_dataset(root, cache_dir=cache_dir, seed=1)


def test_cache_key_changes_when_the_source_changes(tmp_path, cache_dir):
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, good_kaggle_rows(3))
    first = load_dataset(path, cache_dir=cache_dir)
    write_csv(path, KAGGLE_HEADER, good_kaggle_rows(4))
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    second = load_dataset(path, cache_dir=cache_dir)
    assert len(first.images) == 3 and len(second.images) == 4


def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path, cache_dir):
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, good_kaggle_rows(5))
    cold = load_dataset(path, cache_dir=cache_dir)
    (cfile,) = cache_dir.glob("*.npz")
    for damage in (b"garbage", cfile.read_bytes()[:100]):
        cfile.write_bytes(damage)
        again = load_dataset(path, cache_dir=cache_dir)
        assert again.fingerprint == cold.fingerprint
        assert any("unreadable and has been rebuilt" in n for n in again.report.notes)
        ds, status = fer_cache.read(cfile, fer_cache.make_key(
            "csv", path, fer_cache.file_signature(path), seed=0, val_fraction=0.1, test_fraction=0.1))
        assert status == "hit" and ds.fingerprint == cold.fingerprint
    assert not list(cache_dir.glob(".tmp-*"))  # atomic writes leave no temp files


def test_unwritable_cache_is_a_note_not_an_error(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, good_kaggle_rows(2))
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("x")
    ds = load_dataset(path, cache_dir=blocker)
    assert len(ds.images) == 2 and any("could not write cache" in n for n in ds.report.notes)


def test_env_var_picks_the_source(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "fer2013.csv", KAGGLE_HEADER, good_kaggle_rows(2))
    monkeypatch.setenv("FER_DATA", str(path))
    assert load_dataset(use_cache=False).name == "fer2013"


def test_synthetic_source_delegates_to_generator(monkeypatch):
    from fer.data import synthetic

    calls = []
    monkeypatch.setattr(synthetic, "generate", lambda **kw: calls.append(kw) or "generated")
    assert load_dataset("Synthetic", seed=3) == "generated"
    assert load_dataset(None, seed=4) == "generated"
    assert calls == [{"seed": 3}, {"seed": 4}]


def test_public_api():
    import fer.data as fd

    assert {"Dataset", "DataError", "LoadReport", "SPLITS", "load_dataset"} <= set(fd.__all__)
    assert issubclass(fd.DataError, ValueError) and fd.LoadReport is LoadReport


# -------------------------------------------------------------------------------- fuzzing

PIXEL_FIELDS = st.one_of(
    st.integers(0, 2**16).map(lambda s: pix(face(0, s))),  # valid
    st.tuples(st.integers(0, 2**16), st.integers(-3, 3)).map(  # wrong count
        lambda t: " ".join(pix(face(0, t[0])).split()[: 2304 + t[1]] if t[1] < 0 else
                           pix(face(0, t[0])).split() + ["1"] * t[1])),
    st.tuples(st.integers(0, 2**16), st.integers(0, 2303), st.text(max_size=6)).map(  # one odd token
        lambda t: " ".join(pix(face(0, t[0])).split()[: t[1]] + [t[2]] + pix(face(0, t[0])).split()[t[1] + 1:])),
    st.text(max_size=30),
)
ROWS = st.lists(
    st.tuples(
        st.one_of(st.integers(-2, 9).map(str), st.text(max_size=4)),
        PIXEL_FIELDS,
        st.sampled_from(["Training", "PublicTest", "PrivateTest", "training", "", "Other"]),
    ),
    min_size=0,
    max_size=6,
)
HEADERS = st.sampled_from([KAGGLE_HEADER, COURSE_HEADER, "emotion,pixels", "x,y,z", ""])


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(header=HEADERS, rows=ROWS, junk=st.one_of(st.none(), st.binary(max_size=40)), seed=st.integers(0, 5))
def test_fuzzed_csv_gives_dataset_or_data_error(header, rows, junk, seed):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.csv"
        if junk is not None:
            path.write_bytes(junk)
        else:
            ncol = len(header.split(","))
            path.write_text(header + "\n" + "".join(",".join(r[:ncol] if ncol <= 3 else r) + "\n" for r in rows),
                            encoding="utf-8", newline="")
        try:
            ds = load_dataset(path, seed=seed, cache_dir=Path(d) / "cache")
        except DataError as e:
            assert str(path) in str(e) and "\n" not in str(e)
        else:
            assert_valid(ds)
            assert ds.images.shape[0] <= len(rows)
