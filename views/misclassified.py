"""Misclassified: the faces behind each confusion-matrix cell, their probabilities, across runs."""
import numpy as np
import pandas as pd
import streamlit as st

from fer import figures
from ui import nav
from ui.cache import test_probs, test_probs_or_stop
from ui.data import get_dataset
from ui.pickers import pick_run, runs_for_dataset
from ui.widgets import widget_defaults

st.title("Misclassified faces")
ds = get_dataset()
classes = list(ds.class_names)
ANY = "any"

# A click on a confusion-matrix cell (Evaluate page) lands here with its filters.
jump = st.session_state.pop("mis_jump", None)
if jump:
    st.session_state["mis_run"] = jump.get("run")
    st.session_state["mis_true"] = jump.get("true", ANY)
    st.session_state["mis_pred"] = jump.get("pred", ANY)
    st.session_state["mis_only"] = jump.get("true") in (ANY, None) or jump.get("true") != jump.get("pred")
    st.session_state["mis_page"] = 1
widget_defaults({"mis_true": ANY, "mis_pred": ANY, "mis_only": True, "mis_sort": "most confident first",
                        "mis_per_page": 24, "mis_page": 1})

run = pick_run("Run", key="mis_run", dataset=ds)
probs = test_probs_or_stop(run, ds)
test_idx = ds.indices("test")
images, labels = ds.images[test_idx], ds.labels[test_idx]
if len(labels) == 0:
    st.warning("This data set has no test split.")
    st.stop()
pred = probs.argmax(1)
conf = probs.max(1)
cm = figures.confusion_frame(np.bincount(labels * len(classes) + pred, minlength=len(classes) ** 2).reshape(len(classes), -1), classes)


def pick_cell():
    cells = ((st.session_state.get("mis_cm") or {}).get("selection") or {}).get("cells") or []
    if cells:
        row, col = cells[0]
        t, p = classes[int(row)], str(col)
        st.session_state["mis_true"], st.session_state["mis_pred"] = t, p
        st.session_state["mis_only"] = t != p
        st.session_state["mis_page"] = 1
        st.session_state.pop("mis_selected", None)


def reset_page():
    st.session_state["mis_page"] = 1
    st.session_state.pop("mis_selected", None)


st.caption("Confusion matrix on the test split (rows: true class, columns: predicted class). Click a cell to show its faces.")
st.dataframe(cm.style.background_gradient(cmap="Blues", axis=None), key="mis_cm", on_select=pick_cell,
             selection_mode="single-cell", width="stretch")
c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 2, 3])
true_class = c1.selectbox("True class", [ANY] + classes, key="mis_true", on_change=reset_page)
pred_class = c2.selectbox("Predicted class", [ANY] + classes, key="mis_pred", on_change=reset_page)
with c3:
    st.write("")
    only_wrong = st.checkbox("Only misclassified", key="mis_only", on_change=reset_page)
order = c4.radio("Sort by confidence", ["most confident first", "least confident first"], key="mis_sort",
                 on_change=reset_page)
per_page = c5.select_slider("Faces per page", [8, 16, 24, 32, 48], key="mis_per_page", on_change=reset_page)

if true_class != ANY and pred_class != ANY:
    if st.button(f"Mean map of the faces {true_class} predicted as {pred_class} (Class maps) →", key="mis_to_class_maps"):
        st.session_state.update(nav.cell_jump("maps", run.id, classes, classes.index(true_class), classes.index(pred_class)))
        st.switch_page(nav.CLASS_MAPS)

keep = np.ones(len(labels), bool)
if true_class != ANY:
    keep &= labels == classes.index(true_class)
if pred_class != ANY:
    keep &= pred == classes.index(pred_class)
if only_wrong:
    keep &= pred != labels
