"""App push through JPush (极光推送), REST API v3: one call reaches APNs and the Android vendor channels.

The protocol as JPush publishes it (docs.jiguang.cn, "Push API v3", "HTTP 状态码", REST API overview):

- `POST {push_url}/v3/push`, `Content-Type: application/json`, HTTP Basic authentication with
  base64(appKey:masterSecret).
- The push object: `platform` (here the one platform of the device), `audience.registration_id` (the
  device's registration id, our "token"), `notification` (`alert`, and the platform's own section:
  `android {alert, title, extras}` or `ios {alert {title, body}, sound, extras}`), `options
  {sendno, apns_production, time_to_live}`.
- 200 `{"sendno", "msg_id"}`; every error is a 4xx/5xx with `{"error": {"code", "message"}}`.

How errors map to what the domains see (app/integrations/__init__.py):

- 1011 (no target matches the audience: the registration id is unknown, the app was removed) →
  `InvalidPushToken`: the device's token is dropped.
- 2002 (API rate limit, HTTP 429) or any 429 → `ProviderThrottled`. JPush answers the window in
  `X-Rate-Limit-Limit / -Remaining / -Reset`; we read `X-Rate-Limit-Reset` as the seconds left in the
  window (a value that looks like a Unix time is taken as the time it resets), else `Retry-After`, else
  60 s; kept within 1 s to 1 h.
- 1000 (system error), any 5xx, a timeout, no connection, or a reply we cannot read →
  `ProviderUnavailable`: try later.
- 1004 (authentication failed), 1008 (app key invalid) and every other 4xx (our request or account is
  wrong: 1002 missing, 1003 invalid value, 1005 too long, 2003 app restricted...) →
  `ProviderMisconfigured`: retrying does not help, an operator must fix settings or code.

Choices where the documentation is silent: `time_to_live` is one day (JPush's own default for offline
messages); `sendno` is a random positive 31-bit number, to find a push in the provider's console;
`ios.sound` is "default". The master secret and the tokens are never logged; what is logged is the
provider's error code and HTTP status.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time
from typing import Any, Mapping

import httpx

from app.integrations import (ProviderError, ProviderMisconfigured, ProviderThrottled, ProviderUnavailable, http_client,
                              reported)
from app.integrations.push import PLATFORMS, InvalidPushToken

log = logging.getLogger("app.integrations.push")

TIME_TO_LIVE = 86400  # seconds JPush keeps a push for a device that is offline
DEFAULT_RETRY_AFTER = 60
INVALID_TARGET = "1011"
RATE_LIMITED = "2002"
SYSTEM_ERROR = "1000"


class JPush:
    """The `PushGateway` over JPush REST API v3."""

    def __init__(self, url: str, app_key: str, master_secret: str, timeout: float = 3.0,
                 apns_production: bool = False, client: httpx.AsyncClient | None = None) -> None:
        self.url = url.rstrip("/")
        self.apns_production = apns_production
        credentials = base64.b64encode(f"{app_key}:{master_secret}".encode()).decode("ascii")
        self._client = client or http_client(timeout=timeout)
        self._headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}

    @classmethod
    def from_settings(cls, settings: Any) -> JPush:
        return cls(settings.push.url, settings.push.app_key, settings.push.master_secret,
                   timeout=settings.push.timeout, apns_production=settings.push.apns_production)

    def __repr__(self) -> str:  # never the credentials
        return f"JPush({self.url!r})"

    async def push(self, platform: str, token: str, title: str, body: str, extras: Mapping[str, str]) -> str:
        """Show one notification on one device; JPush's msg_id."""
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}")
        payload = push_object(platform, token, title, body, extras, self.apns_production)
        with reported("jpush", answers=(InvalidPushToken,)):  # a device gone is an answer, not a failure
            try:
                reply = await self._client.post(f"{self.url}/v3/push", json=payload, headers=self._headers)
            except httpx.TimeoutException:
                raise ProviderUnavailable("timeout") from None
            except httpx.TransportError:
                raise ProviderUnavailable("unreachable") from None
            if reply.status_code == 200:
                return _msg_id(reply)
            error = _error_of(reply)
            log.warning("JPush refused a push: HTTP %d, code %s", reply.status_code, error.code)
            raise error

    async def close(self) -> None:
        await self._client.aclose()


def push_object(platform: str, token: str, title: str, body: str, extras: Mapping[str, str],
                apns_production: bool) -> dict[str, Any]:
    """The JSON push object for one notification to one device."""
    extras = {str(k): str(v) for k, v in extras.items()}
    section: dict[str, Any]
    if platform == "ios":
        section = {"alert": {"title": title, "body": body}, "sound": "default", "extras": extras}
    else:
        section = {"alert": body, "title": title, "extras": extras}
    return {
        "platform": [platform],
        "audience": {"registration_id": [token]},
        "notification": {"alert": body, platform: section},
        "options": {"sendno": secrets.randbelow(2**31 - 1) + 1, "apns_production": apns_production,
                    "time_to_live": TIME_TO_LIVE},
    }


def _msg_id(reply: httpx.Response) -> str:
    try:
        msg_id = reply.json().get("msg_id")
    except (ValueError, AttributeError):
        msg_id = None
    if msg_id in (None, ""):
        raise ProviderUnavailable("bad_reply")
    return str(msg_id)


def _error_of(reply: httpx.Response) -> ProviderError:
    """The provider error a non-200 reply stands for."""
    code = _error_code(reply)
    status = reply.status_code
    if code == INVALID_TARGET:
        return InvalidPushToken(code)
    if status == 429 or code == RATE_LIMITED:
        return ProviderThrottled(code or "http_429", retry_after(reply.headers))
    if status >= 500 or code == SYSTEM_ERROR:
        return ProviderUnavailable(code or f"http_{status}")
    return ProviderMisconfigured(code or f"http_{status}")


def _error_code(reply: httpx.Response) -> str:
    """`error.code` of the reply, or "" when it has none (a proxy's HTML page, say)."""
    try:
        error = reply.json().get("error")
    except (ValueError, AttributeError):
        return ""
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if isinstance(code, (int, str)) and str(code).isdigit() else ""


def retry_after(headers: Mapping[str, str], now: float | None = None) -> int:
    """Seconds to wait after a rate-limit reply (see the module docstring), 1 s to 1 h."""
    for name in ("X-Rate-Limit-Reset", "Retry-After"):
        raw = headers.get(name, "").strip()
        if raw.isdigit():
            seconds = int(raw)
            if seconds > 1_000_000_000:  # a Unix time, not a number of seconds
                seconds = int(seconds - (time.time() if now is None else now))
            return max(1, min(seconds, 3600))
    return DEFAULT_RETRY_AFTER
