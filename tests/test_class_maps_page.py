"""The Class maps page under AppTest on the shipped demo runs: class strip, confusion cells (the
largest confusion by default, a clicked cell after), and two models side by side."""
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit.testing.v1")
ROOT = Path(__file__).resolve().parents[1]
DEMO = ("demo-cnn-w0.125", "demo-dnn-matched", "demo-mobilenet-w0.5")


@pytest.fixture
def at(tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    for run in DEMO:
        shutil.copytree(ROOT / "models" / run, tmp_path / run)
    monkeypatch.setenv("FER_MODELS_DIR", str(tmp_path))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=300)
    at.switch_page("views/class_maps.py")
    at.run()
    return at


@pytest.mark.slow
def test_class_maps_page_shows_classes_cells_and_agreement(at):
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert at.selectbox(key="cm_method").value == "Grad-CAM"
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert any(c.startswith("angry (n=") for c in captions) and any(c.startswith("neutral (n=") for c in captions)
    assert any("predicted as" in m.value and "largest confusion" in m.value for m in at.markdown)
    cells = [c for c in captions if c.startswith("n=")]
    assert len(cells) == 49 and sum(int(c[2:]) for c in cells) == 1000  # the 7x7 grid covers the test split
    # the region table on the generated faces: class map vs random map
    assert any(list(df.value.index) == ["class map", "random map"] for df in at.dataframe)
    # CNN vs MobileNet (the DNN has no conv layer for Grad-CAM, so it is not offered)
    assert at.selectbox(key="cm_other").value == "demo-mobilenet-w0.5"
    assert not any("demo-dnn" in o for o in at.selectbox(key="cm_other").options)
    values = [m.value for m in at.metric]
    rho = float(values[0])
    assert -1.0 <= rho < 0.99  # two different models do not agree fully


@pytest.mark.slow
def test_the_face_parts_table_gives_each_class_its_share_on_each_ground_truth_region(at):
    from fer import CLASS_NAMES
    from fer.explain.parts import GENERATED_PARTS

    tables = [df.value for df in at.dataframe if list(df.value.columns) == list(GENERATED_PARTS)]
    assert len(tables) == 3 and all(list(t.index) == list(CLASS_NAMES) for t in tables)  # the run's; both side by side
    assert not tables[1].equals(tables[2])  # the CNN's and the MobileNet's maps fall differently
    cell = tables[0].loc["happy", "mouth"]  # "41% · 2.3×": the energy share, then its ratio to the area share
    share, ratio = cell.split(" · ")
    assert 0 < float(share.rstrip("%")) <= 100 and float(ratio.rstrip("×")) > 0
    assert any("falls on the" in m.value and "bootstrap 95% interval" in m.value for m in at.markdown)
    assert any("Parts: ground truth" in c.value for c in at.caption)


@pytest.mark.slow
def test_tcav_runs_on_request_and_shows_concepts_by_class_with_the_control_passing_nowhere(at):
    from fer import CLASS_NAMES

    assert at.button(key="cm_tcav_go")  # the demo runs ship no TCAV table: it is computed when asked
    at.button(key="cm_tcav_go").click().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    tables = [df.value for df in at.dataframe if list(df.value.columns) == list(CLASS_NAMES)
              and "random faces (control)" in list(df.value.index)]
    assert len(tables) == 1
    table = tables[0]
    assert set(table.index) == {"mouth open", "brows raised", "eyes wide", "random faces (control)"}
    assert not any(cell.endswith("✓") for cell in table.loc["random faces (control)"])
    assert any(cell.endswith("✓") for cell in table.loc["mouth open"])  # planted: surprise opens the mouth
    assert len(at.radio(key="cm_tcav_layer").options) == 2
    at.switch_page("views/home.py").run()
    at.switch_page("views/class_maps.py").run()
    assert not [b for b in at.button if b.key == "cm_tcav_go"]  # asked once in this session: shown again at once


@pytest.mark.slow
def test_concepts_found_in_a_class_show_their_faces_and_effect_for_the_class_picked(at):
    concepts = [m.value for m in at.markdown if m.value.startswith("**Concept ")]
    assert len(concepts) == 5 and "happy log-probability" in concepts[0]  # opens on happy
    at.selectbox(key="cm_craft_class").set_value(0).run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert "angry log-probability" in [m.value for m in at.markdown if m.value.startswith("**Concept 1**")][0]


@pytest.mark.slow
def test_the_method_stays_when_the_user_leaves_the_page_and_comes_back(at):
    """Streamlit drops a widget's state when a run does not draw it: the page came back on the
    first method listed (Saliency, minutes of maps on FER2013), not the trusted or picked one."""
    assert at.selectbox(key="cm_method").value == "Grad-CAM"
    for picked in (None, "Grad-CAM++"):
        if picked:
            at.selectbox(key="cm_method").set_value(picked).run()
        at.switch_page("views/home.py").run()
        at.switch_page("views/class_maps.py").run()
        assert not at.exception and not at.error
        assert at.selectbox(key="cm_method").value == (picked or "Grad-CAM")


@pytest.mark.slow
def test_the_dnn_gets_gradient_maps_and_a_picked_method_reruns(at):
    at.selectbox(key="_cm_run_select").set_value("demo-dnn-matched").run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert "Grad-CAM" not in at.selectbox(key="cm_method").options
    assert at.selectbox(key="cm_method").value == "Saliency"
    at.radio(key="cm_target").set_value("true").run()
    assert not at.exception and not at.error


@pytest.mark.slow
def test_a_confusion_cell_on_misclassified_opens_its_mean_map(at):
    at.switch_page("views/misclassified.py")
    at.run()
    at.selectbox(key="mis_true").set_value("fear")
    at.selectbox(key="mis_pred").set_value("sad")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="mis_to_class_maps").click().run()
    assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
    assert any(m.value.startswith("**fear predicted as sad**") for m in at.markdown), [m.value for m in at.markdown][:8]
    assert not any("largest confusion" in m.value for m in at.markdown)
