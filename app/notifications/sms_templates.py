"""SMS templates as the provider approved them (短信模板). Chinese carriers deliver only approved
templates, whose variables are numbered: `{1}`, `{2}`, ... The approved text of each of ours is the
zh-Hans title and body of the inbox template, its named parameters numbered in order of appearance,
so one change of wording is one change here and one re-approval at the provider.

`DEFAULT_TEMPLATE_IDS` are the ids our stand-in provider approved them under; a real deployment
sets `APP_SMS_TEMPLATE_IDS` to the ids its provider gave."""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from typing import Any, Mapping

from app.i18n import ZH_HANS
from app.notifications.templates import TEMPLATES, params_in

LOGIN_CODE = "login_code"
_LOGIN_CODE_TEXT = "您的登录验证码为 {code}，{minutes} 分钟内有效。工作人员不会向您索要验证码，请勿告知他人。"
# A signed-in citizen confirms an operation (确认本人操作, 更换绑定手机号) with a code sent to a phone.
CONFIRM_CODE = "confirm_code"
_CONFIRM_CODE_TEXT = "您正在{action}，验证码为 {code}，{minutes} 分钟内有效。如非本人操作，请勿告知他人。"
# Told to a number an account has just moved away from (更换手机号): by SMS only, no longer the citizen's inbox.
PHONE_CHANGED_AWAY = "phone_changed_away"
_PHONE_CHANGED_AWAY_TEXT = ("您的账号已于 {at} 将绑定手机号由本号码更换为 {new_phone}，本号码不能再登录该账号。"
                            "如非本人操作，请立即拨打 12345。")
_SMS_ONLY_TEXTS = {LOGIN_CODE: _LOGIN_CODE_TEXT, CONFIRM_CODE: _CONFIRM_CODE_TEXT, PHONE_CHANGED_AWAY: _PHONE_CHANGED_AWAY_TEXT}
_NAMED = re.compile(r"\{([a-z_]+)\}")


@lru_cache(maxsize=None)
def _numbered(text: str) -> tuple[str, tuple[str, ...]]:
    names: list[str] = []
    for name in _NAMED.findall(text):
        if name not in names:
            names.append(name)
    return _NAMED.sub(lambda m: "{%d}" % (names.index(m.group(1)) + 1), text), tuple(names)


def _source(template: str) -> str:
    if template in _SMS_ONLY_TEXTS:
        return _SMS_ONLY_TEXTS[template]
    kind = TEMPLATES[template]
    return f"{kind['title']}：{kind['body']}"


def approved_text(template: str) -> str:
    """The text approved at the provider, with numbered variables."""
    return _numbered(_source(template))[0]


def sms_params(template: str, params: Mapping[str, Any]) -> list[str]:
    """The template's parameters in the provider's order, as strings."""
    filled = params_in(template, params, ZH_HANS)
    return [str(filled.get(name, "")) for name in _numbered(_source(template))[1]]


def template_names() -> list[str]:
    return [*_SMS_ONLY_TEXTS, *TEMPLATES]


def texted_templates() -> list[str]:
    """The templates that may go out by SMS (the login code; kinds sent by SMS, or by SMS to a citizen
    without a device for push): each needs an approved template id at the provider."""
    return [*_SMS_ONLY_TEXTS, *(kind for kind, template in TEMPLATES.items()
                          if {"sms", "push"} & set(template.get("channels", ())))]


def template_ids(configured: str, production: bool) -> dict[str, str]:
    """Our template names mapped to the provider's ids: APP_SMS_TEMPLATE_IDS (JSON) over the stand-in's.
    In production every texted template must be configured; the missing ones are named."""
    ids = json.loads(configured) if configured else {}
    missing = [name for name in texted_templates() if name not in ids]
    if production and missing:
        raise ValueError(f"APP_SMS_TEMPLATE_IDS has no provider template id for {', '.join(missing)}")
    return {**DEFAULT_TEMPLATE_IDS, **ids}


def _stand_in_id(name: str) -> str:
    # Stable per name (adding a template never renumbers the others), seven digits like the provider's.
    return str(1_000_000 + int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 9_000_000)


DEFAULT_TEMPLATE_IDS: dict[str, str] = {name: _stand_in_id(name) for name in template_names()}
