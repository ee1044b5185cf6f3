"""Elderly mode's (适老化) error codes: family proxies (亲友代办), guardianship and undo.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # Family proxies (亲友代办) and guardianship.
    "PRINCIPAL_DELETION_PENDING": N_("这位家人已申请注销账号，不能再代为办理。"),
    "FAMILY_LINK_REQUIRED": N_("您还不是这位家人的代办人，或代办关系已解除、已过期。"),
    "FAMILY_LINK_NOT_FOUND": N_("未找到该代办关系。"),
    "FAMILY_LINK_EXISTS": N_("您已是这位家人的代办人，或正在等待家人确认。"),
    "FAMILY_SELF": N_("不能把自己添加为代办对象。"),
    "FAMILY_PRINCIPAL_NOT_FOUND": N_("未找到已实名的该用户。请家人先用手机号登录并完成实名认证，或一起到政务服务大厅办理。"),
    "FAMILY_PROXY_NOT_FOUND": N_("未找到该手机号对应的已实名用户。请代办的家人先用手机号登录并完成实名认证。"),
    "FAMILY_CONSENT_INVALID": N_("确认码不正确，还可尝试 {tries_left} 次。"),
    "FAMILY_CONSENT_EXPIRED": N_("确认码已失效，请重新发送确认短信。"),
    "FAMILY_LINK_NOT_PENDING": N_("该代办关系已解除，不能再确认，请重新添加。"),
    "GUARDIAN_EVIDENCE_INVALID": N_("户口簿信息与所填子女不符、该户口簿当前无效，或该子女尚未实名认证。"),
    "GUARDIAN_NOT_MINOR": N_("监护代办只适用于未满 18 周岁的子女。"),
    # Undoing a submission made in elderly mode.
    "UNDO_WINDOW_CLOSED": N_("提交已超过 {minutes} 分钟，不能再直接撤回。"),
    "UNDO_NOT_AVAILABLE": N_("该办件不是在长辈模式下提交的，不能直接撤回。"),
})
