"""QR images of a health code: the QR in a frame of its status colour with the status written beneath
it in words (`app.qr.framed_png` / `framed_svg`). Rendering is CPU work: callers run it in an executor
and cache the bytes per issued code (see `service.HealthCodeService.image`).
"""

from __future__ import annotations

from app.qr import framed_png, framed_svg

FRAME_COLOURS = {"green": (0, 122, 51), "yellow": (150, 100, 0), "red": (196, 30, 58), "venue": (22, 76, 150)}


def render_png(payload: str, colour: str, caption: str) -> bytes:
    return framed_png(payload, FRAME_COLOURS[colour], caption)


def render_svg(payload: str, colour: str, caption: str) -> bytes:
    return framed_svg(payload, FRAME_COLOURS[colour], caption)
