"""Class maps: where a model looks across a whole class, a confusion cell, and against another model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from fer import CLASS_NAMES
from fer.errors import FerError
from fer.explain import aggregate, concepts, parts, plots
from fer.explain.measure import empty_share_note
from ui.cache import (FORWARD_FACES_PER_CLASS, comparison_runs, concept_table, discovered_concepts, face_parts, map_methods,
                      map_sample, maps_agreement, own_concept_table, run_has_conv_layer, test_maps)
from ui.data import get_dataset
from ui.pickers import pick_run, runs_for_dataset
from ui.widgets import set_widget

TARGETS = {"predicted": "the class each face is predicted as", "true": "each face's true class"}
PER_CLASS = (10, FORWARD_FACES_PER_CLASS, 50, 100, 200, "all")


def _tile(face, m, note=""):
    if m is None or np.isnan(m).all():
        return plots.overlay(np.zeros((48, 48)), None, note=note or "no faces")
    return plots.overlay(np.nan_to_num(face), m / max(float(np.nanmax(m)), 1e-9))


def _strip(faces, maps, captions):
    cols = st.columns(len(captions))
    for col, face, m, cap in zip(cols, faces, maps, captions):
        col.image(_tile(face, m), caption=cap, width="stretch")


def _parts_frame(table, names):
    """A part table as classes x parts, each cell "energy share · ratio", shaded by the ratio."""
    energy = table.pivot(index="class", columns="region", values="energy_share")
    ratio = table.pivot(index="class", columns="region", values="ratio")
    rows = [c for c in CLASS_NAMES if c in energy.index]
    energy, ratio = energy.loc[rows, list(names)], ratio.loc[rows, list(names)]
    shown = energy.map("{:.1%}".format) + ratio.map(" · {:.2f}×".format)
    return shown.style.background_gradient(axis=None, cmap="Oranges", gmap=ratio.to_numpy())


def _concepts_frame(table):
    """A layer's TCAV rows as concepts x classes, "0.77 ✓" where significant, shaded by the score."""
    score = table.pivot(index="concept", columns="class", values="score")
    passed = table.pivot(index="concept", columns="class", values="significant").astype(bool)
    rows, cols = list(dict.fromkeys(table["concept"])), [c for c in CLASS_NAMES if c in score.columns]
    score, passed = score.loc[rows, cols], passed.loc[rows, cols]  # the concepts as given, the control last
    shown = score.map("{:.2f}".format) + passed.map({True: " ✓", False: ""}.get)
    return shown.style.background_gradient(axis=None, cmap="RdBu_r", vmin=0, vmax=1, gmap=score.to_numpy())


def _concept_sources(dataset) -> dict:
    return {c.name: c.source for c in concepts.builtin_concepts(dataset, n=1)}


st.title("🗺️ Class maps")
st.caption("One face's map says little about a model. Here every test face is explained and the maps are averaged: per "
           "true class, per confusion cell (\"fear taken for sad\"), and against another model on the same faces.")

ds = get_dataset()
jump = st.session_state.pop("cm_jump", None)  # from the Misclassified page: a run and a confusion cell
if isinstance(jump, dict):
    st.session_state["cm_run"] = jump.get("run")
    st.session_state["cm_cell"] = (int(jump.get("true", 0)), int(jump.get("pred", 0)))
    st.session_state.pop("cm_cells", None)  # the table's own selection gives way to the handed cell
run = pick_run("Run", key="cm_run", dataset=ds)
x, y = ds.split("test")
if len(x) == 0:
    st.warning("This data set's test split is empty: there is nothing to average.")
    st.stop()
usable, trust, trusted = map_methods(run)
if st.session_state.get("_cm_method_run") != run.id:  # each run opens on the method its trust table vouches for
    set_widget("cm_method", trusted)
    st.session_state["_cm_method_run"] = run.id
c1, c2 = st.columns(2)
method = c1.selectbox("Method", usable, key="cm_method",
                      help="Each run opens on the first of Grad-CAM, Grad-CAM++, Saliency, Score-CAM and SmoothGrad that "
                           "its trust table (Saliency page) finds neither failing the randomisation check nor empty for "
                           "many faces; the DNN has no conv layer for CAMs. An imported TFLite or ONNX model has no "
                           "gradients: it opens on occlusion.")
empty_note = empty_share_note(trust, method)
if empty_note:
    c1.caption(empty_note)
