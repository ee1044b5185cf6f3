"""What to do next (下一步怎么做): the sentence an error gets in elderly mode, and the help line.

In elderly mode every error message ends by saying what to do next in plain words; where a code
has no particular next step, the help line and asking family are offered, never a dead end.
"""

from __future__ import annotations

from app.i18n import pick

HELP_LINE = "12345"  # 政务服务便民热线 (the sample help line)

NEXT_STEPS: dict[str, dict[str, str]] = {
    "AUTH_REQUIRED": {"zh-Hans": "请点击“登录”，用手机号和短信验证码登录。", "zh-Hant": "請點擊「登入」，用手機號和簡訊驗證碼登入。",
                      "en": "Tap Sign in and sign in with your phone number and text-message code."},
    "TOKEN_EXPIRED": {"zh-Hans": "请重新登录一次。", "zh-Hant": "請重新登入一次。", "en": "Please sign in once more."},
    "OTP_EXPIRED": {"zh-Hans": "请点击“重新获取验证码”，也可以选择“语音播报验证码”接听电话。",
                    "zh-Hant": "請點擊「重新取得驗證碼」，也可以選擇「語音播報驗證碼」接聽電話。",
                    "en": "Tap Send a new code, or choose Call me to hear the code on the phone."},
    "OTP_INVALID": {"zh-Hans": "请对照短信慢慢输入 6 位数字，也可以选择“语音播报验证码”。",
                    "zh-Hant": "請對照簡訊慢慢輸入 6 位數字，也可以選擇「語音播報驗證碼」。",
                    "en": "Type the 6 digits from the message slowly, or choose Call me to hear the code."},
    "IDENTITY_LEVEL_REQUIRED": {"zh-Hans": "请在“我的”页面点击“实名认证”，按提示完成。",
                                "zh-Hant": "請在「我的」頁面點擊「實名認證」，按提示完成。",
                                "en": "Open My account, tap Verify identity and follow the steps."},
    "RATE_LIMITED": {"zh-Hans": "请稍等一会儿再试。", "zh-Hant": "請稍等一會兒再試。", "en": "Please wait a little and try again."},
    "FAMILY_LINK_REQUIRED": {"zh-Hans": "请先在“亲友代办”中添加这位家人，并请家人确认。",
                             "zh-Hant": "請先在「親友代辦」中新增這位家人，並請家人確認。",
                             "en": "First add this family member under Family, and ask them to confirm."},
    "UNDO_WINDOW_CLOSED": {"zh-Hans": "如需撤回，请拨打办理部门电话或到服务大厅咨询。",
                           "zh-Hant": "如需撤回，請撥打辦理部門電話或到服務大廳諮詢。",
                           "en": "To withdraw it now, call the department or ask at a service hall."},
}

DEFAULT_NEXT_STEP: dict[str, str] = {
    "zh-Hans": "如需帮助，请拨打 12345 政务服务便民热线，或请家人帮您操作。",
    "zh-Hant": "如需幫助，請撥打 12345 政務服務便民熱線，或請家人幫您操作。",
    "en": "For help, call the 12345 government service line, or ask a family member to help you.",
}


def next_step(code: str, language: str) -> str:
    return pick(NEXT_STEPS.get(code, DEFAULT_NEXT_STEP), language)


def with_next_step(message: str, code: str, language: str) -> str:
    """The message, then what to do next (unless the message already ends with that very sentence)."""
    step = next_step(code, language)
    if message.endswith(step):
        return message
    joiner = " " if language == "en" else ""
    return f"{message}{joiner}{step}"
