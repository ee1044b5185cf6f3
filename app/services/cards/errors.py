"""The error codes of the home screen's service cards (服务卡片).

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "CARD_TYPE_UNKNOWN": N_("没有这种服务卡片：{card_type}。"),
    "CARD_TYPE_REPEATED": N_("服务卡片 {card_type} 重复出现，每种卡片只能添加一次。"),
    "CARD_NOT_PINNED": N_("首页没有服务卡片 {card_type}。"),
})
