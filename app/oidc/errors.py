"""The OpenID Connect provider's error codes (admin registration, userinfo) and the words of its pages.

The authorization and token endpoints answer in the form RFC 6749 and OpenID Connect Core prescribe
(`error`, `error_description`); these codes are for the project's own envelope.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "OIDC_CLIENT_NOT_FOUND": N_("未找到该接入网站。"),
    "OIDC_REDIRECT_URIS_INVALID": N_("回调地址须为 https 地址（本机调试可用 http://127.0.0.1），且同属一个域名。"),
    "OIDC_SCOPES_INVALID": N_("授权范围须包含 openid，且只能是：{known}。"),
    "OIDC_TOKEN_INVALID": N_("访问令牌无效或已过期。"),
    "OIDC_REQUEST_INVALID": N_("登录请求无效：{reason}"),
    "OIDC_SIGN_IN_AGAIN": N_("该网站要求您重新登录。"),
})

# The pages a browser sees at the authorization endpoint.
ERROR_PAGE_TITLE = N_("无法登录")
ERROR_PAGE_TEXT = N_("该网站的登录请求无效，我们没有把您带回该网站。请返回原网站重新发起登录，或联系该网站。")
