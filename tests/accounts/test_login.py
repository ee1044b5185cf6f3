"""A citizen signs in with their phone and an SMS code."""

from __future__ import annotations

import pytest
import redis.exceptions

from app.cache import RedisCache

from tests.factories import last_code, new_phone, sign_in


async def test_first_login_creates_the_citizen_at_level_1(client, sms):
    phone = new_phone()
    sent = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202
    assert sent.json() == {"expires_in": 300, "resend_after": 60}
    assert "code" not in sent.text.lower() or "验证码" not in sent.text

    login = await client.post("/api/v1/auth/login", json={"phone": phone, "code": last_code(sms, phone), "device_name": "华为 Mate"})
    assert login.status_code == 200
    body = login.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["citizen"]["level"] == 1 and body["citizen"]["elderly_mode"] is False

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["phone_masked"] == phone[:3] + "****" + phone[-4:]


async def test_second_login_finds_the_same_citizen(client, sms, clock):
    phone = new_phone()
    first = await sign_in(client, sms, phone)
    clock.advance(61)
    second = await sign_in(client, sms, phone)
    assert first.id == second.id


async def test_phone_in_international_format_is_the_same_account(client, sms, clock):
    phone = new_phone()
    first = await sign_in(client, sms, phone)
    clock.advance(61)
    await client.post("/api/v1/auth/otp", json={"phone": f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"})
    reply = await client.post("/api/v1/auth/login", json={"phone": f"+86{phone}", "code": last_code(sms, phone)})
    assert reply.json()["citizen"]["id"] == first.id


async def test_invalid_phone_is_refused_with_422(client):
    for phone in ["12345", "12800138000", "1380013800a", "", "+1 2025550100"]:
        reply = await client.post("/api/v1/auth/otp", json={"phone": phone})
        assert reply.status_code == 422, phone
        assert reply.json()["error"]["code"] == "INVALID_PHONE"


async def test_the_code_is_single_use(client, sms):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    code = last_code(sms, phone)
    assert (await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})).status_code == 200
    again = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "OTP_EXPIRED"


async def test_the_code_expires_after_five_minutes(client, sms, clock):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    clock.advance(301)
    reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": last_code(sms, phone)})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "OTP_EXPIRED"


async def test_wrong_code_says_how_many_tries_are_left_and_five_lock_it(client, sms):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    right = last_code(sms, phone)
    wrong = "000000" if right != "000000" else "111111"
    for left in (4, 3, 2, 1):
        reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong})
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "OTP_INVALID"
        assert reply.json()["error"]["tries_left"] == left
    fifth = await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong})
    assert fifth.status_code == 429 and fifth.json()["error"]["code"] == "OTP_LOCKED"
    # Even the right code no longer works: the citizen must request a new one.
    locked = await client.post("/api/v1/auth/login", json={"phone": phone, "code": right})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "OTP_LOCKED"


async def test_code_format_is_validated(client, sms):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": "12ab"})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_login_without_requesting_a_code_fails(client):
    reply = await client.post("/api/v1/auth/login", json={"phone": new_phone(), "code": "123456"})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "OTP_EXPIRED"


async def test_one_send_per_phone_per_minute(client, clock):
    phone = new_phone()
    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
    again = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(again.headers["Retry-After"]) <= 61
    clock.advance(61)
    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202


async def test_ten_sends_per_phone_per_day(client, clock):
    clock.set(clock.now().replace(hour=0, minute=5))
    phone = new_phone()
    for _ in range(10):
        assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
        clock.advance(61)
    eleventh = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert eleventh.status_code == 429
    assert eleventh.json()["error"]["code"] == "RATE_LIMITED"


async def test_sends_per_ip_are_limited(client, app):
    limit = app.ctx.services.settings.accounts.otp_ip_hourly_limit
    for _ in range(limit):
        assert (await client.post("/api/v1/auth/otp", json={"phone": new_phone()})).status_code == 202
    reply = await client.post("/api/v1/auth/otp", json={"phone": new_phone()})
    assert reply.status_code == 429


async def test_gateway_failure_is_a_clear_503_and_does_not_block_a_retry(client, sms):
    phone = new_phone()
    sms.fail_next()
    reply = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "SMS_UNAVAILABLE"
    assert sms.outbox(phone) == []
    retry = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert retry.status_code == 202


async def test_slow_gateway_times_out_with_503(client, sms, app):
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(sms_timeout=0.2)
    sms.behave("SendSms", "slow", delay=1.0)
    reply = await client.post("/api/v1/auth/otp", json={"phone": new_phone()})
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "SMS_UNAVAILABLE"


async def test_a_cache_failover_while_the_code_is_used_refuses_and_the_code_still_counts_once(client, sms, app,
                                                                                              monkeypatch):
    # A Redis Cluster's slot with no primary after the client's retries (CLUSTERDOWN, mid-failover) while the
    # code's single-use marker is written: the login is refused with a 503, never let through unmarked.
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    code = last_code(sms, phone)
    cache = app.ctx.services.platform.cache
    taking = cache.claim_once

    async def failing_over(key: str, *args, **kwargs) -> bool:
        if key.startswith("otp:used:"):
            await taking(key, *args, **kwargs)  # written, but the reply is lost in the switch
            raise redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down")
        return await taking(key, *args, **kwargs)

    monkeypatch.setattr(cache, "claim_once", failing_over)
    refused = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    monkeypatch.setattr(cache, "claim_once", taking)
    again = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert again.status_code == 401 and again.json()["error"]["code"] == "OTP_EXPIRED"


async def test_a_login_code_whose_use_no_replica_confirmed_is_refused_until_one_does_then_used_once(
        client, sms, platform, monkeypatch):
    """With a replica required for one-time markers (APP_CACHE_ONE_TIME_REPLICAS) and none acknowledging, the
    sign-in fails closed: 503 SERVICE_UNAVAILABLE with Retry-After, as often as it is tried. The code was not
    taken, so once the marker can be confirmed the same code signs in, and only once."""
    cache = platform.cache
    if not isinstance(cache, RedisCache) or cache.cluster:
        pytest.skip("needs one Redis (APP_REDIS_URL=redis://...)")
    if int((await cache._redis.info("replication"))["connected_slaves"]):
        pytest.skip("this Redis has replicas")
    monkeypatch.setattr(cache, "one_time_replicas", 1)
    monkeypatch.setattr(cache, "one_time_wait_ms", 50)
    phone = new_phone()
    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
    code = last_code(sms, phone)
    refused = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE", refused.text
    assert refused.headers["retry-after"]
    again = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert again.status_code == 503, again.text
    monkeypatch.setattr(cache, "one_time_replicas", 0)  # the replica is back (or the requirement lifted)
    signed_in = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert signed_in.status_code == 200, signed_in.text
    replayed = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert replayed.status_code == 401 and replayed.json()["error"]["code"] == "OTP_EXPIRED"
