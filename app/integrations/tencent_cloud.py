"""Tencent Cloud API 3.0 request signing (TC3-HMAC-SHA256), for the adapters that call Tencent Cloud
(SMS `SendSms`, voice `SendCodeVoice`, `IdCardVerification`, `DetectAuth`) and for the stand-ins that
answer them, which check our signatures exactly as the provider does.

The published algorithm ("Signature v3"): a canonical request (method, path, query, the signed headers
`content-type` and `host`, the SHA-256 of the body), a string to sign naming the date and service, and a
key derived by HMAC-SHA256 from "TC3" + SecretKey through the date, the service and "tc3_request".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping

ALGORITHM = "TC3-HMAC-SHA256"
JSON = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"
MAX_SKEW = 300  # seconds a request's X-TC-Timestamp may differ from the receiver's clock, as the provider allows
AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9]+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$")


@dataclass(frozen=True)
class Credentials:
    """A SecretId and its SecretKey; the key never appears in a repr or a log line."""

    secret_id: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class Call:
    """One API action of one service: what names the request besides its body."""

    service: str  # "sms", "faceid", ...
    host: str  # "sms.tencentcloudapi.com", or a stand-in's address
    action: str  # "SendSms"
    version: str  # "2021-01-11"
    region: str = "ap-guangzhou"


class SignatureError(ValueError):
    """A request whose signature the provider would refuse; `code` is the provider's own error code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def signature(secret_key: str, *, service: str, host: str, payload: bytes, timestamp: int, content_type: str = JSON,
              method: str = "POST", path: str = "/", query: str = "") -> str:
    """The hex signature of one request."""
    date = _date(timestamp)
    canonical_request = "\n".join([method, path, query, f"content-type:{content_type}\nhost:{host}\n", SIGNED_HEADERS,
                                   hashlib.sha256(payload).hexdigest()])
    string_to_sign = "\n".join([ALGORITHM, str(timestamp), f"{date}/{service}/tc3_request",
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(("TC3" + secret_key).encode(), date)
    for part in (service, "tc3_request"):
        key = _hmac(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signed_headers(credentials: Credentials, call: Call, payload: bytes, timestamp: int) -> dict[str, str]:
    """The headers of a signed JSON POST of `payload` to `call`."""
    digest = signature(credentials.secret_key, service=call.service, host=call.host, payload=payload,
                       timestamp=timestamp)
    return {
        "Authorization": f"{ALGORITHM} Credential={credentials.secret_id}/{_date(timestamp)}/{call.service}/tc3_request, "
                         f"SignedHeaders={SIGNED_HEADERS}, Signature={digest}",
        "Content-Type": JSON, "Host": call.host, "X-TC-Action": call.action, "X-TC-Version": call.version,
        "X-TC-Timestamp": str(timestamp), "X-TC-Region": call.region,
    }


def verify(headers: Mapping[str, str], payload: bytes, find_key: Callable[[str], str | None], now: float,
           max_skew: int = MAX_SKEW) -> str:
    """Check a signed request as the provider does and return its SecretId, or raise SignatureError with the
    provider's code (AuthFailure.InvalidAuthorization, .SignatureExpire, .SecretIdNotFound, .SignatureFailure)."""
    lower = {name.lower(): value for name, value in headers.items()}
    found = AUTHORIZATION.match(lower.get("authorization", ""))
    try:
        timestamp = int(lower.get("x-tc-timestamp", ""))
    except ValueError:
        raise SignatureError("AuthFailure.InvalidAuthorization") from None
    if found is None or found["signed"] != SIGNED_HEADERS or found["date"] != _date(timestamp):
        raise SignatureError("AuthFailure.InvalidAuthorization")
    if abs(now - timestamp) > max_skew:
        raise SignatureError("AuthFailure.SignatureExpire")
    secret_key = find_key(found["secret_id"])
    if secret_key is None:
        raise SignatureError("AuthFailure.SecretIdNotFound")
    expected = signature(secret_key, service=found["service"], host=lower.get("host", ""), payload=payload,
                         timestamp=timestamp, content_type=lower.get("content-type", ""))
    if not hmac.compare_digest(expected, found["signature"]):
        raise SignatureError("AuthFailure.SignatureFailure")
    return found["secret_id"]


def _date(timestamp: int) -> str:
    """The UTC date of the credential scope, as the provider reads it from X-TC-Timestamp."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
