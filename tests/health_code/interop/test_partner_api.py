"""The partner API (互认地区接口): Macao's port system signs its calls with its own key and checks our
citizens' codes in batches; every check is audited and shown to the citizen."""

from __future__ import annotations

from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.audit import AuditEntry
from health_code import codec
from health_code.service import payload_key
from tests.factories import ADMIN_AUD, make_department, sign_in, valid_id_number, verify_real_name
from tests.health_code.interop.partners_factory import (
    CHINESE_WORDS,
    PARTNER_AUD,
    PARTNERS,
    VERIFICATIONS,
    make_partner,
    public_jwk,
    start_of_next,
    tamper,
)


@pytest.fixture
async def mo(client, admin):
    return await make_partner(client, admin, status_mapping=CHINESE_WORDS)


async def zhang_san_code(client, sms, sequence: str = "123") -> tuple[object, str]:
    """A real-name citizen 张三 and the payload of their current (green) code."""
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三", id_number=valid_id_number(sequence=sequence))
    reply = await client.get("/api/v1/health-code", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return citizen, reply.json()["payload"]


async def verify(client, headers, codes):
    return await client.post(VERIFICATIONS, headers=headers, json={"codes": codes})


def refused(reply, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code


# --- who may call ------------------------------------------------------------------------------

async def test_a_token_signed_by_a_stranger_key_is_refused(client, mo):
    stranger = ec.generate_private_key(ec.SECP256R1())
    refused(await verify(client, mo.headers(key=stranger), ["GDHC1:X"]), 401, "CLIENT_TOKEN_SIGNATURE_INVALID")


async def test_a_token_for_another_api_is_refused(client, mo):
    reply = await verify(client, mo.headers(aud=ADMIN_AUD), ["GDHC1:X"])
    refused(reply, 401, "CLIENT_TOKEN_AUDIENCE_INVALID")
    assert PARTNER_AUD in reply.json()["error"]["message"]


async def test_a_token_from_a_partner_with_a_wrong_clock_is_refused(client, mo, clock):
    refused(await verify(client, mo.headers(iat=int(clock.timestamp()) - 120), ["GDHC1:X"]), 401,
            "CLIENT_TOKEN_IAT_OUT_OF_RANGE")


async def test_a_partner_token_cannot_be_replayed(client, mo):
    headers = mo.headers()
    first = await verify(client, headers, ["GDHC1:X"])
    assert first.status_code == 200, first.text
    refused(await verify(client, headers, ["GDHC1:X"]), 401, "CLIENT_TOKEN_REPLAYED")


async def test_a_suspended_partner_is_told_so_and_a_reactivated_one_is_served_again(client, admin, mo):
    assert (await verify(client, mo.headers(), ["GDHC1:X"])).status_code == 200  # its client is cached from here
    await client.patch(f"{PARTNERS}/MO", headers=admin.headers(), json={"status": "suspended"})
    refused(await verify(client, mo.headers(), ["GDHC1:X"]), 403, "CLIENT_SUSPENDED")

    await client.patch(f"{PARTNERS}/MO", headers=admin.headers(), json={"status": "active"})
    assert (await verify(client, mo.headers(), ["GDHC1:X"])).status_code == 200


async def test_an_admin_client_cannot_call_the_partner_api(client, admin, clock):
    verifier = await make_department(clock, "示例口岸查验", ["verifier"])
    for department in (admin, verifier):
        reply = await verify(client, department.headers(aud=PARTNER_AUD), ["GDHC1:X"])
        refused(reply, 401, "CLIENT_UNKNOWN")


async def test_macao_rotates_its_api_key(client, admin, mo):
    assert (await verify(client, mo.headers(), ["GDHC1:X"])).status_code == 200  # its client is cached from here
    new_key = ec.generate_private_key(ec.SECP256R1())
    added = await client.post(f"{PARTNERS}/MO/api-keys", headers=admin.headers(),
                              json={"jwk": public_jwk(new_key, "mo-api-2")})
    assert added.status_code == 201, added.text
    # During the overlap both keys work.
    assert (await verify(client, mo.headers(), ["GDHC1:X"])).status_code == 200
    assert (await verify(client, mo.headers(key=new_key, kid="mo-api-2"), ["GDHC1:X"])).status_code == 200

    revoked = await client.post(f"{PARTNERS}/MO/api-keys/mo-api-1/revocation", headers=admin.headers())

    assert revoked.status_code == 200
    reply = await verify(client, mo.headers(), ["GDHC1:X"])
    refused(reply, 401, "CLIENT_KEY_UNKNOWN")
    assert "mo-api-1" in reply.json()["error"]["message"]
    assert (await verify(client, mo.headers(key=new_key, kid="mo-api-2"), ["GDHC1:X"])).status_code == 200
    assert await AuditEntry.filter(action="partner_api_key_added", actor=admin.id).exists()
    assert await AuditEntry.filter(action="partner_api_key_revoked", actor=admin.id).exists()


# --- verifying our codes -----------------------------------------------------------------------

async def test_macao_checks_a_batch_and_each_code_gets_its_own_answer(client, sms, mo, clock):
    citizen, old_code = await zhang_san_code(client, sms)
    clock.advance(181)
    fresh = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]
    assert fresh != old_code
    batch = [fresh, tamper(fresh), old_code, "hello, not a code"]

    reply = await verify(client, mo.headers(), batch)

    assert reply.status_code == 200, reply.text
    valid, forged, expired, garbage = reply.json()["results"]
    assert valid["valid"] is True and valid["error"] is None
    assert valid["color"] == "green" and valid["partner_color"] == "绿码"
    assert valid["issuer"] == "CN-GD" and valid["subject_masked"] == "*三"
    expires = datetime.fromisoformat(valid["expires_at"].replace("Z", "+00:00"))
    assert valid["expires_at"].endswith("Z") and 0 < (expires - clock.now()).total_seconds() <= 181
    assert forged == {"valid": False, "error": "BAD_SIGNATURE", "color": None, "partner_color": None, "issuer": None,
                      "expires_at": None, "subject_masked": None, "current_color": None, "current_partner_color": None}
    assert (expired["valid"], expired["error"]) == (False, "EXPIRED")
    assert (garbage["valid"], garbage["error"]) == (False, "BAD_PREFIX")


async def test_a_code_of_another_format_is_named_unsupported_not_broken(client, sms, mo):
    _, code = await zhang_san_code(client, sms)
    theirs = ["HC1:" + code[len("GDHC1:"):], "MOHC1:NCFOXN%TS3DH", "hello, not a code"]

    reply = await verify(client, mo.headers(), theirs)

    assert reply.status_code == 200, reply.text
    assert [(r["valid"], r["error"]) for r in reply.json()["results"]] == [
        (False, "UNSUPPORTED_FORMAT"), (False, "UNSUPPORTED_FORMAT"), (False, "BAD_PREFIX")]


async def test_each_check_is_audited_and_the_citizen_sees_the_valid_one(client, sms, mo):
    citizen, code = await zhang_san_code(client, sms)

    await verify(client, mo.headers(), [code, tamper(code), "hello"])

    entries = await AuditEntry.filter(actor_type="partner").order_by("seq")
    assert [(e.category, e.action) for e in entries] == [("access", "health_code_verified"),
                                                          ("event", "partner_verification"),
                                                          ("event", "partner_verification")]
    assert entries[0].subject_id == citizen.id and codec.unpack(code)[1]["hc"][1].hex() in entries[0].purpose
    assert [e.attributes["result"] for e in entries[1:]] == ["BAD_SIGNATURE", "BAD_PREFIX"]
    assert entries[1].actor == "MO" and entries[1].subject_id is None
    assert all("hello" not in str(e.attributes) for e in entries)  # codes are named by reference, never kept
    log = (await client.get("/api/v1/me/access-log", headers=citizen.headers)).json()["items"]
    assert len(log) == 1
    assert log[0]["actor_type"] == "partner" and log[0]["actor"] == "澳门特别行政区卫生局"
    assert log[0]["action"] == "health_code_verified" and "MO" in log[0]["purpose"]
    assert sorted(log[0]["attributes"]) == ["color", "subject_masked"]


async def test_after_a_cache_loss_the_check_still_reaches_the_citizen(client, sms, mo, app):
    citizen, code = await zhang_san_code(client, sms)
    code_id = codec.unpack(code)[1]["hc"][1].hex()
    # The cache forgets the code (a Redis failover): the signature is checked, the holder read from the database.
    await app.ctx.services.platform.cache.delete(payload_key(code))

    reply = await verify(client, mo.headers(), [code])

    assert reply.status_code == 200 and reply.json()["results"][0]["valid"] is True
    [entry] = await AuditEntry.filter(actor_type="partner")
    assert (entry.category, entry.subject_id) == ("access", citizen.id) and code_id in entry.purpose
    log = (await client.get("/api/v1/me/access-log", headers=citizen.headers)).json()["items"]
    assert [item["action"] for item in log] == ["health_code_verified"]


async def test_a_red_citizen_is_red_in_the_partner_words_too(client, sms, mo, clock):
    lab = await make_department(clock, "示例市第一人民医院检验科", ["lab"])
    id_number = valid_id_number(sequence="372")
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三", id_number=id_number)
    await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-1"})
    code = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]

    [result] = (await verify(client, mo.headers(), [code])).json()["results"]

    assert (result["color"], result["partner_color"]) == ("red", "红码")


