"""Redis goes away mid-day: every one-time thing fails closed, and all recovers without a restart.

What the service keeps in Redis: login codes (and their tries and single use), client-JWT `jti`s,
rate limits, session states. While Redis is unreachable none of them can be checked, so the
service refuses with 503 SERVICE_UNAVAILABLE and Retry-After rather than guessing: a used login
code never becomes usable again, a replayed client token is never let in. When Redis returns,
the same process serves again. Lost: nothing (the codes of the outage are simply asked for again).
"""

from __future__ import annotations

import asyncio

from tests.factories import last_code, make_department, new_phone, sign_in, verify_real_name
from tests.faults.conftest import needs_redis

pytestmark = needs_redis


def assert_unavailable(reply) -> None:
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert reply.headers["retry-after"] == "7"
    assert "Traceback" not in reply.text and "redis" not in reply.text.lower()


async def test_login_fails_closed_while_redis_is_down_and_works_again_after(client, sms, redis_proxy, faults):
    phone = new_phone()
    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
    code = last_code(sms, phone)

    redis_proxy.cut()
    assert_unavailable(await client.post("/api/v1/auth/login", json={"phone": phone, "code": code}))
    assert_unavailable(await client.post("/api/v1/auth/otp", json={"phone": new_phone()}))

    redis_proxy.restore()
    login = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert login.status_code == 200, login.text  # the code sent before the outage still works, once
    again = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert again.status_code == 401 and again.json()["error"]["code"] == "OTP_EXPIRED"


async def test_a_used_login_code_stays_used_across_an_outage(client, sms, redis_proxy, faults):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    code = last_code(sms, phone)
    assert (await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})).status_code == 200

    redis_proxy.cut()
    assert_unavailable(await client.post("/api/v1/auth/login", json={"phone": phone, "code": code}))
    redis_proxy.restore()
    replay = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "OTP_EXPIRED"


async def test_wrong_tries_counted_before_an_outage_still_count_after_it(client, sms, redis_proxy, faults, settings):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    code = last_code(sms, phone)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(settings.otp_max_tries - 1):
        assert (await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong})).status_code == 401
    redis_proxy.cut()
    for _ in range(3):  # tries during the outage are refused, not silently uncounted successes
        assert_unavailable(await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong}))
    redis_proxy.restore()
    last = await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong})
    assert last.status_code in (401, 429)
    locked = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "OTP_LOCKED"


async def test_a_client_token_cannot_be_replayed_during_or_after_an_outage(client, clock, redis_proxy, faults):
    verifier = await make_department(clock, "广州白云机场查验点（示例）", ["verifier"])
    headers = verifier.headers()
    body = {"payload": "GDHC1:NOT-A-CODE", "purpose": "登机查验"}
    first = await client.post("/api/admin/v1/health-code/verifications", headers=headers, json=body)
    assert first.status_code != 401, first.text  # authenticated: its jti is now spent

    redis_proxy.cut()
    assert_unavailable(await client.post("/api/admin/v1/health-code/verifications", headers=headers, json=body))
    fresh = verifier.headers()  # even a fresh token: its jti cannot be recorded, so it is not accepted
    assert_unavailable(await client.post("/api/admin/v1/health-code/verifications", headers=fresh, json=body))

    redis_proxy.restore()
    replay = await client.post("/api/admin/v1/health-code/verifications", headers=headers, json=body)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "CLIENT_TOKEN_REPLAYED"
    assert (await client.post("/api/admin/v1/health-code/verifications", headers=fresh, json=body)).status_code != 401


async def test_the_health_code_is_refused_clearly_during_the_outage_and_shown_after(client, sms, redis_proxy, faults):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    before = await client.get("/api/v1/health-code", headers=citizen.headers)
    assert before.status_code == 200

    redis_proxy.cut()
    # The session check and the code's one-time registration both live in Redis: fail closed.
    assert_unavailable(await client.get("/api/v1/health-code", headers=citizen.headers))
    readiness = await client.get("/readyz")
    assert readiness.status_code == 503

    redis_proxy.restore()
    after = await client.get("/api/v1/health-code", headers=citizen.headers)
    assert after.status_code == 200 and after.json()["color"] == "green"
    assert (await client.get("/readyz")).status_code == 200


async def test_many_requests_during_a_flapping_redis_answer_200_or_503_and_nothing_else(client, sms, redis_proxy, faults):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)

    async def flap() -> None:
        for _ in range(4):
            await asyncio.sleep(0.05)
            redis_proxy.cut()
            await asyncio.sleep(0.05)
            redis_proxy.restore()

    async def fetch() -> int:
        return (await client.get("/api/v1/health-code", headers=citizen.headers)).status_code

    flapping = asyncio.create_task(flap())
    statuses = []
    while not flapping.done():
        statuses += await asyncio.gather(*[fetch() for _ in range(5)])
    assert set(statuses) <= {200, 503}, statuses
    assert (await client.get("/api/v1/health-code", headers=citizen.headers)).status_code == 200
