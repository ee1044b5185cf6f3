"""What an uploaded file is, told from its bytes (never its name or declared type), and images made clean.

An image is decoded and encoded again with Pillow: what is kept holds the pixels only, without EXIF
(camera, time, GPS location), XMP, ICC-embedded comments or PNG text chunks. The EXIF orientation is
applied to the pixels first, so a photo taken upright stays upright. A PDF is kept as given.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from app.errors import AppError

# The first bytes of each allowed kind, and the content type it is served with.
SIGNATURES: tuple[tuple[str, bytes, str], ...] = (
    ("jpeg", b"\xff\xd8\xff", "image/jpeg"),
    ("png", b"\x89PNG\r\n\x1a\n", "image/png"),
    ("pdf", b"%PDF-", "application/pdf"),
)
CONTENT_TYPES = {kind: content_type for kind, _, content_type in SIGNATURES}
TYPE_WORDS = {"jpeg": "JPEG", "png": "PNG", "pdf": "PDF"}
JPEG_QUALITY = 90
# What Pillow calls each kind: many phones write MPO (a JPEG with a second, depth or preview, image after it).
PILLOW_FORMATS = {"jpeg": ("JPEG", "MPO"), "png": ("PNG",)}


@dataclass(frozen=True)
class CleanFile:
    kind: str
    content_type: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """jpeg, png or pdf by the file's first bytes; None for anything else."""
    for kind, magic, _ in SIGNATURES:
        if data.startswith(magic):
            return kind
    return None


def clean(data: bytes, allowed: list[str], max_pixels: int) -> CleanFile:
    """The file as it will be kept: 415 for a kind not in `allowed` (or bytes that are not what they start
    as), 413 for an image of more than `max_pixels`. Runs Pillow: call it off the event loop."""
    kind = sniff(data)
    if kind is None or kind not in allowed:
        raise AppError("UPLOAD_TYPE_NOT_ALLOWED", status=415,
                       params={"types": "/".join(TYPE_WORDS[k] for k in allowed)}, extra={"allowed": allowed})
    if kind == "pdf":
        if b"%%EOF" not in data[-1024:]:
            raise AppError("UPLOAD_UNREADABLE", status=415)
        return CleanFile(kind, CONTENT_TYPES[kind], data)
    return CleanFile(kind, CONTENT_TYPES[kind], _reencoded(data, kind, max_pixels))


def _reencoded(data: bytes, kind: str, max_pixels: int) -> bytes:
    """The image's pixels in a new file of the same kind, with no metadata. Whatever Pillow raises on a
    malformed file (a corrupt EXIF block fails in the orientation step with TypeError or struct.error) is
    UPLOAD_UNREADABLE: bad bytes from a citizen are never a server error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format not in PILLOW_FORMATS[kind]:
                    raise AppError("UPLOAD_UNREADABLE", status=415)
                opened.seek(0)  # the picture itself: the first frame of a phone's MPO or an animated PNG
                width, height = opened.size
                if width * height > max_pixels:
                    raise AppError("UPLOAD_TOO_LARGE", status=413, params={"megapixels": max_pixels // 1_000_000},
                                   message_key="UPLOAD_IMAGE_TOO_LARGE", extra={"max_pixels": max_pixels})
                image = ImageOps.exif_transpose(opened)  # the orientation, applied to the pixels (a copy)
                image.load()
            return _encoded(image, kind)
    except AppError:
        raise
    except Exception:  # noqa: BLE001 - a decoder of untrusted bytes: any failure means the file is unreadable
        raise AppError("UPLOAD_UNREADABLE", status=415) from None


def _encoded(image: Image.Image, kind: str) -> bytes:
    """Saved from the pixels alone: the info carried over from the upload (ICC profile, text chunks, EXIF) is
    dropped, and nothing is passed that Pillow would write as metadata."""
    if kind == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif kind == "png" and image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        image = image.convert("RGBA")
    transparency = image.info.get("transparency")  # a palette image's transparent colour is pixels, not metadata
    image.info = {} if transparency is None else {"transparency": transparency}
    out = io.BytesIO()
    if kind == "jpeg":
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(out, "PNG")
    return out.getvalue()
