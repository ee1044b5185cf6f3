"""Inbox message templates per kind. Domains add their kinds here.

Each title and body is its zh-Hans text marked with `N_`; its zh-Hant and English words are in the
message catalogs (docs/i18n.md), and `render` gives them in the reader's language.
"""

from __future__ import annotations

from typing import Any, Mapping

from app.i18n import EN, ZH_HANS, ZH_HANT, N_, translate

# The suffix of a parameter given in each language ("per_language"), by the language it is said in.
LANGUAGE_SUFFIXES = {ZH_HANS: "hans", ZH_HANT: "hant", EN: "en"}

# Each kind: title and body (zh-Hans msgids), and optionally "channels" (in_app, sms, push, mini_program;
# in_app only when absent; push goes by SMS to a citizen without a device), "secret" (parameters only external channels show, forgotten once they
# are done), see app/notifications/channels.py, and "per_language" (parameters the sender gives in each language, as
# `<name>_hans`, `<name>_hant`, `<name>_en`, that the text says as `{<name>}` in the language it is read in).
TEMPLATES: dict[str, dict[str, Any]] = {
    "login_new_device": {
        "title": N_("新设备登录提醒"),
        "body": N_("您的账号于 {at} 在“{device}”上登录。如非本人操作，请在“登录设备”中将其退出。"),
        "channels": ["in_app", "push"],  # to the other devices, or by SMS: a stranger's sign-in must be noticed
    },
    "identity_verified": {
        "title": N_("实名认证成功"),
        "body": N_("您已完成实名认证，可以办理更多政务服务。"),
    },
    "face_verified": {
        "title": N_("人脸核验成功"),
        "body": N_("您已完成人脸核验，账号升级为最高认证等级。"),
    },
    "licence_issued": {
        "title": N_("新证照已加入卡包"),
        "body": N_("{issuer}为您签发的“{licence}”已加入电子证照卡包。"),
    },
    "licence_status_changed": {
        "title": N_("证照状态变更"),
        "body": N_("您的“{licence}”状态已变更为：{status}。"),
    },
    "appeal_received": {
        "title": N_("申诉已受理"),
        "body": N_("我们已收到您的健康码申诉，审核结果将通过消息通知您。"),
    },
    "appeal_approved": {
        "title": N_("申诉已通过"),
        "body": N_("您的申诉已通过：{note}"),
    },
    "appeal_rejected": {
        "title": N_("申诉未通过"),
        "body": N_("您的申诉未通过，原因：{note}"),
    },
    "appeal_override_ended": {
        "title": N_("申诉改判已结束"),
        "body": N_("您的申诉通过后又收到新的健康信息，健康码已按最新情况评定。如有异议，可再次申诉。"),
    },
    "session_revoked": {
        "title": N_("设备已退出登录"),
        "body": N_("“{device}”已退出登录。"),
    },
    "refresh_token_reused": {
        "title": N_("账号安全提醒"),
        "body": N_("检测到“{device}”的登录凭证被重复使用，我们已将该设备退出登录。如非本人操作，请留意账号安全。"),
    },
    # Account deletion (注销): told by SMS too, so that a request the citizen did not make is noticed.
    "account_deletion_requested": {
        "title": N_("账号注销申请已受理"),
        "body": N_("您已申请注销账号，账号将于 {date}（北京时间）后注销，届时个人信息将被删除、亲友代办关系将解除，且无法恢复。"
                   "如非本人操作或需要继续使用，请在此之前登录并撤销注销申请。"),
        "channels": ["in_app", "sms"],
    },
    "account_deletion_cancelled": {
        "title": N_("账号注销已撤销"),
        "body": N_("您的账号注销申请已撤销，账号可以继续正常使用。"),
        "channels": ["in_app", "sms"],
    },
    "appointment_reminder": {
        "title": N_("预约办事提醒"),
        "body": N_("您预约了明天 {time}（北京时间）在{office}办理“{item}”，请携带所需材料按时前往。如不能前往，请提前取消预约。"),
        "channels": ["in_app", "sms", "mini_program"],
    },
    "appointment_booked": {
        "title": N_("预约成功"),
        "body": N_("您已预约 {day} {time}（北京时间）在{office}办理“{item}”。"),
    },
    "appointment_cancelled": {
        "title": N_("预约已取消"),
        "body": N_("您 {day} {time} 在{office}办理“{item}”的预约已取消。"),
    },
}


