"""The health code domain's error codes: reading a signed code, venues, appeals, risk areas.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # Reading and verifying a signed code (health_code.codec; the offline ID voucher reuses these).
    "UNKNOWN_KID": N_("此码的签名密钥不在信任列表中。"),
    "KID_MISMATCH": N_("此码的密钥标识前后不一致。"),
    "BAD_SIGNATURE": N_("此码的签名无效，可能已被篡改。"),
    "UNSUPPORTED_ALGORITHM": N_("此码使用了不支持的签名算法。"),
    "EXPIRED": N_("此码已过期，请刷新后重新出示。"),
    "NOT_YET_VALID": N_("此码尚未生效。"),
    "REVOKED": N_("此码已被签发地区撤销。"),
    "BAD_PREFIX": N_("无法读取此码。"),
    "BAD_ENCODING": N_("无法读取此码。"),
    "BAD_COMPRESSION": N_("无法读取此码。"),
    "BAD_COSE": N_("无法读取此码。"),
    "BAD_CLAIMS": N_("此码内容不完整。"),
    # Venues, appeals and risk areas.
    "INVALID_VENUE_CODE": N_("这不是有效的场所码，请扫描场所张贴的官方场所码。"),
    "NOTHING_TO_APPEAL": N_("您的健康码为绿码，无需申诉。"),
    "APPEAL_PENDING": N_("您已有一项申诉正在审核中，请耐心等待结果。"),
    "APPEAL_ALREADY_DECIDED": N_("该申诉已处理。"),
    "RISK_AREA_ALREADY_ENDED": N_("该风险地区已解除。"),
    # The code shown in elderly mode.
    "CODE_LAPSED": N_("该码已过期，不能再延长，请刷新后重新出示。"),
    "STATUS_CHANGE_DUE": N_("您的健康码状态即将更新，请刷新获取新码。"),
})
