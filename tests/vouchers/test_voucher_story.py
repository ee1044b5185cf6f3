"""The voucher's story: a new user passes 实名 and the face check, gets the voucher on their phone,
shows it at a hotel, and the hotel (a separate client with its own key) learns "over 18: yes" and
nothing more; the citizen sees that in their access log and can export it."""

from __future__ import annotations

import pytest
import segno

from app.vouchers import offline

from tests.vouchers.voucher_factory import (REDEMPTIONS, Phone, face_verified, get_voucher, relying_party,
                                            rp_headers, show)


async def test_a_hotel_learns_over_18_yes_and_nothing_more(client, second_party, sms, clock):
    citizen = await face_verified(client, sms, name="张三", birth="19900307")
    phone = Phone()
    voucher = await get_voucher(client, citizen, phone)
    assert voucher["status"] == "active" and voucher["device_id"] == phone.device_id

    shown = await show(client, citizen, phone, voucher["id"], clock, attributes=["age_over_18"])
    assert shown.status_code == 201, shown.text
    token = shown.json()["token"]
    assert token.startswith("GDID1:") and segno.make(token, error="m").version <= 8  # a low QR version (health codes: 10)
    assert "张" not in token  # no personal data inside
    assert shown.json()["seconds_left"] <= 180

    hotel = await relying_party(clock, "示例大酒店前台", ["age_over_18", "name_masked", "is_holder"])
    redeemed = await second_party.post(REDEMPTIONS, headers=rp_headers(hotel),
                                       json={"token": token, "attributes": ["age_over_18", "name_masked"],
                                             "purpose": "入住登记"})
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"attributes": {"age_over_18": True}, "withheld": ["name_masked"]}

    again = await second_party.post(REDEMPTIONS, headers=rp_headers(hotel),
                                    json={"token": token, "attributes": ["age_over_18"], "purpose": "入住登记"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "TOKEN_ALREADY_USED"

    log = (await client.get("/api/v1/me/access-log", headers=citizen.headers)).json()["items"]
    assert [(e["actor"], e["actor_type"], e["action"], e["attributes"], e["purpose"]) for e in log] == \
        [("示例大酒店前台", "relying_party", "voucher_redeemed", ["age_over_18"], "入住登记")]
    export = await client.get("/api/v1/me/access-log/export", headers=citizen.headers)
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    assert export.json()["items"] == log


async def test_an_expired_token_cannot_be_redeemed(client, sms, clock):
    citizen = await face_verified(client, sms)
    phone = Phone()
    voucher = await get_voucher(client, citizen, phone)
    token = (await show(client, citizen, phone, voucher["id"], clock)).json()["token"]
    clock.advance(181)
    bank = await relying_party(clock, "示例银行柜台", ["is_holder"])
    late = await client.post(REDEMPTIONS, headers=rp_headers(bank),
                             json={"token": token, "attributes": ["is_holder"], "purpose": "开户"})
    assert late.status_code == 410 and late.json()["error"]["code"] == "TOKEN_EXPIRED"


async def test_without_a_network_the_desk_learns_only_what_the_offline_qr_discloses(client, sms, clock):
    citizen = await face_verified(client, sms, name="张三", birth="19900307")
    phone = Phone()
    voucher = await get_voucher(client, citizen, phone)
    reply = await client.post("/api/v1/vouchers/current/offline", headers=citizen.headers,
                              json={"device_proof": phone.proof(voucher["id"], clock), "disclose": ["age_over_18"]})
    assert reply.status_code == 201, reply.text
    credential = reply.json()["credential"]  # kept on the phone, bound to its key

    # At the desk, the desk's app hands the phone its audience and a nonce (it got the nonce earlier,
    # or makes its own when offline); the phone signs them and shows the QR.
    qr = phone.offline_qr(credential, "cli_desk_1", "nonce-from-the-desk", clock)
    assert qr.startswith("GDIDO1:") and segno.make(qr, error="m").version <= 17

    jwks = (await client.get("/.well-known/jwks.json")).json()  # all the desk has, synced earlier
    seen = offline.verify_presentation(offline.from_qr_text(qr), jwks, clock.now(), "CN-GD", "cli_desk_1",
                                       "nonce-from-the-desk")
    assert {k: v for k, v in seen.items() if k not in ("iss", "iat", "exp")} == {"age_over_18": True}
    with pytest.raises(offline.PresentationError, match="KEY_BINDING_MISSING"):  # a photo of the reply is no ID
        offline.verify_presentation(credential, jwks, clock.now(), "CN-GD", "cli_desk_1", "nonce-from-the-desk")

    refused = await client.post("/api/v1/vouchers/current/offline", headers=citizen.headers,
                                json={"device_proof": phone.proof(voucher["id"], clock), "disclose": ["full_identity"]})
    assert refused.status_code == 422


async def test_showing_the_id_is_rate_limited_per_citizen(client, sms, clock):
    citizen = await face_verified(client, sms)
    phone = Phone()
    voucher = await get_voucher(client, citizen, phone)
    shown = [(await show(client, citizen, phone, voucher["id"], clock)).status_code for _ in range(21)]
    assert shown[:20] == [201] * 20 and shown[20] == 429
