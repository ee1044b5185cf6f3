"""The core's error codes: the HTTP layer, validation, rate limits, sign-in, institutional clients.

app.errors registers these itself, so its own error types (NotFound, Unauthorized, RateLimited,
ValidationFailed...) and the fallback for an unknown code always have their words. Each domain
registers its own codes in its `errors` module.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.i18n import N_

CORE_MESSAGES: dict[str, str] = {
    # Requests the HTTP layer refuses, and the server's own state.
    "NOT_FOUND": N_("找不到您要访问的内容。"),
    "METHOD_NOT_ALLOWED": N_("该地址不支持此请求方法。"),
    "PAYLOAD_TOO_LARGE": N_("提交的内容过大，请压缩后重试。"),
    "MALFORMED_JSON": N_("请求内容不是有效的 JSON。"),
    "JSON_TOO_DEEP": N_("请求内容嵌套层级过深（最多 {max} 层）。"),
    "VALIDATION_FAILED": N_("提交的信息有误：{fields}"),
    "BAD_REQUEST": N_("请求有误。"),
    "INTERNAL_ERROR": N_("系统繁忙，请稍后再试。"),
    "SERVICE_UNAVAILABLE": N_("服务暂不可用，请稍后再试。"),
    "RATE_LIMITED": N_("操作过于频繁，请 {retry_after} 秒后再试。"),
    "NOT_READY": N_("服务尚未就绪：{failed}。"),
    # One-time codes (app.security.one_time_codes).
    "OTP_LOCKED": N_("验证码错误次数过多，请重新获取。"),
    # Signing in and access tokens (app.security.tokens, api.guards).
    "AUTH_REQUIRED": N_("请先登录。"),
    "TOKEN_INVALID": N_("登录凭证无效，请重新登录。"),
    "TOKEN_EXPIRED": N_("登录已过期，请重新登录。"),
    # Institutional clients' signed tokens and roles (app.security.clients).
    "CLIENT_TOKEN_MALFORMED": N_("客户端凭证格式错误：{why}"),
    "CLIENT_UNKNOWN": N_("未登记的客户端 {client}（iss 须为登记的客户端编号）。"),
    "CLIENT_SUSPENDED": N_("该客户端已被暂停，请联系平台管理员。"),
    "CLIENT_KEY_UNKNOWN": N_("密钥 kid={kid} 未登记、已过期或已吊销。"),
    "CLIENT_TOKEN_SIGNATURE_INVALID": N_("签名无法用密钥 kid={kid} 验证。"),
    "CLIENT_TOKEN_EXPIRED": N_("客户端凭证已过期（exp），请为每次请求签发新的凭证。"),
    "CLIENT_TOKEN_AUDIENCE_INVALID": N_("aud 须为 {aud}。"),
    "CLIENT_TOKEN_IAT_OUT_OF_RANGE": N_("iat 须在服务器时间前后 {seconds} 秒内，请校准时钟。"),
    "CLIENT_TOKEN_REPLAYED": N_("该凭证（jti）已使用过，每次请求须使用新的 jti。"),
    "CLIENT_ROLE_REQUIRED": N_("该客户端无权调用此接口（需要角色 {role}）。"),
    "CLIENT_DEPARTMENT_REQUIRED": N_("该客户端未绑定所属部门，无法查看或办理部门事项，请联系平台管理员登记部门。"),
    "FORBIDDEN": N_("您无权进行此操作。"),
    # The Idempotency-Key header, checked by the HTTP layer.
    "IDEMPOTENCY_KEY_REQUIRED": N_("请求缺少 Idempotency-Key 请求头（8–64 位字母、数字、-、_）。"),
    "IDEMPOTENCY_KEY_INVALID": N_("Idempotency-Key 须为 8–64 位字母、数字、-、_。"),
}
