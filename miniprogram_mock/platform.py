"""A stand-in for the WeChat-style mini-program platform (小程序平台) that our backend calls.

Run it as its own process:

    python -m miniprogram_mock --port 8200 [--appid wx5a3e9c2b7d1f0a46] [--secret sample-secret] [--token-ttl 7200]

It behaves like the platform's server APIs a backend uses, with their reply shapes and error codes:

- `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` → `{openid, unionid,
  session_key}`; a login code lives 5 minutes and is good for one exchange (40029 invalid, 40163 used).
- `GET /cgi-bin/token?grant_type=client_credential&appid&secret` → `{access_token, expires_in}`; after a
  new token is issued the previous one keeps working for 5 minutes (as the real platform does).
- `POST /cgi-bin/message/subscribe/send?access_token=` `{touser, template_id, page?, data}` →
  `{errcode: 0, errmsg: "ok", msgid}`; each one-time subscription the user accepted allows one message
  (43101 otherwise); 40001 / 42001 for an unknown or expired access token.

What the phone's mini-program runtime would do is under `/mock/` (the scripted client uses it):
`POST /mock/wx-login {"user"}` → a login code (wx.login); `POST /mock/phone-number {"user", "phone"}` →
`{encryptedData, iv}` encrypted with the user's current session key (AES-128-CBC, PKCS#7) with a
`watermark {appid, timestamp}` (getPhoneNumber); `POST /mock/subscribe {"user", "template_ids"}`
(wx.requestSubscribeMessage, all accepted). Tests steer it with `POST /mock/faults {"api":
"jscode2session"|"token"|"subscribe_send", "kind": "errcode"|"timeout"|"http_500", "errcode", "times",
"delay"}`, `DELETE /mock/faults`, `POST /mock/token-ttl {"seconds"}`, and read `GET /mock/messages?touser=` and `GET /mock/stats`.

It imports only third-party libraries (sanic, cryptography): it knows nothing of our code base.
Time is the wall clock; `--port 0` picks a free port; the first line on stdout is `LISTENING <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sanic import Request, Sanic
from sanic import json as reply
from sanic.response import HTTPResponse

DEFAULT_APPID = "wx5a3e9c2b7d1f0a46"  # sample appid, not a real mini-program
DEFAULT_SECRET = "sample-secret-0123456789abcdef"
CODE_TTL = 300  # a wx.login code must be exchanged within 5 minutes
OLD_TOKEN_GRACE = 300  # the previous access token still works this long after a new one
APIS = ("jscode2session", "token", "subscribe_send")
ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    40013: "invalid appid", 40029: "invalid code", 40125: "invalid appsecret", 40163: "code been used",
    42001: "access_token expired", 43101: "user refuse to accept the msg", 45011: "api minute-quota reach limit",
    47003: "argument invalid!", 40037: "invalid template_id",
}


def wx_error(errcode: int) -> HTTPResponse:
    # The real platform answers its errors with HTTP 200 and an errcode in the body.
    return reply({"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')} rid: {secrets.token_hex(6)}"})


def encrypt_phone_data(session_key_b64: str, plain: dict[str, Any]) -> tuple[str, str]:
    """AES-128-CBC with the session key and a random IV, PKCS#7 padded; both base64 (as getPhoneNumber)."""
    key, iv = base64.b64decode(session_key_b64), os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(json.dumps(plain, ensure_ascii=False).encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode(), base64.b64encode(iv).decode()


@dataclass
class Fault:
    kind: str  # errcode, timeout, http_500
    errcode: int = -1
    times: int = 1
    delay: float = 10.0


@dataclass
class PlatformState:
    appid: str
    secret: str
    token_ttl: int
    codes: dict[str, tuple[str, float]] = field(default_factory=dict)  # code -> (user, issued at)
    used_codes: set[str] = field(default_factory=set)
    session_keys: dict[str, str] = field(default_factory=dict)  # openid -> session_key
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expires at
    subscriptions: dict[tuple[str, str], int] = field(default_factory=dict)  # (openid, template) -> accepted sends
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=lambda: {api: 0 for api in APIS})

    def __post_init__(self) -> None:
        self.initial_token_ttl = self.token_ttl

    def openid(self, user: str) -> str:
        """Stable per user and appid, as the platform's openid is."""
        return "o" + base64.urlsafe_b64encode(hashlib.sha256(f"{self.appid}:{user}".encode()).digest()[:18]).decode()

    def unionid(self, user: str) -> str:
        return "u" + base64.urlsafe_b64encode(hashlib.sha256(f"union:{user}".encode()).digest()[:18]).decode()

    async def fault(self, api: str) -> HTTPResponse | None:
        """The reply a queued fault for `api` makes (or None: answer normally)."""
        queue = self.faults.get(api) or []
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
            return None
        if fault.kind == "http_500":
            return reply({"message": "internal error"}, status=500)
        return wx_error(fault.errcode)


