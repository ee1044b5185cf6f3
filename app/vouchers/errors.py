"""The ID voucher's and the e-licence wallet's error codes.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # The ID voucher (居民身份电子凭证) and its presentations.
    "VOUCHER_NOT_FOUND": N_("您还没有居民身份电子凭证。"),
    "VOUCHER_SUSPENDED": N_("电子凭证已锁定，请先解锁。"),
    "VOUCHER_REVOKED": N_("该电子凭证已作废。"),
    "DEVICE_PROOF_INVALID": N_("请在办理电子凭证的手机上操作。"),
    "FULL_IDENTITY_CONSENT_REQUIRED": N_("提供完整身份信息需要您本次明确同意。"),
    "STANDING_REQUEST_NOT_FOUND": N_("未找到该机构的授权请求。"),
    "PRESENTATION_NOT_FOUND": N_("未找到该亮证记录。"),
    "ELDERLY_MODE_REQUIRED": N_("延长有效期仅在长辈模式下提供。"),
    "ALREADY_EXTENDED": N_("有效期只能延长一次。"),
    "PRESENTATION_EXPIRED": N_("该二维码已过期，请让对方刷新后重新出示。"),
    "PRESENTATION_FOR_ANOTHER_PARTY": N_("该亮证二维码是出示给另一家机构的。"),
    # The offline ID voucher: key binding (KB-JWT) and the relying party's nonce.
    "OFFLINE_KEY_BINDING_MISSING": N_("该离线亮证码缺少手机密钥签名，请让持证人在本机构出示新的二维码。"),
    "OFFLINE_KEY_BINDING_INVALID": N_("该离线亮证码不是由持证人的手机签署的。"),
    "OFFLINE_KEY_BINDING_STALE": N_("该离线亮证码已超时，请让持证人重新出示。"),
    "OFFLINE_DISCLOSURES_CHANGED": N_("该离线亮证码的出示内容被改动过。"),
    "OFFLINE_NONCE_MISMATCH": N_("该离线亮证码不是为本次核验生成的，请让持证人扫描本次的核验码后重新出示。"),
    "OFFLINE_NONCE_UNKNOWN": N_("核验码无效，请重新获取核验码。"),
    "OFFLINE_NONCE_EXPIRED": N_("核验码已过期，请重新获取核验码。"),
    "OFFLINE_NONCE_USED": N_("该核验码已使用过，重复出示的亮证码无效。"),
    "OFFLINE_PRESENTATION_EXPIRED": N_("该离线亮证码已过期，请让持证人重新获取。"),
    "OFFLINE_VOUCHER_WITHDRAWN": N_("持证人已在出示后锁定或注销其身份电子凭证，该离线亮证码不再有效。请核验其他证件。"),
    "OFFLINE_PRESENTATION_INVALID": N_("无法识别该离线亮证码，或其签名无效。"),
    # What a relying party is told about a presentation QR.
    "TOKEN_ALREADY_USED": N_("该二维码已被使用，请让对方重新扫码。"),
    "TOKEN_INVALID_SIGNATURE": N_("二维码无效或被篡改。"),
    "SCOPE_NOT_ALLOWED": N_("贵机构无权获取：{scopes}。"),
    # The e-licence wallet (电子证照): issuers, shares and their verification.
    "LICENCE_NOT_FOUND": N_("未找到该证照。"),
    "LICENCE_TYPE_NOT_FOUND": N_("未找到该证照类型。"),
    "ISSUER_NOT_ALLOWED": N_("该客户端不是证照类型 {licence_type} 的登记签发机构。"),
    "ISSUER_CLIENT_INVALID": N_("签发机构须为已登记、具有角色 {role} 的管理端客户端。"),
    "LICENCE_EXISTS": N_("该类型、该证号的证照已签发。"),
    "LICENCE_FIELDS_INVALID": N_("证照信息不符合该类型的要求：{fields}"),
    "DOCUMENT_SIGNATURE_INVALID": N_("证照文件的签名无法用贵机构登记的密钥验证。"),
    "DOCUMENT_MISMATCH": N_("证照文件中的 {claim} 与提交的内容不一致。"),
    "LICENCE_REVOKED": N_("该证照已吊销，状态不能再更改。"),
    "LICENCE_NOT_VALID": N_("该证照当前无效（已过期、暂停使用、已吊销或已退款）。"),
    "SHARE_NOT_FOUND": N_("未找到该证照分享。"),
    "SHARE_WITHDRAWN": N_("持证人已撤回该证照分享。"),
    "SHARE_EXPIRED": N_("该证照分享已过期，请持证人重新分享。"),
    "LICENCE_TYPE_PLATFORM_ISSUED": N_("该证照类型由平台自行签发，不能指定签发机构。"),
})
