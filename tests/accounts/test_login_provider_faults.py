"""Login codes through the SMS provider (the stand-in Tencent Cloud process): when the provider is slow,
down or throttling, the citizen is told to retry and no code is counted; a number the provider refuses
names the field; and after a login neither Redis nor the database holds the code, the message or the
phone number in clear."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ON_POSTGRES
from tests.factories import last_code, new_phone

OTP = "/api/v1/auth/otp"


@pytest.mark.parametrize("mode", ["fail", "http500", "throttle", "slow"])
async def test_a_provider_fault_says_retry_and_counts_no_code(client, sms, app, mode):
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(sms_timeout=0.3, otp_daily_limit=2, otp_resend_interval=1)
    phone = new_phone()
    sms.behave("SendSms", mode, count=3, delay=2.0)
    for _ in range(3):
        reply = await client.post(OTP, json={"phone": phone}, headers={"Accept-Language": "en"})
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "SMS_UNAVAILABLE"
        assert reply.json()["error"]["message"] == "The text message could not be sent. Please try again shortly."
        assert int(reply.headers["Retry-After"]) > 0
    assert sms.outbox(phone) == []
    # None of the three failures counted: the daily limit of two still allows two codes.
    sms.clear_behaviour()
    assert (await client.post(OTP, json={"phone": phone})).status_code == 202
    app.ctx.services.platform.clock.advance(2)
    assert (await client.post(OTP, json={"phone": phone})).status_code == 202
    app.ctx.services.platform.clock.advance(2)
    assert (await client.post(OTP, json={"phone": phone})).status_code == 429


async def test_a_voice_provider_fault_says_retry(client, sms):
    sms.behave("SendCodeVoice", "http500")
    reply = await client.post(OTP, json={"phone": new_phone(), "channel": "voice"})
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "SMS_UNAVAILABLE"


async def test_a_number_the_provider_refuses_names_the_field(client, sms):
    phone = new_phone()
    sms.behave("SendSms", "invalid_phone")
    reply = await client.post(OTP, json={"phone": phone}, headers={"Accept-Language": "en"})
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "INVALID_PHONE"
    assert error["fields"] == [{"field": "phone", "problem": "refused by the SMS provider"}]
    assert sms.outbox(phone) == []


async def test_the_code_reaches_the_provider_as_an_approved_template(client, sms):
    phone = new_phone()
    assert (await client.post(OTP, json={"phone": phone})).status_code == 202
    (message,) = sms.outbox(phone)
    assert message.text.startswith("【粤省事示例】您的登录验证码为 ")
    assert "5 分钟内有效" in message.text


async def _everything_stored(app) -> str:
    """Every key and value in the cache and every row of every table, as one text."""
    from tortoise import Tortoise

    parts: list[str] = []
    cache = app.ctx.services.platform.cache
    redis = getattr(cache, "_redis", None)
    if redis is not None:
        async for key in redis.scan_iter(match=f"{cache._prefix}*"):
            parts.append(str(key))
            kind = await redis.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            if kind == "string":
                parts.append(str(await redis.get(key)))
            elif kind == "hash":
                parts.append(str(await redis.hgetall(key)))
            elif kind in ("list",):
                parts.append(str(await redis.lrange(key, 0, -1)))
            elif kind == "set":
                parts.append(str(await redis.smembers(key)))
            elif kind == "zset":
                parts.append(str(await redis.zrange(key, 0, -1)))
    else:
        parts.append(repr(cache._data))
    conn = Tortoise.get_connection("default")
    if ON_POSTGRES:
        tables = [r["tablename"] for r in await conn.execute_query_dict(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    else:
        tables = [r["name"] for r in await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        rows = await conn.execute_query_dict(f'SELECT * FROM "{table}"')
        parts.append(json.dumps(rows, default=str, ensure_ascii=False))
    return "\n".join(parts)


async def test_after_a_login_no_code_message_or_plain_phone_is_stored(client, sms, app):
    phone = new_phone()
    assert (await client.post(OTP, json={"phone": phone})).status_code == 202
    code = last_code(sms, phone)
    text = sms.outbox(phone)[0].text
    login = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code, "device_name": "测试手机"})
    assert login.status_code == 200
    stored = await _everything_stored(app)
    assert phone not in stored
    # The code as a value of its own (hex digests and timestamps hold digit runs by chance).
    assert not re.search(rf"(?<![0-9a-fA-F]){code}(?![0-9a-fA-F])", stored)
    for needle in (text, text[text.index("】") + 1:]):  # the message, with or without its sign name
        at = stored.find(needle)
        assert at < 0, stored[max(0, at - 300):at + 100]
    assert "dev-sms" not in stored


async def test_the_providers_daily_cap_for_a_number_says_tomorrow(client, sms, app, monkeypatch):
    from app.integrations import ProviderThrottled

    async def capped(phone, template, params):
        raise ProviderThrottled("LimitExceeded.PhoneNumberDailyLimit", retry_after=86400)

    monkeypatch.setattr(app.ctx.services.accounts.sms, "send", capped)
    reply = await client.post(OTP, json={"phone": new_phone()}, headers={"Accept-Language": "en"})
    assert reply.status_code == 429
    assert reply.json()["error"]["code"] == "SMS_LIMIT_REACHED"
    assert "tomorrow" in reply.json()["error"]["message"] and int(reply.headers["Retry-After"]) >= 3600


async def test_a_provider_fault_gives_back_the_address_limit_too(client, sms, app):
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(otp_ip_hourly_limit=2)
    sms.behave("SendSms", "http500", count=3)
    for _ in range(3):
        assert (await client.post(OTP, json={"phone": new_phone()})).status_code == 503
    sms.clear_behaviour()
    assert (await client.post(OTP, json={"phone": new_phone()})).status_code == 202
    assert (await client.post(OTP, json={"phone": new_phone()})).status_code == 202
    assert (await client.post(OTP, json={"phone": new_phone()})).status_code == 429