target = c2.radio("Each map explains", list(TARGETS), format_func=TARGETS.get, horizontal=True, key="cm_target")
per_class = None
if map_sample(method) is not None:  # a forward-only method: a hundred predictions or more per face
    chosen = c2.select_slider("Faces mapped per class", PER_CLASS, value=FORWARD_FACES_PER_CLASS, key="cm_per_class",
                              help="The same faces each time, drawn at random from each true class.")
    per_class = None if chosen == "all" else int(chosen)
faces = aggregate.per_class_sample(y, per_class)
if per_class is not None:
    st.caption(f"{method} needs a prediction per {'patch position' if method == 'Occlusion' else 'random mask'} of each "
               f"face, not one gradient: it maps {len(faces):,} of the {len(x):,} test faces (up to {per_class} of each "
               "class). Every count and mean below is over these faces.")
x, y = x[faces], y[faces]
with st.spinner(f"{method} maps of {len(x):,} test faces (kept on disk: once per run)…"):
    maps, pred = test_maps(run, ds.fingerprint, method, target, ds, per_class)

# ---- per true class
cls = aggregate.class_maps(maps, y, x)
st.subheader("Mean map per true class")
specific = st.toggle("Show what is specific to each class (its mean map minus the mean over all faces, positive part)",
                     key="cm_specific", help="The class maps of a model often share one blob; the difference shows where "
                                             "each class draws the model's attention more than the others do.")
shown = np.clip(cls.mean - np.asarray(maps, np.float32).mean(0), 0, None) if specific else cls.mean
_strip(cls.mean_face, shown, [f"{c} (n={n})" for c, n in zip(CLASS_NAMES, cls.count)])
with st.expander("Per-pixel spread of the maps (standard deviation) in each class"):
    _strip(cls.mean_face, cls.std, [f"{c}: spread" for c in CLASS_NAMES])
if ds.masks is not None:
    region = aggregate.class_region_masks(ds, y, faces)
    table = pd.DataFrame({"class map": aggregate.region_share(cls.mean, region), "random map": region.mean(axis=(1, 2))},
                         index=list(CLASS_NAMES)).T
    st.markdown("Share of each class map's energy inside the generated faces' expression regions, against a uniform "
                "random map (the regions' area):")
    st.dataframe(table.style.format("{:.0%}"))
st.caption("Each map is scaled to [0,1] per face before averaging; each mean is shown over the class's mean face and "
           "scaled to its own maximum.")

# ---- face parts per class
st.subheader("Face parts per class")
found = face_parts(ds, faces)
if found is None and st.button(f"Find the face parts of the {len(ds.split('test')[1]):,} test faces (MTCNN's keypoints, "
                               "about a minute; kept on disk)", key="cm_find_parts"):
    with st.spinner("Finding each test face's eyes, nose and mouth…"):
        found = face_parts(ds, faces, find=True)
if found is not None:
    table = parts.part_table(maps, found, y)
    if table.empty:
        st.info("No face here has both parts and a non-empty map.")
    else:
        st.dataframe(_parts_frame(table, found.names))
        top = parts.strongest(table)
        if top is not None:
            st.markdown(f"**{top['class']}**: {top['energy_share']:.1%} of {run.id}'s {method} falls on the "
                        f"{top['region']}, which cover {top['area_share']:.1%} of the face ({top['low']:.1%}–"
                        f"{top['high']:.1%}, bootstrap 95% interval over its {int(top['faces'])} faces).")
        left_out = int((~found.found).sum())
        st.caption(f"Each cell: the mean share of a face's map on the part, then that share over the part's share of the "
                   f"face's area (1.0× is what a map spread evenly would give). Parts: {found.source}"
                   + (f"; {left_out:,} of {len(found.labels):,} faces without keypoints are left out." if left_out else "."))

# ---- concepts
st.subheader("Concepts per class (TCAV)")
asked = st.session_state.setdefault("_cm_tcav_asked", set())
concept_scores = concept_table(run, ds, compute=(run.id, ds.fingerprint) in asked) if run.is_keras else None
if not run.is_keras:
    st.info("TCAV reads a layer's activations and their gradients: an imported TFLite or ONNX model has neither.")
