"""The simpler home of elderly mode (长辈版首页): at most six large cards, nothing promotional.

The cards are chosen for older people, in this order: the health code, the ID voucher, the yearly
pension eligibility check (养老金资格认证), medical insurance, the help line and family (亲友代办).
The citizen's own pins do not apply here (they may be a grandchild's choices); there are no banners,
no promotions and no popups, and each card carries its status in words with an icon and a
`tts_text` to be read aloud. The full catalogue stays one search away.
"""

from __future__ import annotations

from typing import Any

from app.accounts.service import CitizenSnapshot
from app.clock import rfc3339
from app.i18n import N_, translate
from app.services.cards.service import HomeCards
from elderly_mode import presets, tts
from elderly_mode.models import FamilyLink

MAX_CARDS = 6
SERVICE_CARDS = ("health_code", "id_voucher", "pension_certification", "medical_insurance")
HELP_TITLE = N_("求助热线")
HELP_SUMMARY = N_("拨打 {phone}，有人帮您办")
FAMILY_TITLE = N_("亲友代办")
FAMILY_SUMMARY = N_("{count} 位家人可以帮您办事")
FAMILY_NONE = N_("添加家人，请他们帮您办事")
STATUS_FOR_CARD = {"ok": "ok", "stale": "stale", "unavailable": "unavailable", "locked": "locked"}


async def elderly_cards(cards: HomeCards, citizen: CitizenSnapshot, language: str, help_line: str,
                        now: Any) -> list[dict[str, Any]]:
    views = await cards.home(citizen, language, types=SERVICE_CARDS)
    shown: list[dict[str, Any]] = []
    for view in views:
        status = view.status
        if view.type == "health_code" and status == "ok":
            status = _colour_of(view.summary)
        shown.append(_card(view.type, view.title, view.summary, status, view.stale, rfc3339(view.updated_at),
                           view.notice, language))
    shown.append(_card("help_line", translate(HELP_TITLE, language), translate(HELP_SUMMARY, language, phone=help_line), "ok",
                       False, None, None, language, action={"type": "call", "phone": help_line}))
    helpers = await FamilyLink.filter(principal_id=citizen.id, status="active", expires_at__gt=now).count()
    summary = translate(FAMILY_SUMMARY, language, count=helpers) if helpers else translate(FAMILY_NONE, language)
    shown.append(_card("family", translate(FAMILY_TITLE, language), summary, "ok", False, None, None, language,
                       action={"type": "open", "path": "/api/v1/family/links"}))
    return shown[:MAX_CARDS]


def _colour_of(summary: str) -> str:
    for colour, entry in (("green", "绿綠Green"), ("yellow", "黄黃Yellow"), ("red", "红紅Red")):
        if any(word in summary for word in (entry[0], entry[1], entry[2:])):
            return colour
    return "ok"


def _card(kind: str, title: str, summary: str, status: str, stale: bool, updated_at: str | None,
          notice: str | None, language: str, action: dict[str, Any] | None = None) -> dict[str, Any]:
    label = presets.status_label(status if status in presets.STATUSES else "ok", language)
    stop = ". " if language == "en" else "。"
    spoken = tts.spoken(stop.join(part for part in (title, summary, notice) if part), language)
    return {"type": kind, "title": title, "summary": summary, "stale": stale, "updated_at": updated_at,
            "status": STATUS_FOR_CARD.get(status, "ok"), "notice": notice, "size": "large",
            "status_label": label["label"], "icon": label["icon"], "colour": label["colour"],
            "tts_text": spoken, "action": action}


async def home_reply(cards: HomeCards, citizen: CitizenSnapshot, language: str, help_line: str,
                     now: Any) -> dict[str, Any]:
    return {"cards": await elderly_cards(cards, citizen, language, help_line, now), "preset": "elderly",
            "preset_url": "/api/v1/elderly/preset", "catalogue_url": "/api/v1/services/search", "popups": []}
