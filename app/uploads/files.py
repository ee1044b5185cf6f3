"""What an uploaded file is, told from its bytes (never its name or declared type), and images made clean.

An image is decoded and encoded again with Pillow: what is kept holds the pixels only, without EXIF
(camera, time, GPS location), XMP, ICC-embedded comments or PNG text chunks. The EXIF orientation is
applied to the pixels first, so a photo taken upright stays upright. A PDF is kept as given.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

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
                       params={"types": "、".join(TYPE_WORDS[k] for k in allowed)}, extra={"allowed": allowed})
    if kind == "pdf":
        if b"%%EOF" not in data[-1024:]:
            raise AppError("UPLOAD_UNREADABLE", status=415)
        return CleanFile(kind, CONTENT_TYPES[kind], data)
    return CleanFile(kind, CONTENT_TYPES[kind], _reencoded(data, kind, max_pixels))


def _reencoded(data: bytes, kind: str, max_pixels: int) -> bytes:
    """The image's pixels in a new file of the same kind, with no metadata."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format != kind.upper() or getattr(opened, "n_frames", 1) != 1:
                    raise AppError("UPLOAD_UNREADABLE", status=415)
                width, height = opened.size
                if width * height > max_pixels:
                    raise AppError("UPLOAD_TOO_LARGE", status=413, params={"megapixels": max_pixels // 1_000_000},
                                   message_key="UPLOAD_IMAGE_TOO_LARGE", extra={"max_pixels": max_pixels})
                image = ImageOps.exif_transpose(opened)  # the orientation, applied to the pixels
                image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise AppError("UPLOAD_UNREADABLE", status=415) from None
    return _encoded(image, kind)


def _encoded(image: Image.Image, kind: str) -> bytes:
    """Saved from the pixels alone: the info carried over from the upload (ICC profile, text chunks, EXIF) is
    dropped, and nothing is passed that Pillow would write as metadata."""
    if kind == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    elif kind == "png" and image.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        image = image.convert("RGBA")
    else:
        image = image.copy()
    image.info = {}
    out = io.BytesIO()
    if kind == "jpeg":
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        image.save(out, "PNG")
    return out.getvalue()
