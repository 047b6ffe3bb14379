"""Compare runs: overlay training curves, one table of final metrics, and an ensemble of the selection."""
import numpy as np
import pandas as pd
import streamlit as st

from fer import figures
from fer.ablation import find_ablations, switches
from fer.evaluate import metrics
from fer.runs import chain_history
from ui.cache import test_probs
from ui.data import get_dataset
from ui.pickers import offer_quick_training, runs_for_dataset

st.title("Compare runs")
st.markdown(
    "The course's ablations side by side: BatchNorm on/off, one conv block more or less, augmentation on/off, "
    "widths, CNN vs a parameter-matched DNN. Pick runs trained on the current data; the **ensemble** averages "
    "their probabilities."
)
ds = get_dataset()
runs = runs_for_dataset(ds)
if not runs:
    st.warning(f"No trained model for this data set yet ({ds.name}). Compare needs at least one.")
    offer_quick_training(ds, key="compare")
    st.stop()

by_id = {r.id: r for r in runs}
previous = [i for i in st.session_state.get("cmp_selected", []) if i in by_id]
if "cmp_runs" not in st.session_state or any(i not in by_id for i in st.session_state["cmp_runs"]):
    st.session_state["cmp_runs"] = previous or [r.id for r in runs[:3]]
ablations = find_ablations(runs)
if ablations:
    def _select_ablation():
        picked = st.session_state.get("cmp_ablation")
        if picked is not None:
            st.session_state["cmp_runs"] = [r.id for r in ablations[picked].runs]

    st.selectbox("Ablation sets in your runs (trained alike but for BatchNorm, augmentation or depth)",
                 range(len(ablations)), index=None, key="cmp_ablation", on_change=_select_ablation,
                 format_func=lambda i: ablations[i].label, placeholder="Select one to compare its runs")
chosen = st.multiselect("Runs", list(by_id), key="cmp_runs", format_func=lambda i: by_id[i].label)
st.session_state["cmp_selected"] = chosen
if not chosen:
    st.info("Select one or more runs.")
    st.stop()
selected = [by_id[i] for i in chosen]

st.subheader("Training curves")
whole = any(r.meta.get("init_from") for r in selected) and st.toggle(
    "Whole warm-start chains", value=True, key="cmp_chain", help="Runs that continued earlier runs' weights: show every leg's epochs.")
chart = figures.curves_chart({r.id: chain_history(r.meta, whole)[0] for r in selected})
if chart is not None:
    st.altair_chart(chart, width="stretch")

_, labels = ds.split("test")
rows, member_probs, problems = [], [], []
for r in selected:
    m = r.meta
    try:
        probs = test_probs(r, ds)
    except Exception as exc:  # noqa: BLE001 - one broken run must not hide the others
        problems.append(f"{r.id}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        probs = None
    acc = float((probs.argmax(1) == labels).mean()) if probs is not None and len(labels) else None
    if probs is not None:
        member_probs.append(probs)
    rows.append({
        "run": r.id, "arch": m.get("arch"), "width": m.get("width"), "params": m.get("params"),
        **switches(m), "epochs": m.get("epochs_run"),
        "val accuracy": m.get("val_accuracy"), "test accuracy": acc,
        "s/epoch": m.get("seconds_per_epoch"), "description": m.get("description", ""),
    })
for p in problems:
    st.error(f"Could not score {p}")

if len(member_probs) >= 2:
    ens = np.mean(member_probs, axis=0)
    em = metrics(labels, ens)
    best = max((row["test accuracy"] or 0) for row in rows)
    rows.append({"run": f"ensemble of {len(member_probs)}", "arch": "ensemble", "width": None,
                 "params": int(sum(row["params"] or 0 for row in rows if row["test accuracy"] is not None)),
                 "depth": None, "batchnorm": None, "augment": None, "epochs": None, "val accuracy": None,
                 "test accuracy": em["accuracy"], "s/epoch": None, "description": "averaged probabilities"})

st.subheader("Final metrics (test split of the current data)")
frame = pd.DataFrame(rows)
pct = st.column_config.NumberColumn(format="percent")
st.dataframe(frame, hide_index=True, width="stretch",
             column_config={"val accuracy": pct, "test accuracy": pct, "params": st.column_config.NumberColumn(format="localized")})
if len(member_probs) >= 2:
    gain = em["accuracy"] - best
    st.markdown(f"**Ensemble:** {100 * em['accuracy']:.1f}% vs best member {100 * best:.1f}% "
                f"({'+' if gain >= 0 else ''}{100 * gain:.1f} points).")
elif len(selected) == 1:
    st.caption("Select two or more runs to score their ensemble.")

accuracy = {row["run"]: row["test accuracy"] for row in rows if row["test accuracy"] is not None}
for ablation in ablations:
    effects = ablation.effects(accuracy)
    if effects:
        st.markdown(f"**Ablation** ({ablation.label}): against the baseline `{ablation.baseline.id}` "
                    f"({100 * accuracy[ablation.baseline.id]:.1f}% test), "
                    + "; ".join(f"{diff}: **{points:+.1f}** points" for diff, points in effects) + ".")

scatter = frame[frame["arch"] != "ensemble"].dropna(subset=["params", "test accuracy"])
if len(scatter) >= 2:
    st.subheader("Parameters vs accuracy")
    st.altair_chart(figures.params_accuracy_chart(scatter), width="stretch")
