"""Attacks on the voucher: a relying party reaching beyond its scopes, a citizen reaching into someone
else's voucher, a presentation QR photographed and replayed, altered or forged, and two scanners
redeeming the same QR at the same moment."""

from __future__ import annotations

import asyncio
import os

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric import ec

from app.security import ratelimit
from app.vouchers.models import IdVoucher, Presentation
from health_code import codec
from tests.factories import make_department, sign_in
from tests.vouchers.voucher_factory import (ACCESS_LOG, REDEMPTIONS, STANDING_REQUESTS, VOUCHERS, error_code,
                                            present_with_proof, redeem, relying_party, rp_headers, shown_token,
                                            signed_token, turn_on_elderly_mode, voucher_holder)

BASE45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@pytest.fixture
async def zhang(client, sms):
    return await voucher_holder(client, sms, name="张三", birth="19900307", sequence="123")


@pytest.fixture
async def li(client, sms):
    return await voucher_holder(client, sms, name="李四", birth="19851120", sequence="456")


@pytest.fixture
async def hotel(clock):
    return await relying_party(clock, "示例大酒店前台", ["is_holder", "age_over_18", "name_masked"])


@pytest.fixture
async def bank(clock):
    return await relying_party(clock, "示例银行柜台", ["is_holder", "age_over_18", "name_masked", "id_last4"])


def claims_of(token: str) -> dict:
    return codec.unpack(token, "GDID1:")[1]


# -- relying parties and their scopes -------------------------------------------------------------------

async def test_a_relying_party_cannot_redeem_for_scopes_it_lacks(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock, attributes=["full_identity", "id_last4"], confirm_full_identity=True)
    for asked, beyond in ((["full_identity"], ["full_identity"]), (["id_last4", "is_holder"], ["id_last4"]),
                          (["age_over_60", "full_identity", "is_holder"], ["age_over_60", "full_identity"])):
        refused = await redeem(client, hotel, shown["token"], asked)
        assert refused.status_code == 403 and error_code(refused) == "SCOPE_NOT_ALLOWED"
        assert refused.json()["error"]["not_allowed"] == beyond
        # What the hotel learns, less the request id: 32 random hex digits hold any four digits now and then.
        told = {k: v for k, v in refused.json()["error"].items() if k != "request_id"}
        assert "张" not in str(told) and zhang.id_number[-4:] not in str(told)
    assert (await Presentation.get(id=shown["id"])).redeemed_at is None
    assert (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"] == []


async def test_a_relying_party_cannot_register_a_standing_request_beyond_its_scopes(client, hotel):
    refused = await client.post(STANDING_REQUESTS, headers=rp_headers(hotel),
                                json={"attributes": ["id_last4"], "purpose": {"zh-Hans": "核验"}})
    assert refused.status_code == 403 and error_code(refused) == "SCOPE_NOT_ALLOWED"


async def test_only_registered_relying_parties_redeem(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock)
    body = {"token": shown["token"], "attributes": ["is_holder"], "purpose": "入住登记"}
    # An admin client with the same words as roles is not a relying party.
    admin = await make_department(clock, "某部门", ["is_holder"])
    assert (await client.post(REDEMPTIONS, headers=admin.headers(), json=body)).status_code == 401
    assert (await client.post(REDEMPTIONS, headers=rp_headers(admin), json=body)).status_code == 401
    # Neither is a citizen, nor nobody.
    assert (await client.post(REDEMPTIONS, headers=zhang.headers, json=body)).status_code == 401
    assert (await client.post(REDEMPTIONS, json=body)).status_code == 401
    # A relying party's signed client token is good for one request.
    headers = rp_headers(hotel)
    assert (await client.post(REDEMPTIONS, headers=headers, json={**body, "attributes": ["id_last4"]})).status_code == 403
    replayed = await client.post(REDEMPTIONS, headers=headers, json=body)
    assert replayed.status_code == 401 and error_code(replayed) == "CLIENT_TOKEN_REPLAYED"

    assert (await redeem(client, hotel, shown["token"], ["is_holder"])).status_code == 200


async def test_a_relying_party_cannot_act_as_the_citizen(client, zhang, hotel):
    for method, path in (("GET", f"{VOUCHERS}/current"), ("PUT", f"{VOUCHERS}/current/lock"),
                         ("DELETE", f"{VOUCHERS}/current"), ("GET", ACCESS_LOG)):
        reply = await client.request(method, path, headers=rp_headers(hotel), json={"locked": True})
        assert reply.status_code == 401, (method, path)
    assert (await IdVoucher.get(id=zhang.voucher_id)).status == "active"


# -- one citizen and another's voucher ------------------------------------------------------------------

async def test_a_citizen_cannot_read_another_citizens_voucher(client, sms, zhang, clock):
    stranger = await sign_in(client, sms)
    nothing = await client.get(f"{VOUCHERS}/current", headers=stranger.headers)
    assert nothing.status_code == 404 and error_code(nothing) == "VOUCHER_NOT_FOUND"
    assert zhang.voucher_id not in nothing.text


async def test_a_citizen_cannot_show_another_citizens_voucher(client, zhang, li, clock):
    # Li got hold of a proof from Zhang's phone: it only ever opens Zhang's voucher, and only for Zhang.
    stolen_proof = zhang.phone.proof(zhang.voucher_id, clock)
    refused = await present_with_proof(client, li.citizen, stolen_proof)
    assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID"
    refused = await present_with_proof(client, li.citizen, zhang.phone.proof(li.voucher_id, clock))
    assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID"
    assert not await Presentation.exists(citizen_id=zhang.citizen.id)
    assert not await Presentation.exists(citizen_id=li.citizen.id)


async def test_locking_or_leaving_touches_only_ones_own_voucher(client, zhang, li):
    assert (await client.put(f"{VOUCHERS}/current/lock", headers=li.headers, json={"locked": True})).status_code == 200
    assert (await client.delete(f"{VOUCHERS}/current", headers=li.headers)).status_code == 200
    assert (await IdVoucher.get(id=zhang.voucher_id)).status == "active"
    assert (await IdVoucher.get(id=li.voucher_id)).status == "revoked"
    mine = await client.get(f"{VOUCHERS}/current", headers=zhang.headers)
    assert mine.status_code == 200 and mine.json()["id"] == zhang.voucher_id


async def test_a_citizen_cannot_extend_another_citizens_qr(client, app, zhang, li, clock):
    await turn_on_elderly_mode(app, li.citizen)
    shown = await shown_token(client, zhang, clock)
    refused = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=li.headers)
    assert refused.status_code == 404 and error_code(refused) == "PRESENTATION_NOT_FOUND"
    assert "token" not in refused.text
    assert (await Presentation.get(id=shown["id"])).extended is False