elif concept_scores is None and st.button(f"Test the built-in concepts on {run.id} (under a minute on FER2013; kept on "
                                          "disk)", key="cm_tcav_go"):
    asked.add((run.id, ds.fingerprint))
    with st.spinner("Training each concept's activation vectors against random faces, and ten random concepts…"):
        concept_scores = concept_table(run, ds, compute=True)
if concept_scores is not None and len(concept_scores):
    layer = st.radio("Layer", list(dict.fromkeys(concept_scores["layer"])), horizontal=True, key="cm_tcav_layer")
    st.dataframe(_concepts_frame(concept_scores[concept_scores["layer"] == layer]))
    st.caption("Each cell: the share of the class's test faces whose score rises along the concept's direction in this "
               "layer (TCAV), marked ✓ where it stands out from ten random sets of faces taken as concepts (two-sided "
               "t test, p < 0.05 over the seven classes); blank marks: not significant, whatever the number. The "
               "control is one more random set: it should pass nowhere. Concepts: "
               + "; ".join(f"{c}: {s}" for c, s in _concept_sources(ds).items()) + ".")
if run.is_keras:
    with st.expander("Test a concept of your own: 10 or more images of it"):
        own_name = st.text_input("Its name", key="cm_tcav_name", placeholder="for example: glasses")
        files = st.file_uploader("Its images (faces that show it, or the thing itself)", type=["png", "jpg", "jpeg", "bmp"],
                                 accept_multiple_files=True, key="cm_tcav_files")
        if st.button("Test it against ten random concepts", key="cm_tcav_own", disabled=not files):
            try:
                concept = concepts.concept_from_images(own_name, [(f.name, f.getvalue()) for f in files])
            except FerError as exc:
                st.error(str(exc))
            else:
                with st.spinner(f"TCAV of {concept.name!r} ({len(concept.images)} images)…"):
                    own = own_concept_table(run, ds, concept)
                for name in dict.fromkeys(own["layer"]):
                    st.caption(f"Layer {name}")
                    st.dataframe(_concepts_frame(own[own["layer"] == name]))

# ---- concepts found in a class
st.subheader("Concepts found in a class (CRAFT)")
if not run.is_keras:
    st.info("Finding concepts reads a layer's activations and their gradients: an imported TFLite or ONNX model has "
            "neither.")
elif not run_has_conv_layer(run):
    st.info("Concepts are found in a conv layer's feature maps, where each position is a place on the face: this model "
            "has no conv layer.")
else:
    present = [c for c in range(len(CLASS_NAMES)) if (y == c).any()]
    chosen = st.selectbox("Class", present, format_func=lambda c: CLASS_NAMES[c], key="cm_craft_class",
                          index=present.index(CLASS_NAMES.index("happy")) if CLASS_NAMES.index("happy") in present else 0)
    with st.spinner(f"Factorising {run.id}'s activations on {CLASS_NAMES[chosen]} faces…"):
        found_concepts, class_faces = discovered_concepts(run, ds, chosen)
    for i, (importance, share) in enumerate(zip(found_concepts.importance, found_concepts.share)):
        st.markdown(f"**Concept {i + 1}**: removing it changes the {CLASS_NAMES[chosen]} log-probability by "
                    f"{-importance:+.3f} ({abs(share):.0%} of all the concepts' effect)")
        cols = st.columns(len(found_concepts.top_faces[i]))
        for col, face, where in zip(cols, found_concepts.top_faces[i], found_concepts.maps[i]):
            col.image(plots.overlay(class_faces[face], where), width="stretch")
    st.caption(f"The first {len(class_faces):,} {CLASS_NAMES[chosen]} test faces, run to layer {found_concepts.layer}: "
               "non-negative matrix factorisation writes every position's activations as a mix of "
               f"{len(found_concepts.importance)} concepts. Each row: the faces holding most of one concept, and where it "
               "sits on them; the effect of removing it is estimated from the gradient (first order).")

# ---- per confusion cell
st.subheader("Per confusion cell")
grid = aggregate.cell_maps(maps, y, pred, x)  # all 49 cells once: the counts and the grid below
counts = pd.DataFrame(grid.count, index=list(CLASS_NAMES), columns=list(CLASS_NAMES))
off = counts.to_numpy().copy()
np.fill_diagonal(off, 0)
default = np.unravel_index(int(off.argmax()), off.shape)
st.caption("The confusion matrix on the test split: rows true class, columns predicted. Click a cell to see its "
           "faces' mean map.")
