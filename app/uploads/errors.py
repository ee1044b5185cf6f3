"""The error codes of material uploads (材料上传).

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "UPLOAD_NOT_FOUND": N_("未找到该上传文件，或已过期，请重新上传。"),
    "UPLOAD_IN_USE": N_("该上传文件已用于其他办件，请重新上传。"),
    "UPLOAD_TOO_LARGE": N_("文件过大（上限 {mb} MB），请压缩后重新上传。"),
    "UPLOAD_IMAGE_TOO_LARGE": N_("图片像素过多（上限 {megapixels} 百万像素），请缩小后重新上传。"),
    "UPLOAD_TYPE_NOT_ALLOWED": N_("只能上传 {types} 格式的文件。"),
    "UPLOAD_UNREADABLE": N_("文件已损坏或无法识别，请重新上传。"),
    "UPLOAD_EMPTY": N_("没有收到文件内容，请选择文件后上传。"),
    "UPLOAD_ONE_FILE_ONLY": N_("一次只能上传一个文件。"),
    "UPLOAD_STORAGE_UNAVAILABLE": N_("文件存储暂时不可用，请稍后再试。"),
})