async def test_a_citizen_cannot_see_another_citizens_access_log(client, zhang, li, clock, hotel):
    for holder, purpose in ((zhang, "入住登记-张"), (li, "入住登记-李")):
        shown = await shown_token(client, holder, clock, attributes=["name_masked"])
        assert (await redeem(client, hotel, shown["token"], ["name_masked"], purpose=purpose)).status_code == 200

    for holder, own, other in ((zhang, "入住登记-张", "入住登记-李"), (li, "入住登记-李", "入住登记-张")):
        log = (await client.get(ACCESS_LOG, headers=holder.headers)).json()["items"]
        assert [e["purpose"] for e in log] == [own]
        export = await client.get(f"{ACCESS_LOG}/export", headers=holder.headers)
        assert [e["purpose"] for e in export.json()["items"]] == [own] and other not in export.text


# -- a photographed QR ------------------------------------------------------------------------------------

async def test_a_qr_holds_no_personal_data_and_fits_a_small_code(client, app, zhang, clock):
    await turn_on_elderly_mode(app, zhang.citizen)
    shown = await shown_token(client, zhang, clock, attributes=["full_identity", "name_masked", "id_last4",
                                                                  "age_over_18", "age_over_60", "is_holder"],
                              confirm_full_identity=True)
    extended = (await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)).json()
    for token in (shown["token"], extended["token"]):
        claims = claims_of(token)
        assert set(claims) == {1, 4, 6, 7}  # issuer, expiry, issued-at, token id: nothing about the person
        assert claims[7] == bytes.fromhex(shown["id"])
        assert claims[4] - claims[6] <= 180 or token == extended["token"]
        assert segno.make(token, error="m").version <= 8


async def test_a_stolen_qr_is_useless_after_its_first_use(client, zhang, clock, hotel, bank):
    shown = await shown_token(client, zhang, clock, attributes=["age_over_18"])
    assert (await redeem(client, hotel, shown["token"], ["age_over_18"])).status_code == 200
    for thief in (bank, hotel):
        stolen = await redeem(client, thief, shown["token"], ["age_over_18"], purpose="冒用")
        assert stolen.status_code == 409 and error_code(stolen) == "TOKEN_ALREADY_USED"
        assert "true" not in stolen.text
    log = (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]
    assert [e["actor"] for e in log] == ["示例大酒店前台"]


async def test_a_stolen_qr_is_useless_after_it_expires(client, zhang, clock, bank):
    shown = await shown_token(client, zhang, clock, attributes=["age_over_18"])
    clock.advance(181)
    stolen = await redeem(client, bank, shown["token"], ["age_over_18"], purpose="冒用")
    assert stolen.status_code == 410 and error_code(stolen) == "TOKEN_EXPIRED"
    assert (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"] == []


async def test_two_scanners_at_once_only_one_gets_the_answer(client, zhang, clock, hotel, bank):
    shown = await shown_token(client, zhang, clock, attributes=["age_over_18"])
    replies = await asyncio.gather(redeem(client, hotel, shown["token"], ["age_over_18"]),
                                   redeem(client, bank, shown["token"], ["age_over_18"]))
    assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]
    loser = next(r for r in replies if r.status_code == 409)
    assert error_code(loser) == "TOKEN_ALREADY_USED"
    assert len((await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]) == 1


