"""The presentation preset of elderly mode (长辈版展示预设), as clients and the H5 page apply it.

One plain JSON shape (documented in the README): sizes in dp, a palette of named #RRGGBB colours,
every text/background pair the clients draw with its WCAG contrast ratio worked out here (never typed
in), and status colours that always come with a text label and an icon name, so colour is never the
only signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.i18n import N_, translate
from elderly_mode import rules

if TYPE_CHECKING:
    from app.services.catalogue.service import IndexedItem

VERSION = "2026.1"

# High-contrast palette: near-black text on white, dark status colours under white text.
PALETTE: dict[str, str] = {
    "background": "#FFFFFF",
    "surface": "#F3F4F6",
    "text": "#1A1A1A",
    "text_secondary": "#404040",
    "heading": "#000000",
    "primary": "#0B4F9C",
    "on_primary": "#FFFFFF",
    "link": "#0B4F9C",
    "success": "#00662E",
    "warning": "#7A4A00",
    "danger": "#A8001C",
    "on_status": "#FFFFFF",
    "focus_ring": "#000000",
}


@dataclass(frozen=True)
class Pair:
    """A foreground drawn on a background; `large` pairs are headings and key functions (>= 30 dp)."""

    foreground: str
    background: str
    use: str
    large: bool = False


PAIRS: tuple[Pair, ...] = (
    Pair("text", "background", "body text"),
    Pair("text", "surface", "body text on cards"),
    Pair("text_secondary", "background", "secondary text"),
    Pair("text_secondary", "surface", "secondary text on cards"),
    Pair("heading", "background", "headings", large=True),
    Pair("heading", "surface", "card titles", large=True),
    Pair("link", "background", "links"),
    Pair("link", "surface", "links on cards"),
    Pair("on_primary", "primary", "key function buttons", large=True),
    Pair("on_status", "success", "green status (text on colour)"),
    Pair("on_status", "warning", "yellow status (text on colour)"),
    Pair("on_status", "danger", "red status (text on colour)"),
    Pair("success", "background", "green status as text"),
    Pair("warning", "background", "yellow status as text"),
    Pair("danger", "background", "red status as text"),
    Pair("focus_ring", "background", "focus outline (non-text, 3:1)", large=True),
)

# Each status: its colour, its words and an icon, so no one has to tell colours apart.
STATUSES: dict[str, dict[str, Any]] = {
    "green": {"colour": "success", "icon": "check-circle",
              "label": N_("绿码")},
    "yellow": {"colour": "warning", "icon": "alert-triangle",
               "label": N_("黄码")},
    "red": {"colour": "danger", "icon": "x-octagon",
            "label": N_("红码")},
    "ok": {"colour": "success", "icon": "check-circle", "label": N_("正常")},
    "stale": {"colour": "warning", "icon": "clock",
              "label": N_("暂未更新")},
    "unavailable": {"colour": "warning", "icon": "cloud-off",
                    "label": N_("暂时无法查询")},
    "locked": {"colour": "primary", "icon": "lock",
               "label": N_("请先实名认证")},
    "error": {"colour": "danger", "icon": "alert-circle",
              "label": N_("出错了")},
}


def pair_report(pair: Pair) -> dict[str, Any]:
    ratio = rules.contrast_ratio(PALETTE[pair.foreground], PALETTE[pair.background])
    required = rules.required_contrast(pair.large)
    return {"foreground": pair.foreground, "background": pair.background, "use": pair.use, "large": pair.large,
            "ratio": round(ratio, 2), "required": required, "passes": ratio >= required}


def elderly_preset(language: str, font_scale: float | None = None) -> dict[str, Any]:
    """The preset for one language and a client's own font scale (capped at rules.MAX_FONT_SCALE)."""
    scale = rules.capped_scale(font_scale)
    return {
        "name": "elderly",
        "version": VERSION,
        "font_scale": scale,
        "font_scale_cap": rules.MAX_FONT_SCALE,
        "sizes": {
            "body_dp": round(rules.MIN_BODY_DP * scale, 1),
            "secondary_dp": round(rules.MIN_BODY_DP * scale, 1),  # nothing smaller than main text
            "heading_dp": round(rules.MIN_HEADING_DP * scale, 1),
            "key_function_dp": round(rules.MIN_HEADING_DP * scale, 1),
            "line_height": 1.5,
            "touch_target_dp": max(rules.MIN_TOUCH_DP, round(rules.MIN_TOUCH_DP * min(scale, 1.5))),
            "spacing_dp": 16,
            "qr_module_px": 8,  # at least 8 px per module at 300 dpi-equivalent
        },
        "palette": dict(PALETTE),
        "pairs": [pair_report(p) for p in PAIRS],
        "statuses": {name: {"colour": s["colour"], "hex": PALETTE[s["colour"]], "icon": s["icon"],
                            "label": translate(s["label"], language)} for name, s in STATUSES.items()},
        "behaviour": {
            "max_home_cards": 6,
            "marketing": False,  # no promotions, banners or ads of any kind
            "auto_dismiss": False,  # nothing disappears on a timer; every dialog waits for a tap
            "animations": False,
            "visual_only_challenges": False,  # no image-only CAPTCHA: a voice-call code is offered
            "tts": True,  # key replies carry tts_text
        },
    }


def status_label(status: str, language: str) -> dict[str, str]:
    """The label and icon that go with a status colour wherever it is shown."""
    entry = STATUSES[status]
    return {"label": translate(entry["label"], language), "icon": entry["icon"], "colour": entry["colour"]}


def search_feature() -> "IndexedItem":
    """The elderly-mode switch as a catalogue search result, found first by the words people use for it."""
    from app.services.catalogue.service import IndexedItem

    return IndexedItem.build(
        id="feature-elderly-mode", name="长辈版（长辈模式）",
        aliases=["长辈模式", "关怀版", "关怀模式", "老年版", "老年模式", "老年", "大字版", "大字", "大字体", "亲情账号",
                 "亲情", "亲友代办", "适老化", "elder", "elderly mode", "large text", "senior mode"],
        department="粤省事（示例）", department_id="app", region_level="province", region_code="440000",
        category="适老化", trips=0, time_limit_days=0, channels=["online", "mini_program"], popularity=0,
        faq=[{"q": "怎么打开长辈版？", "a": "点击本条目的开关即可，切换后所有设备登录都会生效。"}],
        kind="feature",
        action={"method": "PUT", "path": "/api/v1/me/preferences", "body": {"elderly_mode": True},
                "preset": "/api/v1/elderly/preset"},
    )
