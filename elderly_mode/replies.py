"""The spoken sentences (`tts_text`) of key replies: health code, ID voucher, application status.

Each is a plain sentence in the reader's language, run through `tts.spoken` so that times, numbers
and symbols come out as words. Times are said in China time.
"""

from __future__ import annotations

from app.i18n import N_, translate
from elderly_mode.tts import spoken

HEALTH_CODE = N_("您的健康码是{colour}。{reasons}。这个码的有效期到 {until}。")
VOUCHER = N_("身份电子凭证二维码已准备好，请把手机交给工作人员扫码。还有 {seconds} 秒有效{extend}。")
VOUCHER_EXTEND = N_("，如需更多时间，可以点击“延长时间”")
APPLICATION = N_("您申请的{item}，现在的状态是：{status}。提交时间是 {at}。{undo}")
UNDO = N_("如果提交错了，{until} 之前可以直接撤回，没有任何影响。")


def health_code(colour_text: str, reasons: list[str], expires_at: str, language: str) -> str:
    joiner = "; " if language == "en" else "；"
    return spoken(translate(HEALTH_CODE, language, colour=colour_text, reasons=joiner.join(reasons) or "-",
                            until=expires_at), language)


def voucher(seconds_left: int, can_extend: bool, language: str) -> str:
    extend = translate(VOUCHER_EXTEND, language) if can_extend else ""
    return spoken(translate(VOUCHER, language, seconds=seconds_left, extend=extend), language)


def application(item: str, status_text: str, created_at: str, undo_until: str | None, language: str) -> str:
    undo = translate(UNDO, language, until=undo_until) if undo_until else ""
    return spoken(translate(APPLICATION, language, item=item, status=status_text, at=created_at, undo=undo), language)
