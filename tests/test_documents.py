"""Model cards and docs/results.md: written from the runs' records, stale files caught, the Models
page shows a card."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fer.documents import model_card, results_page, write_cards, write_results
from fer.documents.cards import largest_confusions, legs
from fer.documents.records import read_records, write_record
from fer.runs import RunStore

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = RunStore(ROOT / "models")


def test_every_shipped_card_and_the_results_page_are_up_to_date():
    """Fails when a run, a kept ladder or trust table changed and `python -m fer cards` or
    `python -m fer results` was not run again."""
    stale = write_cards(SHIPPED, check=True)
    assert not stale, f"out of date (run `python -m fer cards`): {[str(p) for p in stale]}"
    assert not write_results(SHIPPED, ROOT, check=True), "docs/results.md is out of date: run `python -m fer results`"


def test_the_cli_check_exits_1_on_a_stale_card_and_0_once_rewritten(tmp_path):
    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", tmp_path / "demo-cnn-w0.125")
    (tmp_path / "demo-cnn-w0.125" / "README.md").write_text("typed by hand\n")
    cmd = [sys.executable, "-m", "fer", "--models", str(tmp_path), "cards"]
    first = subprocess.run(cmd + ["--check"], capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 1 and "out of date" in first.stdout
    assert subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).returncode == 0
    assert subprocess.run(cmd + ["--check"], capture_output=True, text=True, cwd=ROOT).returncode == 0


def test_a_card_follows_its_run_json(tmp_path):
    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", tmp_path / "r")
    store = RunStore(tmp_path)
    before = model_card(store.get("r"))
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    meta["test_accuracy"] = 0.1234
    (tmp_path / "r" / "run.json").write_text(json.dumps(meta))
    after = model_card(store.get("r"))
    assert "12.34%" in after and "12.34%" not in before


def test_the_featured_mobilenet_card_names_its_design_every_leg_and_the_kept_tables():
    run = SHIPPED.get("fer2013-mobilenet-w1.1-xception-mirror")
    card = model_card(run)
    assert card.startswith("# MobileNet (mini-Xception modules)")
    for leg in legs(run.meta):
        assert leg["command"] in card and leg["command"].startswith("python -m fer train")
    assert len(legs(run.meta)) == 6 and "python -m fer mirror" in card
    kept_ladder = json.loads((run.path / "ladder.json").read_text())
    smallest = min(r["bytes"] for e in kept_ladder["entries"].values() for r in e["rows"])
    assert f"{smallest:,}" in card
    assert "## Trust in the explanations" in card and "Score-CAM" in card
    assert "Not** for decisions about people" in card and "Expression is not emotion" in card


def test_a_card_says_when_nothing_is_kept_and_a_changed_model_file_drops_the_kept_tables(tmp_path):
    shutil.copytree(ROOT / "models" / "demo-cnn-w0.125", tmp_path / "r")
    with open(tmp_path / "r" / "model.keras", "ab") as fh:  # another model file: the kept figures are not its own
        fh.write(b"\0")
    card = model_card(RunStore(tmp_path).get("r"))
    assert "No kept size ladder: `python -m fer compress r --keep`" in card
    assert "No kept trust table" in card


def test_largest_confusions_are_the_biggest_off_diagonal_cells():
    cm = [[5, 1, 0, 0, 0, 0, 0], [9, 1, 0, 0, 0, 0, 0]] + [[0] * 7 for _ in range(5)]
    assert largest_confusions(cm, top=2) == [("disgust", "angry", 9, 0.9), ("angry", "disgust", 1, 1 / 6)]


def test_results_page_lists_each_run_with_a_link_to_its_card_and_the_benchmark_records(tmp_path):
    records = tmp_path / "records"
    write_record("speed", "A bench", "python bench/x.py", [{"what": "a", "seconds": 1.5}], folder=records)
    assert read_records(records)[0][0] == "speed"
    page = results_page(SHIPPED, ROOT, records)
    for run in SHIPPED.list():
        assert f"[`{run.id}`](../models/{run.id}/README.md)" in page
    assert "### A bench" in page and "`python bench/x.py`" in page and "| a | 1.5 |" in page


def test_models_page_shows_the_chosen_runs_card():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.session_state["models_view"] = "Model cards"
    at.run()
    at.switch_page("views/models.py")
    at.run()
    assert not at.exception
    at.selectbox(key="models_card_run").set_value("fer2013-cnn-w1-mirror").run()
    text = "\n".join(m.value for m in at.markdown)
    assert "# CNN: `fer2013-cnn-w1-mirror`" in text and "## Limitations" in text
    assert "<!--" not in text  # the generated-file note is for the file, not the page


def test_readme_is_a_short_manual_whose_picture_exists_and_whose_test_command_ci_runs_with_all():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert pictures and all((ROOT / p).is_file() for p in pictures)
    commands = re.findall(r"```bash\n(python -m pip install -r [^\n]+)\n```", readme)
    assert commands[:2] == ["python -m pip install -r requirements.txt && streamlit run streamlit_app.py",
                            "python -m pip install -r requirements-dev.txt && python -m pytest"]
    assert commands[1] + " --all" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for link in re.findall(r"\]\(((?:docs|models)/[^)#]+)\)", readme):
        assert (ROOT / link).exists(), link
