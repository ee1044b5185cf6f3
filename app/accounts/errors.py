"""The accounts domain's error codes: sign-in, sessions, real-name identity and the face check.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # Sign-in by SMS and sessions.
    "INVALID_PHONE": N_("请输入正确的 11 位中国大陆手机号码。"),
    "SMS_UNAVAILABLE": N_("短信发送失败，请稍后重试。"),
    "OTP_INVALID": N_("验证码不正确，还可尝试 {tries_left} 次。"),
    "OTP_EXPIRED": N_("验证码已失效，请重新获取。"),
    "TOKEN_REVOKED": N_("您已退出登录，请重新登录。"),
    "REFRESH_TOKEN_INVALID": N_("登录状态已失效，请重新登录。"),
    "REFRESH_TOKEN_REUSED": N_("检测到登录凭证被重复使用，为保护您的账号已退出该设备，请重新登录。"),
    # Real-name identity (实名认证) and the face check.
    "CITIZEN_NOT_FOUND": N_("未找到该身份证号码对应的已实名用户。"),
    "IDENTITY_LEVEL_REQUIRED": N_("请先完成{level_name}后再使用此服务。"),
    "INVALID_ID_NUMBER": N_("身份证号码不正确，请核对后重新输入。"),
    "DOCUMENT_NUMBER_INVALID": N_("{document_name}号码不正确（{rule_text}），请核对后重新输入。"),
    "INVALID_NAME": N_("请输入与身份证一致的姓名。"),
    "IDENTITY_ALREADY_VERIFIED": N_("您已完成实名认证，如需更改请联系客服。"),
    "FACE_CHECK_FAILED": N_("人脸核验未通过，请在光线充足处正对镜头重试。"),
    "FACE_CHECK_UNAVAILABLE": N_("人脸核验服务暂不可用，请稍后再试。"),
    "ID_NUMBER_TAKEN": N_("该身份已绑定其他账号。如果这是您本人的身份，可以通过人脸核验取回。"),
    "IDENTITY_MISMATCH": N_("姓名与身份证号码不一致，请核对后重试。"),
    "IDENTITY_MISMATCH_LIMIT": N_("今日核验未通过次数过多，请明天再试，或到政务服务大厅办理。"),
    "IDENTITY_CHECK_UNAVAILABLE": N_("身份核验服务暂不可用，请稍后再试。"),
    "NOTHING_TO_RECLAIM": N_("该身份未绑定其他账号，请直接进行实名认证。"),
    "FACE_CHECK_NOT_FINISHED": N_("人脸核验尚未完成，请先在核验页面完成后再提交。"),
    "FACE_SESSION_USED": N_("该人脸核验已使用，请重新发起核验。"),
    "FACE_SESSION_EXPIRED": N_("人脸核验已过期，请重新发起核验。"),
    "FACE_CHECK_NOT_POSSIBLE": N_("暂无法为该身份进行人脸核验，请携带身份证到政务服务大厅办理。"),
    "SMS_LIMIT_REACHED": N_("该号码今日接收验证码已达上限，请明天再试，或改用语音验证码。"),
    "FACE_SAMPLE_NOT_ACCEPTED": N_("请通过人脸核验页面完成核验。"),
    "INVALID_LIVENESS_SAMPLE": N_("未能读取人脸采集数据，请重新采集。"),
    # Step-up: a fresh SMS code before a sensitive operation.
    "FRESH_OTP_REQUIRED": N_("请先输入短信验证码确认是本人操作。"),
    # Changing the phone number (更换绑定手机号).
    "PHONE_UNCHANGED": N_("新手机号与当前绑定的手机号相同。"),
    "PHONE_TAKEN": N_("该手机号已绑定其他账号，请先在该账号中更换手机号或注销后再试。"),
    "PHONE_CHANGED_MEANWHILE": N_("绑定手机号刚刚已被更改，请刷新后重试。"),
    "PHONE_CHANGE_LIMIT": N_("今日更换手机号的验证码已达上限，请明天再试。"),
    "OLD_PHONE_CODE_INVALID": N_("原手机号收到的验证码不正确，还可尝试 {tries_left} 次。"),
    "NEW_PHONE_CODE_INVALID": N_("新手机号收到的验证码不正确，还可尝试 {tries_left} 次。"),
    "OLD_PHONE_CODE_EXPIRED": N_("原手机号的验证码已失效，请重新获取。"),
    "NEW_PHONE_CODE_EXPIRED": N_("新手机号的验证码已失效，请重新获取。"),
    "FACE_SESSION_WRONG_PURPOSE": N_("该人脸核验是为其他业务发起的，请重新发起核验。"),
})

register_messages({
    # Account deletion (注销).
    "DELETION_BLOCKED": N_("您还有 {count} 项未办结的事项（支付、退款、办件或工单），请办结或撤回后再申请注销账号。"),
    "DELETION_NOT_REQUESTED": N_("您没有待处理的账号注销申请。"),
})
