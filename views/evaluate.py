"""Evaluate: one run's accuracy, per-class precision/recall/F1, confusion matrices and curves."""
import numpy as np
import streamlit as st

from fer import figures
from fer.evaluate import metrics, per_class_frame
from fer.guests import scoring_note
from fer.runs import chain_history
from ui import nav
from ui.cache import test_probs_or_stop
from ui.data import get_dataset
from ui.pickers import pick_run

st.title("Evaluate")
ds = get_dataset()
run = pick_run("Run", key="run", dataset=ds)
meta = run.meta
probs = test_probs_or_stop(run, ds)
_, labels = ds.split("test")
if len(labels) == 0:
    st.warning("This data set has no test split to evaluate on.")
    st.stop()
m = metrics(labels, probs)
cm = np.asarray(m["confusion_matrix"])

st.caption(meta.get("description", ""))
c = st.columns(5)
c[0].metric("Test accuracy", f"{100 * m['accuracy']:.1f}%")
c[1].metric("Macro F1", f"{100 * np.mean([v['f1'] for v in m['per_class'].values()]):.1f}%")
val = meta.get("val_accuracy")
c[2].metric("Val accuracy (at training)", f"{100 * val:.1f}%" if isinstance(val, (int, float)) else "n/a")
c[3].metric("Parameters", f"{meta.get('params', 0):,}")
c[4].metric("Test images", f"{len(labels):,}")
chance = np.bincount(labels, minlength=len(ds.class_names)).max() / len(labels)
st.caption(f"Scored on the current data's test split ({ds.name}). Always predicting the most common class "
           f"would score {100 * chance:.1f}%.")
note = scoring_note(meta)
if note:
    st.caption(f"Imported: {note}.")

st.subheader("Per-class precision, recall and F1")
table = per_class_frame(m["per_class"])
st.dataframe(table, width="stretch", column_config={
    k: st.column_config.ProgressColumn(k, min_value=0.0, max_value=1.0, format="%.2f") for k in ("precision", "recall", "f1")
} | {"support": st.column_config.NumberColumn("support", format="%d")})
confused = figures.most_confused(cm, ds.class_names)
if confused:
    st.markdown("**Most confused:** " + "; ".join(f"{t} → {p} ({n}, {100 * s:.0f}% of {t})" for t, p, n, s in confused))

st.subheader("Confusion matrix")
CLICK_OPENS = {"maps": "its mean maps (Class maps)", "faces": "its faces (Misclassified)"}
st.caption("Rows: true class; columns: predicted class. Click a cell of the counts to open it on another page:")
opens = st.segmented_control("A click on a cell opens", list(CLICK_OPENS), format_func=CLICK_OPENS.get,
                             default="maps", key="eval_click", label_visibility="collapsed") or "maps"


def jump_to_cell():
    """Clicking a confusion-matrix cell opens that cell's mean maps, or its faces in the Misclassified browser."""
    cells = ((st.session_state.get("eval_cm") or {}).get("selection") or {}).get("cell") or []
    if cells:
        t, p = int(cells[0]["true_index"]), int(cells[0]["pred_index"])
        st.session_state.update(nav.cell_jump(opens, run.id, ds.class_names, t, p))


left, right = st.columns(2)
with left:
    st.altair_chart(figures.confusion_chart(cm, ds.class_names, title="counts", selectable=True),
                    on_select=jump_to_cell, selection_mode="cell", key="eval_cm", width="content")
with right:
    st.altair_chart(figures.confusion_chart(cm, ds.class_names, normalize=True, title="row-normalised (recall per class)"),
                    width="content")
if st.session_state.get("cm_jump"):
    st.switch_page(nav.CLASS_MAPS)
if st.session_state.get("mis_jump"):
    st.switch_page(nav.MISCLASSIFIED)
with st.expander("Confusion matrix as a table"):
    st.dataframe(figures.confusion_frame(cm, ds.class_names), width="stretch")
    st.dataframe(figures.confusion_frame(cm, ds.class_names, normalize=True).style.format("{:.1%}"), width="stretch")
if st.button("Open the misclassified faces of this run", key="eval_open_mis"):
    st.session_state["mis_jump"] = {"true": "any", "pred": "any", "run": run.id}
    st.switch_page(nav.MISCLASSIFIED)

st.subheader("Training curves")
whole = bool(meta.get("init_from")) and st.toggle("Whole warm-start chain", value=True, key="eval_chain",
                                                  help="This run continued earlier runs' weights; show every leg's epochs.")
history, starts = chain_history(meta, whole)
chart = figures.curves_chart({run.id: history}, leg_starts=starts)
if chart is None:
    st.info("This run has no training history.")
else:
    st.altair_chart(chart, width="stretch")
    st.caption(figures.curves_caption(meta, whole))

with st.expander("Run details"):
    cfg = meta.get("config") or {}
    st.json({k: meta.get(k) for k in ("id", "arch", "width", "params", "options", "dataset", "wall_time_s",
                                       "seconds_per_epoch", "created", "command", "machine") if k in meta} | {"config": cfg},
            expanded=False)
