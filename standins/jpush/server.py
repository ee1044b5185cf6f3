"""A stand-in for JPush (极光推送) Push API v3, the push provider our backend calls.

Run it as its own process:

    python -m standins.jpush --port 8310 [--app-key standinappkey0000000000] [--master-secret ...]

It answers `POST /v3/push` as JPush does (docs.jiguang.cn "Push API v3", "HTTP 状态码"):

- HTTP Basic authentication with base64(appKey:masterSecret); anything else is 401 code 1004.
- The push object is checked: `platform` "all" or a list of "ios"/"android"; `audience` with a
  non-empty `registration_id` list (at most 1000); a `notification` (or `message`) with an alert for
  each platform; `options.apns_production` a boolean and `options.time_to_live` 0-864000 seconds.
  A missing field is 400 code 1002, a wrong value 400 code 1003, a notification over 4000 bytes 400 code 1005.
- A registration id it was told is invalid (`POST /_standin/invalid-tokens`) is 400 code 1011 (no target).
- Otherwise 200 `{"sendno", "msg_id"}`, and what was "pushed" is recorded per registration id.

Test controls under `/_standin/`: `POST behaviour {"mode": "fail"|"throttle"|"slow"|"hang", "count": n
(0: until cleared), "delay": s}` (fail: 500 code 1000; throttle: 429 code 2002 with X-Rate-Limit-*
headers, X-Rate-Limit-Reset = delay or 30 s; slow: answers after `delay` s; hang: answers after `delay`
s, 600 by default), `DELETE behaviour`, `POST invalid-tokens {"token"}`, `GET pushes?token=` →
`{"items": [...]}` newest first, `POST reset`, `GET health`.

It imports only third-party libraries (sanic): it knows nothing of our code base. Its default
credentials are the app's default settings (APP_PUSH_APP_KEY, APP_PUSH_MASTER_SECRET). Time is the
wall clock; `--port 0` picks a free port; the first line on stdout is `LISTENING <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from sanic import Request, Sanic
from sanic import json as reply
from sanic.response import HTTPResponse

from standins.faults import Behaviour

DEFAULT_APP_KEY = "standinappkey0000000000"  # = Settings().push.app_key
DEFAULT_MASTER_SECRET = "standin-master-secret-not-for-production"  # = Settings().push.master_secret
PLATFORMS = ("android", "ios")
MODES = ("fail", "throttle", "slow", "hang")
MAX_REGISTRATION_IDS = 1000
MAX_NOTIFICATION_BYTES = 4000
MAX_TIME_TO_LIVE = 10 * 86400
RATE_LIMIT = 600  # pushes per window the stand-in says it allows (X-Rate-Limit-Limit)
KEEP_PER_TOKEN = 50
MESSAGES = {
    1000: "Server error", 1002: "Missing parameter", 1003: "Parameter value is invalid",
    1004: "Authen failed", 1005: "Msg content too long", 1011: "cannot find user by this audience",
    2002: "Request times of the app_key exceed the limit of current time window",
}
STATUS = {1000: 500, 1004: 401, 2002: 429}


class Refused(Exception):
    """A JPush error reply: `code` in the body, its HTTP status."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def jpush_error(code: int, detail: str = "", headers: dict[str, str] | None = None) -> HTTPResponse:
    message = MESSAGES.get(code, "error") + (f": {detail}" if detail else "")
    return reply({"error": {"code": code, "message": message}}, status=STATUS.get(code, 400), headers=headers)


