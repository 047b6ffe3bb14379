"""Overview: what the app answers (the course's questions), with links. Imports no TensorFlow."""
import pandas as pd
import streamlit as st

from fer import answers as _answers
from ui import nav
from ui.data import data_source
from ui.pickers import offer_quick_training
from ui.store import get_jobs, scan_runs

st.title("FER workbench")
st.markdown(
    "Train, compare and look inside **facial-expression CNNs** on 48×48 grayscale faces with the seven "
    "FER2013 classes (angry, disgust, fear, happy, sad, surprise, neutral). Every question of the course's two "
    "assignments is answered live here, on your data and your models."
)

st.page_link(nav.YOUR_FACE, label="What does each model see in **your** face? Take a webcam snapshot or upload a photo",
             icon="🙂")

source = data_source()
runs, broken = scan_runs()
manager = get_jobs()

c1, c2, c3 = st.columns(3)
c1.metric("Data", "FER2013 path" if source else "demo faces")
c2.metric("Saved runs", len(runs))
current = manager.current()
c3.metric("Training", f"{int(100 * current.fraction)}%" if current else ("queued" if manager.busy else "idle"))
if not source:
    st.info(
        "You are looking at **generated demo faces**, not real photos: they make every page work on a fresh "
        "machine. For real answers point the sidebar at FER2013 (Kaggle `fer2013.csv` or the train/ and test/ "
        "image folders) or set `FER_DATA`.",
        icon="ℹ️",
    )
if not runs:
    st.warning("No trained model yet: most Evaluate and Explain pages need one.")
    offer_quick_training(None, key="home")

QUESTIONS = [
    ("Assignment A — CNN vs DNN, and looking inside", [
        (("cnn",), "A CNN: architecture, training, accuracy", "Layer tables and parameter counts, width sliders, then train it.",
         [(nav.MODELS, "Models"), (nav.TRAIN, "Train"), (nav.EVALUATE, "Evaluate")]),
        (("dnn",), "A DNN with about the CNN's parameter count: how much worse?",
         "The CNN and a parameter-matched DNN side by side; train both and compare their curves and accuracy.",
         [(nav.MODELS, "Models"), (nav.COMPARE, "Compare runs")]),
        (("batchnorm", "augment"), "Do BatchNorm and augmentation help?",
         "Toggle them on the Train page, or pick an ablation set on Compare runs: it states each switch's effect in "
         "points (the FER2013 runs shipped in models/ include one).",
         [(nav.TRAIN, "Train"), (nav.COMPARE, "Compare runs")]),
        (("confusion",), "Which classes get confused?", "Confusion matrices (counts and row-normalised) and the faces behind each cell.",
         [(nav.EVALUATE, "Evaluate"), (nav.MISCLASSIFIED, "Misclassified")]),
        ((), "Where does the model look?", "Saliency maps for any face, yours included: a webcam snapshot or a photo.",
         [(nav.YOUR_FACE, "Your face"), (nav.SALIENCY, "Saliency")]),
        ((), "What does a filter respond to?", "Gradient ascent on a chosen filter, and its output on a real face.",
         [(nav.FILTERS, "Filters")]),
        (("depth",), "Ablations: one conv block more or less, BatchNorm on/off",
         "Training curves, accuracy and summaries side by side; Compare runs finds the runs trained alike but for one switch.",
         [(nav.COMPARE, "Compare runs"), (nav.MODELS, "Models")]),
        ((), "Does an ensemble beat its members?", "Average the probabilities of several runs.",
         [(nav.COMPARE, "Compare runs")]),
    ]),
    ("Assignment B — model compression", [
        (("compressed",), "The compressed model vs the assignment-A model", "Architecture, parameters, accuracy.",
         [(nav.COMPRESSION, "Compression")]),
        (("scatter",), "MobileNet and plain CNN: parameters vs accuracy", "Train several widths; scatter parameters against accuracy.",
         [(nav.COMPRESSION, "Compression"), (nav.COMPARE, "Compare runs")]),
        (("equal",), "Which wins at equal, small parameter counts?", "Compare MobileNet and CNN runs of similar size.",
         [(nav.COMPRESSION, "Compression"), (nav.COMPARE, "Compare runs")]),
    ]),
]

groups = _answers.group_by_dataset(runs)
found = {}
if groups:
    group = groups[0]
    if len(groups) > 1:
        by_fingerprint = {g.fingerprint: g for g in groups}  # stable options when a data set's runs come or go
        picked = st.selectbox("Answer the questions from the runs trained on", list(by_fingerprint),
                              index=_answers.preferred_group(groups, demo_data=not source), key="home_answers_data",
                              format_func=lambda f: by_fingerprint[f].label, help="Each data set's runs answer "
                              "separately: accuracies on different data do not compare.")
        group = by_fingerprint.get(picked, group)
    found = _answers.course_answers(group.runs)
    if found:
        live = ("the linked pages show them live" if (group.name == _answers.GENERATED_NAME) == (not source) else
                "the linked pages show the runs of the data the app is on: point the sidebar at this data to see them "
                "there")
        st.caption(f"Answers (📊) come from the saved runs' records, trained on **{group.name}**"
                   f"{f' ({group.origin})' if group.origin else ''}; {live}. "
                   "The course's students' figures follow each answer.")

for section, items in QUESTIONS:
    st.subheader(section)
    for keys, question, how, links in items:
        left, right = st.columns([3, 2])
        lines = [f"**{question}**  \n{how}"]
        for key in keys:
            if key in found:
                course = _answers.COURSE_REPORTED.get(key)
                lines.append(f"📊 {found[key]}" + (f" *Course: {course}.*" if course else ""))
        left.markdown("  \n".join(lines))
        with right:
            cols = st.columns(len(links))
            for col, (path, label) in zip(cols, links):
                col.page_link(path, label=label, icon="➡️")

if runs:
    st.subheader("Saved runs")
    rows = []
    for r in runs[:20]:
        m = r.meta
        acc = m.get("test_accuracy")
        rows.append({"run": r.id, "arch": m.get("arch"), "width": m.get("width"), "params": m.get("params"),
                     "test accuracy": acc if isinstance(acc, (int, float)) else None,
                     "data": (m.get("dataset") or {}).get("name"), "description": m.get("description", "")})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})
if broken:
    st.caption(f"{len(broken)} broken run folder(s) are skipped; the sidebar lists why.")
