"""QR symbols for any document that carries one, and the CJK font to write beside them.

The symbol comes from zxing-cpp's encoder at error correction Q (many times faster than pure-Python
encoders), one pixel per module; callers scale it and frame it as their document needs. Drawing is
CPU work: callers run it in an executor. The font is Noto Sans CJK SC when installed, so Chinese text
beside a code is legible.
"""

from __future__ import annotations

from functools import lru_cache

import zxingcpp
from PIL import Image, ImageFont

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
    return Image.frombuffer("L", (width, height), bytes(memoryview(raw)), "raw", "L", 0, 1)


def qr_square(payload: str, module_px: int, quiet_modules: int = QUIET_MODULES) -> Image.Image:
    """The QR black on a white square with its quiet zone, `module_px` pixels a module (greyscale), for a
    document that draws the code among other things."""
    modules = qr_modules(payload)
    side = (modules.width + 2 * quiet_modules) * module_px
    square = Image.new("L", (side, side), 255)
    square.paste(modules.resize((modules.width * module_px,) * 2, Image.NEAREST), (quiet_modules * module_px,) * 2)
    return square


def qr_version(payload: str) -> int:
    """The QR version (1-40) `payload` needs at error correction Q: the symbol's side is 17 + 4 × version."""
    return (qr_modules(payload).width - 17) // 4
