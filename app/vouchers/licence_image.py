"""The image of a shared licence: a card with its (masked) fields, a watermark naming the purpose,
and the verification QR.

The watermark ("仅供 <purpose> 使用 <date>") is repeated diagonally across the whole card, half
transparent, so a copy cannot be cropped down to an unmarked licence; the QR is drawn on top
of it on a clear white square so that it always scans. Drawing is CPU work: callers run
`render_card_png` in an executor (see `LicenceService.share_image`). Pure function of its
input, so it runs as well in a thread as in a helper process.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

from app.qr import load_cjk_font, qr_square

# The CJK font (Noto Sans CJK SC), with room for the five sizes used here.
_font = lru_cache(maxsize=8)(load_cjk_font)

WIDTH = 1000
HEADER_PX = 120
ROW_PX = 46
MARGIN = 40
QR_MODULE_PX = 5
QR_QUIET_MODULES = 4
FOOTER_PX = 84
INK = (33, 37, 41)
MUTED = (108, 117, 125)
BAND = (22, 76, 150)
PAPER = (250, 248, 240)
WATERMARK_RGBA = (196, 30, 58, 72)  # red, about 28 % opaque
WATERMARK_ANGLE = 30
WATERMARK_PX = 30
WATERMARK_GAP = (120, 130)  # between repeats along the text, and between its lines


@dataclass(frozen=True)
class LicenceCard:
    """Everything drawn on the card, as plain text (already masked where it is personal data)."""

    title: str
    subtitle: str
    rows: tuple[tuple[str, str], ...]  # (label, value)
    validity: str
    qr_text: str
    qr_caption: str
    watermark: str | None


def render_card_png(card: LicenceCard) -> bytes:
    qr = _qr_image(card.qr_text)
    body = max(len(card.rows) * ROW_PX + 2 * MARGIN, qr.height + 2 * MARGIN + 40)
    canvas = Image.new("RGB", (WIDTH, HEADER_PX + body + FOOTER_PX), PAPER)
    draw = ImageDraw.Draw(canvas)
    _header(draw, card)
    text_right = WIDTH - qr.width - 2 * MARGIN
    _rows(draw, card.rows, text_right)
    _footer(draw, card.validity, canvas.height)
    if card.watermark:
        canvas = _watermarked(canvas, card.watermark)
        draw = ImageDraw.Draw(canvas)
    qr_x, qr_y = WIDTH - MARGIN - qr.width, HEADER_PX + MARGIN
    canvas.paste(qr, (qr_x, qr_y))
    _centred(draw, card.qr_caption, qr_x + qr.width // 2, qr_y + qr.height + 8, 20, MUTED)
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()


def _qr_image(text: str) -> Image.Image:
    """The QR, black on a white square with its quiet zone."""
    return qr_square(text, QR_MODULE_PX, QR_QUIET_MODULES).convert("RGB")


def _header(draw: ImageDraw.ImageDraw, card: LicenceCard) -> None:
    draw.rectangle((0, 0, WIDTH, HEADER_PX), fill=BAND)
    draw.text((MARGIN, 18), card.title, fill=(255, 255, 255), font=_font(40))
    draw.text((MARGIN, 74), card.subtitle, fill=(220, 230, 245), font=_font(22))


def _rows(draw: ImageDraw.ImageDraw, rows: tuple[tuple[str, str], ...], right: int) -> None:
    label_font, value_font = _font(22), _font(26)
    label_width = max((draw.textlength(label, font=label_font) for label, _ in rows), default=0) + 24
    y = HEADER_PX + MARGIN
    for label, value in rows:
        draw.text((MARGIN, y + 4), label, fill=MUTED, font=label_font)
        x = MARGIN + label_width
        draw.text((x, y), _fit(draw, value, value_font, right - x), fill=INK, font=value_font)
        y += ROW_PX


def _footer(draw: ImageDraw.ImageDraw, validity: str, height: int) -> None:
    top = height - FOOTER_PX
    draw.line((MARGIN, top, WIDTH - MARGIN, top), fill=(206, 212, 218), width=2)
    draw.text((MARGIN, top + 14), validity, fill=INK, font=_font(26))
    draw.text((MARGIN, top + 50), "电子证照（示例）· 扫码在线核验真伪、用途、有效期与状态", fill=MUTED, font=_font(20))


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _centred(draw: ImageDraw.ImageDraw, text: str, x: int, y: int, size: int, fill) -> None:
    font = _font(size)
    draw.text((x - draw.textlength(text, font=font) / 2, y), text, fill=fill, font=font)


def _watermarked(canvas: Image.Image, text: str) -> Image.Image:
    """The text tiled diagonally over the whole card, half transparent: one rotated stamp, pasted on a
    lattice along and across the text direction (rotating one small stamp, not a card-sized layer)."""
    stamp = _stamp(text)
    angle = math.radians(WATERMARK_ANGLE)
    along, across = stamp_width(text) + WATERMARK_GAP[0], WATERMARK_GAP[1]
    a = (along * math.cos(angle), -along * math.sin(angle))
    b = (across * math.sin(angle), across * math.cos(angle))
    margin = max(stamp.size)
    layer = Image.new("RGBA", (canvas.width + 2 * margin, canvas.height + 2 * margin), (0, 0, 0, 0))
    reach = int((layer.width + layer.height) / min(along, across)) + 1
    for i in range(-reach, reach + 1):
        for j in range(-reach, reach + 1):
            x = int(layer.width / 2 + i * a[0] + j * b[0] + (j % 2) * a[0] / 2) - stamp.width // 2
            y = int(layer.height / 2 + i * a[1] + j * b[1] + (j % 2) * a[1] / 2) - stamp.height // 2
            if 0 <= x <= layer.width - stamp.width and 0 <= y <= layer.height - stamp.height:
                layer.alpha_composite(stamp, (x, y))
    overlay = layer.crop((margin, margin, margin + canvas.width, margin + canvas.height))
    return Image.alpha_composite(canvas.convert("RGBA"), overlay).convert("RGB")


def stamp_width(text: str) -> int:
    return int(ImageDraw.Draw(Image.new("L", (1, 1))).textlength(text, font=_font(WATERMARK_PX))) + 1


def _stamp(text: str) -> Image.Image:
    """The watermark text once, rotated."""
    flat = Image.new("RGBA", (stamp_width(text), WATERMARK_PX * 3 // 2), (0, 0, 0, 0))
    ImageDraw.Draw(flat).text((0, 0), text, fill=WATERMARK_RGBA, font=_font(WATERMARK_PX))
    return flat.rotate(WATERMARK_ANGLE, resample=Image.Resampling.BICUBIC, expand=True)
