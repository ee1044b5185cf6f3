"""The offline ID QR binds its holder: the credential names the phone's key, the phone signs a KB-JWT over
the desk's audience and a nonce the desk got from us, and the desk's check refuses a photo of the QR, a
replay, another desk's QR, another phone's signature, a stale one and a changed set of disclosures."""

from __future__ import annotations

import json
from datetime import timedelta

import redis.exceptions

from app.clock import MovableClock
from app.security.keys import b64url_decode
from app.vouchers import offline

from tests.vouchers.voucher_factory import (ACCESS_LOG, OFFLINE_CHECKS, OFFLINE_NONCES, VOUCHERS, Holder, Phone,
                                            error_code, relying_party, rp_headers, voucher_holder)


async def offline_credential(client, holder: Holder, clock, disclose: list[str]) -> str:
    reply = await client.post(f"{VOUCHERS}/current/offline", headers=holder.headers,
                              json={"device_proof": holder.phone.proof(holder.voucher_id, clock), "disclose": disclose})
    assert reply.status_code == 201, reply.text
    return reply.json()["credential"]


async def nonce_for(client, desk, **headers: str) -> dict:
    reply = await client.post(OFFLINE_NONCES, headers={**rp_headers(desk), **headers})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def check(client, desk, qr: str, nonce: str, **headers: str):
    return await client.post(OFFLINE_CHECKS, headers={**rp_headers(desk), **headers},
                             json={"qr": qr, "nonce": nonce, "purpose": "入住登记"})


async def test_a_key_bound_qr_is_accepted_once_at_the_desk_it_was_made_for(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18", "name_masked"])
    payload = json.loads(b64url_decode(credential.split(".")[1]))
    assert payload["cnf"] == {"jwk": {k: holder.phone.public_jwk()[k] for k in ("kty", "crv", "x", "y")}}

    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    assert issued["audience"] == hotel.id and len(issued["nonce"]) >= 20
    qr = holder.phone.offline_qr(credential, issued["audience"], issued["nonce"], clock)
    print(f"\noffline QR, 2 claims disclosed, key-bound: {len(qr)} characters")

    accepted = await check(second_party, hotel, qr, issued["nonce"])
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["attributes"] == {"age_over_18": True}
    assert accepted.json()["withheld"] == ["name_masked"]  # disclosed, but beyond the hotel's scopes

    log = (await client.get(ACCESS_LOG, headers=holder.headers)).json()["items"]
    assert [(e["actor"], e["action"], e["attributes"], e["purpose"]) for e in log] == \
        [("示例大酒店前台", "voucher_offline_checked", ["age_over_18"], "入住登记")]

    replayed = await check(second_party, hotel, qr, issued["nonce"])
    assert replayed.status_code == 409 and error_code(replayed) == "OFFLINE_NONCE_USED"
    fresh = await nonce_for(second_party, hotel)
    with_new_nonce = await check(second_party, hotel, qr, fresh["nonce"])
    assert with_new_nonce.status_code == 422 and error_code(with_new_nonce) == "OFFLINE_NONCE_MISMATCH"


async def test_a_photo_of_the_qr_fails_at_another_desk(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    bar = await relying_party(clock, "示例酒吧", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    qr = holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock)

    own_nonce = await nonce_for(second_party, bar)
    elsewhere = await check(second_party, bar, qr, own_nonce["nonce"])
    assert elsewhere.status_code == 403 and error_code(elsewhere) == "PRESENTATION_FOR_ANOTHER_PARTY"
    borrowed = await check(second_party, bar, qr, issued["nonce"])  # the hotel's nonce is not the bar's to spend
    assert borrowed.status_code == 422 and error_code(borrowed) == "OFFLINE_NONCE_UNKNOWN"

    assert (await check(second_party, hotel, qr, issued["nonce"])).status_code == 200  # nothing above spent it
    log = (await client.get(ACCESS_LOG, headers=holder.headers)).json()["items"]
    assert [e["actor"] for e in log] == ["示例大酒店前台"]


async def test_the_credential_without_a_key_binding_jwt_is_refused(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    bare = await check(second_party, hotel, offline.to_qr_text(credential), issued["nonce"])
    assert bare.status_code == 422 and error_code(bare) == "OFFLINE_KEY_BINDING_MISSING"
    assert bare.json()["error"]["reason"] == "KEY_BINDING_MISSING"


async def test_a_qr_signed_by_another_phone_is_refused(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])  # copied off the holder's phone
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    stolen = Phone().offline_qr(credential, hotel.id, issued["nonce"], clock)
    refused = await check(second_party, hotel, stolen, issued["nonce"])
    assert refused.status_code == 422 and error_code(refused) == "OFFLINE_KEY_BINDING_INVALID"


async def test_a_stale_key_binding_jwt_is_refused(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    made_long_ago = MovableClock(clock.now() - timedelta(seconds=offline.KB_MAX_AGE + 5))
    stale = holder.phone.offline_qr(credential, hotel.id, issued["nonce"], made_long_ago)
    refused = await check(second_party, hotel, stale, issued["nonce"])
    assert refused.status_code == 422 and error_code(refused) == "OFFLINE_KEY_BINDING_STALE"


async def test_a_disclosure_removed_after_the_phone_signed_is_refused(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18", "name_masked"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18", "name_masked"])
    issued = await nonce_for(second_party, hotel)
    shown = offline.from_qr_text(holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock))
    token, kept, _dropped, kb = shown.split("~")
    refused = await check(second_party, hotel, offline.to_qr_text(f"{token}~{kept}~{kb}"), issued["nonce"])
    assert refused.status_code == 422 and error_code(refused) == "OFFLINE_DISCLOSURES_CHANGED"


async def test_a_nonce_we_did_not_issue_or_that_expired_is_refused(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    made_up = "n" * 22
    qr = holder.phone.offline_qr(credential, hotel.id, made_up, clock)
    unknown = await check(second_party, hotel, qr, made_up)
    assert unknown.status_code == 422 and error_code(unknown) == "OFFLINE_NONCE_UNKNOWN"

    issued = await nonce_for(second_party, hotel)
    clock.advance(121)
    late = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                       issued["nonce"])
    assert late.status_code == 410 and error_code(late) == "OFFLINE_NONCE_EXPIRED"


async def test_an_expired_or_forged_credential_is_refused(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])

    token, disclosure, _ = credential.split("~")
    header, body, signature = token.split(".")
    forged_signature = signature[:-2] + ("AA" if not signature.endswith("AA") else "BA")
    issued = await nonce_for(second_party, hotel)
    forged = holder.phone.offline_qr(f"{header}.{body}.{forged_signature}~{disclosure}~", hotel.id, issued["nonce"],
                                     clock)
    refused = await check(second_party, hotel, forged, issued["nonce"])
    assert refused.status_code == 422 and error_code(refused) == "OFFLINE_PRESENTATION_INVALID"
    assert refused.json()["error"]["reason"] == "BAD_SIGNATURE"
    garbage = await check(second_party, hotel, "GDIDO1:!!!!", issued["nonce"])
    assert garbage.status_code == 422 and garbage.json()["error"]["reason"] == "MALFORMED"

    clock.advance(601)  # the credential lives 10 minutes
    issued = await nonce_for(second_party, hotel)
    late = await check(second_party, hotel, holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock),
                       issued["nonce"])
    assert late.status_code == 410 and error_code(late) == "OFFLINE_PRESENTATION_EXPIRED"


