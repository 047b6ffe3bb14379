"""Face parts (fer.explain.parts): drawn from five keypoints, read from the generated faces' ground
truth, and the per-class table of how much of a map falls on each part."""
from pathlib import Path

import numpy as np
import pytest

from fer import CLASS_NAMES
from fer.explain import parts

ROOT = Path(__file__).resolve().parents[1]
SHARED_FER2013 = ROOT.parent / "shared" / "data" / "fer2013"


@pytest.fixture(scope="module")
def demo():
    from fer.data import load_dataset

    return load_dataset(None)


def test_parts_drawn_from_keypoints_sit_on_them_and_a_face_without_keypoints_has_none():
    points = np.array([[[16, 18], [32, 18], [24, 27], [18, 35], [30, 35]], np.full((5, 2), np.nan)], np.float32)
    labels = parts.regions_from_keypoints(points)
    name = {k: parts.REAL_PARTS.index(k) for k in parts.REAL_PARTS}
    assert labels[0, 18, 16] == labels[0, 18, 32] == name["eyes"]
    assert labels[0, 13, 16] == name["brows"] and labels[0, 26, 24] == name["nose"] and labels[0, 35, 24] == name["mouth"]
    assert labels[0, 30, 12] == name["rest of face"] and labels[0, 2, 2] == labels[0, 46, 46] == name["background"]
    assert (labels[1] == -1).all()


def test_the_part_table_puts_a_map_on_the_mouth_alone_on_the_mouth_for_every_class(demo):
    _, y = demo.split("test")
    found = parts.face_parts(demo)
    mouth = found.names.index("mouth")
    maps = (found.labels == mouth).astype(np.float32)
    table = parts.part_table(maps, found, y)
    rows = table[table["region"] == "mouth"]
    assert len(rows) == len(CLASS_NAMES) and np.allclose(rows["energy_share"], 1) and (rows["ratio"] > 3).all()
    assert np.allclose(table.groupby("class")["area_share"].sum(), 1)  # the parts tile each face
    assert (table["low"] <= table["energy_share"] + 1e-9).all() and (table["energy_share"] <= table["high"] + 1e-9).all()
    assert int(rows["faces"].sum()) == len(y)


@pytest.mark.slow
def test_the_demo_cnns_saliency_ranks_each_expressions_own_region_among_its_top_two(demo):
    """The generated faces' truth: each class moves some regions' parameters from neutral more than
    others (fer.data.synthetic.CLASS_MEANS); its own region is the one moved most."""
    from fer.data.synthetic import CLASS_MEANS, REGION_PARAMS, _P
    from fer.explain import aggregate
    from fer.runs import RunStore

    x, y = demo.split("test")
    model = RunStore(ROOT / "models").get("demo-cnn-w0.125").load_model()
    table = parts.part_table(aggregate.face_maps(model, x, "Saliency", class_index=y), parts.face_parts(demo), y)
    region_name = {"brows": "brows", "eyes": "eyes", "nose": "nose and cheeks", "mouth": "mouth"}
    for cls in CLASS_NAMES:
        ranked = table[table["class"] == cls].sort_values("ratio", ascending=False)["region"].tolist()
        assert ranked[-1] == "elsewhere", (cls, ranked)
        if cls == "neutral":
            continue
        moved = {r: sum(abs(CLASS_MEANS[cls][_P[p]]) for p in ps) for r, ps in REGION_PARAMS.items()}
        own = region_name[max(moved, key=moved.get)]
        assert own in ranked[:2], (cls, own, ranked)


@pytest.mark.fer2013
@pytest.mark.skipif(not SHARED_FER2013.is_dir(), reason="needs ../shared/data/fer2013")
def test_the_shipped_fer2013_keypoints_cover_most_test_faces_and_sit_like_a_face():
    from fer.data import load_dataset

    ds = load_dataset(str(SHARED_FER2013))
    points = parts.kept_keypoints(ds)
    assert points is not None and len(points) == len(ds.split("test")[1])
    found = ~np.isnan(points).any(axis=(1, 2))
    assert found.mean() > 0.85
    p = points[found].astype(np.float64)
    left, right, nose, mouth_l, mouth_r = (p[:, k] for k in range(5))
    assert (left[:, 0] < right[:, 0]).mean() > 0.99  # the left eye on the image's left
    eyes_y, mouth_y = (left[:, 1] + right[:, 1]) / 2, (mouth_l[:, 1] + mouth_r[:, 1]) / 2
    assert ((eyes_y < nose[:, 1]) & (nose[:, 1] < mouth_y)).mean() > 0.97
    assert ((p >= -4) & (p <= 52)).all(axis=(1, 2)).mean() > 0.99  # on the face, give or take the border MTCNN saw
