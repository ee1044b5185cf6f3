"""Error types and the one JSON error envelope: {"error": {"code", "message", "request_id"}}.

Domain code raises these; the HTTP layer turns them into the envelope with a message in the
caller's language. Messages say what to do next, in plain words.
"""

from __future__ import annotations

from typing import Any, Mapping

from app.i18n import pick

MESSAGES: dict[str, dict[str, str]] = {
    "NOT_FOUND": {"zh-Hans": "找不到您要访问的内容。", "zh-Hant": "找不到您要存取的內容。", "en": "The requested resource was not found."},
    "METHOD_NOT_ALLOWED": {"zh-Hans": "该地址不支持此请求方法。", "zh-Hant": "該位址不支援此請求方法。", "en": "This method is not allowed here."},
    "PAYLOAD_TOO_LARGE": {"zh-Hans": "提交的内容过大，请压缩后重试。", "zh-Hant": "提交的內容過大，請壓縮後重試。", "en": "The request body is too large."},
    "MALFORMED_JSON": {"zh-Hans": "请求内容不是有效的 JSON。", "zh-Hant": "請求內容不是有效的 JSON。", "en": "The request body is not valid JSON."},
    "VALIDATION_FAILED": {"zh-Hans": "提交的信息有误：{fields}", "zh-Hant": "提交的資訊有誤：{fields}", "en": "Some fields are invalid: {fields}"},
    "BAD_REQUEST": {"zh-Hans": "请求有误。", "zh-Hant": "請求有誤。", "en": "The request is invalid."},
    "INTERNAL_ERROR": {"zh-Hans": "系统繁忙，请稍后再试。", "zh-Hant": "系統繁忙，請稍後再試。", "en": "Something went wrong on our side. Please try again later."},
    "SERVICE_UNAVAILABLE": {"zh-Hans": "服务暂不可用，请稍后再试。", "zh-Hant": "服務暫不可用，請稍後再試。", "en": "The service is temporarily unavailable."},
    "RATE_LIMITED": {"zh-Hans": "操作过于频繁，请 {retry_after} 秒后再试。", "zh-Hant": "操作過於頻繁，請 {retry_after} 秒後再試。", "en": "Too many requests. Try again in {retry_after} seconds."},
    "NOT_READY": {"zh-Hans": "服务尚未就绪：{failed}。", "zh-Hant": "服務尚未就緒：{failed}。", "en": "Not ready: {failed}."},
    "INVALID_PHONE": {"zh-Hans": "请输入正确的 11 位中国大陆手机号码。", "zh-Hant": "請輸入正確的 11 位中國大陸手機號碼。", "en": "Enter a valid 11-digit mainland China mobile number."},
    "SMS_UNAVAILABLE": {"zh-Hans": "短信发送失败，请稍后重试。", "zh-Hant": "簡訊發送失敗，請稍後重試。", "en": "The text message could not be sent. Please try again shortly."},
    "OTP_INVALID": {"zh-Hans": "验证码不正确，还可尝试 {tries_left} 次。", "zh-Hant": "驗證碼不正確，還可嘗試 {tries_left} 次。", "en": "The code is incorrect. {tries_left} tries left."},
    "OTP_EXPIRED": {"zh-Hans": "验证码已失效，请重新获取。", "zh-Hant": "驗證碼已失效，請重新取得。", "en": "The code has expired or was already used. Request a new one."},
    "OTP_LOCKED": {"zh-Hans": "验证码错误次数过多，请重新获取。", "zh-Hant": "驗證碼錯誤次數過多，請重新取得。", "en": "Too many wrong tries. Request a new code."},
    "AUTH_REQUIRED": {"zh-Hans": "请先登录。", "zh-Hant": "請先登入。", "en": "Please sign in."},
    "TOKEN_INVALID": {"zh-Hans": "登录凭证无效，请重新登录。", "zh-Hant": "登入憑證無效，請重新登入。", "en": "The access token is invalid. Please sign in again."},
    "TOKEN_EXPIRED": {"zh-Hans": "登录已过期，请重新登录。", "zh-Hant": "登入已過期，請重新登入。", "en": "Your sign-in has expired. Please sign in again."},
    "TOKEN_REVOKED": {"zh-Hans": "您已退出登录，请重新登录。", "zh-Hant": "您已登出，請重新登入。", "en": "This session was signed out. Please sign in again."},
    "REFRESH_TOKEN_INVALID": {"zh-Hans": "登录状态已失效，请重新登录。", "zh-Hant": "登入狀態已失效，請重新登入。", "en": "The refresh token is not valid. Please sign in again."},
    "REFRESH_TOKEN_REUSED": {"zh-Hans": "检测到登录凭证被重复使用，为保护您的账号已退出该设备，请重新登录。", "zh-Hant": "偵測到登入憑證被重複使用，為保護您的帳號已登出該裝置，請重新登入。", "en": "This refresh token was already used; the session was signed out to protect your account."},
    "CLIENT_TOKEN_MALFORMED": {"zh-Hans": "客户端凭证格式错误：{why}", "zh-Hant": "用戶端憑證格式錯誤：{why}", "en": "Client token malformed: {why}"},
    "CLIENT_UNKNOWN": {"zh-Hans": "未登记的客户端 {client}（iss 须为登记的客户端编号）。", "zh-Hant": "未登記的用戶端 {client}（iss 須為登記的用戶端編號）。", "en": "Unknown client {client}: iss must be your registered client id for this API."},
    "CLIENT_SUSPENDED": {"zh-Hans": "该客户端已被暂停，请联系平台管理员。", "zh-Hant": "該用戶端已被暫停，請聯絡平台管理員。", "en": "This client is suspended; contact the platform administrators."},
    "CLIENT_KEY_UNKNOWN": {"zh-Hans": "密钥 kid={kid} 未登记、已过期或已吊销。", "zh-Hant": "金鑰 kid={kid} 未登記、已過期或已撤銷。", "en": "Key kid={kid} is not registered, has expired or was revoked."},
    "CLIENT_TOKEN_SIGNATURE_INVALID": {"zh-Hans": "签名无法用密钥 kid={kid} 验证。", "zh-Hant": "簽章無法以金鑰 kid={kid} 驗證。", "en": "The signature does not verify with key kid={kid}."},
    "CLIENT_TOKEN_AUDIENCE_INVALID": {"zh-Hans": "aud 须为 {aud}。", "zh-Hant": "aud 須為 {aud}。", "en": "aud must be {aud}."},
    "CLIENT_TOKEN_IAT_OUT_OF_RANGE": {"zh-Hans": "iat 须在服务器时间前后 {seconds} 秒内，请校准时钟。", "zh-Hant": "iat 須在伺服器時間前後 {seconds} 秒內，請校準時鐘。", "en": "iat must be within {seconds} s of server time; check your clock."},
    "CLIENT_TOKEN_REPLAYED": {"zh-Hans": "该凭证（jti）已使用过，每次请求须使用新的 jti。", "zh-Hant": "該憑證（jti）已使用過，每次請求須使用新的 jti。", "en": "This token (jti) was already used; each request needs a new jti."},
    "CLIENT_ROLE_REQUIRED": {"zh-Hans": "该客户端无权调用此接口（需要角色 {role}）。", "zh-Hant": "該用戶端無權呼叫此介面（需要角色 {role}）。", "en": "This client lacks the role {role} for this API."},
    "CITIZEN_NOT_FOUND": {"zh-Hans": "未找到该身份证号码对应的已实名用户。", "zh-Hant": "未找到該身分證號碼對應的已實名用戶。", "en": "No verified citizen has this ID number."},
    "INVALID_VENUE_CODE": {"zh-Hans": "这不是有效的场所码，请扫描场所张贴的官方场所码。", "zh-Hant": "這不是有效的場所碼，請掃描場所張貼的官方場所碼。", "en": "This is not a valid venue code. Scan the official code posted at the venue."},
    "NOTHING_TO_APPEAL": {"zh-Hans": "您的健康码为绿码，无需申诉。", "zh-Hant": "您的健康碼為綠碼，無需申訴。", "en": "Your code is green: there is nothing to appeal."},
    "APPEAL_PENDING": {"zh-Hans": "您已有一项申诉正在审核中，请耐心等待结果。", "zh-Hant": "您已有一項申訴正在審核中，請耐心等待結果。", "en": "You already have an appeal under review."},
    "APPEAL_ALREADY_DECIDED": {"zh-Hans": "该申诉已处理。", "zh-Hant": "該申訴已處理。", "en": "This appeal has already been decided."},
    "RISK_AREA_ALREADY_ENDED": {"zh-Hans": "该风险地区已解除。", "zh-Hant": "該風險地區已解除。", "en": "This risk area has already ended."},
    "FORBIDDEN": {"zh-Hans": "您无权进行此操作。", "zh-Hant": "您無權進行此操作。", "en": "You are not allowed to do this."},
    "IDENTITY_LEVEL_REQUIRED": {"zh-Hans": "请先完成{level_name}后再使用此服务。", "zh-Hant": "請先完成{level_name}後再使用此服務。", "en": "Complete {level_name} to use this service."},
    "INVALID_ID_NUMBER": {"zh-Hans": "身份证号码不正确，请核对后重新输入。", "zh-Hant": "身分證號碼不正確，請核對後重新輸入。", "en": "The resident ID number is not valid. Check it and try again."},
    "INVALID_NAME": {"zh-Hans": "请输入与身份证一致的姓名。", "zh-Hant": "請輸入與身分證一致的姓名。", "en": "Enter your name as shown on your ID card."},
    "ID_NUMBER_TAKEN": {"zh-Hans": "该身份证号码已绑定其他账号，如有疑问请联系客服。", "zh-Hant": "該身分證號碼已綁定其他帳號，如有疑問請聯絡客服。", "en": "This ID number is already linked to another account. Contact support if this is unexpected."},
    "IDENTITY_ALREADY_VERIFIED": {"zh-Hans": "您已完成实名认证，如需更改请联系客服。", "zh-Hant": "您已完成實名認證，如需更改請聯絡客服。", "en": "Your real-name identity is already verified. Contact support to change it."},
    "FACE_CHECK_FAILED": {"zh-Hans": "人脸核验未通过，请在光线充足处正对镜头重试。", "zh-Hant": "人臉核驗未通過，請在光線充足處正對鏡頭重試。", "en": "Face check failed. Face the camera in good light and try again."},
    "FACE_CHECK_UNAVAILABLE": {"zh-Hans": "人脸核验服务暂不可用，请稍后再试。", "zh-Hant": "人臉核驗服務暫不可用，請稍後再試。", "en": "The face check service is unavailable. Please try again later."},
    "INVALID_LIVENESS_SAMPLE": {"zh-Hans": "未能读取人脸采集数据，请重新采集。", "zh-Hant": "未能讀取人臉採集資料，請重新採集。", "en": "The face sample could not be read. Please capture it again."},
}


