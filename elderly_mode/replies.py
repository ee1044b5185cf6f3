"""The spoken sentences (`tts_text`) of key replies: health code, ID voucher, application status.

Each is a plain sentence in the reader's language, run through `tts.spoken` so that times, numbers
and symbols come out as words. Times are said in China time.
"""

from __future__ import annotations

from app.i18n import pick
from elderly_mode.tts import spoken

HEALTH_CODE = {
    "zh-Hans": "您的健康码是{colour}。{reasons}。这个码的有效期到 {until}。",
    "zh-Hant": "您的健康碼是{colour}。{reasons}。這個碼的有效期到 {until}。",
    "en": "Your health code is {colour}. {reasons}. This code is valid until {until}.",
}
VOUCHER = {
    "zh-Hans": "身份电子凭证二维码已准备好，请把手机交给工作人员扫码。还有 {seconds} 秒有效{extend}。",
    "zh-Hant": "身分電子憑證二維碼已準備好，請把手機交給工作人員掃碼。還有 {seconds} 秒有效{extend}。",
    "en": "Your ID voucher code is ready. Hand your phone to the staff to scan it. It is valid for {seconds} more "
          "seconds{extend}.",
}
VOUCHER_EXTEND = {"zh-Hans": "，如需更多时间，可以点击“延长时间”", "zh-Hant": "，如需更多時間，可以點擊「延長時間」",
                  "en": ". If you need more time, tap Extend"}
APPLICATION = {
    "zh-Hans": "您申请的{item}，现在的状态是：{status}。提交时间是 {at}。{undo}",
    "zh-Hant": "您申請的{item}，現在的狀態是：{status}。提交時間是 {at}。{undo}",
    "en": "Your application for {item} is now: {status}. You submitted it on {at}. {undo}",
}
UNDO = {"zh-Hans": "如果提交错了，{until} 之前可以直接撤回，没有任何影响。",
        "zh-Hant": "如果提交錯了，{until} 之前可以直接撤回，沒有任何影響。",
        "en": "If this was a mistake, you can withdraw it before {until} with no penalty."}


def health_code(colour_text: str, reasons: list[str], expires_at: str, language: str) -> str:
    joiner = "; " if language == "en" else "；"
    return spoken(pick(HEALTH_CODE, language, colour=colour_text, reasons=joiner.join(reasons) or "-",
                       until=expires_at), language)


def voucher(seconds_left: int, can_extend: bool, language: str) -> str:
    return spoken(pick(VOUCHER, language, seconds=seconds_left, extend=pick(VOUCHER_EXTEND, language) if can_extend
                       else ""), language)


def application(item: str, status_text: str, created_at: str, undo_until: str | None, language: str) -> str:
    undo = pick(UNDO, language, until=undo_until) if undo_until else ""
    return spoken(pick(APPLICATION, language, item=item, status=status_text, at=created_at, undo=undo), language)