event = st.dataframe(counts.style.background_gradient(axis=None, cmap="Blues"), on_select="rerun",
                     selection_mode="single-cell", key="cm_cells")
picked = list(getattr(getattr(event, "selection", None), "cells", None) or [])
if picked and picked[0][1] in CLASS_NAMES:
    row, col = int(picked[0][0]), CLASS_NAMES.index(picked[0][1])
    st.session_state["cm_cell"] = (row, col)
handed = st.session_state.get("cm_cell")
row, col = handed if isinstance(handed, tuple) and len(handed) == 2 else default
picked = picked or handed
members = np.flatnonzero((y == row) & (pred == col))
with st.expander("All 49 cells' mean maps, laid out like the confusion matrix"):
    head = st.columns(8)
    head[0].caption("true \\ predicted")
    for c, name in zip(head[1:], CLASS_NAMES):
        c.caption(name)
    for r in range(len(CLASS_NAMES)):
        cols = st.columns(8)
        cols[0].caption(CLASS_NAMES[r])
        for k in range(len(CLASS_NAMES)):
            cols[k + 1].image(_tile(grid.mean_face[r, k], grid.mean[r, k]), caption=f"n={grid.count[r, k]}",
                              width="stretch")
st.markdown(f"**{CLASS_NAMES[row]} predicted as {CLASS_NAMES[col]}**: {len(members)} test faces"
            + (" (the largest confusion; click another cell)" if not picked else ""))
if len(members):
    cell_maps = np.asarray(maps[members], np.float32)
    cols = st.columns(8)
    cols[0].image(_tile(x[members].mean(0), cell_maps.mean(0)), caption="mean map", width="stretch")
    cols[1].image(_tile(x[members].mean(0), cell_maps.std(0)), caption="spread", width="stretch")
    for c, i in zip(cols[2:], members[:6]):
        c.image(_tile(x[i], np.asarray(maps[i], np.float32)), caption=f"test #{faces[i]}", width="stretch")

# ---- models side by side
st.subheader("Models side by side")
by_arch = comparison_runs(run, method, runs_for_dataset(ds))
if not by_arch:
    st.info(f"No other run on this data set that {method} applies to: train one (e.g. a MobileNet) to compare.")
    st.stop()
labels = {r.id: r.label for r in by_arch}
other = st.selectbox("Compare with", list(labels), format_func=labels.get, key="cm_other")
if per_class is not None and not st.toggle(f"Map the same {len(x):,} faces with {other}", key="cm_compare_forward",
                                           help=f"{method} maps of another model cost as many predictions again."):
    st.stop()
with st.spinner(f"{method} maps of the same faces by {other}…"):
    table = maps_agreement(run, other, ds, method, per_class)
    mine, _ = test_maps(run, ds.fingerprint, method, "true", ds, per_class)
    theirs, _ = test_maps(other, ds.fingerprint, method, "true", ds, per_class)
m1, m2 = st.columns(2)
m1.metric("Rank correlation of the maps (mean Spearman)", f"{table['spearman'].mean():.2f}")
m2.metric("Overlap of their top 10% pixels (mean)", f"{table['top_overlap'].mean():.0%}")
st.dataframe(aggregate.agreement_per_class(table).style.format({"spearman": "{:.2f}", "top_overlap": "{:.0%}"}))
empty = int(table["spearman"].isna().sum())
st.caption("Both maps explain the face's true class, so they answer the same question. A model compared with itself "
           f"scores 1.00 and 100%. Left out: {empty:,} of {len(table):,} faces where either map is empty (no positive "
           "evidence for the true class: nothing to rank).")
st.markdown("**The faces where they disagree most**")
worst = table.nsmallest(6, "spearman").index
cols = st.columns(6)
for c, i in zip(cols, worst):
    c.image(_tile(x[i], np.asarray(mine[i], np.float32)), caption=f"#{faces[i]} {run.id[:14]}", width="stretch")
    c.image(_tile(x[i], np.asarray(theirs[i], np.float32)), caption=f"{other[:14]} (ρ={table['spearman'][i]:.2f})",
            width="stretch")
if found is not None:
    st.markdown("**Face parts, each run's maps of the true class**")
    for col, rid, m in zip(st.columns(2), (run.id, other), (mine, theirs)):
        col.caption(rid)
        col.dataframe(_parts_frame(parts.part_table(m, found, y), found.names))
