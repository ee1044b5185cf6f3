"""Inbound recognition (转码) and border passes (通关凭证): 张三 comes back from Macao with a Macao
health code, converts it into a local one with consent, and gets a border pass for the way back."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from app.audit import AuditEntry
from health_code import codec
from health_code.codec import CodeError
from health_code.interop.service import verify_border_pass
from health_code.models import IssuedHealthCode
from tests.factories import make_department, refresh_tokens, sign_in
from tests.health_code.interop.partners_factory import (
    CONVERSIONS,
    PARTNERS,
    REVOCATIONS,
    ZHANG_SAN_ID_NUMBER,
    CodeSigningKey,
    after,
    make_partner,
    tamper,
)

ID_NUMBER = ZHANG_SAN_ID_NUMBER


async def convert(client, citizen, code: str, consent: bool = True):
    return await client.post(CONVERSIONS, headers=citizen.headers, json={"code": code, "consent": consent})


async def no_converted_code_was_issued() -> bool:
    return not await IssuedHealthCode.filter(partner_id__isnull=False).exists()


def refused(reply, code: str, status: int = 422) -> None:
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- a successful conversion ---------------------------------------------------------------------

async def test_zhang_san_converts_a_green_macao_code_into_a_local_one(client, mo, zhang_san, clock):
    source = mo.issue_code("green", "*三", ttl=120)

    reply = await convert(client, zhang_san, source.payload)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["color"] == "green"
    assert body["source"] == {"partner": "MO", "partner_name": "澳门特别行政区卫生局", "format": "GDHC1",
                              "state": "green", "mapped_color": "green"}
    assert when(body["expires_at"]).timestamp() <= source.expires_at  # never outlives the Macao code
    assert body["payload"].startswith("GDHC1:")
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = codec.verify_offline(body["payload"], jwks, clock.now())
    assert claims.issuer == "CN-GD" and claims.colour == "green" and claims.subject_masked == "*三"
    assert claims.converted_from == "MO"  # the source code and its state are kept with the code id
    assert claims.holder is None  # no holder tag in our codes (docs/health-code-format.md)
    assert claims.expires_at <= source.expires_at

    issued = await IssuedHealthCode.get(code_id=claims.code_id.hex())
    assert (issued.citizen_id, issued.partner_id, issued.source_state) == (zhang_san.id, "MO", "green")
    assert issued.source_code_hash == hashlib.sha256(source.code_id.hex().encode()).digest()[:8].hex()
    converted = await AuditEntry.get(action="partner_code_converted", subject_id=zhang_san.id)
    assert converted.attributes["consent"] is True
    assert converted.attributes["partner"] == "MO" and converted.attributes["color"] == "green"
    assert converted.actor == zhang_san.id and converted.actor_type == "citizen"


@pytest.mark.parametrize(("accept", "said", "not_said"), [
    ("zh-CN", "由澳门的健康码转码，原状态，绿码。", "澳门特别行政区卫生局"),
    ("zh-TW", "由澳門的健康碼轉碼，原狀態，綠碼。", "澳门特别行政区卫生局"),
    ("en", "Converted from a code of Macao, status there, Green code.", "澳门"),
])
async def test_a_converted_code_is_said_in_the_callers_language(client, mo, zhang_san, accept, said, not_said):
    reply = await client.post(CONVERSIONS, headers={**zhang_san.headers, "Accept-Language": accept},
                              json={"code": mo.issue_code("green", "*三", ttl=120).payload, "consent": True})

    assert reply.status_code == 201, reply.text
    spoken = reply.json()["tts_text"]
    assert said in spoken and not_said not in spoken and "green" not in spoken
    # the reason shown keeps the partner's registered name and state, as before
    assert reply.json()["reasons"][-1]["text"].startswith("由澳门特别行政区卫生局" if accept == "zh-CN" else "")


async def test_a_macao_code_bound_to_the_name_in_traditional_characters_converts(client, mo, zhang_san):
    """Macao writes 張三 where our records say 张三: both read ZHANGSAN."""
    reply = await convert(client, zhang_san, mo.issue_code(holder=("張三", "1990-03-07")).payload)

    assert reply.status_code == 201, reply.text


async def test_a_red_macao_code_converts_to_red(client, mo, zhang_san):
    reply = await convert(client, zhang_san, mo.issue_code("red").payload)

    assert reply.status_code == 201, reply.text
    assert reply.json()["color"] == "red" and reply.json()["source"]["mapped_color"] == "red"


async def test_a_converted_code_is_never_greener_than_our_own_status(client, mo, zhang_san, clock):
    lab = await make_department(clock, "示例市第一人民医院检验科", ["lab"])
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": ID_NUMBER, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-0415"})
    assert posted.json()["color"] == "red"

    reply = await convert(client, zhang_san, mo.issue_code("green").payload)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["color"] == "red"
    assert body["source"]["state"] == "green" and body["source"]["mapped_color"] == "green"
    assert 21 in [r["code"] for r in body["reasons"]]  # our reason, not theirs


# --- refusals -------------------------------------------------------------------------------------

async def test_no_conversion_without_consent(client, mo, zhang_san):
    refused(await convert(client, zhang_san, mo.issue_code().payload, consent=False), "CONSENT_REQUIRED")
    assert await no_converted_code_was_issued()


@pytest.mark.parametrize("make_code, error", [
    pytest.param(lambda mo: tamper(mo.issue_code("red").payload, "green"), "BAD_SIGNATURE", id="red-turned-green"),
    pytest.param(lambda mo: mo.issue_code(signed_by=CodeSigningKey()).payload, "UNKNOWN_KID", id="unregistered-key"),
    pytest.param(lambda mo: mo.issue_code(issuer="HK").payload, "UNKNOWN_PARTNER", id="issuer-not-registered"),
    pytest.param(lambda mo: mo.issue_code(name_masked="*四", holder=("李四", "1990-03-07")).payload, "SUBJECT_MISMATCH",
                 id="someone-else"),
    # The masked name is the same, and binds no one: the tag is over the whole name and the birth date.
    pytest.param(lambda mo: mo.issue_code(holder=("王三", "1990-03-07")).payload, "SUBJECT_MISMATCH",
                 id="same-last-character"),
    pytest.param(lambda mo: mo.issue_code(holder=("张三", "1990-03-08")).payload, "SUBJECT_MISMATCH",
                 id="another-birth-date"),
    pytest.param(lambda mo: mo.issue_code(holder=None).payload, "HOLDER_NOT_BOUND", id="older-code-not-bound"),
    pytest.param(lambda mo: "XYZ1:" + mo.issue_code().payload[6:], "UNSUPPORTED_FORMAT", id="unknown-format"),
])
async def test_a_code_that_does_not_check_out_is_refused(client, mo, zhang_san, make_code, error):
    code = make_code(mo)

    refused(await convert(client, zhang_san, code), error)

    assert await no_converted_code_was_issued()
    refusal = await AuditEntry.get(action="partner_code_refused", subject_id=zhang_san.id)
    assert refusal.attributes["error"] == error


async def test_an_expired_macao_code_is_refused(client, mo, zhang_san, clock):
    old = mo.issue_code(ttl=180)
    clock.advance(181)

    refused(await convert(client, zhang_san, old.payload), "EXPIRED")
    assert await no_converted_code_was_issued()


async def test_a_citizen_without_real_name_cannot_convert(client, sms, mo):
    anonymous = await sign_in(client, sms)

    reply = await convert(client, anonymous, mo.issue_code().payload)

    refused(reply, "IDENTITY_LEVEL_REQUIRED", status=403)
    assert await no_converted_code_was_issued()


async def test_codes_of_a_suspended_partner_are_refused(client, admin, mo, zhang_san):
    await client.patch(f"{PARTNERS}/MO", headers=admin.headers(), json={"status": "suspended"})

    refused(await convert(client, zhang_san, mo.issue_code().payload), "PARTNER_SUSPENDED")
    assert await no_converted_code_was_issued()


# --- keys change --------------------------------------------------------------------------------

async def test_macao_rotates_its_signing_key(client, admin, zhang_san, clock):
    old_key = CodeSigningKey(not_after=after(clock, hours=1))  # announced to retire in an hour
    mo = await make_partner(client, admin, signing_keys=[old_key])
    new_key = CodeSigningKey()
    added = await client.post(f"{PARTNERS}/MO/signing-keys", headers=admin.headers(), json=new_key.spec())
    assert added.status_code == 201, added.text
    assert await AuditEntry.filter(action="partner_key_added", actor=admin.id).exists()

    # During the overlap codes of both keys convert.
    assert (await convert(client, zhang_san, mo.issue_code(signed_by=old_key).payload)).status_code == 201
    assert (await convert(client, zhang_san, mo.issue_code(signed_by=new_key).payload)).status_code == 201

    clock.advance(hours=2)
    zhang_san = await refresh_tokens(client, zhang_san)

    refused(await convert(client, zhang_san, mo.issue_code(signed_by=old_key).payload), "KEY_NOT_VALID")
    assert (await convert(client, zhang_san, mo.issue_code(signed_by=new_key).payload)).status_code == 201


async def test_a_key_announced_for_later_does_not_sign_yet(client, admin, zhang_san, clock):
    mo = await make_partner(client, admin, signing_keys=[CodeSigningKey(not_before=after(clock, days=1))])

    refused(await convert(client, zhang_san, mo.issue_code().payload), "KEY_NOT_VALID")
    assert await no_converted_code_was_issued()


async def test_a_revoked_signing_key_fails_at_once(client, admin, mo, zhang_san):
    key = mo.signing_keys[0]
    issued_before = mo.issue_code()
    assert (await convert(client, zhang_san, mo.issue_code().payload)).status_code == 201

    revoked = await client.post(f"{PARTNERS}/MO/signing-keys/{key.kid}/revocation", headers=admin.headers())

    assert revoked.status_code == 200
    refused(await convert(client, zhang_san, issued_before.payload), "KEY_REVOKED")
    refused(await convert(client, zhang_san, mo.issue_code().payload), "KEY_REVOKED")


async def test_a_revoked_signing_key_fails_at_once_even_after_a_cache_restart(client, admin, mo, zhang_san, platform):
    assert (await convert(client, zhang_san, mo.issue_code().payload)).status_code == 201  # trust list loaded
    await platform.cache.clear()  # a Redis restart

    await client.post(f"{PARTNERS}/MO/signing-keys/{mo.signing_keys[0].kid}/revocation", headers=admin.headers())

    refused(await convert(client, zhang_san, mo.issue_code().payload), "KEY_REVOKED")


# --- Macao revokes codes itself ----------------------------------------------------------------

async def test_macao_revokes_one_code_and_only_that_code_stops(client, mo, zhang_san):
    withdrawn, other = mo.issue_code(), mo.issue_code()

    published = await client.post(REVOCATIONS, headers=mo.headers(), json={"hashes": [withdrawn.revocation_hash]})

    assert published.status_code == 200 and published.json() == {"accepted": 1}
    refused(await convert(client, zhang_san, withdrawn.payload), "REVOKED")
    assert (await convert(client, zhang_san, other.payload)).status_code == 201
    again = await client.post(REVOCATIONS, headers=mo.headers(), json={"hashes": [withdrawn.revocation_hash]})
    assert again.json() == {"accepted": 0}
    assert await AuditEntry.filter(action="partner_codes_revoked", actor="MO").count() == 2


@pytest.mark.parametrize("hashes", [["not-a-hash"], ["A" * 64], [], ["0" * 63]])
async def test_revocations_must_be_sha256_hex(client, mo, hashes):
    reply = await client.post(REVOCATIONS, headers=mo.headers(), json={"hashes": hashes})

    refused(reply, "VALIDATION_FAILED")
    assert not await AuditEntry.exists(action="partner_codes_revoked")


# --- border passes -------------------------------------------------------------------------------

async def test_zhang_san_gets_a_border_pass_that_macao_verifies_offline(client, mo, zhang_san, clock):
    reply = await client.post("/api/v1/border-passes", headers=zhang_san.headers, json={"partner": "MO"})

    assert reply.status_code == 201, reply.text
    border_pass = reply.json()
    assert border_pass["payload"].startswith("GDBP1:")
    assert border_pass["partner"] == "MO" and border_pass["color"] == "green"
    assert border_pass["document_type"] == "resident_id" and border_pass["document_last4"] == ID_NUMBER[-4:]
    assert border_pass["subject_masked"] == "*三"
    assert when(border_pass["expires_at"]) > when(border_pass["issued_at"])

    jwks = (await client.get("/.well-known/jwks.json")).json()
    find_key = codec.keys_from_jwks(jwks)
    claims = verify_border_pass(border_pass["payload"], find_key, clock.timestamp(), "MO")
    assert claims[codec.CWT_ISS] == "CN-GD"
    assert claims["bp"][4] == "*三" and claims["bp"][6] == ID_NUMBER[-4:] and claims["bp"][5] == 1
    assert 3 not in claims["bp"]  # the colour, not why
    assert ID_NUMBER not in str(claims)  # only the last 4 travel
    with pytest.raises(CodeError) as wrong:
        verify_border_pass(border_pass["payload"], find_key, clock.timestamp(), "HK")
    assert wrong.value.code == "WRONG_AUDIENCE"
    with pytest.raises(CodeError) as expired:
        verify_border_pass(border_pass["payload"], find_key, when(border_pass["expires_at"]).timestamp(), "MO")
    assert expired.value.code == "EXPIRED"
    assert await AuditEntry.filter(action="border_pass_issued", subject_id=zhang_san.id).exists()


async def test_a_border_pass_on_the_exit_entry_permit(client, mo, zhang_san):
    reply = await client.post("/api/v1/border-passes", headers=zhang_san.headers,
                              json={"partner": "MO", "document_type": "exit_entry_permit", "document_number": "c12345678"})

    assert reply.status_code == 201, reply.text
    assert reply.json()["document_type"] == "exit_entry_permit" and reply.json()["document_last4"] == "5678"


@pytest.mark.parametrize("number", [None, "", "12345", "C1234567X9"])
async def test_an_exit_entry_permit_needs_a_valid_number(client, mo, zhang_san, number):
    body = {"partner": "MO", "document_type": "exit_entry_permit"}
    if number is not None:
        body["document_number"] = number

    reply = await client.post("/api/v1/border-passes", headers=zhang_san.headers, json=body)

    refused(reply, "VALIDATION_FAILED")


async def test_no_border_pass_for_a_region_that_is_not_a_partner(client, mo, zhang_san):
    refused(await client.post("/api/v1/border-passes", headers=zhang_san.headers, json={"partner": "HK"}),
            "PARTNER_NOT_FOUND", status=404)


async def test_a_border_pass_needs_real_name(client, sms, mo):
    anonymous = await sign_in(client, sms)
    refused(await client.post("/api/v1/border-passes", headers=anonymous.headers, json={"partner": "MO"}),
            "IDENTITY_LEVEL_REQUIRED", status=403)