@dataclass
class PushState:
    app_key: str
    master_secret: str
    pushes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # registration id -> newest last
    invalid: set[str] = field(default_factory=set)
    behaviour: Behaviour | None = None

    def authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.app_key}:{self.master_secret}"
        return secrets.compare_digest(decoded.encode(), expected.encode())

    def next_behaviour(self) -> Behaviour | None:
        """The behaviour for this reply, counting it down."""
        behaviour = self.behaviour
        if behaviour is not None and behaviour.use():
            self.behaviour = None
        return behaviour

    def record(self, body: dict[str, Any], platforms: list[str], tokens: list[str]) -> str:
        msg_id = str(secrets.randbelow(9 * 10**17) + 10**17)  # JPush ids are large integers
        sendno = (body.get("options") or {}).get("sendno", 0)
        for token in tokens:
            for platform in platforms:
                title, text, extras = _shown(body["notification"], platform)
                kept = self.pushes.setdefault(token, [])
                kept.append({"platform": platform, "title": title, "body": text, "extras": extras,
                             "msg_id": msg_id, "sendno": sendno, "time": time.time()})
                del kept[:-KEEP_PER_TOKEN]
        return msg_id


def _shown(notification: dict[str, Any], platform: str) -> tuple[str, str, dict[str, Any]]:
    """Title, text and extras the device shows for `platform` (its own section over the common alert)."""
    section = notification.get(platform) or {}
    alert = section.get("alert", notification.get("alert", ""))
    if isinstance(alert, dict):  # iOS: {"title", "body"}
        return str(alert.get("title", "")), str(alert.get("body", "")), dict(section.get("extras") or {})
    return str(section.get("title", "")), str(alert), dict(section.get("extras") or {})


def validate(body: Any) -> tuple[list[str], list[str]]:
    """The platforms and registration ids of a push object; Refused as JPush would refuse it."""
    if not isinstance(body, dict):
        raise Refused(1003, "the push object must be a JSON object")
    platforms = _platforms(body)
    tokens = _registration_ids(body)
    if "notification" not in body and "message" not in body:
        raise Refused(1002, "notification or message")
    if "notification" not in body:
        raise Refused(1003, "the stand-in records notifications only")
    _check_notification(body["notification"], platforms)
    _check_options(body.get("options", {}))
    return platforms, tokens


def _platforms(body: dict[str, Any]) -> list[str]:
    if "platform" not in body:
        raise Refused(1002, "platform")
    platform = body["platform"]
    if platform == "all":
        return list(PLATFORMS)
    if not isinstance(platform, list) or not platform or any(p not in PLATFORMS for p in platform):
        raise Refused(1003, "platform")
    return list(dict.fromkeys(platform))