class AppError(Exception):
    """A failure the caller can act on. `params` fill the message; `extra` goes into the envelope."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(
        self,
        code: str | None = None,
        *,
        status: int | None = None,
        params: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code or self.code
        self.status = status or self.status
        self.params = dict(params or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(self.code)

    def message(self, language: str) -> str:
        texts = MESSAGES.get(self.code) or MESSAGES["BAD_REQUEST"]
        try:
            return pick(texts, language, **self.params)
        except (KeyError, IndexError):
            return pick(texts, language)


class NotFound(AppError):
    status, code = 404, "NOT_FOUND"


class Unauthorized(AppError):
    status, code = 401, "AUTH_REQUIRED"


class Forbidden(AppError):
    status, code = 403, "FORBIDDEN"


class Conflict(AppError):
    status, code = 409, "CONFLICT"


class Unavailable(AppError):
    status, code = 503, "SERVICE_UNAVAILABLE"


class RateLimited(AppError):
    status, code = 429, "RATE_LIMITED"

    def __init__(self, retry_after: int, code: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            code,
            params={"retry_after": retry_after},
            extra={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ValidationFailed(AppError):
    status, code = 422, "VALIDATION_FAILED"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        fields = "、".join(p["field"] for p in problems) or "-"
        super().__init__(params={"fields": fields}, extra={"fields": problems})


def envelope(error: AppError, language: str, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message(language), "request_id": request_id}
    body.update(error.extra)
    return {"error": body}
