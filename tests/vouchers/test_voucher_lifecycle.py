"""The voucher's life: issued only after the face check and bound to one phone's key, re-issued to a
new phone (the old one stops working), locked and unlocked by the citizen, given up by the citizen,
and revoked by the ID authority when the card is reported lost. Every change is audited, and a
revoked voucher never verifies again."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.vouchers.models import IdVoucher
from tests.factories import make_department, sign_in, valid_id_number, verify_real_name
from tests.vouchers.voucher_factory import (ADMIN_REVOCATIONS, VOUCHERS, Phone, error_code, id_authority,
                                            present_with_proof, redeem, relying_party, shown_token, voucher_events,
                                            voucher_holder)


@pytest.fixture
async def hotel(clock):
    return await relying_party(clock, "示例大酒店前台", ["is_holder", "age_over_18", "name_masked"])


# -- issuing -------------------------------------------------------------------------------------------

async def test_only_a_face_verified_citizen_gets_the_voucher(client, sms):
    phone = Phone()
    body = {"device_id": phone.device_id, "device_key": phone.public_jwk()}

    signed_in = await sign_in(client, sms)  # level 1: phone number only
    refused = await client.post(VOUCHERS, headers=signed_in.headers, json=body)
    assert refused.status_code == 403 and error_code(refused) == "IDENTITY_LEVEL_REQUIRED"
    assert refused.json()["error"]["required_level"] == 3 and refused.json()["error"]["current_level"] == 1

    await verify_real_name(client, signed_in, name="张三", id_number=valid_id_number())  # level 2: 实名, no face yet
    refused = await client.post(VOUCHERS, headers=signed_in.headers, json=body)
    assert refused.status_code == 403 and error_code(refused) == "IDENTITY_LEVEL_REQUIRED"
    assert refused.json()["error"]["current_level"] == 2

    assert not await IdVoucher.exists(citizen_id=signed_in.id)
    nothing = await client.get(f"{VOUCHERS}/current", headers=signed_in.headers)
    assert nothing.status_code == 404 and error_code(nothing) == "VOUCHER_NOT_FOUND"


async def test_issuing_binds_the_voucher_to_the_phone_and_is_audited(client, sms):
    zhang = await voucher_holder(client, sms)
    assert zhang.voucher["status"] == "active" and zhang.voucher["status_reason"] is None
    assert zhang.voucher["device_id"] == zhang.phone.device_id

    current = await client.get(f"{VOUCHERS}/current", headers=zhang.headers)
    assert current.status_code == 200 and current.json() == zhang.voucher

    stored = await IdVoucher.get(id=zhang.voucher_id)
    assert stored.device_key == zhang.phone.public_jwk()  # the public key only
    assert stored.replaces is None

    [issued] = await voucher_events(zhang.citizen.id)
    assert (issued.action, issued.actor, issued.actor_type) == ("voucher_issued", zhang.citizen.id, "citizen")
    assert issued.attributes == {"voucher": zhang.voucher_id, "device": zhang.phone.device_id}


@pytest.mark.parametrize("device_key", [
    pytest.param("private", id="private-jwk-with-d"),
    pytest.param({}, id="empty"),
    pytest.param({"kty": "EC"}, id="no-curve"),
    pytest.param({"kty": "oct", "k": "c2VjcmV0"}, id="symmetric"),
    pytest.param({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, id="short-coordinates"),
    pytest.param({"kty": "EC", "crv": "P-256", "x": 1, "y": 2}, id="numbers-not-base64"),
    pytest.param("not a key", id="a-string"),
])
async def test_a_private_or_garbage_device_key_is_refused(client, sms, device_key):
    citizen = (await voucher_holder(client, sms)).citizen
    if device_key == "private":
        device_key = jwt.algorithms.ECAlgorithm.to_jwk(Phone().key, as_dict=True)
        assert "d" in device_key
    refused = await client.post(VOUCHERS, headers=citizen.headers,
                                json={"device_id": "dev-new-phone-1", "device_key": device_key})
    assert refused.status_code == 422 and error_code(refused) == "VALIDATION_FAILED", refused.text
    assert (await client.get(f"{VOUCHERS}/current", headers=citizen.headers)).json()["device_id"] != "dev-new-phone-1"


async def test_a_key_on_another_curve_is_refused_at_issuance(client, sms, clock):
    citizen = (await voucher_holder(client, sms)).citizen
    p384 = ec.generate_private_key(ec.SECP384R1())
    device_key = jwt.algorithms.ECAlgorithm.to_jwk(p384.public_key(), as_dict=True)
    issued = await client.post(VOUCHERS, headers=citizen.headers,
                               json={"device_id": "dev-p384-phone", "device_key": device_key})
    assert issued.status_code == 422, issued.text


async def test_a_new_phone_reissues_and_the_old_phone_stops_working(client, sms, clock, hotel):
    zhang = await voucher_holder(client, sms)
    old_phone, old_voucher = zhang.phone, zhang.voucher
    before = await shown_token(client, zhang, clock)  # made on the old phone, not yet scanned

    new_phone = Phone()
    reissued = await client.post(VOUCHERS, headers=zhang.headers,
                                 json={"device_id": new_phone.device_id, "device_key": new_phone.public_jwk()})
    assert reissued.status_code == 201, reissued.text
    new_voucher = reissued.json()
    assert new_voucher["id"] != old_voucher["id"] and new_voucher["device_id"] == new_phone.device_id

    old = await IdVoucher.get(id=old_voucher["id"])
    assert (old.status, old.status_reason) == ("revoked", "reissued")
    assert (await IdVoucher.get(id=new_voucher["id"])).replaces == old_voucher["id"]
    assert (await client.get(f"{VOUCHERS}/current", headers=zhang.headers)).json()["id"] == new_voucher["id"]

    events = [(e.action, e.attributes.get("voucher"), e.attributes.get("reason")) for e in await voucher_events(zhang.citizen.id)]
    assert events == [("voucher_issued", old_voucher["id"], None),
                      ("voucher_revoked", old_voucher["id"], "reissued"),
                      ("voucher_reissued", new_voucher["id"], None)]

    # The old phone's key no longer opens anything: neither for the old voucher id nor for the new one.
    for sub in (old_voucher["id"], new_voucher["id"]):
        refused = await present_with_proof(client, zhang.citizen, old_phone.proof(sub, clock))
        assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID"
    # A QR made on the old phone before the re-issue belongs to a revoked voucher.
    late = await redeem(client, hotel, before["token"], ["is_holder"])
    assert late.status_code == 409 and error_code(late) == "VOUCHER_REVOKED"

    zhang.phone, zhang.voucher = new_phone, new_voucher
    fresh = await shown_token(client, zhang, clock)
    assert (await redeem(client, hotel, fresh["token"], ["is_holder"])).json()["attributes"] == {"is_holder": True}


async def test_reissuing_a_locked_voucher_leaves_one_active_voucher(client, sms, clock):
    zhang = await voucher_holder(client, sms)
    assert (await client.put(f"{VOUCHERS}/current/lock", headers=zhang.headers, json={"locked": True})).status_code == 200
    new_phone = Phone()
    reissued = await client.post(VOUCHERS, headers=zhang.headers,
                                 json={"device_id": new_phone.device_id, "device_key": new_phone.public_jwk()})
    assert reissued.status_code == 201 and reissued.json()["status"] == "active"
    statuses = sorted(await IdVoucher.filter(citizen_id=zhang.citizen.id).values_list("status", flat=True))
    assert statuses == ["active", "revoked"]


async def test_two_phones_asking_at_once_leave_one_active_voucher(client, sms, monkeypatch):
    zhang = await voucher_holder(client, sms)
    # Make the race happen every time: each request creates its voucher only once both have looked for
    # the current one (if requests are serialized, the wait times out and nothing is held back).
    both_looked, create = asyncio.Barrier(2), IdVoucher.create

    async def create_once_both_have_looked(*args, **kwargs):
        try:
            await asyncio.wait_for(both_looked.wait(), timeout=2)
        except (TimeoutError, asyncio.BrokenBarrierError):
            pass
        return await create(*args, **kwargs)

    monkeypatch.setattr(IdVoucher, "create", create_once_both_have_looked)
    phones = [Phone(), Phone()]
    replies = await asyncio.gather(*[
        client.post(VOUCHERS, headers=zhang.headers, json={"device_id": p.device_id, "device_key": p.public_jwk()})
        for p in phones])
    assert sorted(r.status_code for r in replies)[0] == 201 and {r.status_code for r in replies} <= {201, 409}
    active = await IdVoucher.filter(citizen_id=zhang.citizen.id, status__in=["active", "suspended"]).count()
    assert active == 1


# -- the citizen locks and unlocks it --------------------------------------------------------------------

async def test_a_locked_voucher_shows_nothing_until_unlocked(client, sms, clock, hotel):
    zhang = await voucher_holder(client, sms)
    before = await shown_token(client, zhang, clock)

    locked = await client.put(f"{VOUCHERS}/current/lock", headers=zhang.headers, json={"locked": True})
    assert locked.status_code == 200, locked.text
    assert (locked.json()["status"], locked.json()["status_reason"]) == ("suspended", "citizen_lock")
    assert (await client.get(f"{VOUCHERS}/current", headers=zhang.headers)).json()["status"] == "suspended"

    refused = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock))
    assert refused.status_code == 409 and error_code(refused) == "VOUCHER_SUSPENDED"
    late = await redeem(client, hotel, before["token"], ["is_holder"])
    assert late.status_code == 410 and error_code(late) == "TOKEN_EXPIRED"  # locking ends every QR shown before

    again = await client.put(f"{VOUCHERS}/current/lock", headers=zhang.headers, json={"locked": True})
    assert again.status_code == 200 and again.json()["status"] == "suspended"  # locking twice changes nothing

    unlocked = await client.put(f"{VOUCHERS}/current/lock", headers=zhang.headers, json={"locked": False})
    assert unlocked.status_code == 200 and unlocked.json()["status"] == "active"
    assert unlocked.json()["id"] == zhang.voucher_id  # the same voucher, not a new one
    fresh = await shown_token(client, zhang, clock)
    works = await redeem(client, hotel, fresh["token"], ["is_holder"])
    assert works.status_code == 200 and works.json()["attributes"] == {"is_holder": True}

    assert [(e.action, e.actor, e.attributes.get("reason")) for e in await voucher_events(zhang.citizen.id)] == [
        ("voucher_issued", zhang.citizen.id, None),
        ("voucher_suspended", zhang.citizen.id, "citizen_lock"),  # the second lock wrote nothing
        ("voucher_active", zhang.citizen.id, None)]


# -- the citizen leaves the service -------------------------------------------------------------------

async def test_leaving_the_service_revokes_the_voucher_for_good(client, sms, clock, hotel):
    zhang = await voucher_holder(client, sms)
    before = await shown_token(client, zhang, clock)

    left = await client.delete(f"{VOUCHERS}/current", headers=zhang.headers)
    assert left.status_code == 200, left.text
    assert (left.json()["status"], left.json()["status_reason"]) == ("revoked", "left_service")

    gone = await client.get(f"{VOUCHERS}/current", headers=zhang.headers)
    assert gone.status_code == 404 and error_code(gone) == "VOUCHER_NOT_FOUND"
    late = await redeem(client, hotel, before["token"], ["is_holder"])
    assert late.status_code == 409 and error_code(late) == "VOUCHER_REVOKED"
    nothing = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock))
    assert nothing.status_code == 404 and error_code(nothing) == "VOUCHER_NOT_FOUND"
    for attempt in (client.put(f"{VOUCHERS}/current/lock", headers=zhang.headers, json={"locked": False}),
                    client.delete(f"{VOUCHERS}/current", headers=zhang.headers)):
        reply = await attempt
        assert reply.status_code == 404 and error_code(reply) == "VOUCHER_NOT_FOUND"
    assert (await IdVoucher.get(id=zhang.voucher_id)).status == "revoked"

    revoked = (await voucher_events(zhang.citizen.id))[-1]
    assert (revoked.action, revoked.actor, revoked.actor_type) == ("voucher_revoked", zhang.citizen.id, "citizen")
    assert revoked.attributes == {"voucher": zhang.voucher_id, "reason": "left_service"}

    # Coming back later is a new voucher, not the old one brought back.
    comeback = await client.post(VOUCHERS, headers=zhang.headers,
                                 json={"device_id": zhang.phone.device_id, "device_key": zhang.phone.public_jwk()})
    assert comeback.status_code == 201 and comeback.json()["id"] != zhang.voucher_id
    assert (await IdVoucher.get(id=zhang.voucher_id)).status == "revoked"
    assert (await redeem(client, hotel, before["token"], ["is_holder"])).status_code == 409


# -- the ID authority revokes it ----------------------------------------------------------------------

async def test_the_id_authority_revokes_the_voucher_of_a_card_reported_lost(client, sms, clock, hotel):
    zhang = await voucher_holder(client, sms)
    before = await shown_token(client, zhang, clock)
    authority = await id_authority(clock)

    revoked = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                                json={"id_number": zhang.id_number, "reason": "id_card_lost"})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"voucher": zhang.voucher_id, "status": "revoked"}

    stored = await IdVoucher.get(id=zhang.voucher_id)
    assert (stored.status, stored.status_reason) == ("revoked", "id_card_lost")
    event = (await voucher_events(zhang.citizen.id))[-1]
    assert (event.action, event.actor, event.actor_type) == ("voucher_revoked", authority.id, "department")
    assert event.attributes == {"voucher": zhang.voucher_id, "reason": "id_card_lost"}

    gone = await client.get(f"{VOUCHERS}/current", headers=zhang.headers)
    assert gone.status_code == 404 and error_code(gone) == "VOUCHER_NOT_FOUND"
    late = await redeem(client, hotel, before["token"], ["is_holder"])
    assert late.status_code == 409 and error_code(late) == "VOUCHER_REVOKED"

    twice = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                              json={"id_number": zhang.id_number, "reason": "id_card_lost"})
    assert twice.status_code == 404 and error_code(twice) == "VOUCHER_NOT_FOUND"


async def test_an_expired_card_revokes_a_locked_voucher_too(client, sms, clock):
    zhang = await voucher_holder(client, sms)
    await client.put(f"{VOUCHERS}/current/lock", headers=zhang.headers, json={"locked": True})
    authority = await id_authority(clock)
    revoked = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                                json={"id_number": zhang.id_number.lower(), "reason": "id_card_expired"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert (await IdVoucher.get(id=zhang.voucher_id)).status_reason == "id_card_expired"


async def test_only_the_id_authority_may_revoke(client, sms, clock, hotel):
    zhang = await voucher_holder(client, sms)
    body = {"id_number": zhang.id_number, "reason": "id_card_lost"}

    health_office = await make_department(clock, "卫健委", ["health_code_admin"])
    refused = await client.post(ADMIN_REVOCATIONS, headers=health_office.headers(), json=body)
    assert refused.status_code == 403 and error_code(refused) == "CLIENT_ROLE_REQUIRED"
    assert refused.json()["error"]["required_role"] == "id_authority"

    # A relying party is not an admin client at all, and a citizen's token is not a client token.
    assert (await client.post(ADMIN_REVOCATIONS, headers=hotel.headers(), json=body)).status_code == 401
    assert (await client.post(ADMIN_REVOCATIONS, headers=zhang.headers, json=body)).status_code == 401
    assert (await client.post(ADMIN_REVOCATIONS, json=body)).status_code == 401

    assert (await IdVoucher.get(id=zhang.voucher_id)).status == "active"
    assert [e.action for e in await voucher_events(zhang.citizen.id)] == ["voucher_issued"]


async def test_the_id_authority_gets_clear_answers_for_wrong_requests(client, sms, clock):
    await voucher_holder(client, sms)
    authority = await id_authority(clock)

    unknown = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                                json={"id_number": valid_id_number(birth="19851111", sequence="777"), "reason": "id_card_lost"})
    assert unknown.status_code == 404 and error_code(unknown) == "CITIZEN_NOT_FOUND"

    broken = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                               json={"id_number": "440106199003071230", "reason": "id_card_lost"})
    assert broken.status_code == 422 and error_code(broken) == "INVALID_ID_NUMBER"

    for reason in ("left_service", "reissued", "because"):
        refused = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                                    json={"id_number": valid_id_number(), "reason": reason})
        assert refused.status_code == 422 and error_code(refused) == "VALIDATION_FAILED"

    no_voucher = await sign_in(client, sms)
    await verify_real_name(client, no_voucher, name="李四", id_number=valid_id_number(birth="19800101", sequence="456"))
    missing = await client.post(ADMIN_REVOCATIONS, headers=authority.headers(),
                                json={"id_number": valid_id_number(birth="19800101", sequence="456"), "reason": "id_card_lost"})
    assert missing.status_code == 404 and error_code(missing) == "VOUCHER_NOT_FOUND"
