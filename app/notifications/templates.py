"""Inbox message templates per kind, in zh-Hans, zh-Hant and en. Domains add their kinds here."""

from __future__ import annotations

from typing import Any

# Each kind: title and body per language, and optionally "channels" (in_app, sms, push, mini_program;
# in_app only when absent; push goes by SMS to a citizen without a device) and "secret" (parameters only external channels show, forgotten once they
# are done), see app/notifications/channels.py.
TEMPLATES: dict[str, dict[str, Any]] = {
    "login_new_device": {
        "title": {"zh-Hans": "新设备登录提醒", "zh-Hant": "新裝置登入提醒", "en": "New sign-in"},
        "body": {
            "zh-Hans": "您的账号于 {at} 在“{device}”上登录。如非本人操作，请在“登录设备”中将其退出。",
            "zh-Hant": "您的帳號於 {at} 在「{device}」上登入。如非本人操作，請在「登入裝置」中將其登出。",
            "en": "Your account was signed in on “{device}” at {at}. If this was not you, sign it out under Devices.",
        },
        "channels": ["in_app", "push"],  # to the other devices, or by SMS: a stranger's sign-in must be noticed
    },
    "identity_verified": {
        "title": {"zh-Hans": "实名认证成功", "zh-Hant": "實名認證成功", "en": "Identity verified"},
        "body": {
            "zh-Hans": "您已完成实名认证，可以办理更多政务服务。",
            "zh-Hant": "您已完成實名認證，可以辦理更多政務服務。",
            "en": "Your real-name identity is verified. More government services are now open to you.",
        },
    },
    "face_verified": {
        "title": {"zh-Hans": "人脸核验成功", "zh-Hant": "人臉核驗成功", "en": "Face check passed"},
        "body": {
            "zh-Hans": "您已完成人脸核验，账号升级为最高认证等级。",
            "zh-Hant": "您已完成人臉核驗，帳號升級為最高認證等級。",
            "en": "Your face check passed. Your account now has the highest assurance level.",
        },
    },
    "licence_issued": {
        "title": {"zh-Hans": "新证照已加入卡包", "zh-Hant": "新證照已加入卡包", "en": "New licence in your wallet"},
        "body": {"zh-Hans": "{issuer}为您签发的“{licence}”已加入电子证照卡包。",
                 "zh-Hant": "{issuer}為您簽發的「{licence}」已加入電子證照卡包。",
                 "en": "{issuer} issued your “{licence}”; it is now in your wallet."},
    },
    "licence_status_changed": {
        "title": {"zh-Hans": "证照状态变更", "zh-Hant": "證照狀態變更", "en": "Licence status changed"},
        "body": {"zh-Hans": "您的“{licence}”状态已变更为：{status}。", "zh-Hant": "您的「{licence}」狀態已變更為：{status}。",
                 "en": "The status of your “{licence}” is now: {status}."},
    },
    "appeal_received": {
        "title": {"zh-Hans": "申诉已受理", "zh-Hant": "申訴已受理", "en": "Appeal received"},
        "body": {"zh-Hans": "我们已收到您的健康码申诉，审核结果将通过消息通知您。",
                 "zh-Hant": "我們已收到您的健康碼申訴，審核結果將透過訊息通知您。",
                 "en": "We received your health-code appeal and will tell you the outcome here."},
    },
    "appeal_approved": {
        "title": {"zh-Hans": "申诉已通过", "zh-Hant": "申訴已通過", "en": "Appeal upheld"},
        "body": {"zh-Hans": "您的申诉已通过：{note}", "zh-Hant": "您的申訴已通過：{note}", "en": "Your appeal was upheld: {note}"},
    },
    "appeal_rejected": {
        "title": {"zh-Hans": "申诉未通过", "zh-Hant": "申訴未通過", "en": "Appeal not upheld"},
        "body": {"zh-Hans": "您的申诉未通过，原因：{note}", "zh-Hant": "您的申訴未通過，原因：{note}", "en": "Your appeal was not upheld: {note}"},
    },
    "appeal_override_ended": {
        "title": {"zh-Hans": "申诉改判已结束", "zh-Hant": "申訴改判已結束", "en": "Appeal override ended"},
        "body": {"zh-Hans": "您的申诉通过后又收到新的健康信息，健康码已按最新情况评定。如有异议，可再次申诉。",
                 "zh-Hant": "您的申訴通過後又收到新的健康資訊，健康碼已按最新情況評定。如有異議，可再次申訴。",
                 "en": "After your appeal was upheld, new health information arrived. Your code now "
                       "follows the latest information. You may appeal again."},
    },
    "session_revoked": {
        "title": {"zh-Hans": "设备已退出登录", "zh-Hant": "裝置已登出", "en": "Device signed out"},
        "body": {
            "zh-Hans": "“{device}”已退出登录。",
            "zh-Hant": "「{device}」已登出。",
            "en": "“{device}” was signed out.",
        },
    },
    "refresh_token_reused": {
        "title": {"zh-Hans": "账号安全提醒", "zh-Hant": "帳號安全提醒", "en": "Security alert"},
        "body": {
            "zh-Hans": "检测到“{device}”的登录凭证被重复使用，我们已将该设备退出登录。如非本人操作，请留意账号安全。",
            "zh-Hant": "偵測到「{device}」的登入憑證被重複使用，我們已將該裝置登出。如非本人操作，請留意帳號安全。",
            "en": "A sign-in token for “{device}” was used twice, so we signed that device out. If this was not you, keep an eye on your account.",
        },
    },
    "appointment_reminder": {
        "title": {"zh-Hans": "预约办事提醒", "zh-Hant": "預約辦事提醒", "en": "Appointment tomorrow"},
        "body": {
            "zh-Hans": "您预约了明天 {time}（北京时间）在{office}办理“{item}”，请携带所需材料按时前往。如不能前往，请提前取消预约。",
            "zh-Hant": "您預約了明天 {time}（北京時間）在{office}辦理「{item}」，請攜帶所需材料準時前往。如不能前往，請提前取消預約。",
            "en": "You have an appointment tomorrow at {time} (Beijing time) at {office} for “{item}”. Bring the required "
                  "documents, or cancel in advance if you cannot come.",
        },
        "channels": ["in_app", "sms", "mini_program"],
    },
    "appointment_booked": {
        "title": {"zh-Hans": "预约成功", "zh-Hant": "預約成功", "en": "Appointment booked"},
        "body": {"zh-Hans": "您已预约 {day} {time}（北京时间）在{office}办理“{item}”。",
                 "zh-Hant": "您已預約 {day} {time}（北京時間）在{office}辦理「{item}」。",
                 "en": "Booked: {day} at {time} (Beijing time) at {office} for “{item}”."},
    },
    "appointment_cancelled": {
        "title": {"zh-Hans": "预约已取消", "zh-Hant": "預約已取消", "en": "Appointment cancelled"},
        "body": {"zh-Hans": "您 {day} {time} 在{office}办理“{item}”的预约已取消。",
                 "zh-Hant": "您 {day} {time} 在{office}辦理「{item}」的預約已取消。",
                 "en": "Your appointment on {day} at {time} at {office} for “{item}” is cancelled."},
    },
}


