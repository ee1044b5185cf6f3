"""The mini-program platform's server APIs (小程序平台服务端接口), as our backend calls them over HTTP.

`MiniProgramPlatform` is the adapter: `code_to_session` (jscode2session), `send_subscription`
(subscribe/send) and the platform access token those calls need. The token is kept in the ONE
cache so every worker uses the same one, and renewed `refresh_margin` seconds before it expires
by one worker only (a cache lock); the others keep using the still valid token meanwhile, or wait
briefly for the new one when there is none. A token the platform calls invalid (40001/42001) is
dropped and fetched again once.

Failures come out as `PlatformError` with the platform's errcode and a short kind (never its
errmsg, which we do not show or log): the domain maps them to our error envelope.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx

from app import metrics
from app.cache import Cache, LockNotAcquired, cache_lock
from app.clock import Clock

TOKEN_KEY = "mp:access-token"
TOKEN_LOCK = "mp:access-token-refresh"
INVALID_TOKEN = {40001, 42001}
NO_ERRCODE = 0


class PlatformError(RuntimeError):
    """The platform refused or could not be reached: `errcode` (its code; -1 busy, None: transport) and `kind`."""

    def __init__(self, kind: str, errcode: int | None = None) -> None:
        super().__init__(f"{kind} (errcode {errcode})" if errcode is not None else kind)
        self.kind, self.errcode = kind, errcode


@dataclass(frozen=True)
class PlatformSession:
    """What jscode2session gives for a login code: the user's openid (and unionid) and a session key."""

    openid: str
    unionid: str | None
    session_key: str


class MiniProgramPlatform:
    def __init__(self, base_url: str, appid: str, secret: str, cache: Cache, clock: Clock, *,
                 timeout: float = 3.0, refresh_margin: int = 300, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.appid, self._secret = appid, secret
        self.cache, self.clock = cache, clock
        self.timeout, self.refresh_margin = timeout, refresh_margin
        self._base_url, self._transport = base_url.rstrip("/"), transport
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # Made on first use, inside the serving event loop.
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=self.timeout, transport=self._transport)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _call(self, method: str, path: str, *, params: dict[str, str], body: Any = None) -> dict[str, Any]:
        try:
            return await self._send(method, path, params, body)
        except PlatformError as error:
            metrics.outside_party_error("miniprogram_platform", "refused" if error.errcode is not None else "unavailable")
            raise

    async def _send(self, method: str, path: str, params: dict[str, str], body: Any) -> dict[str, Any]:
        try:
            answer = await self._client().request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise PlatformError("timeout") from None
        except httpx.TransportError as exc:
            raise PlatformError(f"unreachable: {type(exc).__name__}") from None
        if answer.status_code >= 500:
            raise PlatformError(f"http {answer.status_code}")
        try:
            data = answer.json()
        except (ValueError, json.JSONDecodeError):
            raise PlatformError(f"not json (http {answer.status_code})") from None
        if not isinstance(data, dict):
            raise PlatformError("not an object")
        errcode = data.get("errcode", NO_ERRCODE)
        if errcode not in (NO_ERRCODE, None):
            raise PlatformError("refused", int(errcode))
        return data

    # -- login -----------------------------------------------------------------------------------
    async def code_to_session(self, code: str) -> PlatformSession:
        data = await self._call("GET", "/sns/jscode2session", params={
            "appid": self.appid, "secret": self._secret, "js_code": code, "grant_type": "authorization_code"})
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not isinstance(session_key, str):
            raise PlatformError("incomplete session")
        unionid = data.get("unionid")
        return PlatformSession(openid, unionid if isinstance(unionid, str) else None, session_key)

    # -- the access token ------------------------------------------------------------------------
    async def access_token(self, *, renew: bool = False) -> str:
        """The platform access token, shared by all workers through the cache."""
        now = self.clock.timestamp()
        held = None if renew else await _token(self.cache)
        if held and now < held["expires_at"] - self.refresh_margin:
            return held["token"]
        try:
            async with cache_lock(self.cache, TOKEN_LOCK, ttl=self.timeout + 5):
                again = None if renew else await _token(self.cache)
                if again is not None and (held is None or again["token"] != held["token"]) \
                        and self.clock.timestamp() < again["expires_at"] - self.refresh_margin:
                    return again["token"]  # another worker renewed it while we waited for the lock
                return await self._fetch_token()
        except LockNotAcquired:
            # Another worker is renewing: the old token still works until it expires; without one, wait.
            if held and now < held["expires_at"] and not renew:
                return held["token"]
            return await self._wait_for_token(held["token"] if held else None)

    async def _fetch_token(self) -> str:
        data = await self._call("GET", "/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": self.appid, "secret": self._secret})
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not isinstance(expires_in, int) or expires_in <= 0:
            raise PlatformError("incomplete token")
        record = {"token": token, "expires_at": self.clock.timestamp() + expires_in}
        await self.cache.set(TOKEN_KEY, json.dumps(record), ttl=expires_in)
        return token

    async def _wait_for_token(self, stale: str | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout + 1
        while loop.time() < deadline:
            await asyncio.sleep(0.02)
            held = await _token(self.cache)
            if held and held["token"] != stale and self.clock.timestamp() < held["expires_at"]:
                return held["token"]
        raise PlatformError("timeout")

    # -- subscription messages -------------------------------------------------------------------
    async def send_subscription(self, openid: str, template_id: str, data: dict[str, str], page: str | None) -> int:
        """Send one subscription message; returns the platform's msgid."""
        body = {"touser": openid, "template_id": template_id, "page": page,
                "data": {name: {"value": value} for name, value in data.items()}}
        for renew in (False, True):
            token = await self.access_token(renew=renew)
            try:
                answer = await self._call("POST", "/cgi-bin/message/subscribe/send", params={"access_token": token},
                                          body=body)
            except PlatformError as exc:
                if exc.errcode in INVALID_TOKEN and not renew:
                    continue  # the platform no longer takes our token: fetch a new one, once
                raise
            return int(answer.get("msgid") or 0)
        raise PlatformError("refused", 40001)  # pragma: no cover - the loop returns or raises


async def _token(cache: Cache) -> dict[str, Any] | None:
    raw = await cache.get(TOKEN_KEY)
    return json.loads(raw) if raw else None
