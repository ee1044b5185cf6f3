"""Mini-program sign-in and the mini-program platform's error codes; the platform's own error
texts are never shown.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "MP_CODE_INVALID": N_("小程序登录已失效，请重新打开小程序后再试。"),
    "MP_NOT_BOUND": N_("请先在小程序中登录并绑定手机号。"),
    "MP_BIND_TICKET_INVALID": N_("验证手机号已超时，请重新登录。"),
    "MP_PHONE_DATA_INVALID": N_("无法确认您授权的手机号，请重新授权或改用短信验证码。"),
    "MP_PLATFORM_UNAVAILABLE": N_("小程序平台暂时无法连接，请稍后再试。"),
    "MP_PLATFORM_ERROR": N_("小程序平台未能完成请求，请稍后再试。"),
    "MP_RATE_LIMITED": N_("小程序平台繁忙，请 {retry_after} 秒后再试。"),
    "MP_TOPIC_UNKNOWN": N_("没有这种订阅消息。"),
})
