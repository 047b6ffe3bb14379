"""Your face: a webcam snapshot or a photo, every face found, read by the runs trained on real faces."""
from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from fer import CLASS_NAMES
from fer.explain import DEFAULT_OPTIONS, METHODS
from fer.guests import extra_classes_of
from fer.photo import read_faces
from ui import nav
from ui.cache import per_run
from ui.photo import NOT_FOR_PHOTOS, boxed, face_placed_by_hand, found_faces, photo_input, photo_runs
from ui.pickers import default_runs, get_arch
from ui.widgets import maps_grid

DEFAULT_METHODS = ["Saliency", "Grad-CAM"]


@per_run(show_spinner=False, max_entries=256)
def _reading(model, faces_key: str, methods: tuple, settings: tuple, _faces: list):
    return read_faces(model, _faces, methods, dict(settings))


st.title("🙂 Your face")
st.caption("What does each model see in your face? Take a snapshot or upload a photo: every face is found, boxed, "
           "framed like FER2013's 48x48 faces, and read by the runs you choose, with the maps of where each one looks.")

runs = photo_runs()
if not runs:
    st.warning("No run trained on real faces in this run store: train one on FER2013 (point the sidebar at it) "
               "or restore the shipped runs in models/.")
    st.page_link(nav.TRAIN, label="Open the Train page", icon="🏋️")
    st.stop()

photo, data, name, mirror = photo_input("you")
faces = found_faces(data, mirror, photo)
left, right = st.columns([3, 2])
if faces:
    left.image(boxed(photo, faces), caption=f"{name}: {photo.size[0]}x{photo.size[1]}, {len(faces)} face(s) found "
                                            "(MTCNN), numbered largest first")
else:
    left.warning("No face found in this photo. Move the square box onto a face (or try a photo with the face "
                 "larger, frontal and well lit).")
    faces = [face_placed_by_hand(photo, "you", column=left)]

labels = {r.id: r.label for r in runs}
labels_meta = {r.id: r.meta for r in runs}
run_ids = right.multiselect("Runs", list(labels), default=default_runs(runs), format_func=labels.get, key="you_runs",
                            help="Defaults: the most accurate CNN, DNN and MobileNet trained on real faces.")
# an imported TFLite or ONNX model alone has no gradients: occlusion, the cheaper of the two forward methods
keras_runs = any(r.is_keras for r in runs if r.id in run_ids) or not run_ids
methods = right.multiselect("Maps", list(METHODS), default=DEFAULT_METHODS if keras_runs else ["Occlusion"], key="you_methods",
                            help="Each map explains the class the run predicts; the Saliency page measures how "
                                 "faithful each method is. Occlusion and RISE need only predictions: they explain an "
                                 "imported TFLite or ONNX model too.")
alpha = right.slider("Overlay opacity", 0.1, 0.9, 0.5, 0.05, key="you_alpha")
right.caption(NOT_FOR_PHOTOS)
if not run_ids:
    st.info("Choose at least one run.")
    st.stop()

crops = [f.face for f in faces]
faces_key = hashlib.sha1(b"".join(c.tobytes() for c in crops)).hexdigest()[:16]
settings = tuple(sorted(DEFAULT_OPTIONS.items()))
readings = {}
with st.spinner("Reading the faces…"):
    for rid in run_ids:
        try:
            readings[rid] = _reading(rid, faces_key, tuple(methods), settings, crops)
        except Exception as exc:  # noqa: BLE001 - a broken run is reported, the others still shown
            st.error(f"Could not use run {rid}: {exc}")
if not readings:
    st.stop()

for i, found in enumerate(faces):
    with st.container(border=True):
        c1, c2 = st.columns([1, 3])
        c1.subheader(f"Face {found.number}" if found.box is not None else "Face (box placed by hand)")
        c1.image(found.face, caption="48x48, as the models see it", width=144)
        table = pd.DataFrame({rid: r.probs[i] for rid, r in readings.items()}, index=list(CLASS_NAMES)).T
        table.insert(0, "predicted", [CLASS_NAMES[int(r.predicted[i])] for r in readings.values()])
        others = {rid: "/".join(extra_classes_of(labels_meta[rid])) for rid in readings}
        shown = list(CLASS_NAMES)
        if any(others.values()):  # an imported model's classes FER2013 lacks keep their own probability
            table["other classes"] = [max(0.0, 1 - float(r.probs[i].sum())) if others[rid] else 0.0 for rid, r in readings.items()]
            shown.append("other classes")
            c2.caption("other classes: " + "; ".join(f"{rid}: {names}" for rid, names in others.items() if names))
        c2.dataframe(table.style.format({c: "{:.0%}" for c in shown}).highlight_max(axis=1, subset=list(CLASS_NAMES)))
        votes = pd.Series([CLASS_NAMES[int(r.predicted[i])] for r in readings.values()]).value_counts()
        c1.markdown(f"**{votes.index[0]}**" + (f" ({votes.iloc[0]} of {len(readings)} runs)" if len(readings) > 1 else ""))
        if methods:
            rows = []
            for rid, r in readings.items():
                pred = int(r.predicted[i])
                cells = {m: (v if isinstance(v, str) else v[i]) for m, v in r.maps.items()}
                cells = {m: (("does not apply:\npredictions only" if "predictions only" in v else "does not apply:\nno conv layer")
                             if isinstance(v, str) else v) for m, v in cells.items()}
                rows.append((f"{rid[:18]}\n{get_arch(runs, rid)}: {CLASS_NAMES[pred]}\n({r.probs[i][pred]:.0%})", cells))
            maps_grid(found.face, rows, methods, alpha=alpha, container=c2)
st.caption("Each map is scaled to [0,1] on its own and explains the class its run predicts. Photos are turned to "
           "grayscale, rotated as their EXIF says, and each face is cropped as a tight square like FER2013's.")