# Health-code colour changes, one kind per colour so each language names the colour in words.
for _colour, _names in {"green": ("绿码", "綠碼", "green"), "yellow": ("黄码", "黃碼", "yellow"), "red": ("红码", "紅碼", "red")}.items():
    TEMPLATES[f"health_code_{_colour}"] = {
        "title": {"zh-Hans": "健康码状态变更", "zh-Hant": "健康碼狀態變更", "en": "Health code changed"},
        "body": {
            "zh-Hans": f"您的健康码已变为{_names[0]}，请打开健康码查看原因。",
            "zh-Hant": f"您的健康碼已變為{_names[1]}，請開啟健康碼查看原因。",
            "en": f"Your health code is now {_names[2]}. Open it to see why.",
        },
        # App push (SMS without a device); a subscription message only to those who accepted one.
        "channels": ["in_app", "push", "mini_program"],
    }


# Online applications (办件) and ratings (好差评); {number} is the application id the citizen can quote.
TEMPLATES.update({
    "application_submitted": {
        "title": {"zh-Hans": "申请已受理", "zh-Hant": "申請已受理", "en": "Application accepted"},
        "body": {"zh-Hans": "您的“{item}”申请（办件编号 {number}）已受理，正在审核，结果将通过消息通知您。",
                 "zh-Hant": "您的「{item}」申請（辦件編號 {number}）已受理，正在審核，結果將透過訊息通知您。",
                 "en": "Your application for “{item}” (no. {number}) was accepted and is being reviewed. We will tell you the outcome here."},
    },
    "application_auto_approved": {
        "title": {"zh-Hans": "申请已秒批通过", "zh-Hant": "申請已秒批通過", "en": "Approved instantly"},
        "body": {"zh-Hans": "您的“{item}”申请（办件编号 {number}）已秒批通过并办结，欢迎对本次服务进行评价。",
                 "zh-Hant": "您的「{item}」申請（辦件編號 {number}）已秒批通過並辦結，歡迎對本次服務進行評價。",
                 "en": "Your application for “{item}” (no. {number}) was approved instantly and is complete. Please rate the service."},
    },
    "application_approved": {
        "title": {"zh-Hans": "申请已审批通过", "zh-Hant": "申請已審批通過", "en": "Application approved"},
        "body": {"zh-Hans": "您的“{item}”申请（办件编号 {number}）已审批通过：{note}",
                 "zh-Hant": "您的「{item}」申請（辦件編號 {number}）已審批通過：{note}",
                 "en": "Your application for “{item}” (no. {number}) was approved: {note}"},
    },
    "application_rejected": {
        "title": {"zh-Hans": "申请未通过", "zh-Hant": "申請未通過", "en": "Application not approved"},
        "body": {"zh-Hans": "很抱歉，您的“{item}”申请（办件编号 {number}）未通过，原因：{note}",
                 "zh-Hant": "很抱歉，您的「{item}」申請（辦件編號 {number}）未通過，原因：{note}",
                 "en": "Sorry, your application for “{item}” (no. {number}) was not approved: {note}"},
    },
    "application_returned": {
        "title": {"zh-Hans": "申请需补正", "zh-Hant": "申請需補正", "en": "Please correct your application"},
        "body": {"zh-Hans": "您的“{item}”申请（办件编号 {number}）需要补正：{note}。请修改后重新提交。",
                 "zh-Hant": "您的「{item}」申請（辦件編號 {number}）需要補正：{note}。請修改後重新提交。",
                 "en": "Your application for “{item}” (no. {number}) needs corrections: {note}. Please correct it and send it again."},
    },
    "application_corrected": {
        "title": {"zh-Hans": "补正材料已收到", "zh-Hant": "補正材料已收到", "en": "Corrections received"},
        "body": {"zh-Hans": "我们已收到您为“{item}”申请（办件编号 {number}）补正的内容，正在重新审核。",
                 "zh-Hant": "我們已收到您為「{item}」申請（辦件編號 {number}）補正的內容，正在重新審核。",
                 "en": "We received your corrections to the application for “{item}” (no. {number}); it is being reviewed again."},
    },
    "application_completed": {
        "title": {"zh-Hans": "办件已办结", "zh-Hant": "辦件已辦結", "en": "Application completed"},
        "body": {"zh-Hans": "您的“{item}”申请（办件编号 {number}）已办结，欢迎对本次服务进行评价。",
                 "zh-Hant": "您的「{item}」申請（辦件編號 {number}）已辦結，歡迎對本次服務進行評價。",
                 "en": "Your application for “{item}” (no. {number}) is complete. Please rate the service."},
    },
    # Elderly mode (适老化): undo, and family proxies (亲友代办). The principal may have no smartphone: SMS too.
    "application_withdrawn": {
        "title": {"zh-Hans": "办件已撤回", "zh-Hant": "辦件已撤回", "en": "Application withdrawn"},
        "body": {"zh-Hans": "您的“{item}”申请（办件编号 {number}）已撤回，不影响您今后再次申请。",
                 "zh-Hant": "您的「{item}」申請（辦件編號 {number}）已撤回，不影響您日後再次申請。",
                 "en": "Your application for “{item}” (no. {number}) was withdrawn. You can apply again at any time."},
    },
    "family_link_confirmed": {
        "title": {"zh-Hans": "亲友代办已开通", "zh-Hant": "親友代辦已開通", "en": "Family proxy confirmed"},
        "body": {"zh-Hans": "{proxy}已成为您的亲友代办人，有效期至 {until}。您可随时在“亲友代办”中解除，或到政务服务大厅解除。",
                 "zh-Hant": "{proxy}已成為您的親友代辦人，有效期至 {until}。您可隨時在「親友代辦」中解除，或到政務服務大廳解除。",
                 "en": "{proxy} can now act for you until {until}. You can end this at any time under Family, or at a service hall."},
        "channels": ["in_app", "sms"],
    },
    "family_link_revoked": {
        "title": {"zh-Hans": "亲友代办已解除", "zh-Hant": "親友代辦已解除", "en": "Family proxy ended"},
        "body": {"zh-Hans": "{proxy}已不能再为您代办。", "zh-Hant": "{proxy}已不能再為您代辦。",
                 "en": "{proxy} can no longer act for you."},
        "channels": ["in_app", "sms"],
    },
    # The consent code for a family proxy: the principal reads it out to the proxy if they agree.
    "family_consent_requested": {
        "title": {"zh-Hans": "亲友代办确认", "zh-Hant": "親友代辦確認", "en": "Family proxy request"},
        "body": {"zh-Hans": "{proxy}（手机尾号 {phone_tail}）申请作为您的亲友代办人（{relation_hans}），可为您出示健康码、预约和申请办事。"
                            "如您同意，请把确认码 {code} 告诉对方，{minutes} 分钟内（{until} 前）有效；如不认识此人，请不要告诉任何人。",
                 "zh-Hant": "{proxy}（手機尾號 {phone_tail}）申請作為您的親友代辦人（{relation_hant}），可為您出示健康碼、預約和申請辦事。"
                            "如您同意，請把確認碼 {code} 告訴對方，{minutes} 分鐘內（{until} 前）有效；如不認識此人，請不要告訴任何人。",
                 "en": "{proxy} (phone ending {phone_tail}) asks to act for you as your {relation_en}: to show your health "
                       "code, book appointments and apply for services. If you agree, tell them the code {code}; it works "
                       "for {minutes} minutes (until {until}). If you do not know this person, tell it to no one."},
        "channels": ["in_app", "sms"],
        "secret": ["code"],  # sent by SMS only; masked in the inbox, and in storage once the SMS is done
    },
    "family_link_ended": {
        "title": {"zh-Hans": "代办关系已解除", "zh-Hant": "代辦關係已解除", "en": "Family link ended"},
        "body": {"zh-Hans": "您为{principal}代办的关系已解除。", "zh-Hant": "您為{principal}代辦的關係已解除。",
                 "en": "You can no longer act for {principal}."},
    },
    "rating_follow_up": {
        "title": {"zh-Hans": "您的评价已转办", "zh-Hant": "您的評價已轉辦", "en": "Your rating was passed on"},
        "body": {"zh-Hans": "感谢您对“{item}”的评价。我们已转交办理部门，部门将在 {days} 天内回复您。",
                 "zh-Hant": "感謝您對「{item}」的評價。我們已轉交辦理部門，部門將在 {days} 天內回覆您。",
                 "en": "Thank you for rating “{item}”. We passed it to the department, which will reply within {days} days."},
    },
    "rating_follow_up_answered": {
        "title": {"zh-Hans": "部门已回复您的评价", "zh-Hant": "部門已回覆您的評價", "en": "The department replied"},
        "body": {"zh-Hans": "关于“{item}”的评价，办理部门回复：{answer}", "zh-Hant": "關於「{item}」的評價，辦理部門回覆：{answer}",
                 "en": "About your rating of “{item}”, the department replied: {answer}"},
    },
    # Payments (缴费).
    "payment_succeeded": {
        "title": {"zh-Hans": "缴费成功", "zh-Hant": "繳費成功", "en": "Payment received"},
        "body": {"zh-Hans": "您已成功缴纳“{description}”{amount}，电子票据已放入卡包。",
                 "zh-Hant": "您已成功繳納「{description}」{amount}，電子票據已放入卡包。",
                 "en": "Your payment of {amount} for “{description}” was received; the e-receipt is in your wallet."},
    },
    "payment_failed": {
        "title": {"zh-Hans": "缴费未成功", "zh-Hant": "繳費未成功", "en": "Payment failed"},
        "body": {"zh-Hans": "“{description}”的支付未成功，没有扣款，您可以重新缴费。",
                 "zh-Hant": "「{description}」的支付未成功，沒有扣款，您可以重新繳費。",
                 "en": "The payment for “{description}” did not go through. Nothing was charged; you can pay again."},
    },
    "payment_expired": {
        "title": {"zh-Hans": "缴费已超时", "zh-Hant": "繳費已逾時", "en": "Payment timed out"},
        "body": {"zh-Hans": "“{description}”的支付已超时关闭，没有扣款，如需缴费请重新发起。",
                 "zh-Hant": "「{description}」的支付已逾時關閉，沒有扣款，如需繳費請重新發起。",
                 "en": "The payment for “{description}” timed out. Nothing was charged; start again to pay."},
    },
    "payment_refunded": {
        "title": {"zh-Hans": "退款已到账", "zh-Hant": "退款已到帳", "en": "Refund made"},
        "body": {"zh-Hans": "“{description}”已退款 {amount}，将原路退回您的支付账户。",
                 "zh-Hant": "「{description}」已退款 {amount}，將原路退回您的支付帳戶。",
                 "en": "{amount} for “{description}” was refunded to the account you paid from."},
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
# Payment notices by app push, or by SMS to a citizen without a device.
for _kind in [kind for kind in TEMPLATES if kind.startswith("payment_")]:
    TEMPLATES[_kind]["channels"] = [*TEMPLATES[_kind].get("channels", ["in_app"]), "push"]


# Identity disputes: the owner of a name + ID-number pair took it back with a face check (人脸核身).
TEMPLATES["identity_reclaimed"] = {
    "title": {"zh-Hans": "实名身份已解除", "zh-Hant": "實名身分已解除", "en": "Real-name identity removed"},
    "body": {"zh-Hans": "您账号上的实名身份已由本人通过人脸核验取回，账号已退出登录并恢复为手机号账号，电子身份凭证已注销。如有疑问，请拨打 12345。",
             "zh-Hant": "您帳號上的實名身分已由本人透過人臉核驗取回，帳號已登出並恢復為手機號帳號，電子身分憑證已註銷。如有疑問，請撥打 12345。",
             "en": "The real-name identity on your account was taken back by its owner through a face check. Your "
                   "account was signed out, is now a phone-only account, and its ID voucher is revoked. Questions: call 12345."},
    "channels": ["in_app", "sms"],
}
