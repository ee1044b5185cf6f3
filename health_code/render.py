"""QR images of a health code: PNG (the QR of `app.qr` + pillow) and SVG (segno).

The QR sits in a frame of the status colour with the status written beside it in words,
so that no one has to rely on colour alone. Rendering is CPU work: callers run it in an
executor and cache the bytes per issued code (see `service.HealthCodeService.image`).
"""

from __future__ import annotations

import io
from functools import lru_cache

import segno
from PIL import Image, ImageDraw

from app.qr import QUIET_MODULES, cjk_font, qr_modules

FRAME_COLOURS = {"green": (0, 122, 51), "yellow": (150, 100, 0), "red": (196, 30, 58), "venue": (22, 76, 150)}
MODULE_PX = 6
BORDER_PX = 24
CAPTION_PX = 64


@lru_cache(maxsize=64)
def _frame(modules: int, colour: str, caption: str) -> Image.Image:
    """The coloured frame with its caption, drawn once per size, colour and text."""
    side = (modules + 2 * QUIET_MODULES) * MODULE_PX
    canvas = Image.new("RGB", (side + 2 * BORDER_PX, side + 2 * BORDER_PX + CAPTION_PX), FRAME_COLOURS[colour])
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((BORDER_PX, BORDER_PX, BORDER_PX + side - 1, BORDER_PX + side - 1), fill=(255, 255, 255))
    caption_font = cjk_font(36)
    box = draw.textbbox((0, 0), caption, font=caption_font)
    x = (canvas.width - (box[2] - box[0])) // 2
    y = side + 2 * BORDER_PX + (CAPTION_PX - (box[3] - box[1])) // 2 - box[1] - BORDER_PX // 2
    draw.text((x, y), caption, fill=(255, 255, 255), font=caption_font)
    return canvas.quantize(palette=_palette(colour), dither=Image.Dither.NONE)


@lru_cache(maxsize=8)
def _palette(colour: str) -> Image.Image:
    """16 colours: black (index 0), and 15 steps from the frame colour to white for the caption."""
    r, g, b = FRAME_COLOURS[colour]
    entries = [(0, 0, 0)] + [(r + (255 - r) * i // 14, g + (255 - g) * i // 14, b + (255 - b) * i // 14) for i in range(15)]
    palette = Image.new("P", (1, 1))
    palette.putpalette([c for rgb in entries for c in rgb] + [0] * (768 - 48))
    return palette


def render_png(payload: str, colour: str, caption: str) -> bytes:
    modules = qr_modules(payload)
    canvas = _frame(modules.width, colour, caption).copy()
    scaled = modules.resize((modules.width * MODULE_PX,) * 2, Image.NEAREST)
    offset = BORDER_PX + QUIET_MODULES * MODULE_PX
    canvas.paste(0, (offset, offset), Image.eval(scaled, lambda v: 255 - v))  # palette index 0 is black
    out = io.BytesIO()
    # A 4-bit palette image: far fewer bytes to compress than RGB, and a smaller file.
    canvas.save(out, format="PNG", compress_level=1, bits=4)
    return out.getvalue()


def render_svg(payload: str, colour: str, caption: str) -> bytes:
    qr = segno.make_qr(payload, error="q", boost_error=False)
    size = qr.symbol_size(scale=MODULE_PX, border=QUIET_MODULES)[0]
    inner = qr.svg_inline(scale=MODULE_PX, border=QUIET_MODULES, dark="#000", light="#fff", omitsize=False)
    r, g, b = FRAME_COLOURS[colour]
    width, height = size + 2 * BORDER_PX, size + 2 * BORDER_PX + CAPTION_PX
    caption_xml = caption.replace("&", "&amp;").replace("<", "&lt;")
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{caption_xml}">'
        f'<rect width="100%" height="100%" fill="rgb({r},{g},{b})"/>'
        f'<g transform="translate({BORDER_PX},{BORDER_PX})">{inner}</g>'
        f'<text x="50%" y="{size + BORDER_PX + CAPTION_PX // 2 + 8}" text-anchor="middle" font-size="32" '
        f'fill="#fff" font-family="Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif">{caption_xml}</text></svg>'
    )
    return svg.encode("utf-8")
