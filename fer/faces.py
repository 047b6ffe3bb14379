"""An uploaded photo -> the 48x48 grayscale face every model takes.

    photo = load_photo(uploaded_bytes)           # validated, EXIF-rotated, grayscale PIL image
    face = crop_face(photo, CropBox(0.5, 0.45, 0.7))   # uint8 (48,48)

Faces are found by `fer.detect` (see `fer.photo`); when none is, the user places a square box
given in fractions of the photo: its centre (x, y as fractions of the width and height) and its
side as a fraction of the shorter side.

Everything a user can get wrong raises `FaceImageError` with a message to show as it is: an
empty or non-image file, a file or image too large, an animated image, an iPhone HEIC photo
(Pillow cannot read HEIC/HEIF without a plug-in; the message says how to get a JPEG).
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np

from fer import IMAGE_SIZE
from fer.errors import FaceImageError  # noqa: F401 - raised here, importable from here

# A 48-megapixel phone JPEG is 8-15 MB: 25 MiB, the same as server.maxUploadSize in .streamlit/config.toml.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 64_000_000  # 64 megapixels (a 48 MP phone photo passes); guards memory, whatever the file size
MIN_SIDE = 8
# ISO-BMFF brands of HEIC/HEIF/AVIF stills (bytes 8..12 after b"ftyp" at 4..8)
_HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"heim": "HEIC", b"heis": "HEIC", b"hevc": "HEIC", b"hevx": "HEIC",
                b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


def heif_format(data: bytes):
    """'HEIC', 'HEIF' or 'AVIF' when `data` starts like such a file (an iPhone's photos are HEIC), else None."""
    return _HEIF_BRANDS.get(data[8:12]) if data[4:8] == b"ftyp" else None


@dataclasses.dataclass(frozen=True)
class CropBox:
    """Square crop: centre (x, y) in fractions of width / height, side in fractions of the
    shorter side. Parts outside the photo are moved back inside."""

    x: float = 0.5
    y: float = 0.5
    size: float = 1.0

    def pixels(self, width: int, height: int) -> tuple:
        """(left, top, right, bottom) in pixels, inside the photo."""
        for name, v in (("x", self.x), ("y", self.y)):
            if not 0.0 <= v <= 1.0:
                raise FaceImageError(f"crop centre {name} must be between 0 and 1, got {v}")
        if not 0.0 < self.size <= 1.0:
            raise FaceImageError(f"crop size must be in (0, 1], got {self.size}")
        side = max(1, int(round(self.size * min(width, height))))
        left = int(round(self.x * width - side / 2))
        top = int(round(self.y * height - side / 2))
        left = min(max(left, 0), width - side)
        top = min(max(top, 0), height - side)
        return left, top, left + side, top + side


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


def load_photo(data, name: str = "the file", max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS):
    """Decode an upload (bytes or a file-like object) into an 8-bit grayscale PIL image.

    Checks, in order: size of the upload, that Pillow can read it, a single frame, the pixel
    count; then applies the EXIF orientation and flattens transparency onto white.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if hasattr(data, "read"):
        data = data.read(max_bytes + 1)
    data = bytes(data or b"")
    if not data:
        raise FaceImageError(f"{name} is empty (0 bytes): upload a photo (JPEG, PNG, WebP, BMP...)")
    if len(data) > max_bytes:
        raise FaceImageError(f"{name} is too large ({_size_text(len(data))}; the limit is {_size_text(max_bytes)}): "
                             "upload a smaller photo")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise FaceImageError(f"{name} is too large ({w}x{h} pixels; the limit is {max_pixels:,} pixels)")
            if getattr(im, "is_animated", False) or getattr(im, "n_frames", 1) > 1:
                raise FaceImageError(f"{name} is an animated (multi-frame) image ({getattr(im, 'n_frames', '?')} frames): upload a still photo")
            if min(w, h) < MIN_SIDE:
                raise FaceImageError(f"{name} is too small ({w}x{h} pixels): a face needs at least {MIN_SIDE}x{MIN_SIDE}")
            im.load()
            img = ImageOps.exif_transpose(im)
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, rgba)
            if img.mode.startswith("I;16") or img.mode in ("I", "F"):
                a = np.asarray(img, np.float64)
                hi = a.max() if a.size and a.max() > 255 else 255.0
                img = Image.fromarray(np.clip(a * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8))
            return img.convert("L")
    except FaceImageError:
        raise
    except Image.DecompressionBombError:
        raise FaceImageError(f"{name} is too large (Pillow refuses it as a possible decompression bomb)") from None
    except UnidentifiedImageError:
        kind = heif_format(data)
        if kind:
            raise FaceImageError(f"{name} is a {kind} photo (the format iPhones save by default), which this app cannot "
                                 "read: export it as JPEG (Photos: Share > Options > Most Compatible, or Settings > "
                                 "Camera > Formats > Most Compatible) and upload that") from None
        head = data[:64].lstrip().lower()
        hint = " (it looks like text)" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else ""
        raise FaceImageError(f"{name} is not an image Pillow can read{hint}: upload a photo (JPEG, PNG, WebP, BMP...)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt image data
        raise FaceImageError(f"{name} is a damaged image ({type(exc).__name__}: {str(exc)[:120]})") from None


def crop_face(photo, box: CropBox = CropBox()) -> np.ndarray:
    """Crop the square `box` from a grayscale PIL image and resize it to uint8 (48,48)."""
    from PIL import Image

    left, top, right, bottom = box.pixels(*photo.size)
    face = photo.crop((left, top, right, bottom)).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS,
                                                         reducing_gap=3.0)
    return np.asarray(face, dtype=np.uint8).copy()


def prepare_face(data, box: CropBox = CropBox(), name: str = "the file", **limits) -> np.ndarray:
    """load_photo + crop_face: upload bytes -> uint8 (48,48) face (raises FaceImageError)."""
    return crop_face(load_photo(data, name=name, **limits), box)


def preview(photo, box: CropBox, max_side: int = 320) -> np.ndarray:
    """The photo (downscaled to `max_side`) as uint8 RGB with the crop box drawn in red."""
    from PIL import Image, ImageDraw

    scale = min(1.0, max_side / max(photo.size))
    small = photo.resize((max(1, round(photo.size[0] * scale)), max(1, round(photo.size[1] * scale))),
                         Image.Resampling.BILINEAR).convert("RGB")
    left, top, right, bottom = box.pixels(*photo.size)
    draw = ImageDraw.Draw(small)
    draw.rectangle([left * scale, top * scale, right * scale - 1, bottom * scale - 1], outline=(255, 40, 40),
                   width=max(1, round(2 * max(1.0, max(small.size) / 160))))
    return np.asarray(small)
