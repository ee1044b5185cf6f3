"""The error codes of 12345 tickets (工单).

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "TICKET_NOT_FOUND": N_("未找到该工单。"),
    "TICKET_STATE_CONFLICT": N_("工单当前状态不能进行此操作。"),
    "TICKET_ITEM_NOT_FOUND": N_("未找到所述事项，请核对后重新选择。"),
    "TICKET_DEPARTMENT_NOT_FOUND": N_("未找到所述部门，请核对后重新选择。"),
    "TICKET_IDEMPOTENCY_KEY_REUSED": N_("该 Idempotency-Key 已用于另一份不同的工单，请为新工单使用新的键。"),
})
