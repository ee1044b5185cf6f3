"""The printed 社保 personal rights record (个人权益记录): one A4 page at 150 dpi with the title, the holder (masked),
the figures, the schemes, the issuing authority, the dates and the verification QR, as PNG or PDF.

Greyscale, as it is printed: the PNG is lossless; the PDF (Pillow's writer) holds the same page as one image,
JPEG at a quality that keeps the QR's edges sharp. Drawing is CPU work: callers run `render_png` and `render_pdf`
in an executor. Pure functions of their input. The font (Noto Sans CJK SC) and the QR symbol are `app.qr`'s.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from app.qr import load_cjk_font, qr_square

# The CJK font loader, with room for the sizes of this page.
_font = lru_cache(maxsize=8)(load_cjk_font)

DPI = 150
WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
MARGIN = 90
INK, MUTED, RULE = 20, 100, 170
QR_MODULE_PX = 5
ROW_PX = 44
PDF_QUALITY = 92

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class ProofPage:
    """Everything drawn on the page, as text (masked where it is personal data)."""

    title: str
    record_no: str
    holder: tuple[tuple[str, str], ...]  # (label, value): the insured person
    figures: tuple[tuple[str, str], ...]  # (label, value): what the record says they have built up
    schemes: tuple[tuple[str, str, str, str], ...]  # name, state, since, months
    issuer: str
    issued_on: str
    valid_until: str
    qr_text: str
    note: str


def render_png(page: ProofPage) -> bytes:
    out = io.BytesIO()
    _draw(page).save(out, format="PNG", compress_level=6)
    return out.getvalue()


def render_pdf(page: ProofPage) -> bytes:
    out = io.BytesIO()
    _draw(page).save(out, format="PDF", resolution=DPI, quality=PDF_QUALITY, title=page.title,
                     author=page.issuer, subject=page.record_no)
    return out.getvalue()


def _draw(page: ProofPage) -> Image.Image:
    canvas = Image.new("L", (WIDTH, HEIGHT), 255)
    draw = ImageDraw.Draw(canvas)
    _centred(draw, page.title, 110, _font(46))
    _centred(draw, f"记录编号：{page.record_no}", 180, _font(24), MUTED)
    y = _section(draw, "参保人信息", page.holder, 250)
    y = _section(draw, "权益信息", page.figures, y + 24)
    y = _scheme_table(draw, page.schemes, y + 24)
    _closing(canvas, draw, page, max(y + 40, HEIGHT - 520))
    return canvas


def _section(draw: ImageDraw.ImageDraw, heading: str, rows: tuple[tuple[str, str], ...], top: int) -> int:
    draw.text((MARGIN, top), heading, fill=INK, font=_font(30))
    draw.line((MARGIN, top + 48, WIDTH - MARGIN, top + 48), fill=RULE, width=2)
    label_font, value_font = _font(24), _font(26)
    y = top + 64
    for label, value in rows:
        draw.text((MARGIN + 10, y + 2), label, fill=MUTED, font=label_font)
        draw.text((MARGIN + 330, y), _fit(draw, value, value_font, WIDTH - 2 * MARGIN - 340), fill=INK,
                  font=value_font)
        y += ROW_PX
    return y


def _scheme_table(draw: ImageDraw.ImageDraw, schemes: tuple[tuple[str, str, str, str], ...], top: int) -> int:
    draw.text((MARGIN, top), "参保险种", fill=INK, font=_font(30))
    columns = (MARGIN + 10, MARGIN + 480, MARGIN + 700, MARGIN + 900)
    y = top + 64
    for x, head in zip(columns, ("险种", "参保状态", "参保起始年月", "累计月数")):
        draw.text((x, y), head, fill=MUTED, font=_font(22))
    draw.line((MARGIN, y + 36, WIDTH - MARGIN, y + 36), fill=RULE, width=2)
    y += 48
    for row in schemes:
        for x, cell in zip(columns, row):
            draw.text((x, y), _fit(draw, cell, _font(24), 460), fill=INK, font=_font(24))
        y += ROW_PX - 4
    return y


def _closing(canvas: Image.Image, draw: ImageDraw.ImageDraw, page: ProofPage, top: int) -> None:
    """The issuer and dates on the left, the QR on the right, the note under both."""
    qr = qr_square(page.qr_text, QR_MODULE_PX)
    qr_x = WIDTH - MARGIN - qr.width
    canvas.paste(qr, (qr_x, top))
    _centred(draw, "扫码核验真伪", top + qr.height + 8, _font(22), MUTED, centre=qr_x + qr.width // 2)
    lines = (f"出具机构：{page.issuer}", f"出具日期：{page.issued_on}", f"有效期至：{page.valid_until}")
    for n, line in enumerate(lines):
        draw.text((MARGIN, top + 30 + n * 56), _fit(draw, line, _font(28), qr_x - MARGIN - 30), fill=INK,
                  font=_font(28))
    note_top = top + qr.height + 60
    draw.line((MARGIN, note_top, WIDTH - MARGIN, note_top), fill=RULE, width=1)
    draw.text((MARGIN, note_top + 14), _fit(draw, page.note, _font(20), WIDTH - 2 * MARGIN), fill=MUTED,
              font=_font(20))


def _centred(draw: ImageDraw.ImageDraw, text: str, y: int, font: Font, fill: int = INK,
             centre: int = WIDTH // 2) -> None:
    draw.text((centre - draw.textlength(text, font=font) / 2, y), text, fill=fill, font=font)


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


__all__ = ["ProofPage", "render_pdf", "render_png"]
