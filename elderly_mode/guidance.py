"""What to do next (下一步怎么做): the sentence an error gets in elderly mode, and the help line.

In elderly mode every error message ends by saying what to do next in plain words; where a code
has no particular next step, the help line and asking family are offered, never a dead end.
"""

from __future__ import annotations

from app.i18n import N_, translate

HELP_LINE = "12345"  # 政务服务便民热线 (the sample help line)

NEXT_STEPS: dict[str, str] = {  # zh-Hans msgids
    "AUTH_REQUIRED": N_("请点击“登录”，用手机号和短信验证码登录。"),
    "TOKEN_EXPIRED": N_("请重新登录一次。"),
    "OTP_EXPIRED": N_("请点击“重新获取验证码”，也可以选择“语音播报验证码”接听电话。"),
    "OTP_INVALID": N_("请对照短信慢慢输入 6 位数字，也可以选择“语音播报验证码”。"),
    "IDENTITY_LEVEL_REQUIRED": N_("请在“我的”页面点击“实名认证”，按提示完成。"),
    "RATE_LIMITED": N_("请稍等一会儿再试。"),
    "FAMILY_LINK_REQUIRED": N_("请先在“亲友代办”中添加这位家人，并请家人确认。"),
    "UNDO_WINDOW_CLOSED": N_("如需撤回，请拨打办理部门电话或到服务大厅咨询。"),
}

DEFAULT_NEXT_STEP = N_("如需帮助，请拨打 12345 政务服务便民热线，或请家人帮您操作。")


def next_step(code: str, language: str) -> str:
    return translate(NEXT_STEPS.get(code, DEFAULT_NEXT_STEP), language)


def with_next_step(message: str, code: str, language: str) -> str:
    """The message, then what to do next (unless the message already ends with that very sentence)."""
    step = next_step(code, language)
    if message.endswith(step):
        return message
    joiner = " " if language == "en" else ""
    return f"{message}{joiner}{step}"
