"""Rules of elderly mode (适老化规则): WCAG 2.x contrast, size floors, lifetimes, the undo window.

The contrast formula is WCAG 2.x's own (relative luminance of sRGB, then (L1 + 0.05) / (L2 + 0.05)),
so a palette here can be checked against any WCAG checker. The size floors follow
移动互联网应用适老化通用设计规范 (2021): main text at least 18 dp, key functions and headings at
least 30 dp, touch targets at least 60 × 60 dp; WCAG 1.4.3 asks 4.5:1 for text, 3:1 for large text. Lifetimes and the undo
window are settings (APP_ELDERLY_EXTEND_FACTOR, APP_ELDERLY_UNDO_MINUTES).
"""

from __future__ import annotations

MIN_BODY_DP = 18
MIN_HEADING_DP = 30
MIN_LINE_HEIGHT = 1.3
MIN_TOUCH_DP = 60
TEXT_CONTRAST = 4.5  # WCAG 1.4.3 (AA) for normal text
LARGE_TEXT_CONTRAST = 3.0  # WCAG 1.4.3 for large text (>= 18 pt, or 14 pt bold)
MAX_FONT_SCALE = 2.0  # a client's own scale factor is honoured up to this (beyond it layouts break)


def parse_hex(colour: str) -> tuple[int, int, int]:
    """#RRGGBB -> (r, g, b) in 0..255."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #RRGGBB colour: {colour!r}")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def _channel(value: int) -> float:
    """sRGB channel to linear light, as WCAG 2.x defines it (0.03928 threshold, 2.4 gamma)."""
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    r, g, b = (_channel(v) for v in parse_hex(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG contrast ratio, 1.0 (same colour) to 21.0 (black on white)."""
    a, b = relative_luminance(foreground), relative_luminance(background)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


def required_contrast(large: bool) -> float:
    return LARGE_TEXT_CONTRAST if large else TEXT_CONTRAST


def capped_scale(requested: float | None) -> float:
    """A client's own font scale (e.g. a mini-program's fontSizeScaleFactor): at least 1, at most the cap."""
    if requested is None:
        return 1.0
    return round(min(max(requested, 1.0), MAX_FONT_SCALE), 2)
