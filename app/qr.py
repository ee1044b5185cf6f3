"""QR symbols for any document that carries one, and the CJK font to write beside them.

`framed_png`/`framed_svg` draw a code in a coloured frame with a caption beneath it, so that no one
has to rely on colour alone. The symbol comes from zxing-cpp's encoder at error correction Q (many times faster than pure-Python
encoders), one pixel per module; callers scale it and frame it as their document needs. Drawing is
CPU work: callers run it in an executor. The font is Noto Sans CJK SC when installed, so Chinese text
beside a code is legible.
"""

from __future__ import annotations

import io
from functools import lru_cache

import segno
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

QUIET_MODULES = 4  # the quiet zone the QR standard asks for around a symbol

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_cjk_font(size: int) -> Font:
    """Noto Sans CJK SC at `size` pixels, or pillow's default font when the CJK font is missing.
    Uncached: a document drawing many sizes keeps its own cache (`cjk_font` holds a few)."""
    try:
        from noto_cjk_sans_otc import FONT_PATH

        return ImageFont.truetype(str(FONT_PATH), size, index=2)  # Noto Sans CJK SC
    except (ImportError, OSError):
        return ImageFont.load_default(size)


@lru_cache(maxsize=4)
def cjk_font(size: int) -> Font:
    """`load_cjk_font`, loaded once per size for the few sizes most documents use."""
    return load_cjk_font(size)


def qr_modules(payload: str) -> Image.Image:
    """The QR symbol (error correction Q), one pixel per module, black on white."""
    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    raw = symbol.to_image(scale=1, add_quiet_zones=False)
    height, width = raw.shape
    pixels = bytes(memoryview(raw))  # type: ignore[arg-type]  # zxing-cpp's Image has the buffer protocol
    return Image.frombuffer("L", (width, height), pixels, "raw", "L", 0, 1)


def qr_square(payload: str, module_px: int, quiet_modules: int = QUIET_MODULES) -> Image.Image:
    """The QR black on a white square with its quiet zone, `module_px` pixels a module (greyscale), for a
    document that draws the code among other things."""
    modules = qr_modules(payload)
    side = (modules.width + 2 * quiet_modules) * module_px
    square = Image.new("L", (side, side), 255)
    square.paste(modules.resize((modules.width * module_px,) * 2, Image.Resampling.NEAREST), (quiet_modules * module_px,) * 2)
    return square


def qr_version(payload: str) -> int:
    """The QR version (1-40) `payload` needs at error correction Q: the symbol's side is 17 + 4 × version."""
    return (qr_modules(payload).width - 17) // 4


# -- a framed code with its caption (health codes, venue codes, the social security card) -------------
MODULE_PX = 6
BORDER_PX = 24
CAPTION_PX = 64


RGB = tuple[int, int, int]


@lru_cache(maxsize=64)
def _frame(modules: int, colour: RGB, caption: str) -> Image.Image:
    """The coloured frame with its caption, drawn once per size, colour and text."""
    side = (modules + 2 * QUIET_MODULES) * MODULE_PX
    canvas = Image.new("RGB", (side + 2 * BORDER_PX, side + 2 * BORDER_PX + CAPTION_PX), colour)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((BORDER_PX, BORDER_PX, BORDER_PX + side - 1, BORDER_PX + side - 1), fill=(255, 255, 255))
    caption_font = cjk_font(36)
    box = draw.textbbox((0, 0), caption, font=caption_font)
    x = (canvas.width - (box[2] - box[0])) // 2
    y = side + 2 * BORDER_PX + (CAPTION_PX - (box[3] - box[1])) // 2 - box[1] - BORDER_PX // 2
    draw.text((x, y), caption, fill=(255, 255, 255), font=caption_font)
    return canvas.quantize(palette=_palette(colour), dither=Image.Dither.NONE)


@lru_cache(maxsize=8)
def _palette(colour: RGB) -> Image.Image:
    """16 colours: black (index 0), and 15 steps from the frame colour to white for the caption."""
    r, g, b = colour
    entries = [(0, 0, 0)] + [(r + (255 - r) * i // 14, g + (255 - g) * i // 14, b + (255 - b) * i // 14) for i in range(15)]
    palette = Image.new("P", (1, 1))
    palette.putpalette([c for rgb in entries for c in rgb] + [0] * (768 - 48))
    return palette


def framed_png(payload: str, colour: RGB, caption: str) -> bytes:
    """The QR on white in a frame of `colour`, with `caption` in white beneath it, as a 4-bit PNG."""
    modules = qr_modules(payload)
    canvas = _frame(modules.width, colour, caption).copy()
    scaled = modules.resize((modules.width * MODULE_PX,) * 2, Image.Resampling.NEAREST)
    offset = BORDER_PX + QUIET_MODULES * MODULE_PX
    canvas.paste(0, (offset, offset), Image.eval(scaled, lambda v: 255 - v))  # palette index 0 is black
    out = io.BytesIO()
    # A 4-bit palette image: far fewer bytes to compress than RGB, and a smaller file.
    canvas.save(out, format="PNG", compress_level=1, bits=4)
    return out.getvalue()


def framed_svg(payload: str, colour: RGB, caption: str) -> bytes:
    """The same as `framed_png`, as SVG (segno), the caption as text a screen reader can read."""
    qr = segno.make_qr(payload, error="q", boost_error=False)
    size = qr.symbol_size(scale=MODULE_PX, border=QUIET_MODULES)[0]
    inner = qr.svg_inline(scale=MODULE_PX, border=QUIET_MODULES, dark="#000", light="#fff", omitsize=False)
    r, g, b = colour
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
