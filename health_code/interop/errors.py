"""Cross-region recognition's (互认) error codes: partner regions, their keys, and why a partner's code is refused.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # Partner regions and their keys.
    "PARTNER_NOT_REGISTERED": N_("该客户端不是已登记的互认地区。"),
    "PARTNER_EXISTS": N_("该互认地区已登记。"),
    "PARTNER_NOT_FOUND": N_("未找到该互认地区。"),
    "PARTNER_KEY_EXISTS": N_("该密钥（kid）已登记。"),
    "PARTNER_KEY_NOT_FOUND": N_("未找到该密钥。"),
    "PARTNER_KEY_FEED_NOT_FOUND": N_("该伙伴未登记密钥发布地址。"),
    # Converting a partner's code (转码) and the reasons one is refused.
    "QUOTA_EXCEEDED": N_("今日查验额度已用完，请 {retry_after} 秒后再试。"),
    "CONSENT_REQUIRED": N_("转码前需要您同意读取该健康码中的信息。"),
    "UNSUPPORTED_FORMAT": N_("无法识别此码的格式。"),
    "UNKNOWN_PARTNER": N_("此码的签发地区不在互认名单中。"),
    "PARTNER_SUSPENDED": N_("与此码签发地区的互认已暂停。"),
    "FORMAT_NOT_ACCEPTED": N_("该地区未登记此种码格式。"),
    "KEY_REVOKED": N_("此码的签名密钥已被吊销。"),
    "KEY_NOT_VALID": N_("此码的签名密钥不在有效期内。"),
    "KEY_RETIRED": N_("此码由已停用的密钥在停用后签发。"),
    "KEY_USAGE": N_("该密钥无权签发此类凭证。"),
    "STATE_NOT_MAPPED": N_("此码的状态无法对应到本地健康码颜色。"),
    "SUBJECT_MISMATCH": N_("此码的持有人与您的实名信息不符。"),
    "SUBJECT_NOT_PRESENT": N_("此码不含可核对的持有人信息，无法转码。"),
    "HOLDER_NOT_BOUND": N_("此码未绑定持有人的姓名和出生日期（旧版码），无法转码。请让签发地区重新签发，或出示含姓名和出生日期的凭证。"),
    "HOLDER_KEY_STOPPED": N_("此码签发时使用的持有人核验密钥已停用，无法转码。请让签发地区重新签发此码后再试。"),
    "HOLDER_KEY_NOT_AGREED": N_("签发此码的地区尚未与本省约定持有人核验方式，暂无法转码。请出示含姓名和出生日期的凭证，或稍后再试。"),
    "ISSUER_MISMATCH": N_("此码的签发地区与签名密钥不符。"),
})
