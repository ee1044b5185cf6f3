"""Redis goes away mid-day: every one-time thing fails closed, and all recovers without a restart.

What the service keeps in Redis: login codes (and their tries and single use), client-JWT `jti`s,
rate limits, session states, mini-program bind tickets, the `jti`s of voucher device proofs. While Redis is unreachable none of them can be checked, so the
service refuses with 503 SERVICE_UNAVAILABLE and Retry-After rather than guessing: a used login
code never becomes usable again, a replayed client token is never let in. When Redis returns,
the same process serves again. Lost: nothing (the codes of the outage are simply asked for again).
"""

from __future__ import annotations

import asyncio

import pytest

from app.config import Settings
from app.miniprogram.models import MiniProgramBinding
from app.vouchers.models import Presentation
from miniprogram_mock.client import JourneyError, MiniProgramClient
from tests.factories import last_code, make_department, new_phone, sign_in, verify_real_name
from tests.faults.conftest import needs_redis
from tests.miniprogram.mp_factory import in_mini_program
from tests.miniprogram.platform_process import PlatformProcess
from tests.vouchers.voucher_factory import error_code, present_with_proof, redeem, relying_party, voucher_holder

pytestmark = needs_redis


@pytest.fixture
def settings(settings: Settings, mini_program_platform: PlatformProcess) -> Settings:
    return settings.with_(miniprogram_api_url=mini_program_platform.url)


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
    for _ in range(settings.accounts.otp_max_tries - 1):
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
    assert first.status_code == 200 and first.json()["valid"] is False, first.text  # checked: its jti is now spent

    redis_proxy.cut()
    assert_unavailable(await client.post("/api/admin/v1/health-code/verifications", headers=headers, json=body))
    fresh = verifier.headers()  # even a fresh token: its jti cannot be recorded, so it is not accepted
    assert_unavailable(await client.post("/api/admin/v1/health-code/verifications", headers=fresh, json=body))

    redis_proxy.restore()
    replay = await client.post("/api/admin/v1/health-code/verifications", headers=headers, json=body)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "CLIENT_TOKEN_REPLAYED"
    # The token refused during the outage was never spent: it is checked now, once.
    late = await client.post("/api/admin/v1/health-code/verifications", headers=fresh, json=body)
    assert late.status_code == 200 and late.json()["valid"] is False, late.text


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


async def test_a_used_mini_program_bind_ticket_stays_used_across_an_outage(client, platform_api, redis_proxy, faults):
    """A ticket used before the outage is refused during it (fail closed) and after it; a ticket
    not yet used when Redis went away still binds once after. Lost: nothing."""
    used, waiting = MiniProgramClient(client, platform_api), MiniProgramClient(client, platform_api)
    await used.login()
    await waiting.login()
    shared = (await platform_api.post("/mock/phone-number", json={"user": used.user, "phone": new_phone()})).json()
    body = {"bind_ticket": used.bind_ticket, "encrypted_data": shared["encryptedData"], "iv": shared["iv"]}
    bound = await client.post("/api/mp/v1/auth/phone", json=body)
    assert bound.status_code == 200, bound.text

    redis_proxy.cut()
    assert_unavailable(await client.post("/api/mp/v1/auth/phone", json=body))
    waiting_phone = new_phone()
    with pytest.raises(JourneyError) as during:
        await waiting.bind_phone(waiting_phone)
    assert (during.value.status, during.value.code) == (503, "SERVICE_UNAVAILABLE")

    redis_proxy.restore()
    replay = await client.post("/api/mp/v1/auth/phone", json=body)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "MP_BIND_TICKET_INVALID"
    assert await MiniProgramBinding.filter(citizen_id=bound.json()["citizen"]["id"]).count() == 1
    assert (await waiting.bind_phone(waiting_phone))["bound"] is True  # the ticket of the outage still works


async def test_a_voucher_device_proof_cannot_be_replayed_during_or_after_an_outage(client, sms, clock, redis_proxy,
                                                                                    faults):
    """The device proof's jti is spent in Redis: without Redis no proof is accepted, and the proof
    used before the outage stays spent. Lost: nothing (a proof made during the outage works after)."""
    zhang = await voucher_holder(client, sms)
    proof = zhang.phone.proof(zhang.voucher_id, clock)
    assert (await present_with_proof(client, zhang.citizen, proof)).status_code == 201

    redis_proxy.cut()
    assert_unavailable(await present_with_proof(client, zhang.citizen, proof))
    fresh = zhang.phone.proof(zhang.voucher_id, clock)  # its jti cannot be recorded: not accepted either
    assert_unavailable(await present_with_proof(client, zhang.citizen, fresh))

    redis_proxy.restore()
    replay = await present_with_proof(client, zhang.citizen, proof)
    assert replay.status_code == 403 and error_code(replay) == "DEVICE_PROOF_INVALID"
    assert (await present_with_proof(client, zhang.citizen, fresh)).status_code == 201
    assert await Presentation.filter(voucher_id=zhang.voucher_id).count() == 2  # one QR per proof, none for the replays


async def test_a_redeemed_voucher_qr_cannot_be_redeemed_again_during_or_after_an_outage(client, sms, clock,
                                                                                         redis_proxy, faults):
    """The hotel's scan before the outage used the QR up; a second scan during the outage is refused
    with 503 (its client token cannot be checked) and after it with TOKEN_ALREADY_USED. Lost: nothing."""
    zhang = await voucher_holder(client, sms)
    hotel = await relying_party(clock, "示例大酒店前台", ["is_holder"])
    shown = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock))
    token = shown.json()["token"]
    assert (await redeem(client, hotel, token, ["is_holder"])).status_code == 200

    redis_proxy.cut()
    assert_unavailable(await redeem(client, hotel, token, ["is_holder"]))

    redis_proxy.restore()
    again = await redeem(client, hotel, token, ["is_holder"])
    assert again.status_code == 409 and error_code(again) == "TOKEN_ALREADY_USED"
    assert (await Presentation.get(id=shown.json()["id"])).redeemed_by == hotel.id  # the first scan's, kept


async def test_the_mini_program_health_code_is_refused_during_the_outage_and_shown_after(client, sms, platform_api,
                                                                                          redis_proxy, faults):
    """The mini-program's compact code: 503 with Retry-After while Redis is away, the code again when
    it is back, from the same process. Lost: nothing."""
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    mp = await in_mini_program(client, platform_api, citizen.phone)
    before = await client.get("/api/mp/v1/health-code", headers=mp.headers)
    assert before.status_code == 200 and before.json()["color"] == "green"

    redis_proxy.cut()
    assert_unavailable(await client.get("/api/mp/v1/health-code", headers=mp.headers))

    redis_proxy.restore()
    after = await client.get("/api/mp/v1/health-code", headers=mp.headers)
    assert after.status_code == 200, after.text
    assert (after.json()["color"], after.json()["text"]) == ("green", "绿码") and after.json()["payload"]
