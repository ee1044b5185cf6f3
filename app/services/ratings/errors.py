"""The error codes of ratings (好差评) and the follow-up of a bad one.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "RATING_NOT_YET_ALLOWED": N_("办件办结后才能评价。"),
    "RATING_EXISTS": N_("您已评价过该办件，每个办件只能评价一次。"),
    "FOLLOW_UP_NOT_FOUND": N_("未找到该差评回访工单。"),
    "FOLLOW_UP_CLOSED": N_("该差评回访工单已答复。"),
})
