"""The service catalogue's error codes: its items (事项), life events (一件事), departments, and search.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "SEARCH_QUERY_REQUIRED": N_("请输入要搜索的事项名称或关键词。"),
    "SEARCH_QUERY_TOO_LONG": N_("搜索内容不能超过 {max} 个字，请精简后再试。"),
    "INVALID_REGION_CODE": N_("地区代码应为 6 位数字，例如 440106。"),
    "SERVICE_ITEM_NOT_FOUND": N_("未找到该事项，可能已下线，请重新搜索。"),
    "LIFE_EVENT_NOT_FOUND": N_("未找到该“一件事”主题。"),
    "DEPARTMENT_NOT_FOUND": N_("未找到部门 {department}。"),
    "SERVICE_ITEM_STATUS_CONFLICT": N_("事项当前状态为 {status}，不能进行此操作。"),
})
