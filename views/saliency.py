"""Saliency: where does each model look on one face, and how good are those maps?"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from fer import CLASS_NAMES
from fer.data import SPLITS
from fer.explain import DEFAULT_OPTIONS, FORWARD_NAMES, MEASURES, METHOD_NAMES, METHODS, applicable_methods, cam_grid, map_targets, plots
from fer.explain.measure import TRUST_SETTINGS
from fer.explain.kept import face_key as face_key_of
from fer.explain.shared import shared_maps, shared_probs
from fer.guests import extra_classes_of
from ui import nav
from ui.cache import kept_face_maps, load_model, per_run
from ui.data import get_dataset
from ui.photo import NOT_FOR_PHOTOS, boxed, face_placed_by_hand, found_faces, photo_input, photo_runs
from ui.pickers import default_runs, get_arch, runs_for_dataset
from ui.threads import map_in_threads
from ui.widgets import asked_for, maps_grid

# ----------------------------------------------------------------------------------------------
# cached computations, keyed by the run's model file (ui.cache.per_run)


@per_run(show_spinner=False, max_entries=2000)
def _maps(model, face_key: str, method: str, targets: tuple, settings: tuple, _face: np.ndarray):
    """One method's maps of the face for each target class, batched with other sessions' requests."""
    return shared_maps(model, method, np.repeat(_face[None], len(targets), axis=0), list(targets), dict(settings))


def _maps_kept_or_computed(run_id: str, method: str, targets: tuple):
    """The face's maps: kept beside the run (`python -m fer keep --faces`: the test split's first
    faces at the default settings), else computed."""
    settings = METHODS[method].pick(options)
    kept = kept_face_maps(run_id, face_key, method, targets, settings)
    return kept if kept is not None else _maps(run_id, face_key, method, targets, tuple(settings.items()), face)


@per_run(show_spinner=False, max_entries=64, persist="disk")
def _trust(model, fingerprint: str, methods: tuple, method_options: tuple, settings: tuple, _dataset):
    from fer.explain.measure import trust_table

    return trust_table(model, _dataset, list(methods), method_options=dict(method_options), settings=dict(settings))


def _trust_text(row) -> str:
    rho = row["randomised_rho"]
    check = ("randomised maps empty: n/a" if rho is None or rho != rho else
             f"randomised ρ {rho:+.2f} " + ("⚠️" if row["fails_randomisation"] else "✓"))
    empty = row.get("empty_share")  # CAM methods only; absent from tables kept before it was measured
    blank = f" · empty maps {empty:.0%}" if isinstance(empty, float) and empty == empty and empty > 0 else ""
    return f"deletion AUC {row['deletion_auc']:.2f} (random {row['random_deletion_auc']:.2f}) · {check}{blank}"


def _why_not(reason: str) -> str:
    return "does not apply:\n" + ("predictions only" if "predictions only" in reason else "no conv layer")


def trust_for(run_id: str, methods: tuple, method_options: tuple):
    """The run's trust table: kept beside it (shipped runs), else measured on the current data
    when the run was trained on it (once per run, kept on disk), else None (and for an imported
    TFLite or ONNX model: the randomisation check needs weights to randomise)."""
    from fer.compress.shipped import kept_trust

    run = next(r for r in runs if r.id == run_id)
    if not methods or not run.is_keras:
        return None
    trained_on = (run.meta.get("dataset") or {}).get("fingerprint")
    kept = kept_trust(run.path, trained_on, TRUST_SETTINGS)
    if kept is not None:
        return kept
    if trained_on != ds.fingerprint:
        return None
    with st.spinner(f"Checking each method on {run_id} (deletion and randomisation, once per run)…"):
        return _trust(run_id, ds.fingerprint, methods, method_options, tuple(TRUST_SETTINGS.items()), ds)


@per_run(show_spinner=False, max_entries=500)
def _probs(model, face_key: str, _face: np.ndarray):
    return shared_probs(model, _face[None])[0]


@per_run(show_spinner=False, max_entries=48)
def _measure(model, measure: str, fingerprint: str, methods: tuple, settings: tuple, options: tuple, _dataset):
    return MEASURES[measure](model, _dataset, list(methods), dict(settings), **dict(options))


# ----------------------------------------------------------------------------------------------
# choosing the face


def _face_from_dataset(ds, split, index):
    idx = ds.indices(split)
    if len(idx) == 0:
        return None
    index = int(min(max(index, 0), len(idx) - 1))
    i = int(idx[index])
    return ds.images[i], int(ds.labels[i]), f"{split} #{index}", i


def choose_face(ds):
    """(face uint8 (48,48), true class or None, caption, dataset index or None); stops the page
    when there is no face yet (e.g. no upload)."""
    handed = st.session_state.get("saliency_face")
    sources = ["From the data set", "Upload a photo"]
    if isinstance(handed, dict) and handed.get("split") in SPLITS:
        sources.insert(0, "From the Misclassified page")
    source = st.radio("Face", sources, horizontal=True, key="sal_source")
    if source == "From the Misclassified page":
        got = _face_from_dataset(ds, handed["split"], int(handed.get("index", 0)))
        if got is None:
            st.warning(f"The {handed['split']} split is empty in this data set.")
            st.stop()
        return got
    if source == "From the data set":
        c1, c2 = st.columns(2)
        splits = [s for s in SPLITS if len(ds.indices(s))] or list(SPLITS)
        # test faces by default, as on Filters and Misclassified: the model never trained on them
        split = c1.selectbox("Split", splits, index=splits.index("test") if "test" in splits else 0, key="sal_split")
        n = len(ds.indices(split))
        if n == 0:
            st.warning(f"The {split} split is empty.")
            st.stop()
        index = c2.number_input(f"Index in {split} (0..{n - 1})", 0, n - 1, 0, key="sal_index")
        return _face_from_dataset(ds, split, index)
    photo, data, name, mirror = photo_input("sal", camera=False)
    faces = found_faces(data, mirror, photo)
    by_hand = "Place the box by hand"
    choices = {f"Face {f.number}": f for f in faces}  # the label picked is looked up, never parsed
    picked = by_hand
    if faces:
        picked = st.radio("Face", [*choices, by_hand], horizontal=True, key="sal_upload_face",
                          help="Found by MTCNN and framed like FER2013's faces.")
    else:
        st.info("No face found in this photo: move the square box onto the face.")
    c1, c2 = st.columns([3, 1])
    if picked not in choices:
        face = face_placed_by_hand(photo, "sal", column=c1).face
    else:
        face = choices[picked].face
        c1.image(boxed(photo, faces), caption=f"{photo.size[0]}x{photo.size[1]} photo, {len(faces)} face(s) found")
    c2.image(face, caption="48x48 face", width=144)
    true = st.selectbox("True expression (if you know it)", ["unknown", *CLASS_NAMES], key="sal_upload_true")
    return face, (None if true == "unknown" else CLASS_NAMES.index(true)), "upload " + name.strip("'"), None


# ----------------------------------------------------------------------------------------------
# the page


st.title("🔥 Saliency maps")
st.caption("Where does a model look? Vanilla gradients, SmoothGrad, Grad-CAM, Grad-CAM++ and Score-CAM "
           "(tf-keras-vis), and occlusion and RISE (predictions only), for the true and the predicted class, "
           "overlaid on the face.")

ds = get_dataset()
data_runs = runs_for_dataset(ds)
real_runs = photo_runs()
if not data_runs and not real_runs:
    st.warning("No trained model for this data set yet.")
    st.page_link(nav.TRAIN, label="Train a quick model (about a minute on the generated faces)", icon="🏋️")
    st.stop()

face, true_class, face_caption, index = choose_face(ds)
face = np.ascontiguousarray(face, dtype=np.uint8)
face_key = face_key_of(face)

photo = index is None  # an uploaded photo: a real face, whatever data the sidebar is on
runs = real_runs if photo else data_runs
if photo:
    st.caption(NOT_FOR_PHOTOS)
if not runs:
    st.warning("No run trained on real faces yet: train one on FER2013 (point the sidebar at it), or pick a face "
               "from the data set." if photo else "No trained model for this data set yet.")
    st.stop()
handed = st.session_state.get("saliency_face") or {}
labels = {r.id: r.label for r in runs}
run_ids = st.multiselect("Runs", list(labels), default=default_runs(runs, handed.get("run")), format_func=labels.get,
                         key="sal_runs_photo" if photo else "sal_runs",
                         help="Defaults: the most accurate CNN, DNN and MobileNet trained on "
                              + ("real faces." if photo else "this data."))
keras_chosen = any(r.is_keras for r in runs if r.id in run_ids) or not run_ids
methods = st.multiselect("Methods", list(METHODS), default=list(METHOD_NAMES if keras_chosen else FORWARD_NAMES),
                         key="sal_methods", help="Occlusion and RISE need only the model's predictions: they explain "
                                                 "any model, an imported TFLite or ONNX one too, at 100-1000 forward "
                                                 "passes per face.")

with st.expander("Method settings", expanded=False):
    c1, c2, c3 = st.columns(3)
    samples = c1.slider("SmoothGrad samples", 2, 64, DEFAULT_OPTIONS["samples"], key="sal_samples")
    noise = c2.slider("SmoothGrad noise (fraction of the face's grey range)", 0.01, 0.5, DEFAULT_OPTIONS["noise"], 0.01,
                      key="sal_noise", help="tf-keras-vis' smooth_noise: sigma = noise x (max - min) of the face.")
    max_n = c3.slider("Score-CAM max_N (0 = all feature maps)", 0, 128, DEFAULT_OPTIONS["max_n"], key="sal_max_n",
                      help="Faster-Score-CAM scores only the max_N feature maps of highest variance.")
    alpha = st.slider("Overlay opacity", 0.1, 0.9, 0.5, 0.05, key="sal_alpha")
options = {"samples": samples, "noise": noise, "seed": 0, "max_n": max_n}

if not run_ids:
    st.info("Choose at least one run.")
    st.stop()
if not methods:
    st.info("Choose at least one method.")
    st.stop()

# ---- predictions
probs, models_ok = {}, {}
for rid in run_ids:
    try:
        model = load_model(rid)
    except Exception as exc:  # noqa: BLE001 - a broken run is reported, the others still shown
        st.error(f"Could not load run {rid}: {exc}")
        continue
    models_ok[rid] = model
if not models_ok:
    st.stop()
probs = dict(zip(models_ok, map_in_threads(lambda rid: _probs(rid, face_key, face), models_ok)))

# ---- maps (computed before anything is drawn: the browser then renders while nothing else competes for the CPU)
rows, notes, trusts, plans, model_reasons = [], [], {}, [], {}
with st.spinner("Computing maps…"):
    for rid, model in models_ok.items():
        ok = model_reasons[rid] = applicable_methods(model)
        skipped = [m for m in methods if ok[m] is not None]
        if skipped:
            notes.append(f"**{rid}** ({get_arch(runs, rid)}): {', '.join(skipped)} do not apply: {ok[skipped[0]]}. "
                         f"Shown: {', '.join(m for m in methods if ok[m] is None) or 'none'}.")
        targets = map_targets(int(np.argmax(probs[rid])), true_class)
        trusts[rid] = trust_for(rid, tuple(m for m in METHOD_NAMES if ok[m] is None), tuple(sorted(options.items())))
        plans.append((rid, targets, {m: ok[m] is None for m in methods}))
    jobs = [(rid, m, tuple(int(cls) for _, cls in targets)) for rid, targets, ok in plans for m in methods if ok[m]]
    computed = dict(zip(((rid, m) for rid, m, _ in jobs), map_in_threads(lambda job: _maps_kept_or_computed(*job), jobs)))
    for rid, targets, ok in plans:
        trust = trusts[rid]
        failing = [] if trust is None else [m for m in trust.loc[trust["fails_randomisation"], "method"] if m in methods]
        flag = f"\n⚠️ {', '.join(failing)}: fails the randomisation check" if failing else ""
        for k, (what, cls) in enumerate(targets):
            row = {m: computed[rid, m][k] if ok[m] else _why_not(model_reasons[rid][m]) for m in methods}
            rows.append((f"{rid[:18]}\n{get_arch(runs, rid)} · {what}:\n{CLASS_NAMES[cls]} ({probs[rid][cls]:.0%}){flag}", row))
c1, c2 = st.columns([1, 2])
c1.image(face, caption=face_caption + (f" — true: {CLASS_NAMES[true_class]}" if true_class is not None else ""), width=192)
table = pd.DataFrame({rid: p for rid, p in probs.items()}, index=list(CLASS_NAMES)).T
table.insert(0, "predicted", [CLASS_NAMES[int(np.argmax(p))] for p in probs.values()])
table[list(CLASS_NAMES)] *= 100
others = {rid: "/".join(extra_classes_of(r.meta)) for r in runs for rid in [r.id] if rid in probs}
if any(others.values()):  # an imported model's classes FER2013 lacks keep their own probability
    table["other classes"] = [max(0.0, 100 - float(table.loc[rid, list(CLASS_NAMES)].sum())) if others.get(rid) else 0.0
                              for rid in table.index]
    c2.caption("other classes: " + "; ".join(f"{rid}: {names}" for rid, names in others.items() if names))
c2.dataframe(table, column_config={c: st.column_config.NumberColumn(c, format="%.1f%%") for c in [*CLASS_NAMES, "other classes"]})
c2.bar_chart(table[list(CLASS_NAMES)].T, stack=False, horizontal=True, y_label="probability (%)",
             x_label="" if true_class is None else f"true class: {CLASS_NAMES[true_class]}")

for note in notes:
    st.info(note)
maps_grid(face, rows, methods, alpha=alpha)
trust_rows = {}
for rid, trust in trusts.items():
    if trust is None:
        continue
    by = trust.set_index("method")
    trust_rows[rid] = {m: _trust_text(by.loc[m]) if m in by.index else "—" for m in methods}
if trust_rows:
    st.markdown("**How far to trust each method on these runs** (measured on test faces, not on this face):")
    st.dataframe(pd.DataFrame(trust_rows).T, width="stretch")
    st.caption(f"Deletion AUC ({TRUST_SETTINGS['deletion_n']} test faces): the class probability as the most salient "
               "pixels are removed first, averaged over the steps (lower is better; a random order is the baseline). "
               f"Randomised ρ ({TRUST_SETTINGS['randomisation_n']} test faces, one per class): rank correlation of the "
               "maps with the trained model's after every layer is re-initialised; at 0.5 or more (⚠️) the method shows "
               "the image more than the model (Adebayo et al., 2018). Empty maps: the share of 70 test faces (10 per class) whose "
               "CAM map of the predicted class has nothing positive to show (a ReLU of weighted feature maps can leave none). "
               "Details: \"How good are these maps?\" below.")
st.caption("Each map is scaled to [0,1] on its own. Gradient maps (Saliency, SmoothGrad) show which pixels the class "
           "score is most sensitive to; CAM maps weight the last conv layer's feature maps (coarse: "
           f"{' and '.join(sorted({g for g in map(cam_grid, models_ok.values()) if g})) or 'none here'}, upsampled).")
if any(r.meta.get("mirror") for r in runs if r.id in run_ids):
    st.caption("A mirror-averaged run averages each face with its mirror image inside the model; its maps explain "
               "that average (the CAM methods weigh both views' feature maps, each flipped back onto the face).")

# ---- measuring the maps
with st.expander("How good are these maps?", expanded=False):
    q_run = st.selectbox("Run to measure", list(models_ok), format_func=labels.get, key="sal_q_run")
    q_model = models_ok[q_run]
    q_methods = tuple(m for m in methods if applicable_methods(q_model)[m] is None)
    q_settings = tuple(sorted(options.items()))
    q_key = (q_run, ds.fingerprint)

    def measured(name, **opts):
        return _measure(q_run, name, ds.fingerprint, q_methods, q_settings, tuple(sorted(opts.items())), ds)

    tab1, tab2, tab3 = st.tabs(["Expression regions", "Deletion / insertion", "Randomisation check"])
    with tab1:
        st.markdown("Share of each map's energy inside the generated faces' expression regions (brows, eyes, nose and "
                    "cheeks, mouth: the only pixels the expression changes). A uniform random map gets the regions' "
                    "area fraction: that is the baseline.")
        if MEASURES["regions"].applies_to(ds):
            st.info(f"This measure {MEASURES['regions'].applies_to(ds)}.")
        else:
            per_class = st.slider("Test faces per class", 1, 20, 4, key="sal_q_per_class")
            if asked_for("Measure region energy", "sal_q_region", (q_key, q_methods, per_class, q_settings)):
                with st.spinner("Computing maps for the test faces…"):
                    frame = measured("regions", per_class=per_class)
                pivot = frame.pivot(index="method", columns="class", values="share")
                pivot = pivot[[c for c in [*CLASS_NAMES, "all"] if c in pivot.columns]]
                pivot = pivot.loc[[m for m in [*q_methods, "random map"] if m in pivot.index]]
                st.dataframe(pivot.style.format("{:.1%}").background_gradient(axis=None, cmap="Greens"))
                st.bar_chart(pivot.drop(columns="all").T, stack=False, y_label="energy inside the regions")
    with tab2:
        st.markdown("Remove (deletion) or add (insertion) pixels most-salient first and track the class probability. "
                    "Deletion AUC: lower is better; insertion AUC: higher is better; **random order** is the baseline.")
        c1, c2, c3 = st.columns(3)
        n_faces = c1.slider("Test faces", 2, 64, 14, key="sal_q_n")
        steps = c2.slider("Steps", 5, 50, 16, key="sal_q_steps")
        fill = c3.selectbox("Removed pixels become", ["mean", "blur"], key="sal_q_fill",
                            format_func={"mean": "the face's mean grey", "blur": "a blurred copy"}.get)
        if asked_for("Measure deletion / insertion", "sal_q_del", (q_key, q_methods, n_faces, steps, fill, q_settings)):
            with st.spinner("Perturbing faces…"):
                frame, curves = measured("deletion", n=n_faces, steps=steps, fill=fill)
            st.dataframe(frame.set_index("method").style.format({"deletion_auc": "{:.3f}", "insertion_auc": "{:.3f}"}))
            c1, c2 = st.columns(2)
            c1.pyplot(plots.curves_figure(curves, "deletion"))
            c2.pyplot(plots.curves_figure(curves, "insertion"))
    with tab3:
        st.markdown("Model-randomisation sanity check (Adebayo et al., 2018): the layers are re-initialised from the "
                    "output down, one more per step, and each method's maps are compared with the trained model's "
                    "(Spearman rank correlation). A method that stays high explains the image, not the model.")
        n_rand = st.slider("Test faces", 1, 7, 3, key="sal_q_rand_n")
        if asked_for("Run the randomisation check", "sal_q_rand", (q_key, q_methods, n_rand, q_settings)):
            with st.spinner("Re-initialising layers and recomputing maps…"):
                frame = measured("randomisation", n=n_rand)
            st.pyplot(plots.randomisation_figure(frame))
            st.dataframe(frame.pivot(index=["step", "layer"], columns="method", values="spearman").style.format("{:.2f}"))
