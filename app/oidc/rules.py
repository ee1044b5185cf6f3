"""What each scope releases to a site, in the citizen's words, and the subject a site knows a citizen by.

Masked by default, as with the ID voucher: a site learns the last character of the name, the phone number
with its middle starred, the identity level and yes/no age answers, never the full name or ID number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.i18n import N_

OPENID = "openid"


@dataclass(frozen=True)
class Scope:
    """One scope: the claims it releases (named as in the access log) and what the consent page says of it."""

    name: str
    claims: tuple[str, ...]
    words: str  # zh-Hans, translated at reply time


SCOPES: dict[str, Scope] = {s.name: s for s in (
    Scope(OPENID, ("sub", "acr"), N_("识别您的身份（不透露您的姓名、证件号码）")),
    Scope("profile", ("name",), N_("您的姓名（仅显示最后一个字，如 **欣）")),
    Scope("phone", ("phone_number_masked",), N_("您的手机号码（隐去中间四位，如 138****8000）")),
    Scope("identity", ("identity_level",), N_("您的实名认证等级（是否已实名、是否已人脸核验）")),
    Scope("age_over_18", ("age_over_18",), N_("您是否年满 18 周岁（只回答是或否）")),
    Scope("age_over_60", ("age_over_60",), N_("您是否年满 60 周岁（只回答是或否）")),
)}
SCOPE_NAMES = tuple(SCOPES)
AGE_SCOPES = ("age_over_18", "age_over_60")
CLAIMS_SUPPORTED = tuple(dict.fromkeys(c for s in SCOPES.values() for c in s.claims))
ACR_PREFIX = "urn:cn:gd:gov:loa:"  # + the identity level: 1 phone, 2 实名, 3 实名 + 人脸核验
LEVELS = (1, 2, 3)


def acr_of(level: int) -> str:
    return f"{ACR_PREFIX}{level}"


def sign_in_level(account_level: int, face_checked: bool) -> int:
    """The assurance of this sign-in (its acr): an SMS sign-in proves at most the 实名 account (2); level 3 needs a
    face check passed in this session, whatever the account reached before."""
    return LEVELS[-1] if face_checked and account_level >= LEVELS[-1] else min(account_level, 2)


def level_of_acr(acr: str) -> int | None:
    """The level an acr value names, or None for a value not ours."""
    number = acr.removeprefix(ACR_PREFIX) if acr.startswith(ACR_PREFIX) else ""
    return int(number) if number.isdigit() and int(number) in LEVELS else None


def scope_list(scope: str | None) -> list[str]:
    """A scope string as its names, each once, in the order of SCOPES."""
    asked = set((scope or "").split())
    return [name for name in SCOPE_NAMES if name in asked]


def released_claims(scopes: list[str]) -> list[str]:
    """The claims the scopes release, as the access log names them."""
    return [claim for name in scopes for claim in SCOPES[name].claims]


def host_of(redirect_uri: str) -> str:
    """The host of a redirect URI: a site's redirect URIs share one."""
    return (urlsplit(redirect_uri).hostname or "").lower()


def pairwise_subject(secret: bytes, sector: str, citizen_id: str) -> str:
    """The `sub` a site knows a citizen by, `sector` being the site's own client id: the same at every sign-in
    there, unlinkable at any other site, another one on the same host included (OIDC Core §8.1 would share
    one host's subjects; sites of one host here may be different departments)."""
    digest = hmac.new(secret, f"{sector}\x00{citizen_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class CitizenFacts:
    """What the claims are made of, masked where the scope says so."""

    level: int
    name_masked: str | None
    phone_masked: str
    ages: dict[str, bool]  # age_over_18 / age_over_60, present only when the ID number is known


def claims_for(scopes: list[str], subject: str, facts: CitizenFacts) -> dict[str, Any]:
    """The user claims of the scopes (id_token and userinfo alike)."""
    claims: dict[str, Any] = {"sub": subject}
    if "profile" in scopes and facts.name_masked:
        claims["name"] = facts.name_masked
    if "phone" in scopes:
        # Not the standard phone_number: a masked number is no number a site could call or verify.
        claims["phone_number_masked"] = facts.phone_masked
    if "identity" in scopes:
        claims["identity_level"] = facts.level
    for name in AGE_SCOPES:
        if name in scopes and name in facts.ages:
            claims[name] = facts.ages[name]
    return claims
