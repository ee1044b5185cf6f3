"""Tencent Cloud API 3.0 request signing (TC3-HMAC-SHA256) and the async client the adapters call Tencent
Cloud through (SMS `SendSms`, voice `SendCodeVoice`, `IdCardVerification`, `DetectAuth`,
`GetDetectInfoEnhanced`); the stand-in (standins/tencent_cloud) checks our signatures exactly as the
provider does.

The published algorithm ("Signature v3"): a canonical request (method, path, query, the signed headers
`content-type` and `host`, the SHA-256 of the body), a string to sign naming the date and service, and a
key derived by HMAC-SHA256 from "TC3" + SecretKey through the date, the service and "tc3_request".

The protocol of every action: a signed JSON POST to `/` of the service's host; the reply is HTTP 200 with
`{"Response": {...fields, "RequestId"}}`, or with `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`
when the action failed. `TencentCloudClient` turns the common error families into our provider errors
and leaves the action's own codes (InvalidParameter*, FailedOperation.*, ...) to the adapter as a
`TencentCloudError`. Where the provider says nothing: an HTTP 429 is throttling, another 4xx means a
wrong URL or a proxy refusing us (misconfigured); the provider's Message is never kept (it may quote a
phone number).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlparse

import httpx

if TYPE_CHECKING:
    from app.config import Settings

from app.integrations import (ProviderError, ProviderMisconfigured, ProviderThrottled, ProviderUnavailable, http_client,
                              reported)

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


class TencentCloudError(ProviderError):
    """An error code of the action itself (InvalidParameterValue.*, FailedOperation.*, ...) that the client
    does not classify: the adapter maps `code` to what it means for its party."""


def classify(code: str) -> ProviderError:
    """The provider error for an API error code of one of the common families (see the module docstring)."""
    if code.startswith(("InternalError", "ResourceUnavailable")) or (
            code.startswith("FailedOperation.") and code.endswith("Unavailable")):
        return ProviderUnavailable(code)
    if code.startswith("RequestLimitExceeded"):
        return ProviderThrottled(code, retry_after=1)  # a per-second frequency limit
    if code.startswith("LimitExceeded"):
        return ProviderThrottled(code)
    if code.startswith(("AuthFailure", "UnauthorizedOperation")):
        return ProviderMisconfigured(code)
    return TencentCloudError(code)


class TencentCloudClient:
    """Signed calls to one Tencent Cloud service (e.g. "sms", version "2021-01-11") at `url`, over one shared
    httpx connection pool. `url` is the provider's endpoint (https://sms.tencentcloudapi.com) or a stand-in's
    (http://127.0.0.1:8300); the Host signed is its host[:port]."""

    def __init__(self, url: str, credentials: Credentials, *, service: str, version: str, region: str,
                 timeout: float, now: Callable[[], float] = time.time) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError("a Tencent Cloud URL is http(s)://host[:port]")
        self.url = f"{parsed.scheme}://{parsed.netloc}"
        self.host = parsed.netloc
        self.credentials = credentials
        self.service = service
        self.version = version
        self.region = region
        self._now = now
        self.http = http_client(timeout=timeout)

    @classmethod
    def for_service(cls, settings: Settings, url: str, *, service: str, version: str, timeout: float) -> "TencentCloudClient":
        """A client of one service with the account's credentials and region from settings."""
        credentials = Credentials(settings.tencent.secret_id, settings.tencent.secret_key)
        return cls(url, credentials, service=service, version=version, region=settings.tencent.region, timeout=timeout)

    async def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run `action` with `params`; the reply's `Response` object. Raises ProviderUnavailable,
        ProviderThrottled, ProviderMisconfigured or TencentCloudError, each with a code only."""
        payload = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        call = Call(self.service, self.host, action, self.version, self.region)
        headers = signed_headers(self.credentials, call, payload, int(self._now()))
        with reported(f"tencent_{self.service}", answers=(TencentCloudError,)):  # the action's own codes: the adapter's
            try:
                reply = await self.http.post(self.url + "/", content=payload, headers=headers)
            except httpx.TimeoutException:
                raise ProviderUnavailable("timeout") from None
            except httpx.HTTPError:
                raise ProviderUnavailable("unreachable") from None
            return _response(reply)

    async def close(self) -> None:
        await self.http.aclose()


def _response(reply: httpx.Response) -> dict[str, Any]:
    """The `Response` object of a reply, or the provider error it stands for."""
    if reply.status_code >= 500:
        raise ProviderUnavailable(f"http_{reply.status_code}")
    if reply.status_code == 429:
        raise ProviderThrottled("http_429")
    if reply.status_code != 200:
        raise ProviderMisconfigured(f"http_{reply.status_code}")
    try:
        response = reply.json()["Response"]
    except (ValueError, KeyError, TypeError):
        raise ProviderUnavailable("bad_reply") from None
    if not isinstance(response, dict):
        raise ProviderUnavailable("bad_reply")
    error = response.get("Error")
    if error is not None:
        code = error.get("Code") if isinstance(error, dict) else None
        raise classify(code if isinstance(code, str) and code else "UnknownError")
    return response


def _date(timestamp: int) -> str:
    """The UTC date of the credential scope, as the provider reads it from X-TC-Timestamp."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()
