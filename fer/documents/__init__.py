"""Documents written from the runs' records, never typed by hand: a model card beside each run
(`cards.py`, `python -m fer cards`) and `docs/results.md` (`results.py`, `python -m fer results`).

Both are pure functions of `run.json`, `ladder.json` and `trust.json` (no model load, no data, no
TensorFlow), so a test writes them again and fails when the files in the repository differ.
"""
from fer.documents.cards import CARD_FILE, model_card, write_cards
from fer.documents.results import RESULTS_FILE, results_page, write_results

__all__ = ["CARD_FILE", "model_card", "write_cards", "RESULTS_FILE", "results_page", "write_results"]
