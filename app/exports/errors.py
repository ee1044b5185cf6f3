"""The error codes of the copy of one's own data (个人信息副本).

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "EXPORT_NOT_FOUND": N_("未找到该数据副本。"),
    "EXPORT_EXPIRED": N_("下载链接已过期，请重新申请导出个人数据。"),
    "EXPORT_DOWNLOADS_USED": N_("该下载链接的下载次数已用完，请重新申请导出个人数据。"),
    "EXPORT_STORAGE_UNAVAILABLE": N_("数据副本暂时无法保存或读取，请稍后再试。"),
})
