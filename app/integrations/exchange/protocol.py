"""The department data exchange protocol (政务数据交换), modelled on X-Road's REST message protocol: pure
functions both ends use (our client, the department stand-ins, a real department's gateway). No I/O and no
clock: times are passed in. docs/exchange.md is the protocol as a department reads it.

A request names who asks, which service, and why, in headers that are signed with the body:

    X-Road-Client     CN-GD/GOV/11440000MB2C93140X/yss-app        (instance/member class/member code/subsystem)
    X-Road-Service    CN-GD/GOV/11440000MB2D0001XA/hrss/insured-status/v1
    X-Road-Id         a new message id (32 hex digits) per request
    X-Road-UserId     the citizen as a keyed hash for that department (never the ID number): 64 hex digits
    X-Road-Issue      the purpose, one of PURPOSES
    X-Road-Represented-Party   who the read is for when someone acts for the citizen (a family proxy)
    X-Road-Request-Time        Unix seconds; a receiver refuses one more than 300 s from its clock
    X-Road-Signature  detached JWS (ES256, `kid`) over `request_signing_input`

The reply carries `X-Road-Id` (echoed), `X-Road-Request-Hash` (SHA-256 of the request's signing input) and
its own `X-Road-Signature` over `response_signing_input`: the status, the message id, the request hash and
the SHA-256 of the body, by the department's registered key. Errors are JSON `{"type", "message"}` with X-Road's
fault types (`Client.SignatureInvalid`, `Client.PurposeNotAuthorised`, ...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jwt

HEADER_CLIENT = "X-Road-Client"
HEADER_SERVICE = "X-Road-Service"
HEADER_ID = "X-Road-Id"
HEADER_USER = "X-Road-UserId"
HEADER_ISSUE = "X-Road-Issue"
HEADER_REPRESENTED = "X-Road-Represented-Party"
HEADER_TIME = "X-Road-Request-Time"
HEADER_SIGNATURE = "X-Road-Signature"
HEADER_REQUEST_HASH = "X-Road-Request-Hash"
ALGORITHM = "ES256"
WINDOW = 300  # seconds a request's time may differ from the receiver's clock
MESSAGE_ID = re.compile(r"[0-9a-f]{32}")
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_MEMBER = re.compile(rf"({_PART})/({_PART})/({_PART})/({_PART})")
_SERVICE = re.compile(rf"({_PART})/({_PART})/({_PART})/({_PART})/({_PART})/(v[0-9]{{1,3}})")

# Why a department is asked (X-Road-Issue). A department authorises each caller for some of them only.
PURPOSES = {
    "citizen_request": "the citizen asked, in the app (办事、查询)",
    "home_card": "the citizen's home-screen card (服务卡片)",
    "material_prefill": "a material filled in for the citizen's application (免提交)",
    "eligibility_check": "an approval rule reads it (秒批)",
    "proxy_request": "a family proxy asked, for the citizen (亲友代办)",
    "relying_party_check": "a relying party checks a citizen's code, with the citizen's presentation",
    "settlement": "a payment settles or reverses what the department holds",
    "licence_status": "the wallet keeps a licence's status as its issuer holds it (证照状态同步)",
}

# The same purposes as the citizen reads them in their access log (查询记录), in the words the app uses.
PURPOSE_NAMES = {
    "citizen_request": "本人办事查询",
    "home_card": "首页服务卡片",
    "material_prefill": "办件材料免提交",
    "eligibility_check": "秒批条件核验",
    "proxy_request": "亲友代办",
    "relying_party_check": "机构核验您出示的凭证",
    "settlement": "缴费销账",
    "licence_status": "证照状态同步",
}


class ExchangeRefused(Exception):
    """A message that is not accepted. `fault` is the X-Road fault type, `status` the HTTP status to answer."""

    def __init__(self, fault: str, status: int, detail: str = "") -> None:
        super().__init__(f"{fault}: {detail}" if detail else fault)
        self.fault, self.status, self.detail = fault, status, detail


@dataclass(frozen=True)
class MemberId:
    """A subsystem of a member of the exchange: `CN-GD/GOV/<统一社会信用代码>/<subsystem>`."""

    instance: str
    member_class: str
    member_code: str
    subsystem: str

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.member_code}/{self.subsystem}"

    @classmethod
    def parse(cls, text: str) -> MemberId:
        found = _MEMBER.fullmatch(text or "")
        if not found:
            raise ExchangeRefused("Client.BadHeader", 400, HEADER_CLIENT)
        return cls(*found.groups())


@dataclass(frozen=True)
class ServiceId:
    """One service of a department subsystem, and its version: `<member>/<service code>/v1`."""

    provider: MemberId
    code: str
    version: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.code}/{self.version}"

    @classmethod
    def parse(cls, text: str) -> ServiceId:
        found = _SERVICE.fullmatch(text or "")
        if not found:
            raise ExchangeRefused("Client.BadHeader", 400, HEADER_SERVICE)
        *member, code, version = found.groups()
        return cls(MemberId(*member), code, version)


@dataclass(frozen=True)
class RequestHeaders:
    """What a request says about itself (every field is signed)."""

    client: MemberId
    service: ServiceId
    message_id: str
    user: str
    purpose: str
    represented_party: str
    time: int

    def as_headers(self) -> dict[str, str]:
        headers = {HEADER_CLIENT: str(self.client), HEADER_SERVICE: str(self.service), HEADER_ID: self.message_id,
                   HEADER_USER: self.user, HEADER_ISSUE: self.purpose, HEADER_TIME: str(self.time)}
        if self.represented_party:
            headers[HEADER_REPRESENTED] = self.represented_party
        return headers


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sha256(data: bytes) -> str:
    return _b64(hashlib.sha256(data).digest())


def _canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def request_signing_input(method: str, path: str, headers: RequestHeaders, body: bytes) -> bytes:
    """The bytes a request's signature covers: method, path with query, every X-Road header, the body digest."""
    return _canonical({"method": method.upper(), "path": path, "client": str(headers.client),
                       "service": str(headers.service), "id": headers.message_id, "user": headers.user,
                       "issue": headers.purpose, "represented": headers.represented_party, "time": headers.time,
                       "body_sha256": sha256(body)})