@pytest.mark.parametrize("count", [0, 101])
async def test_a_batch_holds_1_to_100_codes(client, mo, count):
    reply = await verify(client, mo.headers(), ["GDHC1:X"] * count)

    refused(reply, 422, "VALIDATION_FAILED")
    assert not await AuditEntry.exists(action="partner_verification")


async def test_codes_beyond_the_rate_limit_are_refused_with_retry_after(client, admin, clock):
    start_of_next(clock, 60)
    slow = await make_partner(client, admin, status_mapping=CHINESE_WORDS, rate_limit_per_minute=3)

    assert (await verify(client, slow.headers(), ["GDHC1:X", "GDHC1:Y"])).status_code == 200
    reply = await verify(client, slow.headers(), ["GDHC1:X", "GDHC1:Y"])

    refused(reply, 429, "RATE_LIMITED")
    assert 1 <= int(reply.headers["Retry-After"]) <= 60
    assert await AuditEntry.filter(action="partner_verification").count() == 2  # the refused batch was not checked
    clock.advance(60)
    assert (await verify(client, slow.headers(), ["GDHC1:X"])).status_code == 200


async def test_codes_refused_by_the_rate_limit_do_not_use_up_the_daily_quota(client, admin, clock):
    start_of_next(clock, 86400)
    partner = await make_partner(client, admin, status_mapping=CHINESE_WORDS, rate_limit_per_minute=3, daily_quota=4)
    assert (await verify(client, partner.headers(), ["GDHC1:X", "GDHC1:Y"])).status_code == 200

    refused(await verify(client, partner.headers(), ["GDHC1:X", "GDHC1:Y"]), 429, "RATE_LIMITED")
    clock.advance(60)

    assert (await verify(client, partner.headers(), ["GDHC1:X", "GDHC1:Y"])).status_code == 200  # 4 of the day's 4
    refused(await verify(client, partner.headers(), ["GDHC1:X"]), 429, "QUOTA_EXCEEDED")


async def test_codes_beyond_the_daily_quota_are_refused(client, admin, clock):
    start_of_next(clock, 86400)
    small = await make_partner(client, admin, status_mapping=CHINESE_WORDS, daily_quota=3)

    assert (await verify(client, small.headers(), ["GDHC1:X", "GDHC1:Y"])).status_code == 200
    reply = await verify(client, small.headers(), ["GDHC1:X", "GDHC1:Y"])

    refused(reply, 429, "QUOTA_EXCEEDED")
    assert int(reply.headers["Retry-After"]) > 3600