# Health-code colour changes, one kind per colour so each language names the colour in words.
for _colour, _body in {"green": N_("您的健康码已变为绿码，请打开健康码查看原因。"),
                      "yellow": N_("您的健康码已变为黄码，请打开健康码查看原因。"),
                      "red": N_("您的健康码已变为红码，请打开健康码查看原因。")}.items():
    TEMPLATES[f"health_code_{_colour}"] = {
        "title": N_("健康码状态变更"),
        "body": _body,
        # App push (SMS without a device); a subscription message only to those who accepted one.
        "channels": ["in_app", "push", "mini_program"],
    }


# Online applications (办件) and ratings (好差评); {number} is the application id the citizen can quote.
TEMPLATES.update({
    "application_submitted": {
        "title": N_("申请已受理"),
        "body": N_("您的“{item}”申请（办件编号 {number}）已受理，正在审核，结果将通过消息通知您。"),
    },
    "application_auto_approved": {
        "title": N_("申请已秒批通过"),
        "body": N_("您的“{item}”申请（办件编号 {number}）已秒批通过并办结，欢迎对本次服务进行评价。"),
    },
    "application_approved": {
        "title": N_("申请已审批通过"),
        "body": N_("您的“{item}”申请（办件编号 {number}）已审批通过：{note}"),
    },
    "application_rejected": {
        "title": N_("申请未通过"),
        "body": N_("很抱歉，您的“{item}”申请（办件编号 {number}）未通过，原因：{note}"),
    },
    "application_returned": {
        "title": N_("申请需补正"),
        "body": N_("您的“{item}”申请（办件编号 {number}）需要补正：{note}。请修改后重新提交。"),
    },
    "application_corrected": {
        "title": N_("补正材料已收到"),
        "body": N_("我们已收到您为“{item}”申请（办件编号 {number}）补正的内容，正在重新审核。"),
    },
    "application_completed": {
        "title": N_("办件已办结"),
        "body": N_("您的“{item}”申请（办件编号 {number}）已办结，欢迎对本次服务进行评价。"),
    },
    # Elderly mode (适老化): undo, and family proxies (亲友代办). The principal may have no smartphone: SMS too.
    "application_withdrawn": {
        "title": N_("办件已撤回"),
        "body": N_("您的“{item}”申请（办件编号 {number}）已撤回，不影响您今后再次申请。"),
    },
    "family_link_confirmed": {
        "title": N_("亲友代办已开通"),
        "body": N_("{proxy}已成为您的亲友代办人，有效期至 {until}。您可随时在“亲友代办”中解除，或到政务服务大厅解除。"),
        "channels": ["in_app", "sms"],
    },
    "family_link_revoked": {
        "title": N_("亲友代办已解除"),
        "body": N_("{proxy}已不能再为您代办。"),
        "channels": ["in_app", "sms"],
    },
    # The consent code for a family proxy: the principal reads it out to the proxy if they agree.
    "family_consent_requested": {
        "title": N_("亲友代办确认"),
        "body": N_("{proxy}（手机尾号 {phone_tail}）申请作为您的亲友代办人（{relation}），可为您出示健康码、预约和申请办事。"
                   "如您同意，请把确认码 {code} 告诉对方，{minutes} 分钟内（{until} 前）有效；如不认识此人，请不要告诉任何人。"),
        "channels": ["in_app", "sms"],
        "secret": ["code"],  # sent by SMS only; masked in the inbox, and in storage once the SMS is done
        "per_language": ["relation"],  # given as relation_hans, relation_hant, relation_en
    },
    "family_link_ended": {
        "title": N_("代办关系已解除"),
        "body": N_("您为{principal}代办的关系已解除。"),
    },
    "rating_follow_up": {
        "title": N_("您的评价已转办"),
        "body": N_("感谢您对“{item}”的评价。我们已转交办理部门，部门将在 {days} 天内回复您。"),
    },
    "rating_follow_up_answered": {
        "title": N_("部门已回复您的评价"),
        "body": N_("关于“{item}”的评价，办理部门回复：{answer}"),
    },
    # 12345 tickets (工单).
    "hotline_ticket_accepted": {
        "title": N_("12345 工单已受理"),
        "body": N_("您的 12345 工单（编号 {number}）已由承办部门受理。"),
    },
    "hotline_ticket_answered": {
        "title": N_("12345 工单已答复"),
        "body": N_("承办部门已答复您的 12345 工单（编号 {number}），请查看并确认，或申请重新办理。"),
    },
    "hotline_ticket_escalated": {
        "title": N_("12345 工单已督办"),
        "body": N_("您的 12345 工单（编号 {number}）超过办理时限，已提请督办。"),
    },
    "hotline_ticket_reopened_by_rating": {
        "title": N_("12345 工单重新办理"),
        "body": N_("感谢您的评价。您的 12345 工单（编号 {number}）已退回承办部门重新办理。"),
    },
    # Payments (缴费).
    "payment_succeeded": {
        "title": N_("缴费成功"),
        "body": N_("您已成功缴纳“{description}”{amount}，电子票据已放入卡包。"),
    },
    "payment_failed": {
        "title": N_("缴费未成功"),
        "body": N_("“{description}”的支付未成功，没有扣款，您可以重新缴费。"),
    },
    "payment_expired": {
        "title": N_("缴费已超时"),
        "body": N_("“{description}”的支付已超时关闭，没有扣款，如需缴费请重新发起。"),
    },
    "payment_refunded": {
        "title": N_("退款已到账"),
        "body": N_("“{description}”已退款 {amount}，将原路退回您的支付账户。"),
    },
})
# Every step of an application also goes out as a mini-program subscription message, to those who accepted one;
# its results (approved, refused, sent back, completed) by app push too, or by SMS to a citizen without a device.
for _kind in ("application_submitted", "application_auto_approved", "application_approved", "application_rejected",
              "application_returned", "application_corrected", "application_completed"):
    TEMPLATES[_kind]["channels"] = ["in_app", "mini_program"]
