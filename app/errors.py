"""Error types and the one JSON error envelope: {"error": {"code", "message", "request_id"}}.

Domain code raises these; the HTTP layer turns them into the envelope with a message in the
caller's language. Messages say what to do next, in plain words.
"""

from __future__ import annotations

from typing import Any, Mapping

from app.i18n import pick
from app.security.pii import mask_digit_runs

MESSAGES: dict[str, dict[str, str]] = {
    "NOT_FOUND": {"zh-Hans": "找不到您要访问的内容。", "zh-Hant": "找不到您要存取的內容。", "en": "The requested resource was not found."},
    "METHOD_NOT_ALLOWED": {"zh-Hans": "该地址不支持此请求方法。", "zh-Hant": "該位址不支援此請求方法。", "en": "This method is not allowed here."},
    "PAYLOAD_TOO_LARGE": {"zh-Hans": "提交的内容过大，请压缩后重试。", "zh-Hant": "提交的內容過大，請壓縮後重試。", "en": "The request body is too large."},
    "MALFORMED_JSON": {"zh-Hans": "请求内容不是有效的 JSON。", "zh-Hant": "請求內容不是有效的 JSON。", "en": "The request body is not valid JSON."},
    "JSON_TOO_DEEP": {"zh-Hans": "请求内容嵌套层级过深（最多 {max} 层）。", "zh-Hant": "請求內容巢狀層級過深（最多 {max} 層）。", "en": "The JSON body is nested too deeply (at most {max} levels)."},
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
    "CLIENT_TOKEN_EXPIRED": {"zh-Hans": "客户端凭证已过期（exp），请为每次请求签发新的凭证。", "zh-Hant": "用戶端憑證已過期（exp），請為每次請求簽發新的憑證。", "en": "The client token has expired (exp); sign a fresh one for each request."},
    "CLIENT_TOKEN_AUDIENCE_INVALID": {"zh-Hans": "aud 须为 {aud}。", "zh-Hant": "aud 須為 {aud}。", "en": "aud must be {aud}."},
    "CLIENT_TOKEN_IAT_OUT_OF_RANGE": {"zh-Hans": "iat 须在服务器时间前后 {seconds} 秒内，请校准时钟。", "zh-Hant": "iat 須在伺服器時間前後 {seconds} 秒內，請校準時鐘。", "en": "iat must be within {seconds} s of server time; check your clock."},
    "CLIENT_TOKEN_REPLAYED": {"zh-Hans": "该凭证（jti）已使用过，每次请求须使用新的 jti。", "zh-Hant": "該憑證（jti）已使用過，每次請求須使用新的 jti。", "en": "This token (jti) was already used; each request needs a new jti."},
    # Cross-region recognition (互认) and the reasons a partner's code is refused.
    "PARTNER_NOT_REGISTERED": {"zh-Hans": "该客户端不是已登记的互认地区。", "zh-Hant": "該用戶端不是已登記的互認地區。", "en": "This client is not a registered partner region."},
    "PARTNER_EXISTS": {"zh-Hans": "该互认地区已登记。", "zh-Hant": "該互認地區已登記。", "en": "This partner region is already registered."},
    "PARTNER_NOT_FOUND": {"zh-Hans": "未找到该互认地区。", "zh-Hant": "未找到該互認地區。", "en": "No such partner region."},
    "PARTNER_KEY_EXISTS": {"zh-Hans": "该密钥（kid）已登记。", "zh-Hant": "該金鑰（kid）已登記。", "en": "A key with this kid is already registered."},
    "PARTNER_KEY_NOT_FOUND": {"zh-Hans": "未找到该密钥。", "zh-Hant": "未找到該金鑰。", "en": "No such key."},
    "PARTNER_KEY_FEED_NOT_FOUND": {"zh-Hans": "该伙伴未登记密钥发布地址。", "zh-Hant": "該夥伴未登記金鑰發佈位址。", "en": "This partner has no key feed registered."},
    "QUOTA_EXCEEDED": {"zh-Hans": "今日查验额度已用完，请 {retry_after} 秒后再试。", "zh-Hant": "今日查驗額度已用完，請 {retry_after} 秒後再試。", "en": "Daily quota used up; try again in {retry_after} s."},
    "CONSENT_REQUIRED": {"zh-Hans": "转码前需要您同意读取该健康码中的信息。", "zh-Hant": "轉碼前需要您同意讀取該健康碼中的資訊。", "en": "Please agree to the reading of this code before it is converted."},
    "UNSUPPORTED_FORMAT": {"zh-Hans": "无法识别此码的格式。", "zh-Hant": "無法識別此碼的格式。", "en": "This code's format is not supported."},
    "UNKNOWN_PARTNER": {"zh-Hans": "此码的签发地区不在互认名单中。", "zh-Hant": "此碼的簽發地區不在互認名單中。", "en": "This code was issued by a region we do not recognise."},
    "PARTNER_SUSPENDED": {"zh-Hans": "与此码签发地区的互认已暂停。", "zh-Hant": "與此碼簽發地區的互認已暫停。", "en": "Recognition of codes from this region is suspended."},
    "FORMAT_NOT_ACCEPTED": {"zh-Hans": "该地区未登记此种码格式。", "zh-Hant": "該地區未登記此種碼格式。", "en": "This region has not registered codes of this format."},
    "UNKNOWN_KID": {"zh-Hans": "此码的签名密钥不在信任列表中。", "zh-Hant": "此碼的簽章金鑰不在信任列表中。", "en": "This code's signing key is not on the trust list."},
    "KID_MISMATCH": {"zh-Hans": "此码的密钥标识前后不一致。", "zh-Hant": "此碼的金鑰識別前後不一致。", "en": "This code names two different keys."},
    "KEY_REVOKED": {"zh-Hans": "此码的签名密钥已被吊销。", "zh-Hant": "此碼的簽章金鑰已被撤銷。", "en": "This code's signing key was revoked."},
    "KEY_NOT_VALID": {"zh-Hans": "此码的签名密钥不在有效期内。", "zh-Hant": "此碼的簽章金鑰不在有效期內。", "en": "This code's signing key is outside its validity."},
    "KEY_RETIRED": {"zh-Hans": "此码由已停用的密钥在停用后签发。", "zh-Hant": "此碼由已停用的金鑰在停用後簽發。", "en": "This code was signed after its key was retired."},
    "KEY_USAGE": {"zh-Hans": "该密钥无权签发此类凭证。", "zh-Hant": "該金鑰無權簽發此類憑證。", "en": "This key may not sign this kind of certificate."},
    "BAD_SIGNATURE": {"zh-Hans": "此码的签名无效，可能已被篡改。", "zh-Hant": "此碼的簽章無效，可能已被竄改。", "en": "This code's signature is invalid; it may have been altered."},
    "UNSUPPORTED_ALGORITHM": {"zh-Hans": "此码使用了不支持的签名算法。", "zh-Hant": "此碼使用了不支援的簽章演算法。", "en": "This code uses an unsupported signature algorithm."},
    "EXPIRED": {"zh-Hans": "此码已过期，请刷新后重新出示。", "zh-Hant": "此碼已過期，請重新整理後再出示。", "en": "This code has expired; refresh it and show it again."},
    "NOT_YET_VALID": {"zh-Hans": "此码尚未生效。", "zh-Hant": "此碼尚未生效。", "en": "This code is not valid yet."},
    "REVOKED": {"zh-Hans": "此码已被签发地区撤销。", "zh-Hant": "此碼已被簽發地區撤銷。", "en": "The issuing region revoked this code."},
    "STATE_NOT_MAPPED": {"zh-Hans": "此码的状态无法对应到本地健康码颜色。", "zh-Hant": "此碼的狀態無法對應到本地健康碼顏色。", "en": "This code's status has no local equivalent."},
    "SUBJECT_MISMATCH": {"zh-Hans": "此码的持有人与您的实名信息不符。", "zh-Hant": "此碼的持有人與您的實名資料不符。", "en": "This code belongs to someone else."},
    "SUBJECT_NOT_PRESENT": {"zh-Hans": "此码不含可核对的持有人信息，无法转码。", "zh-Hant": "此碼不含可核對的持有人資料，無法轉碼。", "en": "This code carries nothing to check its holder against."},
    "HOLDER_NOT_BOUND": {"zh-Hans": "此码未绑定持有人的姓名和出生日期（旧版码），无法转码。请让签发地区重新签发，或出示含姓名和出生日期的凭证。", "zh-Hant": "此碼未綁定持有人的姓名和出生日期（舊版碼），無法轉碼。請讓簽發地區重新簽發，或出示含姓名和出生日期的憑證。", "en": "This code is not bound to its holder's name and date of birth (an older code), so it cannot be converted. Ask the issuing region for a new code, or present a certificate that carries your name and date of birth."},
    "HOLDER_KEY_STOPPED": {"zh-Hans": "此码签发时使用的持有人核验密钥已停用，无法转码。请让签发地区重新签发此码后再试。", "zh-Hant": "此碼簽發時使用的持有人核驗密鑰已停用，無法轉碼。請讓簽發地區重新簽發此碼後再試。", "en": "This code was issued under a holder-check key that is no longer in use, so it cannot be converted. Ask the issuing region to issue the code again, then try once more."},
    "HOLDER_KEY_NOT_AGREED": {"zh-Hans": "签发此码的地区尚未与本省约定持有人核验方式，暂无法转码。请出示含姓名和出生日期的凭证，或稍后再试。", "zh-Hant": "簽發此碼的地區尚未與本省約定持有人核驗方式，暫無法轉碼。請出示含姓名和出生日期的憑證，或稍後再試。", "en": "The region that issued this code has not yet agreed with us how to check its holder, so it cannot be converted yet. Present a certificate that carries your name and date of birth, or try again later."},
    "ISSUER_MISMATCH": {"zh-Hans": "此码的签发地区与签名密钥不符。", "zh-Hant": "此碼的簽發地區與簽章金鑰不符。", "en": "This code's issuer does not match its signing key."},
    "BAD_PREFIX": {"zh-Hans": "无法读取此码。", "zh-Hant": "無法讀取此碼。", "en": "This code could not be read."},
    "BAD_ENCODING": {"zh-Hans": "无法读取此码。", "zh-Hant": "無法讀取此碼。", "en": "This code could not be read."},
    "BAD_COMPRESSION": {"zh-Hans": "无法读取此码。", "zh-Hant": "無法讀取此碼。", "en": "This code could not be read."},
    "BAD_COSE": {"zh-Hans": "无法读取此码。", "zh-Hant": "無法讀取此碼。", "en": "This code could not be read."},
    "BAD_CLAIMS": {"zh-Hans": "此码内容不完整。", "zh-Hant": "此碼內容不完整。", "en": "This code's content is incomplete."},
    # The ID voucher (居民身份电子凭证).
    "VOUCHER_NOT_FOUND": {"zh-Hans": "您还没有居民身份电子凭证。", "zh-Hant": "您還沒有居民身分電子憑證。", "en": "You have no digital ID voucher yet."},
    "VOUCHER_SUSPENDED": {"zh-Hans": "电子凭证已锁定，请先解锁。", "zh-Hant": "電子憑證已鎖定，請先解鎖。", "en": "Your ID voucher is locked; unlock it first."},
    "VOUCHER_REVOKED": {"zh-Hans": "该电子凭证已作废。", "zh-Hant": "該電子憑證已作廢。", "en": "This ID voucher has been revoked."},
    "DEVICE_PROOF_INVALID": {"zh-Hans": "请在办理电子凭证的手机上操作。", "zh-Hant": "請在辦理電子憑證的手機上操作。", "en": "Please use the phone the voucher was issued to."},
    "FULL_IDENTITY_CONSENT_REQUIRED": {"zh-Hans": "提供完整身份信息需要您本次明确同意。", "zh-Hant": "提供完整身分資料需要您本次明確同意。", "en": "Sharing your full identity needs your explicit consent each time."},
    "STANDING_REQUEST_NOT_FOUND": {"zh-Hans": "未找到该机构的授权请求。", "zh-Hant": "未找到該機構的授權請求。", "en": "No such standing request."},
    "PRESENTATION_NOT_FOUND": {"zh-Hans": "未找到该亮证记录。", "zh-Hant": "未找到該亮證記錄。", "en": "No such presentation."},
    "ELDERLY_MODE_REQUIRED": {"zh-Hans": "延长有效期仅在长辈模式下提供。", "zh-Hant": "延長有效期僅在長輩模式下提供。", "en": "Extending is available in elderly mode only."},
    "ALREADY_EXTENDED": {"zh-Hans": "有效期只能延长一次。", "zh-Hant": "有效期只能延長一次。", "en": "A presentation can be extended once only."},
    "PRESENTATION_EXPIRED": {"zh-Hans": "该二维码已过期，请让对方刷新后重新出示。", "zh-Hant": "該二維碼已過期，請讓對方重新整理後再出示。", "en": "This code has expired; ask for a fresh one."},
    "PRESENTATION_FOR_ANOTHER_PARTY": {"zh-Hans": "该亮证二维码是出示给另一家机构的。", "zh-Hant": "該亮證二維碼是出示給另一家機構的。", "en": "This code was shown for another organisation."},
    # the offline ID voucher: key binding (KB-JWT) and the relying party's nonce
    "OFFLINE_KEY_BINDING_MISSING": {"zh-Hans": "该离线亮证码缺少手机密钥签名，请让持证人在本机构出示新的二维码。", "zh-Hant": "該離線亮證碼缺少手機金鑰簽章，請讓持證人在本機構出示新的二維碼。", "en": "This offline ID code has no signature by the holder's phone. Ask the holder to show a new code here."},
    "OFFLINE_KEY_BINDING_INVALID": {"zh-Hans": "该离线亮证码不是由持证人的手机签署的。", "zh-Hant": "該離線亮證碼不是由持證人的手機簽署的。", "en": "This offline ID code was not signed by the holder's phone."},
    "OFFLINE_KEY_BINDING_STALE": {"zh-Hans": "该离线亮证码已超时，请让持证人重新出示。", "zh-Hant": "該離線亮證碼已逾時，請讓持證人重新出示。", "en": "This offline ID code is too old. Ask the holder to show it again."},
    "OFFLINE_DISCLOSURES_CHANGED": {"zh-Hans": "该离线亮证码的出示内容被改动过。", "zh-Hant": "該離線亮證碼的出示內容被改動過。", "en": "What this offline ID code shows was changed after the holder signed it."},
    "OFFLINE_NONCE_MISMATCH": {"zh-Hans": "该离线亮证码不是为本次核验生成的，请让持证人扫描本次的核验码后重新出示。", "zh-Hant": "該離線亮證碼不是為本次核驗產生的，請讓持證人掃描本次的核驗碼後重新出示。", "en": "This offline ID code was made for another check. Ask the holder to scan this check's code and show it again."},
    "OFFLINE_NONCE_UNKNOWN": {"zh-Hans": "核验码无效，请重新获取核验码。", "zh-Hant": "核驗碼無效，請重新取得核驗碼。", "en": "This check code was not issued to you. Get a new check code."},
    "OFFLINE_NONCE_EXPIRED": {"zh-Hans": "核验码已过期，请重新获取核验码。", "zh-Hant": "核驗碼已過期，請重新取得核驗碼。", "en": "This check code has expired. Get a new check code."},
    "OFFLINE_NONCE_USED": {"zh-Hans": "该核验码已使用过，重复出示的亮证码无效。", "zh-Hant": "該核驗碼已使用過，重複出示的亮證碼無效。", "en": "This check code was already used; a code shown again is not accepted."},
    "OFFLINE_PRESENTATION_EXPIRED": {"zh-Hans": "该离线亮证码已过期，请让持证人重新获取。", "zh-Hant": "該離線亮證碼已過期，請讓持證人重新取得。", "en": "This offline ID code has expired. Ask the holder to get a new one."},
    "OFFLINE_VOUCHER_WITHDRAWN": {"zh-Hans": "持证人已在出示后锁定或注销其身份电子凭证，该离线亮证码不再有效。请核验其他证件。", "zh-Hant": "持證人已在出示後鎖定或註銷其身分電子憑證，該離線亮證碼不再有效。請核驗其他證件。", "en": "The holder locked or revoked this ID voucher after showing it, so the offline ID code is no longer valid. Please check another document."},
    "OFFLINE_PRESENTATION_INVALID": {"zh-Hans": "无法识别该离线亮证码，或其签名无效。", "zh-Hant": "無法識別該離線亮證碼，或其簽章無效。", "en": "This offline ID code is not valid or its signature does not verify."},
    "TOKEN_ALREADY_USED": {"zh-Hans": "该二维码已被使用，请让对方重新扫码。", "zh-Hant": "該二維碼已被使用，請讓對方重新掃碼。", "en": "This code has already been used."},
    "TOKEN_INVALID_SIGNATURE": {"zh-Hans": "二维码无效或被篡改。", "zh-Hant": "二維碼無效或被竄改。", "en": "This code is invalid or was altered."},
    "SCOPE_NOT_ALLOWED": {"zh-Hans": "贵机构无权获取：{scopes}。", "zh-Hant": "貴機構無權取得：{scopes}。", "en": "Your organisation may not ask for: {scopes}."},
    "CLIENT_ROLE_REQUIRED": {"zh-Hans": "该客户端无权调用此接口（需要角色 {role}）。", "zh-Hant": "該用戶端無權呼叫此介面（需要角色 {role}）。", "en": "This client lacks the role {role} for this API."},
    "CLIENT_DEPARTMENT_REQUIRED": {"zh-Hans": "该客户端未绑定所属部门，无法查看或办理部门事项，请联系平台管理员登记部门。", "zh-Hant": "該用戶端未綁定所屬部門，無法查看或辦理部門事項，請聯絡平台管理員登記部門。", "en": "This client is bound to no department, so it sees no department's items; ask the platform administrators to register its department."},
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
    "IDENTITY_ALREADY_VERIFIED": {"zh-Hans": "您已完成实名认证，如需更改请联系客服。", "zh-Hant": "您已完成實名認證，如需更改請聯絡客服。", "en": "Your real-name identity is already verified. Contact support to change it."},
    "FACE_CHECK_FAILED": {"zh-Hans": "人脸核验未通过，请在光线充足处正对镜头重试。", "zh-Hant": "人臉核驗未通過，請在光線充足處正對鏡頭重試。", "en": "Face check failed. Face the camera in good light and try again."},
    "FACE_CHECK_UNAVAILABLE": {"zh-Hans": "人脸核验服务暂不可用，请稍后再试。", "zh-Hant": "人臉核驗服務暫不可用，請稍後再試。", "en": "The face check service is unavailable. Please try again later."},
    "ID_NUMBER_TAKEN": {"zh-Hans": "该身份已绑定其他账号。如果这是您本人的身份，可以通过人脸核验取回。", "zh-Hant": "該身分已綁定其他帳號。如果這是您本人的身分，可以透過人臉核驗取回。", "en": "This identity is linked to another account. If it is yours, you can take it back with a face check."},
    "IDENTITY_MISMATCH": {"zh-Hans": "姓名与身份证号码不一致，请核对后重试。", "zh-Hant": "姓名與身分證號碼不一致，請核對後重試。", "en": "The name and the ID number do not match. Check them and try again."},
    "IDENTITY_MISMATCH_LIMIT": {"zh-Hans": "今日核验未通过次数过多，请明天再试，或到政务服务大厅办理。", "zh-Hant": "今日核驗未通過次數過多，請明天再試，或到政務服務大廳辦理。", "en": "Too many failed identity checks today. Try again tomorrow, or visit a service hall."},
    "IDENTITY_CHECK_UNAVAILABLE": {"zh-Hans": "身份核验服务暂不可用，请稍后再试。", "zh-Hant": "身分核驗服務暫不可用，請稍後再試。", "en": "The identity check service is unavailable. Please try again later."},
    "NOTHING_TO_RECLAIM": {"zh-Hans": "该身份未绑定其他账号，请直接进行实名认证。", "zh-Hant": "該身分未綁定其他帳號，請直接進行實名認證。", "en": "This identity is not linked to another account. Verify your identity directly."},
    "FACE_CHECK_NOT_FINISHED": {"zh-Hans": "人脸核验尚未完成，请先在核验页面完成后再提交。", "zh-Hant": "人臉核驗尚未完成，請先在核驗頁面完成後再提交。", "en": "The face check is not finished yet. Finish it on the check page, then try again."},
    "FACE_SESSION_USED": {"zh-Hans": "该人脸核验已使用，请重新发起核验。", "zh-Hant": "該人臉核驗已使用，請重新發起核驗。", "en": "This face check was already used. Start a new one."},
    "FACE_SESSION_EXPIRED": {"zh-Hans": "人脸核验已过期，请重新发起核验。", "zh-Hant": "人臉核驗已過期，請重新發起核驗。", "en": "This face check has expired. Start a new one."},
    "FACE_CHECK_NOT_POSSIBLE": {"zh-Hans": "暂无法为该身份进行人脸核验，请携带身份证到政务服务大厅办理。", "zh-Hant": "暫無法為該身分進行人臉核驗，請攜帶身分證到政務服務大廳辦理。", "en": "A face check cannot be done for this identity. Please bring your ID card to a service hall."},
    "SMS_LIMIT_REACHED": {"zh-Hans": "该号码今日接收验证码已达上限，请明天再试，或改用语音验证码。", "zh-Hant": "該號碼今日接收驗證碼已達上限，請明天再試，或改用語音驗證碼。", "en": "This number has received all the codes it can today. Try again tomorrow, or ask for a voice code."},
    "FACE_SAMPLE_NOT_ACCEPTED": {"zh-Hans": "请通过人脸核验页面完成核验。", "zh-Hant": "請透過人臉核驗頁面完成核驗。", "en": "Complete the face check on the face check page."},
    "INVALID_LIVENESS_SAMPLE": {"zh-Hans": "未能读取人脸采集数据，请重新采集。", "zh-Hant": "未能讀取人臉採集資料，請重新採集。", "en": "The face sample could not be read. Please capture it again."},
    # The e-licence wallet (电子证照): issuers, shares and their verification.
    "LICENCE_NOT_FOUND": {"zh-Hans": "未找到该证照。", "zh-Hant": "未找到該證照。", "en": "No such licence."},
    "LICENCE_TYPE_NOT_FOUND": {"zh-Hans": "未找到该证照类型。", "zh-Hant": "未找到該證照類型。", "en": "No such licence type."},
    "ISSUER_NOT_ALLOWED": {"zh-Hans": "该客户端不是证照类型 {licence_type} 的登记签发机构。", "zh-Hant": "該用戶端不是證照類型 {licence_type} 的登記簽發機構。", "en": "This client is not the registered issuer of licence type {licence_type}."},
    "ISSUER_CLIENT_INVALID": {"zh-Hans": "签发机构须为已登记、具有角色 {role} 的管理端客户端。", "zh-Hant": "簽發機構須為已登記、具有角色 {role} 的管理端用戶端。", "en": "The issuer must be a registered admin client with the role {role}."},
    "LICENCE_EXISTS": {"zh-Hans": "该类型、该证号的证照已签发。", "zh-Hant": "該類型、該證號的證照已簽發。", "en": "A licence of this type with this number was already issued."},
    "LICENCE_FIELDS_INVALID": {"zh-Hans": "证照信息不符合该类型的要求：{fields}", "zh-Hant": "證照資訊不符合該類型的要求：{fields}", "en": "The licence data does not fit its type: {fields}"},
    "DOCUMENT_SIGNATURE_INVALID": {"zh-Hans": "证照文件的签名无法用贵机构登记的密钥验证。", "zh-Hant": "證照文件的簽章無法以貴機構登記的金鑰驗證。", "en": "The licence document's signature does not verify with a key registered for you."},
    "DOCUMENT_MISMATCH": {"zh-Hans": "证照文件中的 {claim} 与提交的内容不一致。", "zh-Hant": "證照文件中的 {claim} 與提交的內容不一致。", "en": "The licence document's {claim} does not match the request."},
    "LICENCE_REVOKED": {"zh-Hans": "该证照已吊销，状态不能再更改。", "zh-Hant": "該證照已撤銷，狀態不能再更改。", "en": "This licence is revoked; its status can no longer change."},
    "LICENCE_NOT_VALID": {"zh-Hans": "该证照当前无效（已过期、暂停使用、已吊销或已退款）。", "zh-Hant": "該證照目前無效（已過期、暫停使用、已撤銷或已退款）。", "en": "This licence is not valid now (expired, suspended, revoked or refunded)."},
    "SHARE_NOT_FOUND": {"zh-Hans": "未找到该证照分享。", "zh-Hant": "未找到該證照分享。", "en": "No such licence share."},
    "SHARE_WITHDRAWN": {"zh-Hans": "持证人已撤回该证照分享。", "zh-Hant": "持證人已撤回該證照分享。", "en": "The holder withdrew this share."},
    # The service catalogue (事项目录) and its search.
    "SEARCH_QUERY_REQUIRED": {"zh-Hans": "请输入要搜索的事项名称或关键词。", "zh-Hant": "請輸入要搜尋的事項名稱或關鍵詞。", "en": "Enter the name of a service or a keyword to search for."},
    "SEARCH_QUERY_TOO_LONG": {"zh-Hans": "搜索内容不能超过 {max} 个字，请精简后再试。", "zh-Hant": "搜尋內容不能超過 {max} 個字，請精簡後再試。", "en": "Search text can be at most {max} characters; please shorten it."},
    "INVALID_REGION_CODE": {"zh-Hans": "地区代码应为 6 位数字，例如 440106。", "zh-Hant": "地區代碼應為 6 位數字，例如 440106。", "en": "A region code is 6 digits, e.g. 440106."},
    "SERVICE_ITEM_NOT_FOUND": {"zh-Hans": "未找到该事项，可能已下线，请重新搜索。", "zh-Hant": "未找到該事項，可能已下線，請重新搜尋。", "en": "No such service; it may have been withdrawn. Please search again."},
    "LIFE_EVENT_NOT_FOUND": {"zh-Hans": "未找到该“一件事”主题。", "zh-Hant": "未找到該「一件事」主題。", "en": "No such life-event bundle."},
    "DEPARTMENT_NOT_FOUND": {"zh-Hans": "未找到部门 {department}。", "zh-Hant": "未找到部門 {department}。", "en": "No department {department}."},
    "SERVICE_ITEM_STATUS_CONFLICT": {"zh-Hans": "事项当前状态为 {status}，不能进行此操作。", "zh-Hant": "事項目前狀態為 {status}，不能進行此操作。", "en": "The item is {status}; this change is not possible now."},
    "SHARE_EXPIRED": {"zh-Hans": "该证照分享已过期，请持证人重新分享。", "zh-Hant": "該證照分享已過期，請持證人重新分享。", "en": "This share has expired; ask the holder to share it again."},
    # Online applications (办件), 秒批 rules and ratings (好差评).
    "IDEMPOTENCY_KEY_REQUIRED": {"zh-Hans": "请求缺少 Idempotency-Key 请求头（8–64 位字母、数字、-、_）。", "zh-Hant": "請求缺少 Idempotency-Key 標頭（8–64 位字母、數字、-、_）。", "en": "The Idempotency-Key header is required (8-64 letters, digits, - or _)."},
    "IDEMPOTENCY_KEY_INVALID": {"zh-Hans": "Idempotency-Key 须为 8–64 位字母、数字、-、_。", "zh-Hant": "Idempotency-Key 須為 8–64 位字母、數字、-、_。", "en": "Idempotency-Key must be 8-64 letters, digits, - or _."},
    "IDEMPOTENCY_KEY_REUSED": {"zh-Hans": "该 Idempotency-Key 已用于另一份不同的申请，请为新申请使用新的键。", "zh-Hant": "該 Idempotency-Key 已用於另一份不同的申請，請為新申請使用新的鍵。", "en": "This Idempotency-Key was used for a different request; use a new key for a new application."},
    "APPLICATION_ITEM_NOT_FOUND": {"zh-Hans": "未找到该事项，或该事项暂未开放办理。", "zh-Hant": "未找到該事項，或該事項暫未開放辦理。", "en": "No such service, or it is not open for applications."},
    "APPLICATION_ITEM_NOT_ONLINE": {"zh-Hans": "该事项暂不支持网上申请，请到窗口办理。", "zh-Hant": "該事項暫不支援網上申請，請到窗口辦理。", "en": "This service cannot be applied for online; please apply at an office."},
    "APPLICATION_NOT_FOUND": {"zh-Hans": "未找到该办件。", "zh-Hant": "未找到該辦件。", "en": "No such application."},
    "APPLICATION_STATE_CONFLICT": {"zh-Hans": "办件当前状态为“{status}”，不能进行此操作。", "zh-Hant": "辦件目前狀態為「{status}」，不能進行此操作。", "en": "The application is {status}; this step is not possible now."},
    "APPLICATION_ASSIGNED_ELSEWHERE": {"zh-Hans": "该办件已由其他工作人员认领。", "zh-Hant": "該辦件已由其他工作人員認領。", "en": "Another clerk has claimed this application."},
    "APPLICATION_FORM_TOO_LARGE": {"zh-Hans": "申请表内容过多（上限 {kb} KB）。", "zh-Hant": "申請表內容過多（上限 {kb} KB）。", "en": "The form is too large (at most {kb} KB)."},
    "MATERIAL_UNKNOWN": {"zh-Hans": "该事项不需要材料“{name}”。", "zh-Hant": "該事項不需要材料「{name}」。", "en": "This service does not ask for the material “{name}”."},
    "MATERIAL_DUPLICATE": {"zh-Hans": "材料“{name}”提交了多次。", "zh-Hant": "材料「{name}」提交了多次。", "en": "The material “{name}” was given more than once."},
    "MATERIAL_LICENCE_MISMATCH": {"zh-Hans": "所选证照不能作为材料“{name}”。", "zh-Hant": "所選證照不能作為材料「{name}」。", "en": "The chosen licence cannot serve as “{name}”."},
    "MATERIALS_MISSING": {"zh-Hans": "缺少必需材料：{names}。", "zh-Hant": "缺少必需材料：{names}。", "en": "Required materials are missing: {names}."},
    "APPROVAL_RULES_INVALID": {"zh-Hans": "秒批规则有误：{problem}", "zh-Hant": "秒批規則有誤：{problem}", "en": "The auto-approval rules are invalid: {problem}"},
    "RATING_NOT_YET_ALLOWED": {"zh-Hans": "办件办结后才能评价。", "zh-Hant": "辦件辦結後才能評價。", "en": "You can rate an application once it is completed."},
    "RATING_EXISTS": {"zh-Hans": "您已评价过该办件，每个办件只能评价一次。", "zh-Hant": "您已評價過該辦件，每個辦件只能評價一次。", "en": "You have already rated this application; each can be rated once."},
    "FOLLOW_UP_NOT_FOUND": {"zh-Hans": "未找到该差评回访工单。", "zh-Hant": "未找到該差評回訪工單。", "en": "No such follow-up case."},
    "FOLLOW_UP_CLOSED": {"zh-Hans": "该差评回访工单已答复。", "zh-Hant": "該差評回訪工單已答覆。", "en": "This follow-up case has already been answered."},
    # Home-screen service cards (服务卡片).
    "CARD_TYPE_UNKNOWN": {"zh-Hans": "没有这种服务卡片：{card_type}。", "zh-Hant": "沒有這種服務卡片：{card_type}。", "en": "There is no service card of type {card_type}."},
    "CARD_TYPE_REPEATED": {"zh-Hans": "服务卡片 {card_type} 重复出现，每种卡片只能添加一次。", "zh-Hant": "服務卡片 {card_type} 重複出現，每種卡片只能新增一次。", "en": "The card {card_type} is listed twice; each card can be pinned once."},
    "CARD_NOT_PINNED": {"zh-Hans": "首页没有服务卡片 {card_type}。", "zh-Hant": "首頁沒有服務卡片 {card_type}。", "en": "The card {card_type} is not on your home screen."},
    # Mini-program login and the mini-program platform (小程序平台); its own error texts are never shown.
    "MP_CODE_INVALID": {"zh-Hans": "小程序登录已失效，请重新打开小程序后再试。", "zh-Hant": "小程式登入已失效，請重新開啟小程式後再試。", "en": "The mini-program sign-in has expired. Reopen the mini-program and try again."},
    "MP_NOT_BOUND": {"zh-Hans": "请先在小程序中登录并绑定手机号。", "zh-Hant": "請先在小程式中登入並綁定手機號碼。", "en": "Sign in to the mini-program and bind your phone number first."},
    "MP_BIND_TICKET_INVALID": {"zh-Hans": "验证手机号已超时，请重新登录。", "zh-Hant": "驗證手機號碼已逾時，請重新登入。", "en": "Verifying your phone number took too long. Please sign in again."},
    "MP_PHONE_DATA_INVALID": {"zh-Hans": "无法确认您授权的手机号，请重新授权或改用短信验证码。", "zh-Hant": "無法確認您授權的手機號碼，請重新授權或改用簡訊驗證碼。", "en": "The phone number you shared could not be confirmed. Share it again or use an SMS code."},
    "MP_PLATFORM_UNAVAILABLE": {"zh-Hans": "小程序平台暂时无法连接，请稍后再试。", "zh-Hant": "小程式平台暫時無法連線，請稍後再試。", "en": "The mini-program platform cannot be reached right now. Please try again shortly."},
    "MP_PLATFORM_ERROR": {"zh-Hans": "小程序平台未能完成请求，请稍后再试。", "zh-Hant": "小程式平台未能完成請求，請稍後再試。", "en": "The mini-program platform could not complete the request. Please try again later."},
    "MP_RATE_LIMITED": {"zh-Hans": "小程序平台繁忙，请 {retry_after} 秒后再试。", "zh-Hant": "小程式平台繁忙，請 {retry_after} 秒後再試。", "en": "The mini-program platform is busy. Try again in {retry_after} seconds."},
    "MP_TOPIC_UNKNOWN": {"zh-Hans": "没有这种订阅消息。", "zh-Hant": "沒有這種訂閱訊息。", "en": "There is no such subscription message."},
    # Appointments (网上预约).
    "SLOT_NOT_FOUND": {"zh-Hans": "未找到该预约时段。", "zh-Hant": "未找到該預約時段。", "en": "No such appointment slot."},
    "SLOT_FULL": {"zh-Hans": "该时段已约满，请选择其他时段。", "zh-Hant": "該時段已約滿，請選擇其他時段。", "en": "This slot is fully booked; choose another one."},
    "SLOT_STARTED": {"zh-Hans": "该时段已开始或已结束，不能再预约。", "zh-Hant": "該時段已開始或已結束，不能再預約。", "en": "This slot has already started; it can no longer be booked."},
    "SLOT_OTHER_ITEM": {"zh-Hans": "只能改约到同一事项的其他时段。", "zh-Hant": "只能改約到同一事項的其他時段。", "en": "You can only move to another slot of the same service."},
    "ALREADY_BOOKED": {"zh-Hans": "您当天已预约该事项，如需更换时段请使用改约。", "zh-Hant": "您當天已預約該事項，如需更換時段請使用改約。", "en": "You already have an appointment for this service that day; change it instead."},
    "APPOINTMENT_NOT_FOUND": {"zh-Hans": "未找到该预约。", "zh-Hant": "未找到該預約。", "en": "No such appointment."},
    "APPOINTMENT_NOT_ACTIVE": {"zh-Hans": "该预约已取消。", "zh-Hant": "該預約已取消。", "en": "This appointment was cancelled."},
    "APPOINTMENT_STARTED": {"zh-Hans": "预约时间已到，不能再改约或取消。", "zh-Hant": "預約時間已到，不能再改約或取消。", "en": "The appointment time has come; it can no longer be changed or cancelled."},
    "APPOINTMENT_CHANGED": {"zh-Hans": "该预约刚刚已被更改，请刷新后重试。", "zh-Hant": "該預約剛剛已被更改，請重新整理後重試。", "en": "This appointment was just changed elsewhere; refresh and try again."},
    # Elderly mode (适老化), family proxies (亲友代办) and undo.
    "CODE_LAPSED": {"zh-Hans": "该码已过期，不能再延长，请刷新后重新出示。", "zh-Hant": "該碼已過期，不能再延長，請重新整理後再出示。", "en": "This code has lapsed and can no longer be extended. Refresh it and show it again."},
    "STATUS_CHANGE_DUE": {"zh-Hans": "您的健康码状态即将更新，请刷新获取新码。", "zh-Hant": "您的健康碼狀態即將更新，請重新整理取得新碼。", "en": "Your status is about to be updated; refresh to get the new code."},
    "FAMILY_LINK_REQUIRED": {"zh-Hans": "您还不是这位家人的代办人，或代办关系已解除、已过期。", "zh-Hant": "您還不是這位家人的代辦人，或代辦關係已解除、已過期。", "en": "You are not (or no longer) a proxy for this person: the link is missing, revoked or expired."},
    "FAMILY_LINK_NOT_FOUND": {"zh-Hans": "未找到该代办关系。", "zh-Hant": "未找到該代辦關係。", "en": "No such family link."},
    "FAMILY_LINK_EXISTS": {"zh-Hans": "您已是这位家人的代办人，或正在等待家人确认。", "zh-Hant": "您已是這位家人的代辦人，或正在等待家人確認。", "en": "You are already a proxy for this person, or waiting for them to confirm."},
    "FAMILY_SELF": {"zh-Hans": "不能把自己添加为代办对象。", "zh-Hant": "不能把自己新增為代辦對象。", "en": "You cannot add yourself as a family member to act for."},
    "FAMILY_PRINCIPAL_NOT_FOUND": {"zh-Hans": "未找到已实名的该用户。请家人先用手机号登录并完成实名认证，或一起到政务服务大厅办理。", "zh-Hant": "未找到已實名的該用戶。請家人先用手機號登入並完成實名認證，或一起到政務服務大廳辦理。", "en": "No verified account was found. Ask your family member to sign in and verify their identity, or go together to a service hall."},
    "FAMILY_PROXY_NOT_FOUND": {"zh-Hans": "未找到该手机号对应的已实名用户。请代办的家人先用手机号登录并完成实名认证。", "zh-Hant": "未找到該手機號對應的已實名用戶。請代辦的家人先用手機號登入並完成實名認證。", "en": "No verified account has this phone number. The family member who will act must sign in and verify their identity first."},
    "FAMILY_CONSENT_INVALID": {"zh-Hans": "确认码不正确，还可尝试 {tries_left} 次。", "zh-Hant": "確認碼不正確，還可嘗試 {tries_left} 次。", "en": "The confirmation code is incorrect. {tries_left} tries left."},
    "FAMILY_CONSENT_EXPIRED": {"zh-Hans": "确认码已失效，请重新发送确认短信。", "zh-Hant": "確認碼已失效，請重新發送確認簡訊。", "en": "The confirmation code has expired or was used. Send a new one."},
    "FAMILY_LINK_NOT_PENDING": {"zh-Hans": "该代办关系已解除，不能再确认，请重新添加。", "zh-Hant": "該代辦關係已解除，不能再確認，請重新新增。", "en": "This link was revoked and cannot be confirmed; add the family member again."},
    "GUARDIAN_EVIDENCE_INVALID": {"zh-Hans": "户口簿信息与所填子女不符、该户口簿当前无效，或该子女尚未实名认证。", "zh-Hant": "戶口簿資訊與所填子女不符、該戶口簿目前無效，或該子女尚未實名認證。", "en": "The household register does not match the child, is not valid now, or the child has no verified account yet."},
    "GUARDIAN_NOT_MINOR": {"zh-Hans": "监护代办只适用于未满 18 周岁的子女。", "zh-Hant": "監護代辦只適用於未滿 18 週歲的子女。", "en": "Guardianship applies to children under 18 only."},
    "UNDO_WINDOW_CLOSED": {"zh-Hans": "提交已超过 {minutes} 分钟，不能再直接撤回。", "zh-Hant": "提交已超過 {minutes} 分鐘，不能再直接撤回。", "en": "More than {minutes} minutes have passed since you submitted; it can no longer be withdrawn here."},
    "UNDO_NOT_AVAILABLE": {"zh-Hans": "该办件不是在长辈模式下提交的，不能直接撤回。", "zh-Hant": "該辦件不是在長輩模式下提交的，不能直接撤回。", "en": "This application was not submitted in elderly mode, so it cannot be withdrawn here."},
    # Payments (缴费): fees, fines and bills, refunds, reconciliation, e-receipts.
    "PAYABLE_NOT_FOUND": {"zh-Hans": "未找到该待缴款项，请刷新后重试。", "zh-Hant": "未找到該待繳款項，請重新整理後重試。", "en": "No such fee, fine or bill to pay; refresh and try again."},
    "PAYABLES_UNAVAILABLE": {"zh-Hans": "缴费部门系统暂时无法查询，请稍后再试。", "zh-Hant": "繳費部門系統暫時無法查詢，請稍後再試。", "en": "The department system cannot be reached now; please try again later."},
    # A department asked through the data exchange (docs/exchange.md) gave no data.
    "DEPARTMENT_UNAVAILABLE": {"zh-Hans": "部门系统暂时无法连接，请 {retry_after} 秒后再试。", "zh-Hant": "部門系統暫時無法連線，請 {retry_after} 秒後再試。", "en": "The department's system cannot be reached now. Try again in {retry_after} seconds."},
    "DEPARTMENT_PURPOSE_NOT_AUTHORISED": {"zh-Hans": "该部门未授权本平台为此用途查询您的信息，请通过该部门的窗口或官方渠道办理。", "zh-Hant": "該部門未授權本平台為此用途查詢您的資料，請透過該部門的窗口或官方管道辦理。", "en": "The department has not authorised this platform to ask for this. Please use the department's own office or channels."},
    "DEPARTMENT_SUBJECT_UNKNOWN": {"zh-Hans": "该部门没有您的相关记录。如有疑问，请联系该部门。", "zh-Hant": "該部門沒有您的相關紀錄。如有疑問，請聯絡該部門。", "en": "The department holds no records of you. If you think it should, contact the department."},
    "DEPARTMENT_REFUSED": {"zh-Hans": "部门系统未能受理本次请求，请稍后再试；如仍不成功，请联系客服。", "zh-Hant": "部門系統未能受理本次請求，請稍後再試；如仍不成功，請聯絡客服。", "en": "The department's system did not accept the request. Try again later; if it keeps failing, contact support."},
    "DEPARTMENT_NOT_CONNECTED": {"zh-Hans": "该部门尚未接入本平台，请通过该部门的窗口或官方渠道办理。", "zh-Hant": "該部門尚未接入本平台，請透過該部門的窗口或官方管道辦理。", "en": "This department is not connected to the platform yet. Please use the department's own office or channels."},
    "TRAFFIC_VIOLATION_NOT_FOUND": {"zh-Hans": "您名下没有这份交通违法处罚决定书。", "zh-Hant": "您名下沒有這份交通違法處罰決定書。", "en": "You have no traffic violation decision with this number."},
    # 社保 proofs (个人权益记录).
    "PROOF_INVALID": {"zh-Hans": "该二维码不是本平台出具的有效社保权益记录，请核对纸质文件的来源。", "zh-Hant": "該二維碼不是本平台出具的有效社保權益記錄，請核對紙本文件的來源。", "en": "This QR code is not a valid social insurance record issued by this platform. Check where the paper came from."},
    "PROOF_NOT_FOUND": {"zh-Hans": "未找到该社保权益记录。", "zh-Hant": "未找到該社保權益記錄。", "en": "No such social insurance record."},
    "SOCIAL_SECURITY_CARD_LOST": {"zh-Hans": "该社会保障卡已挂失，电子社保卡暂不能使用；补领新卡后即可恢复，详询人社部门或发卡银行。", "zh-Hant": "該社會保障卡已掛失，電子社保卡暫不能使用；補領新卡後即可恢復，詳詢人社部門或發卡銀行。", "en": "This social security card is reported lost, so its electronic card cannot be used until a new card is issued; the human resources and social security office or the card's bank can help."},
    "ELECTRONIC_SOCIAL_SECURITY_CARD_NOT_ISSUED": {"zh-Hans": "尚未领取电子社保卡：请先通过人社部门的渠道申领，再出示二维码。", "zh-Hant": "尚未領取電子社保卡：請先透過人社部門的管道申領，再出示二維碼。", "en": "No electronic social security card has been issued yet: apply for one through the human resources and social security office, then show its QR code."},
    "PAYMENT_AMOUNT_MISMATCH": {"zh-Hans": "缴费金额与应缴金额 {owed} 不一致。", "zh-Hant": "繳費金額與應繳金額 {owed} 不一致。", "en": "The amount differs from the {owed} owed."},
    "REFERENCE_ALREADY_PAID": {"zh-Hans": "该款项已缴清，无需重复缴费。", "zh-Hant": "該款項已繳清，無需重複繳費。", "en": "This has already been paid; there is nothing more to pay."},
    "PAYMENT_IN_PROGRESS": {"zh-Hans": "该款项已有一笔支付正在进行，请先完成或取消那一笔。", "zh-Hant": "該款項已有一筆支付正在進行，請先完成或取消那一筆。", "en": "A payment for this is already in progress; finish or cancel it first."},
    "PAYMENT_IDEMPOTENCY_KEY_REUSED": {"zh-Hans": "该 Idempotency-Key 已用于另一笔不同的缴费，请为新的缴费使用新的键。", "zh-Hant": "該 Idempotency-Key 已用於另一筆不同的繳費，請為新的繳費使用新的鍵。", "en": "This Idempotency-Key was used for a different payment; use a new key for a new payment."},
    "PAYMENT_NOT_FOUND": {"zh-Hans": "未找到该缴费记录。", "zh-Hant": "未找到該繳費記錄。", "en": "No such payment."},
    "PAYMENT_STATE_CONFLICT": {"zh-Hans": "该缴费当前状态为“{state}”，不能进行此操作。", "zh-Hant": "該繳費目前狀態為「{state}」，不能進行此操作。", "en": "The payment is {state}; this is not possible now."},
    "PAYMENT_PROVIDER_UNAVAILABLE": {"zh-Hans": "支付服务暂时不可用，请稍后重试，不会重复扣款。", "zh-Hant": "支付服務暫時無法使用，請稍後重試，不會重複扣款。", "en": "The payment service is unavailable; try again shortly. You will not be charged twice."},
    "PAYMENT_NOTICE_SIGNATURE_INVALID": {"zh-Hans": "支付通知签名无效。", "zh-Hant": "支付通知簽章無效。", "en": "The payment notice signature is invalid."},
    "PAYMENT_NOTICE_REPLAYED": {"zh-Hans": "该支付通知签名已使用过。", "zh-Hant": "該支付通知簽章已使用過。", "en": "This payment notice signature was already used."},
    "PAYMENT_NOTICE_UNREADABLE": {"zh-Hans": "支付通知无法解密或格式不正确。", "zh-Hant": "支付通知無法解密或格式不正確。", "en": "The payment notice could not be decrypted or read."},
    "PAYMENT_NOTICE_MISMATCH": {"zh-Hans": "支付通知与订单记录不符（{what}）。", "zh-Hant": "支付通知與訂單記錄不符（{what}）。", "en": "The payment notice does not match the order ({what})."},
    "REFUND_EXCEEDS_REMAINDER": {"zh-Hans": "退款金额超过可退金额（剩余 {left}）。", "zh-Hant": "退款金額超過可退金額（剩餘 {left}）。", "en": "The refund is more than is left to refund ({left})."},
    "REFUND_INSUFFICIENT_FUNDS": {"zh-Hans": "商户账户余额不足，退款未能发起，请稍后再试。", "zh-Hant": "商戶帳戶餘額不足，退款未能發起，請稍後再試。", "en": "The merchant account cannot fund this refund now; try again later."},
    "REFUND_REFUSED": {"zh-Hans": "支付渠道拒绝退款（{code}）。", "zh-Hant": "支付渠道拒絕退款（{code}）。", "en": "The payment provider refused the refund ({code})."},
    "RECEIPT_NOT_FOUND": {"zh-Hans": "该缴费暂无电子票据（支付成功后开具）。", "zh-Hant": "該繳費暫無電子票據（支付成功後開具）。", "en": "There is no e-receipt for this payment (one is issued once it is paid)."},
    "DISCREPANCY_NOT_FOUND": {"zh-Hans": "未找到该对账差异工单。", "zh-Hant": "未找到該對帳差異工單。", "en": "No such reconciliation case."},
    "LICENCE_TYPE_PLATFORM_ISSUED": {"zh-Hans": "该证照类型由平台自行签发，不能指定签发机构。", "zh-Hant": "該證照類型由平台自行簽發，不能指定簽發機構。", "en": "The platform issues this licence type itself; no issuer can be assigned."},
    "DISCREPANCY_RESOLVED": {"zh-Hans": "该对账差异工单已处理。", "zh-Hant": "該對帳差異工單已處理。", "en": "This reconciliation case is already resolved."},
}


def echoed(text: str, limit: int = 40) -> str:
    """The caller's own text, as a message may repeat it ("no card lottery"): cut to `limit` and
    every run of six or more digits starred, so an ID number, a phone or a bank card typed into the
    wrong field never comes back whole in a reply, nor in a log that records the reply."""
    return mask_digit_runs(text[:limit])


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
        message_key: str | None = None,
    ) -> None:
        self.code = code or self.code
        # One stable code may need other words in another place (TOKEN_EXPIRED for a sign-in and
        # for a presentation QR): `message_key` picks the text, `code` stays what clients check.
        self.message_key = message_key or self.code
        self.status = status or self.status
        self.params = dict(params or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__(self.code)

    def message(self, language: str) -> str:
        texts = MESSAGES.get(self.message_key) or MESSAGES.get(self.code) or MESSAGES["BAD_REQUEST"]
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