async def test_one_device_proof_sent_twice_at_once_makes_one_qr(client, zhang, clock):
    proof = zhang.phone.proof(zhang.voucher_id, clock)
    replies = await asyncio.gather(present_with_proof(client, zhang.citizen, proof),
                                   present_with_proof(client, zhang.citizen, proof))
    assert sorted(r.status_code for r in replies) == [201, 403]
    assert await Presentation.filter(citizen_id=zhang.citizen.id).count() == 1


# -- altered and forged QRs --------------------------------------------------------------------------------

async def test_an_altered_qr_fails_verification(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock)
    token = shown["token"]
    body = token[len("GDID1:"):]
    altered = set()
    for i in range(0, len(body), 3):  # one character changed, all along the text
        replacement = BASE45[(BASE45.index(body[i]) + 1 + i) % len(BASE45)]
        altered.add("GDID1:" + body[:i] + replacement + body[i + 1:])
    altered |= {token[:-1], token + "0", token[:-10], "GDID1:", token.lower(), token.replace("GDID1:", "GDID2:"),
                token.replace("GDID1:", "GDHC1:"), "GDID1:" + body[::-1]}
    altered.discard(token)
    for text in sorted(altered):
        refused = await redeem(client, hotel, text, ["is_holder"])
        assert refused.status_code == 422 and error_code(refused) == "TOKEN_INVALID_SIGNATURE", (text, refused.text)
    # The genuine QR was not used up by the attempts.
    assert (await redeem(client, hotel, token, ["is_holder"])).status_code == 200


async def test_a_qr_signed_with_another_key_fails_verification(client, zhang, clock, hotel, platform):
    shown = await shown_token(client, zhang, clock)
    genuine = claims_of(shown["token"])  # the real token id of a live presentation
    forger = ec.generate_private_key(ec.SECP256R1())
    our_kid = platform.keys.current.kid_bytes
    forgeries = [signed_token(genuine, forger, our_kid),  # claims to be ours
                 signed_token(genuine, forger, os.urandom(8)),  # an unknown key
                 signed_token({**genuine, 4: genuine[4] + 3600}, forger, our_kid)]
    for forged in forgeries:
        refused = await redeem(client, hotel, forged, ["is_holder"])
        assert refused.status_code == 422 and error_code(refused) == "TOKEN_INVALID_SIGNATURE", refused.text
    assert (await Presentation.get(id=shown["id"])).redeemed_at is None
    assert (await redeem(client, hotel, shown["token"], ["is_holder"])).status_code == 200


async def test_our_signature_over_something_that_is_not_a_presentation_fails(client, zhang, clock, hotel, platform):
    key = platform.keys.current
    now = int(clock.timestamp())
    issuer = platform.settings.health_code.issuer
    not_presentations = [
        {1: issuer, 4: now + 180, 6: now, 7: os.urandom(8)},  # a token id we never issued
        {1: issuer, 4: now + 180, 6: now},  # no token id (e.g. a venue code relabelled GDID1:)
        {1: issuer, 4: now + 180, 6: now, 7: "0123456789abcdef"},  # a token id of the wrong type
        {1: issuer, 4: now + 180, 6: now, "vc": {1: "venue", 2: "示例商场"}},
    ]
    for claims in not_presentations:
        refused = await redeem(client, hotel, signed_token(claims, key.private_key, key.kid_bytes), ["is_holder"])
        assert refused.status_code == 422 and error_code(refused) == "TOKEN_INVALID_SIGNATURE", refused.text


async def test_a_relying_party_past_its_redemptions_a_minute_is_refused_429(client, sms, clock, platform):
    holder = await voucher_holder(client, sms)
    hotel = await relying_party(clock, "示例连锁酒店总台", ["age_over_18"])
    limit = platform.settings.vouchers.redemptions_per_minute  # APP_VOUCHER_REDEMPTIONS_PER_MINUTE
    await ratelimit.hit(platform.cache, platform.clock, f"voucher-redeem:{hotel.id}", limit, 60, amount=limit)
    token = (await shown_token(client, holder, clock))["token"]

    refused = await redeem(client, hotel, token, ["age_over_18"])
    assert refused.status_code == 429 and error_code(refused) == "RATE_LIMITED"
    clock.advance(seconds=61)  # the next minute: the same token is still good
    assert (await redeem(client, hotel, token, ["age_over_18"])).status_code == 200