def _registration_ids(body: dict[str, Any]) -> list[str]:
    if "audience" not in body:
        raise Refused(1002, "audience")
    audience = body["audience"]
    if not isinstance(audience, dict) or set(audience) != {"registration_id"}:
        raise Refused(1003, "audience: the stand-in pushes to registration_id only")
    ids = audience["registration_id"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_REGISTRATION_IDS \
            or any(not isinstance(i, str) or not i.strip() for i in ids):
        raise Refused(1003, "audience.registration_id")
    return ids


def _check_notification(notification: Any, platforms: list[str]) -> None:
    if not isinstance(notification, dict):
        raise Refused(1003, "notification")
    if len(json.dumps(notification, ensure_ascii=False).encode()) > MAX_NOTIFICATION_BYTES:
        raise Refused(1005)
    for platform in platforms:
        section = notification.get(platform, {})
        if not isinstance(section, dict):
            raise Refused(1003, f"notification.{platform}")
        alert = section.get("alert", notification.get("alert"))
        if platform == "ios" and isinstance(alert, dict):
            if not all(isinstance(alert.get(k, ""), str) for k in ("title", "body")) or not alert.get("body"):
                raise Refused(1003, "notification.ios.alert")
        elif not isinstance(alert, str) or not alert:
            raise Refused(1002 if alert is None else 1003, f"notification.{platform}.alert")
        if not isinstance(section.get("extras", {}), dict) or not isinstance(section.get("title", ""), str):
            raise Refused(1003, f"notification.{platform}")


def _check_options(options: Any) -> None:
    if not isinstance(options, dict):
        raise Refused(1003, "options")
    if not isinstance(options.get("apns_production", False), bool):
        raise Refused(1003, "options.apns_production")
    ttl = options.get("time_to_live", 86400)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_TIME_TO_LIVE:
        raise Refused(1003, "options.time_to_live")
    sendno = options.get("sendno", 0)
    if not isinstance(sendno, int) or isinstance(sendno, bool) or sendno < 0:
        raise Refused(1003, "options.sendno")


async def misbehave(behaviour: Behaviour) -> HTTPResponse | None:
    """The reply a test-set behaviour makes (None: after any delay, answer normally)."""
    if behaviour.mode == "fail":
        return jpush_error(1000)
    if behaviour.mode == "throttle":
        reset = str(max(1, round(behaviour.delay)) if behaviour.delay else 30)
        return jpush_error(2002, headers={"X-Rate-Limit-Limit": str(RATE_LIMIT), "X-Rate-Limit-Remaining": "0",
                                          "X-Rate-Limit-Reset": reset})
    await asyncio.sleep(behaviour.delay or (600.0 if behaviour.mode == "hang" else 1.0))
    return None


def create_app(state: PushState, name: str = "jpush_standin") -> Sanic:
    app = Sanic(name)
    app.config.AUTO_EXTEND = False
    app.ctx.state = state

    @app.post("/v3/push")
    async def push(request: Request) -> HTTPResponse:
        if not state.authorised(request.headers.get("authorization", "")):
            return jpush_error(1004)
        behaviour = state.next_behaviour()
        if behaviour is not None and (misbehaved := await misbehave(behaviour)) is not None:
            return misbehaved
        try:
            body = json.loads(request.body or b"")
            platforms, tokens = validate(body)
        except ValueError:
            return jpush_error(1003, "the body is not JSON")
        except Refused as refused:
            return jpush_error(refused.code, refused.detail)
        if all(token in state.invalid for token in tokens):
            return jpush_error(1011)
        msg_id = state.record(body, platforms, [t for t in tokens if t not in state.invalid])
        return reply({"sendno": str((body.get("options") or {}).get("sendno", 0)), "msg_id": msg_id})

    @app.post("/_standin/behaviour")
    async def behave(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        try:
            behaviour = Behaviour(str(body.get("mode")), int(body.get("count", 1)), float(body.get("delay", 0.0)))
        except (TypeError, ValueError):
            behaviour = Behaviour("", -1, -1.0)
        if behaviour.mode not in MODES or behaviour.count < 0 or behaviour.delay < 0:
            return reply({"message": f"mode one of {MODES}, count >= 0 (0: until cleared), delay >= 0"}, status=400)
        state.behaviour = behaviour
        return reply({"mode": behaviour.mode, "count": behaviour.count, "delay": behaviour.delay})

    @app.delete("/_standin/behaviour")
    async def calm(request: Request) -> HTTPResponse:
        state.behaviour = None
        return reply({"cleared": True})

    @app.post("/_standin/invalid-tokens")
    async def invalidate(request: Request) -> HTTPResponse:
        token = (request.json or {}).get("token") if isinstance(request.json, dict) else None
        if not isinstance(token, str) or not token:
            return reply({"message": "token required"}, status=400)
        state.invalid.add(token)
        return reply({"invalid": len(state.invalid)})

    @app.get("/_standin/pushes")
    async def pushes(request: Request) -> HTTPResponse:
        token = request.args.get("token")
        if token is None:
            items = sorted((p for kept in state.pushes.values() for p in kept), key=lambda p: p["time"])
        else:
            items = list(state.pushes.get(token, []))
        return reply({"items": items[::-1]})

    @app.post("/_standin/reset")
    async def reset(request: Request) -> HTTPResponse:
        state.pushes.clear()
        state.invalid.clear()
        state.behaviour = None
        return reply({"reset": True})

    @app.get("/_standin/health")
    async def health(request: Request) -> HTTPResponse:
        return reply({"status": "ok", "party": "jpush"})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standins.jpush", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8310, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--app-key", default=DEFAULT_APP_KEY)
    parser.add_argument("--master-secret", default=DEFAULT_MASTER_SECRET)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    app = create_app(PushState(args.app_key, args.master_secret))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
