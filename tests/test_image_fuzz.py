"""Property-based fuzzing of the two image readers: data-folder images and uploaded photos.

Inputs are real images of random size, mode and format, then optionally damaged (cut short,
bytes overwritten, junk in front) or replaced by random bytes. Whatever comes in, the folder
reader returns a 48x48 uint8 face or a one-line reason (never raises), and the upload reader
returns a 48x48 uint8 face or raises `FaceImageError` with a one-line message (nothing else).
"""
import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fer.data.loaders import read_image
from fer.faces import FaceImageError, prepare_face

MODES = ["L", "RGB", "RGBA", "P", "LA", "1", "I;16", "I", "F", "CMYK"]
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]


@st.composite
def image_bytes(draw):
    """A real encoded image, possibly damaged, or plain random bytes."""
    from PIL import Image

    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(min_size=0, max_size=300))
    w, h = draw(st.integers(1, 96)), draw(st.integers(1, 96))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode if mode != "I;16" else "L")
    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):  # this format cannot hold this mode: save as PNG instead
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    damage = draw(st.sampled_from(["none", "truncate", "overwrite", "prefix"]))
    if damage == "truncate" and len(data) > 1:
        data = data[:draw(st.integers(0, len(data) - 1))]
    elif damage == "overwrite" and data:
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif damage == "prefix":
        data = bytearray(draw(st.binary(min_size=1, max_size=16))) + data
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=image_bytes(), suffix=st.sampled_from([".jpg", ".png", ".gif", ".bmp"]))
def test_folder_image_reader_gives_a_face_or_a_reason_never_an_exception(tmp_path_factory, data, suffix):
    path = tmp_path_factory.mktemp("img") / f"face{suffix}"
    path.write_bytes(data)
    face, changed, reason = read_image(path)
    if face is None:
        assert isinstance(reason, str) and reason and "\n" not in reason
    else:
        assert reason is None and face.shape == (48, 48) and face.dtype == np.uint8
        assert changed <= {"gray", "resized", "frame"}


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=image_bytes())
def test_upload_reader_gives_a_face_or_a_clear_message_never_another_exception(data):
    try:
        face = prepare_face(data, name="upload.bin")
    except FaceImageError as exc:
        message = str(exc)
        assert message.startswith("upload.bin ") and "\n" not in message
    else:
        assert face.shape == (48, 48) and face.dtype == np.uint8
