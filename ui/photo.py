"""A photo in (webcam snapshot or upload), its faces found and boxed, or a box placed by hand.

Shared by the "Your face" page (every face) and the Saliency page (one face of an upload).
"""
from __future__ import annotations

import streamlit as st

from fer.detect import draw_boxes
from fer.faces import CropBox, FaceImageError, load_photo, preview
from fer.photo import face_by_hand, faces_in, mirrored
from fer.runs import on_real_faces
from ui.store import list_runs

WEBCAM, UPLOAD = "Webcam snapshot", "Upload a photo"
NOT_FOR_PHOTOS = ("A photo is shown to the runs trained on real faces (FER2013), whatever data the sidebar is on; "
                  "runs trained on the generated cartoon faces are left out: they have never seen a real face.")


def photo_runs():
    """The runs a real photo may be shown to (`fer.runs.on_real_faces`)."""
    return [r for r in list_runs() if on_real_faces(r)]


@st.cache_data(show_spinner="Looking for faces…", max_entries=32)
def found_faces(photo_bytes: bytes, mirror: bool, _photo):
    """The faces in a photo, cached by its bytes (a rerun does not detect again)."""
    return faces_in(_photo)


def read_upload(data: bytes, name: str, mirror: bool = False):
    """The decoded grayscale photo, or an error box and a stopped page."""
    try:
        photo = load_photo(data, name=name)
    except FaceImageError as exc:
        st.error(str(exc))
        st.stop()
    return mirrored(photo) if mirror else photo


def photo_input(key: str, camera: bool = True):
    """(photo, its bytes, its name, mirrored?) from the webcam or an upload; stops the page until there is one."""
    source = UPLOAD
    if camera:
        source = st.radio("Photo from", [WEBCAM, UPLOAD], horizontal=True, key=f"{key}_source")
    if source == WEBCAM:
        shot = st.camera_input("Take a snapshot (your browser asks for the camera once)", key=f"{key}_camera")
        if shot is None:
            st.info("Allow the camera, look at it with an expression, and press **Take Photo**. The snapshot stays on "
                    "this machine: nothing is uploaded anywhere else.")
            st.stop()
        data, name = shot.getvalue(), "the webcam snapshot"
    else:
        upload = st.file_uploader("Photo with one or more faces (JPEG, PNG, WebP, BMP...; up to 25 MB)",
                                  key=f"{key}_upload")
        if upload is None:
            st.info("Upload a photo: its faces are found, boxed and framed like FER2013's (or place a box by hand).")
            st.stop()
        data, name = upload.getvalue(), f"'{upload.name}'"
    mirror = st.toggle("Mirror the photo", key=f"{key}_mirror",
                       help="Flip left-right, as a webcam preview shows you. Predictions hardly change: "
                            "expressions are nearly symmetric.")
    return read_upload(data, name, mirror), data, name, mirror


def boxed(photo, faces) -> object:
    """The photo with every face's box drawn and numbered (uint8 RGB)."""
    return draw_boxes(photo, [f.box for f in faces if f.box is not None])


def face_placed_by_hand(photo, key: str, column=None):
    """A square box the user moves with three sliders, shown on the photo; the face inside it."""
    s1, s2, s3 = st.columns(3)
    box = CropBox(s1.slider("Box centre x", 0.0, 1.0, 0.5, 0.01, key=f"{key}_box_x"),
                  s2.slider("Box centre y", 0.0, 1.0, 0.45, 0.01, key=f"{key}_box_y"),
                  s3.slider("Box size", 0.1, 1.0, 0.8, 0.01, key=f"{key}_box_size"))
    (column or st).image(preview(photo, box), caption=f"{photo.size[0]}x{photo.size[1]} photo, crop box in red")
    return face_by_hand(photo, box)