def response_signing_input(status: int, message_id: str, request_hash: str, body: bytes) -> bytes:
    return _canonical({"status": status, "id": message_id, "request_hash": request_hash, "body_sha256": sha256(body)})


def sign_detached(signing_input: bytes, key: Any, kid: str) -> str:
    """A compact JWS with a detached payload (`header..signature`), ES256."""
    return jwt.api_jws.encode(signing_input, key, algorithm=ALGORITHM, headers={"kid": kid}, is_payload_detached=True)


def verify_detached(signature: str, signing_input: bytes, find_key: Callable[[str], Any]) -> str:
    """The kid that signed `signing_input`, or ExchangeRefused (401 Client.SignatureInvalid)."""
    try:
        header = jwt.get_unverified_header(signature)
    except jwt.PyJWTError:
        raise ExchangeRefused("Client.SignatureInvalid", 401, "malformed") from None
    kid = str(header.get("kid", ""))
    key = find_key(kid) if header.get("alg") == ALGORITHM else None
    if key is None:
        raise ExchangeRefused("Client.SignatureInvalid", 401, "unknown key")
    try:
        jwt.api_jws.decode_complete(signature, key, algorithms=[ALGORITHM], detached_payload=signing_input)
    except jwt.PyJWTError:
        raise ExchangeRefused("Client.SignatureInvalid", 401, "signature") from None
    return kid


def read_request_headers(headers: Mapping[str, str], now: float) -> RequestHeaders:
    """The X-Road headers of a request, checked for form, purpose and freshness (not yet the signature)."""
    def header(name: str) -> str:
        return headers.get(name) or headers.get(name.lower()) or ""

    message_id, purpose, time_text = header(HEADER_ID), header(HEADER_ISSUE), header(HEADER_TIME)
    if not MESSAGE_ID.fullmatch(message_id):
        raise ExchangeRefused("Client.BadHeader", 400, HEADER_ID)
    if purpose not in PURPOSES:
        raise ExchangeRefused("Client.UnknownPurpose", 400, purpose[:40])
    if not (time_text.isascii() and time_text.isdigit()) or abs(now - int(time_text)) > WINDOW:
        raise ExchangeRefused("Client.Stale", 401, HEADER_TIME)
    user = header(HEADER_USER)
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", user):
        raise ExchangeRefused("Client.BadHeader", 400, HEADER_USER)
    return RequestHeaders(MemberId.parse(header(HEADER_CLIENT)), ServiceId.parse(header(HEADER_SERVICE)), message_id,
                          user, purpose, header(HEADER_REPRESENTED)[:120], int(time_text))
