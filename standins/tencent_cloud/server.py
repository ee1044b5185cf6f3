"""The stand-in Tencent Cloud's HTTP side: the API 3.0 endpoint, the faults tests ask for, the
inspection and control routes under `/_standin/`, and the face-check page.

`POST /` checks the TC3-HMAC-SHA256 signature exactly as the provider does (unknown SecretId, bad
signature, a timestamp more than 300 s off → the AuthFailure code in an HTTP 200 error envelope),
dispatches on the service of the credential scope and X-TC-Action, checks X-TC-Version (InvalidAction,
NoSuchVersion otherwise) and answers with the provider's fields (provider.py).

Faults (`POST /_standin/behaviour {"action": "SendSms" | "SendSms,SendCodeVoice" | "*", "mode", "count",
"delay"}`; `count` 0 lasts until `DELETE /_standin/behaviour`): "fail" (InternalError envelope),
"http500", "throttle" (SendSms: per-number LimitExceeded.PhoneNumberThirtySecondLimit; SendCodeVoice:
LimitExceeded.DeliveryFrequencyLimit; IdCardVerification: Result "-7"; DetectAuth and
GetDetectInfoEnhanced: RequestLimitExceeded), "slow" (answers after `delay` s), "invalid_phone"
(SendSms: IncorrectPhoneNumber; SendCodeVoice: CalledNumberVerifyFail; other actions answer normally),
"hang" (never answers in any time a client waits). "enrol" is a standing setting, not a fault (provider.py);
`DELETE /_standin/behaviour` clears the faults, `POST /_standin/reset` everything.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import html
import json
import os
import socket
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any, Callable

from sanic import Request, Sanic
from sanic import json as sanic_json
from sanic.response import HTTPResponse
from sanic.response import html as html_reply
from sanic.response import text as text_reply

from app.config import default_of
from app.integrations.tencent_cloud import AUTHORIZATION, SignatureError, verify
from standins.faults import Behaviour
from standins.tencent_cloud import provider
from standins.tencent_cloud.provider import ApiError, CallContext, State

ACTIONS: dict[tuple[str, str], str] = {
    ("sms", "SendSms"): "2021-01-11",
    ("vms", "SendCodeVoice"): "2020-09-02",
    ("faceid", "IdCardVerification"): "2018-03-01",
    ("faceid", "DetectAuth"): "2018-03-01",
    ("faceid", "GetDetectInfoEnhanced"): "2018-03-01",
}
MODES = ("fail", "http500", "throttle", "slow", "invalid_phone", "hang", provider.STANDING)
HANDLERS: dict[str, Callable[[State, dict[str, Any], CallContext], dict[str, Any]]] = {
    "SendSms": provider.send_sms, "SendCodeVoice": provider.send_code_voice,
    "IdCardVerification": provider.id_card_verification, "DetectAuth": provider.detect_auth,
    "GetDetectInfoEnhanced": provider.get_detect_info_enhanced,
}
ENVELOPE_THROTTLE = frozenset({"DetectAuth", "GetDetectInfoEnhanced"})
ENROLLING = frozenset({"IdCardVerification", "DetectAuth"})  # the actions "enrol" applies to
HANG_SECONDS = 3600.0
AUTH_MESSAGES = {
    "AuthFailure.InvalidAuthorization": "Authorization 不符合腾讯云标准。",
    "AuthFailure.SignatureExpire": "签名过期。Timestamp 和服务器时间相差不得超过五分钟。",
    "AuthFailure.SecretIdNotFound": "密钥不存在。",
    "AuthFailure.SignatureFailure": "签名错误。",
}
FACE_PAGE = Path(__file__).with_name("faceid_page.html")
reply = partial(sanic_json, dumps=partial(json.dumps, ensure_ascii=False))


def envelope(fields: dict[str, Any]) -> HTTPResponse:
    return reply({"Response": {**fields, "RequestId": str(uuid.uuid4())}})


def api_error(code: str, message: str) -> HTTPResponse:
    """The provider answers a failed action with HTTP 200 and an Error object."""
    return envelope({"Error": {"Code": code, "Message": message}})


def bad_request(problem: str, status: int = 400) -> HTTPResponse:
    return reply({"error": problem}, status=status)


def dispatch(state: State, service: str, action: str, version: str, body: bytes, ctx: CallContext) -> dict[str, Any]:
    """The Response fields of one verified call, or ApiError."""
    expected = ACTIONS.get((service, action))
    if expected is None:
        raise ApiError("InvalidAction", "接口不存在。")
    if version != expected:
        raise ApiError("NoSuchVersion", "接口版本不存在。")
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        raise ApiError("InvalidParameter", "请求内容不是有效的 JSON。") from None
    if not isinstance(params, dict):
        raise ApiError("InvalidParameter", "请求内容须为 JSON 对象。")
    return HANDLERS[action](state, params, ctx)


async def act_out(behaviour: Behaviour, action: str) -> HTTPResponse | None:
    """The reply a fault makes by itself, or None: answer (after a delay for "slow", with the fault forced)."""
    if behaviour.mode == "fail":
        return api_error("InternalError", "内部错误。")
    if behaviour.mode == "http500":
        return text_reply("Internal Server Error", status=500)
    if behaviour.mode == "hang":
        await asyncio.sleep(HANG_SECONDS)
        return api_error("InternalError", "内部错误。")
    if behaviour.mode == "slow":
        await asyncio.sleep(behaviour.delay)
    if behaviour.mode == "throttle" and action in ENVELOPE_THROTTLE:
        return api_error("RequestLimitExceeded", "请求的次数超过了频率限制。")
    return None


def create_app(state: State, name: str = "tencent_cloud_standin") -> Sanic:
    app = Sanic(name)
    app.config.AUTO_EXTEND = False
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 1.0  # a "hang" must not hold a stop up
    app.ctx.state = state
    _api_routes(app, state)
    _control_routes(app, state)
    _face_routes(app, state)
    return app


def _api_routes(app: Sanic, state: State) -> None:
    @app.post("/")
    async def api(request: Request) -> HTTPResponse:
        try:
            verify(request.headers, request.body, state.config.key_for, now=time.time())
        except SignatureError as refused:
            return api_error(refused.code, AUTH_MESSAGES.get(refused.code, "鉴权失败。"))
        service = AUTHORIZATION.match(request.headers["authorization"])["service"]  # type: ignore[index]
        action = request.headers.get("x-tc-action", "")
        state.counts[action] += 1
        forced = None
        behaviour = state.take_behaviour(action)
        if behaviour is not None:
            acted = await act_out(behaviour, action)
            if acted is not None:
                return acted
            forced = behaviour.mode
        enrol = action in ENROLLING and state.take_enrol(action)
        ctx = CallContext(time.time(), forced, enrol, f"{request.scheme}://{request.host}")
        try:
            fields = dispatch(state, service, action, request.headers.get("x-tc-version", ""), request.body, ctx)
        except ApiError as refused:
            return api_error(refused.code, refused.message)
        return envelope(fields)


def _control_routes(app: Sanic, state: State) -> None:
    @app.get("/_standin/health")
    async def health(request: Request) -> HTTPResponse:
        return reply({"status": "ok"})

    @app.post("/_standin/behaviour")
    async def behave(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        action, mode = body.get("action"), body.get("mode")
        count, delay = body.get("count", 1), body.get("delay", 0.0)
        if not isinstance(action, str) or not action.strip() or mode not in MODES:
            return bad_request(f"action (an action name, a comma list or *) and mode (one of {', '.join(MODES)})")
        if not isinstance(count, int) or count < 0 or not isinstance(delay, (int, float)) or delay < 0:
            return bad_request("count is an integer >= 0 (0: until cleared), delay a number of seconds >= 0")
        state.behave(action, mode, count, float(delay))
        return reply({"behaviours": {a: vars(b) for a, b in {**state.standing, **state.behaviours}.items()}})

    @app.delete("/_standin/behaviour")
    async def clear_behaviour(request: Request) -> HTTPResponse:
        state.behaviours.clear()
        return reply({"behaviours": {}})

    @app.get("/_standin/sms")
    async def sms(request: Request) -> HTTPResponse:
        phone = provider.mobile(request.args.get("phone", ""))
        if phone is None:
            return bad_request("phone is an 11-digit mainland mobile number")
        return reply({"items": [m for m in reversed(state.messages) if m["phone"] == phone]})

    @app.get("/_standin/calls")
    async def calls(request: Request) -> HTTPResponse:
        phone = provider.mobile(request.args.get("phone", ""))
        if phone is None:
            return bad_request("phone is an 11-digit mainland mobile number")
        return reply({"items": [c for c in reversed(state.calls) if c["phone"] == phone]})

    @app.get("/_standin/counts")
    async def counts(request: Request) -> HTTPResponse:
        return reply(dict(state.counts))

    @app.post("/_standin/people")
    async def add_person(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        name, id_number = body.get("name"), body.get("id_number")
        if not provider.valid_id_number(id_number) or not isinstance(name, str) or not name:
            return bad_request("name and id_number (18 characters with a valid GB 11643 check character)")
        state.added[id_number] = name
        return reply({"name": name, "id_number": id_number})

    @app.post("/_standin/reset")
    async def reset(request: Request) -> HTTPResponse:
        state.reset()
        return reply({"reset": True})


def _face_routes(app: Sanic, state: State) -> None:
    @app.get("/_standin/faceid/page/<biz_token>")
    async def page(request: Request, biz_token: str) -> HTTPResponse:
        try:
            session = state.face(biz_token, time.time())
        except ApiError:
            return html_reply("<!doctype html><meta charset=utf-8><p>核身链接无效或已过期（示例 stand-in）。</p>", status=404)
        data = json.dumps({"token": session.biz_token, "redirect": session.redirect_url}).replace("<", "\\u003c")
        page_html = FACE_PAGE.read_text(encoding="utf-8").replace("{{SESSION}}", data).replace(
            "{{NAME}}", html.escape(session.name[0] + "*" * (len(session.name) - 1)))
        return html_reply(page_html)

    @app.post("/_standin/faceid/<biz_token>/complete")
    async def complete(request: Request, biz_token: str) -> HTTPResponse:
        now = time.time()
        try:
            session = state.face(biz_token, now)
        except ApiError as refused:
            return bad_request(refused.code, status=404)
        if session.result is not None:
            return bad_request("本次校验已完成 (already completed)", status=409)
        scored = _scored(request.json if isinstance(request.json, dict) else {})
        if scored is None:
            return bad_request('{"sample": base64 of a capture} or {"outcome": "pass" | "fail" | "not_live"}')
        provider.complete_face(session, *scored, now=now)
        return reply({"Text": session.result})


def _scored(body: dict[str, Any]) -> tuple[bool, float] | None:
    """(live, Sim) for a completion request: a forced outcome or a scored sample; None if neither."""
    if body.get("outcome") in provider.OUTCOMES:
        return provider.OUTCOMES[body["outcome"]]
    sample = body.get("sample")
    if not isinstance(sample, str):
        return None
    try:
        raw = base64.b64decode(sample, validate=True)
    except (binascii.Error, ValueError):
        return None
    return provider.score_sample(raw) if raw else None


def _default(name: str) -> str:
    """A setting as the app would read it (APP_<NAME>), else the Settings default."""
    return os.environ.get(f"APP_{name.upper()}") or str(default_of(name))


def _template_ids_from_env() -> dict[str, str]:
    """Template ids an app is configured with (APP_SMS_TEMPLATE_IDS) are approved too."""
    try:
        ids = json.loads(os.environ.get("APP_SMS_TEMPLATE_IDS") or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in ids.items()} if isinstance(ids, dict) else {}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m standins.tencent_cloud",
                                     description="Stand-in Tencent Cloud API 3.0 (SMS, voice codes, faceid)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--secret-id", default=_default("tencent_secret_id"))
    parser.add_argument("--secret-key", default=_default("tencent_secret_key"))
    parser.add_argument("--sms-sdk-app-id", default=_default("sms_sdk_app_id"))
    parser.add_argument("--voice-sdk-app-id", default=_default("voice_sdk_app_id"))
    parser.add_argument("--sign-name", default=_default("sms_sign_name"))
    parser.add_argument("--enrol", action="store_true", default=os.environ.get("STANDIN_TENCENT_ENROL") == "1",
                        help="the authority takes an ID number it has never seen under the first name asked "
                             "(benchmarks that make many citizens; env STANDIN_TENCENT_ENROL=1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = provider.Config(args.secret_id, args.secret_key, args.sms_sdk_app_id, args.voice_sdk_app_id,
                             args.sign_name, provider.approved_templates(_template_ids_from_env()))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    state = State(config, provider.load_people())
    if args.enrol:
        state.behave(",".join(sorted(ENROLLING)), provider.STANDING, 0, 0.0)
    app = create_app(state)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