async def test_without_the_cache_no_nonce_is_accepted(app, client, second_party, sms, clock, monkeypatch):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    qr = holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock)

    async def unreachable(*args, **kwargs):
        raise redis.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(app.ctx.services.platform.cache, "replace", unreachable)  # the nonce cannot be spent
    refused = await check(second_party, hotel, qr, issued["nonce"])
    assert refused.status_code == 503 and error_code(refused) == "SERVICE_UNAVAILABLE"
    monkeypatch.setattr(app.ctx.services.platform.cache, "get", unreachable)  # nor looked up
    refused = await check(second_party, hotel, qr, issued["nonce"])
    assert refused.status_code == 503
    log = (await client.get(ACCESS_LOG, headers=holder.headers)).json()["items"]
    assert log == []


async def test_refusals_speak_the_desks_language(client, second_party, sms, clock):
    holder = await voucher_holder(client, sms)
    credential = await offline_credential(client, holder, clock, ["age_over_18"])
    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18"])
    issued = await nonce_for(second_party, hotel)
    qr = holder.phone.offline_qr(credential, hotel.id, issued["nonce"], clock)
    assert (await check(second_party, hotel, qr, issued["nonce"])).status_code == 200
    messages = {}
    for language in ("zh-Hans", "zh-Hant", "en"):
        replayed = await check(second_party, hotel, qr, issued["nonce"], **{"Accept-Language": language})
        assert replayed.status_code == 409
        messages[language] = replayed.json()["error"]["message"]
    assert messages == {"zh-Hans": "该核验码已使用过，重复出示的亮证码无效。",
                        "zh-Hant": "該核驗碼已使用過，重複出示的亮證碼無效。",
                        "en": "This check code was already used; a code shown again is not accepted."}


async def test_only_relying_parties_get_nonces_or_check_qrs(client, sms, clock):
    holder = await voucher_holder(client, sms)
    assert (await client.post(OFFLINE_NONCES, headers=holder.headers)).status_code in (401, 403)
    assert (await client.post(OFFLINE_NONCES)).status_code == 401
    assert (await client.post(OFFLINE_CHECKS, json={"qr": "GDIDO1:", "nonce": "n" * 22, "purpose": "入住登记"}))\
        .status_code == 401