match = np.flatnonzero(keep)
match = match[np.argsort(-conf[match] if order.startswith("most") else conf[match], kind="stable")]
st.session_state["mis_count"] = int(len(match))
wrong_total = int((pred != labels).sum())
st.markdown(f"**{len(match):,} face(s) match** — {wrong_total:,} of {len(labels):,} test faces "
            f"({100 * wrong_total / len(labels):.1f}%) are misclassified by this run.")
if true_class != ANY and pred_class != ANY and true_class == pred_class and only_wrong:
    st.info("True and predicted class are the same: untick **Only misclassified** to see these correct faces.")
if len(match) == 0:
    st.stop()

pages_n = max(1, -(-len(match) // per_page))
if st.session_state["mis_page"] > pages_n:
    st.session_state["mis_page"] = 1
if pages_n > 1:
    page = st.number_input(f"Page (of {pages_n})", 1, pages_n, key="mis_page")
else:
    page = 1
shown = match[(page - 1) * per_page: page * per_page]
if st.session_state.get("mis_selected") not in set(match.tolist()):
    st.session_state["mis_selected"] = int(shown[0])

NCOLS = 8
for start in range(0, len(shown), NCOLS):
    cols = st.columns(NCOLS)
    for col, i in zip(cols, shown[start:start + NCOLS]):
        with col:
            chosen = int(i) == st.session_state["mis_selected"]
            st.image(figures.upscale(images[i], 2), width="stretch")
            mark = "✓" if pred[i] == labels[i] else "✗"
            st.caption(f"{'▶ ' if chosen else ''}true **{classes[labels[i]]}**  \n{mark} pred {classes[pred[i]]} {100 * conf[i]:.0f}%")
            if st.button("Inspect", key=f"mis_pick_{i}", type="primary" if chosen else "secondary"):
                st.session_state["mis_selected"] = int(i)
                st.rerun()

sel = st.session_state["mis_selected"]
st.divider()
st.subheader(f"Test face #{sel}: true {classes[labels[sel]]}, predicted {classes[pred[sel]]} ({100 * conf[sel]:.0f}%)")
a, b, c = st.columns([1, 2, 2])
a.image(figures.upscale(images[sel], 4), caption=f"test index {sel}")
with b:
    st.altair_chart(figures.proba_chart(probs[sel], classes, true=int(labels[sel])), width="stretch")
with c:
    st.caption("See where the model looks when it classifies this face:")
    if st.button("Send to saliency 🔥", key="mis_to_saliency", type="primary"):
        st.session_state["saliency_face"] = {"split": "test", "index": int(sel), "run": run.id}
        st.switch_page(nav.SALIENCY)
    if ds.is_synthetic and ds.params is not None:
        st.caption("Generated face: its drawing parameters are known, so the Saliency page can check the map "
                   "against the regions that carry the expression.")

st.subheader("The same face across runs")
others = [r for r in runs_for_dataset(ds) if r.id != run.id]
if not others:
    st.caption("Train another model to compare its prediction for this face.")
else:
    by_id = {r.id: r for r in others}
    default = [i for i in st.session_state.get("mis_compare_keep", []) if i in by_id] or [r.id for r in others[:3]]
    if "mis_compare" not in st.session_state or any(i not in by_id for i in st.session_state["mis_compare"]):
        st.session_state["mis_compare"] = default
    picked = st.multiselect("Other runs", list(by_id), key="mis_compare", format_func=lambda i: by_id[i].label)
    st.session_state["mis_compare_keep"] = picked
    rows = [{"run": run.id, **{c_: float(probs[sel][k]) for k, c_ in enumerate(classes)},
             "prediction": classes[pred[sel]], "correct": bool(pred[sel] == labels[sel])}]
    for rid in picked:
        try:
            p = test_probs(by_id[rid], ds)[sel]
        except Exception as exc:  # noqa: BLE001
            st.error(f"Could not score {rid}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        rows.append({"run": rid, **{c_: float(p[k]) for k, c_ in enumerate(classes)},
                     "prediction": classes[int(p.argmax())], "correct": bool(p.argmax() == labels[sel])})
    pct = st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config={c_: pct for c_ in classes})
