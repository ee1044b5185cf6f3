"""Every failure is the one envelope, in the caller's language, with a request id to quote.

A citizen calling the hotline quotes the request id from the screen; support finds it in the
logs. Nothing internal (exception names, tracebacks, secrets) ever reaches the phone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from app.i18n import EN, ZH_HANS, ZH_HANT, negotiate, pick
from tests.factories import new_phone

HEX32 = re.compile(r"^[0-9a-f]{32}$")
ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
MAX_BODY = 4096


def error_of(reply) -> dict:
    body = reply.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message", "request_id"} <= set(error), error
    assert error["message"] and isinstance(error["message"], str)
    assert error["request_id"] == reply.headers["X-Request-ID"]
    return error


# -- framework errors use the envelope ---------------------------------------------------

async def test_an_unknown_path_is_404_in_the_envelope(client):
    reply = await client.get("/api/v1/no-such-thing")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("application/json")
    error = error_of(reply)
    assert error["code"] == "NOT_FOUND"
    assert error["message"] == "找不到您要访问的内容。"


async def test_a_wrong_method_is_405_in_the_envelope(client):
    reply = await client.delete("/api/v1/auth/otp")
    assert reply.status_code == 405
    assert error_of(reply)["code"] == "METHOD_NOT_ALLOWED"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    """The real server (`python -m app`, Sanic's own HTTP stack) with a 4 KiB body limit.

    The size limit is enforced by Sanic's HTTP/1.1 protocol, which the in-process ASGI test
    client bypasses, so it is checked against the server as operators run it.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data_dir = tmp_path_factory.mktemp("served")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(APP_DATA_DIR=str(data_dir), APP_PORT=str(port), APP_MAX_BODY_BYTES=str(MAX_BODY))
    log = open(data_dir / "server.log", "wb")
    server = subprocess.Popen([str(PYTHON), "-m", "app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a start on a busy machine: only a failure waits this long
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start: " + (data_dir / "server.log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_a_body_over_the_limit_is_413_in_the_envelope(served):
    too_big = json.dumps({"phone": "1" * (MAX_BODY + 10)})
    reply = httpx.post(f"{served}/api/v1/auth/otp", content=too_big, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    error = error_of(reply)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["message"] == "提交的内容过大，请压缩后重试。"


def test_a_chunked_body_over_the_limit_is_413_too(served):
    def chunks():
        for _ in range(MAX_BODY // 1000 + 2):
            yield b" " * 1000

    reply = httpx.post(f"{served}/api/v1/auth/otp", content=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    assert error_of(reply)["code"] == "PAYLOAD_TOO_LARGE"


def test_a_body_under_the_limit_is_read(served):
    padded = json.dumps({"phone": "12345", "padding": "x" * (MAX_BODY - 200)})
    reply = httpx.post(f"{served}/api/v1/auth/otp", content=padded, headers={"Content-Type": "application/json"})
    assert reply.status_code == 422
    assert error_of(reply)["code"] == "INVALID_PHONE"


async def test_malformed_json_is_400(client):
    reply = await client.post("/api/v1/auth/otp", content=b'{"phone": "138', headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    error = error_of(reply)
    assert error["code"] == "MALFORMED_JSON"
    assert error["message"] == "请求内容不是有效的 JSON。"


async def test_invalid_utf8_is_malformed_json(client):
    reply = await client.post("/api/v1/auth/otp", content=b'{"phone": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert error_of(reply)["code"] == "MALFORMED_JSON"


@pytest.mark.parametrize("body", [b"[]", b'["13800138000"]', b'"13800138000"', b"42", b"null", b""])
async def test_a_body_that_is_not_a_json_object_is_422(client, body):
    reply = await client.post("/api/v1/auth/otp", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 422
    error = error_of(reply)
    assert error["code"] == "VALIDATION_FAILED"
    assert error["fields"] == [{"field": "body", "problem": "a JSON object is required"}]


async def test_a_field_of_the_wrong_type_is_422_naming_the_field(client):
    reply = await client.post("/api/v1/auth/otp", json={"phone": 13800138000})
    assert reply.status_code == 422
    error = error_of(reply)
    assert error["code"] == "VALIDATION_FAILED"
    assert [f["field"] for f in error["fields"]] == ["phone"]
    assert "phone" in error["message"]


async def test_a_missing_field_is_422_naming_the_field(client):
    reply = await client.post("/api/v1/auth/login", json={"phone": new_phone()}, headers={"Accept-Language": "en"})
    assert reply.status_code == 422
    error = error_of(reply)
    assert [f["field"] for f in error["fields"]] == ["code"]
    assert error["message"] == "Some fields are invalid: code"


# -- request ids -------------------------------------------------------------------------

async def test_a_given_request_id_is_echoed_in_header_and_error(client):
    reply = await client.get("/nowhere", headers={"X-Request-ID": "app-7f3a.call_42"})
    assert reply.headers["X-Request-ID"] == "app-7f3a.call_42"
    assert error_of(reply)["request_id"] == "app-7f3a.call_42"
    ok = await client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    assert ok.headers["X-Request-ID"] == "probe-1"


async def test_a_request_id_is_generated_when_absent(client):
    first = await client.get("/nowhere")
    second = await client.get("/nowhere")
    assert HEX32.match(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert HEX32.match((await client.get("/healthz")).headers["X-Request-ID"])


@pytest.mark.parametrize("given", ["x" * 200, "has space", "semi;colon", "<script>", "中文"])
async def test_an_unusable_request_id_is_replaced(client, given):
    reply = await client.get("/nowhere", headers={"X-Request-ID": given.encode("utf-8")})
    assert HEX32.match(reply.headers["X-Request-ID"])
    assert error_of(reply)["request_id"] == reply.headers["X-Request-ID"]


async def test_replies_are_not_cached_or_sniffed(client):
    reply = await client.get("/nowhere")
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


# -- languages ---------------------------------------------------------------------------

@pytest.mark.parametrize("accept, message", [
    (None, "找不到您要访问的内容。"),
    ("zh-CN", "找不到您要访问的内容。"),
    ("zh-Hans", "找不到您要访问的内容。"),
    ("zh-TW", "找不到您要存取的內容。"),
    ("zh-HK", "找不到您要存取的內容。"),
    ("zh-Hant", "找不到您要存取的內容。"),
    ("zh-Hant-TW", "找不到您要存取的內容。"),
    ("en-US", "The requested resource was not found."),
    ("en", "The requested resource was not found."),
    ("fr-FR", "找不到您要访问的内容。"),
    ("en;q=0.5, zh-HK;q=0.9", "找不到您要存取的內容。"),
    ("zh-TW;q=0.2, en-GB;q=0.8", "The requested resource was not found."),
])
async def test_messages_follow_accept_language(client, accept, message):
    headers = {"Accept-Language": accept} if accept else {}
    reply = await client.get("/api/v1/missing", headers=headers)
    assert error_of(reply)["message"] == message


async def test_a_domain_error_is_localized_too(client):
    reply = await client.post("/api/v1/auth/otp", json={"phone": "12345"}, headers={"Accept-Language": "zh-HK"})
    assert reply.status_code == 422
    assert error_of(reply)["message"] == "請輸入正確的 11 位中國大陸手機號碼。"


@pytest.mark.parametrize("header, language", [
    (None, ZH_HANS),
    ("", ZH_HANS),
    ("zh", ZH_HANS),
    ("zh-cn", ZH_HANS),
    ("ZH-TW", ZH_HANT),
    ("zh-MO", ZH_HANT),
    ("zh-hant-hk", ZH_HANT),
    ("zh-twx", ZH_HANS),  # not a Traditional tag, only a prefix of one
    ("en-US,en;q=0.9", EN),
    ("de-DE, en;q=0.3", EN),
    ("de-DE, fr", ZH_HANS),
    ("en;q=0.5, zh-HK;q=0.9", ZH_HANT),
    ("zh-HK;q=0.5, en;q=0.5", ZH_HANT),  # equal quality: first listed wins
    ("en;q=0, zh-TW", ZH_HANT),
    ("en;q=0", ZH_HANS),  # q=0 means "not acceptable"
    ("en;q=abc, zh-TW;q=0.1", ZH_HANT),  # a broken q-value counts as not acceptable
    ("*", ZH_HANS),
])
def test_negotiate(header, language):
    assert negotiate(header) == language


def test_pick_falls_back_to_simplified_chinese_and_fills_placeholders():
    texts = {"zh-Hans": "请 {n} 秒后再试", "en": "Try again in {n} seconds"}
    assert pick(texts, EN, n=5) == "Try again in 5 seconds"
    assert pick(texts, ZH_HANT, n=5) == "请 5 秒后再试"


# -- the unexpected ----------------------------------------------------------------------

async def test_an_unexpected_failure_is_a_plain_500_and_logged_with_the_request_id(client, app, monkeypatch, caplog):
    async def broken(*args, **kwargs):
        phone = "1380013" + "8000"  # built at run time, so only the exception message holds it
        raise RuntimeError(f"secret {phone}")

    monkeypatch.setattr(app.ctx.services.accounts, "request_login_code", broken)
    caplog.set_level(logging.DEBUG)
    reply = await client.post("/api/v1/auth/otp", json={"phone": new_phone()},
                              headers={"X-Request-ID": "hotline-case-9", "Accept-Language": "en"})
    assert reply.status_code == 500
    error = error_of(reply)
    assert error == {"code": "INTERNAL_ERROR", "request_id": "hotline-case-9",
                     "message": "Something went wrong on our side. Please try again later.",
                     "tts_text": "Something went wrong on our side. Please try again later."}
    for leak in ("RuntimeError", "secret", "13800138000", "Traceback", "service.py", 'File "'):
        assert leak not in reply.text

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "the failure was not logged"
    logged = [r for r in errors if "hotline-case-9" in r.getMessage()]
    assert logged, [r.getMessage() for r in errors]
    message = logged[0].getMessage()
    assert "RuntimeError" in message and "/api/v1/auth/otp" in message
    assert 'File "' in message and "test_errors_and_language.py" in message  # where it broke, for support
    assert "13800138000" not in message  # but not what it said
