"""The error codes of appointments (网上预约): slots and bookings.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "SLOT_NOT_FOUND": N_("未找到该预约时段。"),
    "SLOT_FULL": N_("该时段已约满，请选择其他时段。"),
    "SLOT_STARTED": N_("该时段已开始或已结束，不能再预约。"),
    "SLOT_OTHER_ITEM": N_("只能改约到同一事项的其他时段。"),
    "ALREADY_BOOKED": N_("您当天已预约该事项，如需更换时段请使用改约。"),
    "APPOINTMENT_NOT_FOUND": N_("未找到该预约。"),
    "APPOINTMENT_NOT_ACTIVE": N_("该预约已取消。"),
    "APPOINTMENT_STARTED": N_("预约时间已到，不能再改约或取消。"),
    "APPOINTMENT_CHANGED": N_("该预约刚刚已被更改，请刷新后重试。"),
})