def create_app(state: PlatformState, name: str = "miniprogram_platform") -> Sanic:
    app = Sanic(name)
    app.config.AUTO_EXTEND = False
    app.ctx.state = state

    @app.get("/sns/jscode2session")
    async def jscode2session(request: Request) -> HTTPResponse:
        state.calls["jscode2session"] += 1
        if (faulted := await state.fault("jscode2session")) is not None:
            return faulted
        args = request.args
        if args.get("appid") != state.appid:
            return wx_error(40013)
        if args.get("secret") != state.secret:
            return wx_error(40125)
        code = args.get("js_code", "")
        if args.get("grant_type") != "authorization_code" or not code:
            return wx_error(47003)
        if code in state.used_codes:
            return wx_error(40163)
        issued = state.codes.pop(code, None)
        if issued is None or time.time() > issued[1] + CODE_TTL:
            return wx_error(40029)
        state.used_codes.add(code)
        user = issued[0]
        openid = state.openid(user)
        session_key = base64.b64encode(os.urandom(16)).decode()
        state.session_keys[openid] = session_key
        return reply({"openid": openid, "unionid": state.unionid(user), "session_key": session_key})

    @app.get("/cgi-bin/token")
    async def token(request: Request) -> HTTPResponse:
        state.calls["token"] += 1
        if (faulted := await state.fault("token")) is not None:
            return faulted
        if request.args.get("grant_type") != "client_credential":
            return wx_error(47003)
        if request.args.get("appid") != state.appid:
            return wx_error(40013)
        if request.args.get("secret") != state.secret:
            return wx_error(40125)
        now = time.time()
        for old, expires in list(state.tokens.items()):
            state.tokens[old] = min(expires, now + OLD_TOKEN_GRACE)
        access_token = secrets.token_urlsafe(48)
        state.tokens[access_token] = now + state.token_ttl
        return reply({"access_token": access_token, "expires_in": state.token_ttl})

    @app.post("/cgi-bin/message/subscribe/send")
    async def subscribe_send(request: Request) -> HTTPResponse:
        state.calls["subscribe_send"] += 1
        if (faulted := await state.fault("subscribe_send")) is not None:
            return faulted
        expires = state.tokens.get(request.args.get("access_token", ""))
        if expires is None:
            return wx_error(40001)
        if time.time() > expires:
            return wx_error(42001)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return wx_error(47003)
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or not isinstance(template_id, str) or not isinstance(data, dict):
            return wx_error(47003)
        if any(not isinstance(v, dict) or len(str(v.get("value", ""))) > 20 for v in data.values()):
            return wx_error(47003)  # each field is {"value": ...}, at most 20 characters (thing.DATA)
        left = state.subscriptions.get((touser, template_id), 0)
        if left <= 0:
            return wx_error(43101)
        state.subscriptions[(touser, template_id)] = left - 1
        msgid = int.from_bytes(os.urandom(7), "big")
        state.messages.append({"msgid": msgid, "touser": touser, "template_id": template_id,
                               "page": body.get("page"), "data": data, "sent_at": time.time()})
        return reply({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    # -- what the phone does, and test controls ----------------------------------------------------
    @app.post("/mock/wx-login")
    async def wx_login(request: Request) -> HTTPResponse:
        user = str((request.json or {}).get("user") or "")
        if not user:
            return reply({"message": "user required"}, status=400)
        code = secrets.token_urlsafe(24)
        state.codes[code] = (user, time.time())
        return reply({"code": code, "openid": state.openid(user)})

    @app.post("/mock/phone-number")
    async def phone_number(request: Request) -> HTTPResponse:
        body = request.json or {}
        openid = state.openid(str(body.get("user") or ""))
        session_key = state.session_keys.get(openid)
        if session_key is None:
            return reply({"message": "no session: the backend has not exchanged a login code yet"}, status=409)
        phone = str(body.get("phone") or "")
        watermark = {"appid": body.get("watermark_appid", state.appid),
                     "timestamp": int(body.get("watermark_timestamp", time.time()))}
        plain = {"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": "86", "watermark": watermark}
        encrypted, iv = encrypt_phone_data(session_key, plain)
        return reply({"encryptedData": encrypted, "iv": iv})

    @app.post("/mock/subscribe")
    async def subscribe(request: Request) -> HTTPResponse:
        body = request.json or {}
        openid = state.openid(str(body.get("user") or ""))
        result = {}
        for template_id in body.get("template_ids") or []:
            state.subscriptions[(openid, template_id)] = state.subscriptions.get((openid, template_id), 0) + 1
            result[template_id] = "accept"
        return reply({"errMsg": "requestSubscribeMessage:ok", **result})

    @app.post("/mock/faults")
    async def add_fault(request: Request) -> HTTPResponse:
        body = request.json or {}
        api = body.get("api")
        if api not in APIS or body.get("kind") not in ("errcode", "timeout", "http_500"):
            return reply({"message": f"api one of {APIS}, kind errcode|timeout|http_500"}, status=400)
        state.faults.setdefault(api, []).append(Fault(body["kind"], int(body.get("errcode", -1)),
                                                      int(body.get("times", 1)), float(body.get("delay", 10.0))))
        return reply({"queued": len(state.faults[api])})

    @app.delete("/mock/faults")
    async def clear_faults(request: Request) -> HTTPResponse:
        """Back to normal: no faults queued, the access-token lifetime it was started with."""
        state.faults.clear()
        state.token_ttl = state.initial_token_ttl
        return reply({"cleared": True})

    @app.post("/mock/token-ttl")
    async def token_ttl(request: Request) -> HTTPResponse:
        state.token_ttl = int((request.json or {}).get("seconds", state.initial_token_ttl))
        return reply({"token_ttl": state.token_ttl})

    @app.get("/mock/messages")
    async def messages(request: Request) -> HTTPResponse:
        touser = request.args.get("touser")
        return reply({"items": [m for m in state.messages if touser is None or m["touser"] == touser]})

    @app.get("/mock/stats")
    async def stats(request: Request) -> HTTPResponse:
        return reply({"calls": state.calls, "live_tokens": sum(1 for e in state.tokens.values() if e > time.time())})

    @app.get("/mock/health")
    async def health(request: Request) -> HTTPResponse:
        return reply({"status": "ok", "appid": state.appid})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m miniprogram_mock", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--appid", default=DEFAULT_APPID)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--token-ttl", type=int, default=7200, help="seconds an access token lives")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    app = create_app(PlatformState(args.appid, args.secret, args.token_ttl))
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