for _kind in ("application_auto_approved", "application_approved", "application_rejected", "application_returned",
              "application_completed"):
    TEMPLATES[_kind]["channels"] = ["in_app", "push", "mini_program"]
for _kind in ("hotline_ticket_answered", "hotline_ticket_escalated"):
    TEMPLATES[_kind]["channels"] = ["in_app", "push"]
# Payment notices by app push, or by SMS to a citizen without a device.
for _kind in [kind for kind in TEMPLATES if kind.startswith("payment_")]:
    TEMPLATES[_kind]["channels"] = [*TEMPLATES[_kind].get("channels", ["in_app"]), "push"]


# Identity disputes: the owner of a name + ID-number pair took it back with a face check (人脸核身).
TEMPLATES["identity_reclaimed"] = {
    "title": N_("实名身份已解除"),
    "body": N_("您账号上的实名身份已由本人通过人脸核验取回，账号已退出登录并恢复为手机号账号，电子身份凭证已注销。如有疑问，请拨打 12345。"),
    "channels": ["in_app", "sms"],
}

# The account's phone number was changed (更换手机号): told on the new number here, on the old one by SMS only
# (sms_templates.PHONE_CHANGED_AWAY).
TEMPLATES["phone_changed"] = {
    "title": N_("绑定手机号已更换"),
    "body": N_("您的账号绑定手机号已于 {at} 更换为 {new_phone}，其他设备已退出登录。如非本人操作，请立即拨打 12345。"),
    "channels": ["in_app", "sms"],
}


def params_in(kind: str, params: Mapping[str, Any], language: str) -> dict[str, Any]:
    """`params` with each per-language parameter of `kind` under its own name, in `language`."""
    suffix = LANGUAGE_SUFFIXES.get(language, LANGUAGE_SUFFIXES[ZH_HANS])
    per_language = TEMPLATES[kind].get("per_language", ()) if kind in TEMPLATES else ()
    return {**params, **{name: params[f"{name}_{suffix}"] for name in per_language if f"{name}_{suffix}" in params}}


def render(kind: str, params: Mapping[str, Any], language: str = ZH_HANS) -> tuple[str, str]:
    """The title and body of `kind` in `language`, with `params` filled."""
    template, filled = TEMPLATES[kind], params_in(kind, params, language)
    return translate(template["title"], language, **filled), translate(template["body"], language, **filled)
