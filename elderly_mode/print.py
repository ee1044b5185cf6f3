"""Large print for people without phones (大字打印卡): an A6 card and large-module QR images.

The card is drawn at 300 dpi (A6 = 105 × 148 mm = 1240 × 1748 px) with pillow: a title, the colour
written in words as large as the QR is wide (a black-and-white printer loses the colour, the words
stay), the QR at 8 px or more per module, the masked name, until when it is valid, and the help line.
PDF is pillow's own writer (one page, 300 dpi), so no other library is needed.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw

from app.clock import CHINA_TZ
from app.accounts.service import CitizenSnapshot
from app.errors import ValidationFailed
from app.i18n import N_, translate
from app.platform import Platform
from app.qr import QUIET_MODULES, cjk_font, qr_modules, qr_square
from app.security.pii import mask_name
from health_code.service import HealthCodeService, colour_text, utc

DPI = 300
A6_PX = (1240, 1748)  # 105 × 148 mm at 300 dpi
MIN_MODULE_PX = 8  # at 300 dpi: 0.68 mm per module, read by any phone camera or desk scanner
MAX_MODULE_PX = 40
MARGIN = 70
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
COLOUR_BARS = {"green": (0, 102, 46), "yellow": (122, 74, 0), "red": (168, 0, 28)}


@dataclass(frozen=True)
class CardText:
    """Everything written on the card, already in the reader's language."""

    title: str
    colour_words: str
    name_line: str
    valid_line: str
    help_line: str
    footer: str


def qr_image(payload: str, module_px: int) -> Image.Image:
    """The QR with a 4-module quiet zone, `module_px` pixels per module, black on white."""
    if not MIN_MODULE_PX <= module_px <= MAX_MODULE_PX:
        raise ValueError(f"module size must be {MIN_MODULE_PX}-{MAX_MODULE_PX} px")
    return qr_square(payload, module_px)  # error correction Q, as the health code itself


def large_qr_png(payload: str, module_px: int = 12) -> bytes:
    """Any code as a large-module PNG (for a magnifier, a printer, an older phone camera)."""
    out = io.BytesIO()
    qr_image(payload, module_px).save(out, format="PNG", dpi=(DPI, DPI), optimize=True)
    return out.getvalue()


def module_px_for(payload: str, width: int) -> int:
    """The largest whole module size whose QR fits `width` pixels (at least MIN_MODULE_PX)."""
    modules = qr_modules(payload).width + 2 * QUIET_MODULES
    return max(MIN_MODULE_PX, min(MAX_MODULE_PX, width // modules))


def card_image(payload: str, colour: str, text: CardText) -> Image.Image:
    width, height = A6_PX
    card = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(card)
    y = MARGIN
    y = _centred(draw, text.title, 64, y, width) + 30
    # The colour as a bar with the words in it: readable in colour, and in words on a mono printer.
    bar_height = 170
    draw.rectangle((MARGIN, y, width - MARGIN, y + bar_height), fill=COLOUR_BARS.get(colour, BLACK))
    _centred(draw, text.colour_words, 120, y + 18, width, fill=WHITE)
    y += bar_height + 30
    module_px = module_px_for(payload, width - 2 * MARGIN)
    qr = qr_image(payload, module_px)
    card.paste(qr, ((width - qr.width) // 2, y))
    y += qr.width + 24
    for line, size in ((text.name_line, 56), (text.valid_line, 44), (text.help_line, 48), (text.footer, 34)):
        y = _centred(draw, line, size, y, width) + 16
    if y > height:
        raise ValueError("card text does not fit on A6")
    return card


def card_png(payload: str, colour: str, text: CardText) -> bytes:
    out = io.BytesIO()
    # A few colours only: a palette image is a quarter of the bytes to compress, and still exact.
    card = card_image(payload, colour, text).quantize(colors=16, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    card.save(out, format="PNG", dpi=(DPI, DPI), compress_level=6)
    return out.getvalue()


def card_pdf(payload: str, colour: str, text: CardText) -> bytes:
    out = io.BytesIO()
    card_image(payload, colour, text).save(out, format="PDF", resolution=DPI, title=text.title)
    return out.getvalue()


def _centred(draw: ImageDraw.ImageDraw, line: str, size: int, y: int, width: int, fill: tuple = BLACK) -> int:
    """Draw one centred line; returns the y below it. Long lines shrink until they fit."""
    font = cjk_font(size)
    box = draw.textbbox((0, 0), line, font=font)
    while box[2] - box[0] > width - 2 * MARGIN and size > 20:
        size -= 4
        font = cjk_font(size)
        box = draw.textbbox((0, 0), line, font=font)
    draw.text(((width - (box[2] - box[0])) // 2 - box[0], y - box[1]), line, fill=fill, font=font)
    return y + int(box[3] - box[1])


TITLES = N_("健康码 · 长辈打印卡")
NAME = N_("姓名：{name}")
VALID = N_("有效至 {until}（北京时间）")
HELP = N_("帮助热线 {phone}")
FOOTER = N_("请出示给工作人员扫码 · 示例")


def card_text(colour_words: str, name_masked: str, until: str, help_phone: str, language: str) -> CardText:
    return CardText(translate(TITLES, language), colour_words, translate(NAME, language, name=name_masked or "-"),
                    translate(VALID, language, until=until), translate(HELP, language, phone=help_phone), translate(FOOTER, language))


class LargePrint:
    """Draws the cards and large QRs off the event loop (pillow work takes tens of milliseconds)."""

    def __init__(self, platform: Platform, health: HealthCodeService) -> None:
        self.platform = platform
        self.health = health

    async def card(self, citizen: CitizenSnapshot, fmt: str, language: str, proxy_id: str | None = None) -> bytes:
        code = await self.health.print_code(citizen, proxy_id)
        name = self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
        until = utc(code.expires_at).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
        text = card_text(colour_text(code.colour, language), mask_name(name), until, self.platform.settings.elderly.help_line,
                         language)
        draw = card_pdf if fmt == "pdf" else card_png
        return await asyncio.get_running_loop().run_in_executor(None, draw, code.payload, code.colour, text)

    async def qr(self, text: str, module_px: int) -> bytes:
        try:
            return await asyncio.get_running_loop().run_in_executor(None, large_qr_png, text, module_px)
        except ValueError:  # more than a QR code holds at error correction Q
            raise ValidationFailed([{"field": "text", "problem": "too long for one QR code"}]) from None
