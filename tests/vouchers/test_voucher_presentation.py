"""Showing the voucher: the phone proves it is the registered phone, the citizen picks what to share
(by default only "I am the holder"), a relying party redeems the QR once and learns only what it
asked for ∩ what its scopes allow ∩ what the citizen consented to; elderly mode may extend a QR
once; standing requests are read in plain language and accepted in one tap; every redemption is
in the citizen's access log, which they can export."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt
import pytest

from app.vouchers.models import Presentation
from tests.vouchers.voucher_factory import (ACCESS_LOG, STANDING_REQUESTS, VOUCHERS, Phone, error_code,
                                            present_with_proof, redeem, relying_party, rp_headers, shown_token,
                                            turn_on_elderly_mode, voucher_holder)

ALL_SCOPES = ["is_holder", "age_over_18", "age_over_60", "name_masked", "id_last4", "full_identity"]


@pytest.fixture
async def zhang(client, sms):
    return await voucher_holder(client, sms, name="张三", birth="19900307")


@pytest.fixture
async def hotel(clock):
    return await relying_party(clock, "示例大酒店前台", ["is_holder", "age_over_18", "name_masked"])


@pytest.fixture
async def registry_office(clock):
    """A government counter allowed to ask for everything, full identity included."""
    return await relying_party(clock, "示例区政务服务中心", ALL_SCOPES)


# -- the device proof ---------------------------------------------------------------------------------

async def test_the_registered_phone_gets_a_short_lived_qr(client, zhang, clock):
    shown = await shown_token(client, zhang, clock)
    assert shown["token"].startswith("GDID1:") and shown["extended"] is False
    assert 170 <= shown["seconds_left"] <= 180
    stored = await Presentation.get(id=shown["id"])
    assert stored.voucher_id == zhang.voucher_id and stored.citizen_id == zhang.citizen.id
    assert timedelta(0) < stored.expires_at - stored.created_at <= timedelta(seconds=180)


@pytest.mark.parametrize("case", ["another_phone", "another_voucher", "stale", "from_the_future", "no_jti",
                                  "not_a_jwt", "hs256"])
async def test_a_device_proof_that_is_not_from_the_registered_phone_now_is_refused(client, zhang, clock, case):
    if case == "another_phone":
        proof = Phone().proof(zhang.voucher_id, clock)
    elif case == "another_voucher":
        proof = zhang.phone.proof("idv_someone_elses_voucher", clock)
    elif case == "stale":
        proof = zhang.phone.proof(zhang.voucher_id, clock)
        clock.advance(120)  # the phone made it two minutes ago
    elif case == "from_the_future":
        proof = zhang.phone.proof(zhang.voucher_id, clock, iat=int(clock.timestamp()) + 120)
    elif case == "no_jti":
        proof = jwt.encode({"sub": zhang.voucher_id, "iat": int(clock.timestamp())}, zhang.phone.key, algorithm="ES256")
    elif case == "not_a_jwt":
        proof = "definitely-not-a-jwt"
    else:
        proof = jwt.encode({"sub": zhang.voucher_id, "iat": int(clock.timestamp()), "jti": "x1"}, "a-shared-secret-of-32-bytes-or-more!",
                           algorithm="HS256")
    refused = await present_with_proof(client, zhang.citizen, proof)
    assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID", refused.text


async def test_a_device_proof_is_used_once(client, zhang, clock):
    proof = zhang.phone.proof(zhang.voucher_id, clock)
    first = await present_with_proof(client, zhang.citizen, proof)
    assert first.status_code == 201, first.text
    replayed = await present_with_proof(client, zhang.citizen, proof)
    assert replayed.status_code == 403 and error_code(replayed) == "DEVICE_PROOF_INVALID"

    same_jti = zhang.phone.proof(zhang.voucher_id, clock, jti="reused-jti-0001")
    assert (await present_with_proof(client, zhang.citizen, same_jti)).status_code == 201
    clock.advance(5)
    again = zhang.phone.proof(zhang.voucher_id, clock, jti="reused-jti-0001")  # a new iat does not make it new
    refused = await present_with_proof(client, zhang.citizen, again)
    assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID"


async def test_a_proof_made_a_little_while_ago_is_still_fine(client, zhang, clock):
    proof = zhang.phone.proof(zhang.voucher_id, clock)
    clock.advance(50)  # a slow network, within the 60 s window
    assert (await present_with_proof(client, zhang.citizen, proof)).status_code == 201


async def test_a_device_proof_with_a_non_numeric_iat_is_refused(client, zhang, clock):
    proof = zhang.phone.proof(zhang.voucher_id, clock, iat="yesterday")
    refused = await present_with_proof(client, zhang.citizen, proof)
    assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID"


@pytest.mark.parametrize("iat", [float("nan"), float("-inf"), True])
async def test_a_device_proof_whose_iat_is_no_time_is_refused(client, zhang, clock, iat):
    """NaN compares false with the window (so would pass it unchecked); true is a bool, not a time."""
    proof = zhang.phone.proof(zhang.voucher_id, clock, iat=iat)
    refused = await present_with_proof(client, zhang.citizen, proof)
    assert refused.status_code == 403 and error_code(refused) == "DEVICE_PROOF_INVALID"


# -- consent --------------------------------------------------------------------------------------------

async def test_by_default_only_a_yes_that_this_is_the_holder_is_shared(client, zhang, clock, registry_office):
    shown = await shown_token(client, zhang, clock)
    assert shown["attributes"] == ["is_holder"]
    asked = ["age_over_18", "full_identity", "id_last4", "is_holder", "name_masked"]
    redeemed = await redeem(client, registry_office, shown["token"], asked, purpose="办事核验")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"attributes": {"is_holder": True},
                               "withheld": ["age_over_18", "full_identity", "id_last4", "name_masked"]}
    assert "张" not in redeemed.text and zhang.id_number[-4:] not in redeemed.text

    empty = await shown_token(client, zhang, clock, attributes=[])
    assert empty["attributes"] == ["is_holder"]  # an empty choice is the minimum too


async def test_the_reply_is_what_was_asked_and_allowed_and_consented(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock, attributes=["age_over_18", "id_last4", "name_masked"])
    assert shown["attributes"] == ["age_over_18", "id_last4", "name_masked"]
    # The hotel may not ask for id_last4 at all (not its scope); it asks for less than was consented.
    redeemed = await redeem(client, hotel, shown["token"], ["name_masked", "is_holder"])
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"attributes": {"name_masked": "*三"}, "withheld": ["is_holder"]}


async def test_an_unknown_attribute_is_refused(client, zhang, clock):
    for attributes in (["blood_type"], ["age_over_18", "religion"], ["full_identity", "photo"]):
        refused = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock),
                                           attributes=attributes, confirm_full_identity=True)
        assert refused.status_code == 422 and error_code(refused) == "VALIDATION_FAILED", refused.text
    assert not await Presentation.exists(citizen_id=zhang.citizen.id)


async def test_full_identity_needs_an_explicit_consent_each_time(client, zhang, clock, registry_office, hotel):
    refused = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock),
                                       attributes=["full_identity"])
    assert refused.status_code == 422 and error_code(refused) == "FULL_IDENTITY_CONSENT_REQUIRED"
    refused = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock),
                                       attributes=["full_identity", "is_holder"], confirm_full_identity=False)
    assert refused.status_code == 422 and error_code(refused) == "FULL_IDENTITY_CONSENT_REQUIRED"

    shown = await shown_token(client, zhang, clock, attributes=["full_identity"], confirm_full_identity=True)
    assert shown["attributes"] == ["full_identity"]
    assert "张" not in shown["token"]

    # A hotel without the scope cannot ask for it, and the QR is not used up by trying.
    refused = await redeem(client, hotel, shown["token"], ["full_identity"])
    assert refused.status_code == 403 and error_code(refused) == "SCOPE_NOT_ALLOWED"

    redeemed = await redeem(client, registry_office, shown["token"], ["full_identity"], purpose="户籍业务办理")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"attributes": {"full_identity": {"name": "张三", "id_number": zhang.id_number}},
                               "withheld": []}
    [entry] = (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]
    assert (entry["actor"], entry["attributes"], entry["purpose"]) == ("示例区政务服务中心", ["full_identity"], "户籍业务办理")

    # The consent was for that one presentation: the next one needs it again.
    again = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock),
                                     attributes=["full_identity"])
    assert again.status_code == 422 and error_code(again) == "FULL_IDENTITY_CONSENT_REQUIRED"


async def test_id_last4_is_the_last_four_characters(client, zhang, clock, registry_office):
    shown = await shown_token(client, zhang, clock, attributes=["id_last4", "is_holder"])
    redeemed = await redeem(client, registry_office, shown["token"], ["id_last4", "is_holder"])
    assert redeemed.json()["attributes"] == {"id_last4": zhang.id_number[-4:], "is_holder": True}


# -- ages ------------------------------------------------------------------------------------------------

async def test_ages_are_computed_from_the_birth_date_on_the_card(client, sms, clock, registry_office):
    clock.set(datetime(2026, 6, 15, 9, 0, tzinfo=timezone.utc))  # a fixed day, so the birthdays below are exact
    people = {
        "sixteen": ("20100101", "111", {"age_over_18": False, "age_over_60": False}),
        "eighteen_today": ("20080615", "112", {"age_over_18": True, "age_over_60": False}),
        "eighteen_tomorrow": ("20080616", "113", {"age_over_18": False, "age_over_60": False}),
        "born_1950": ("19500820", "114", {"age_over_18": True, "age_over_60": True}),
        "sixty_today": ("19660615", "115", {"age_over_18": True, "age_over_60": True}),
        "sixty_tomorrow": ("19660616", "116", {"age_over_18": True, "age_over_60": False}),
    }
    for who, (birth, sequence, expected) in people.items():
        holder = await voucher_holder(client, sms, name="王五", birth=birth, sequence=sequence)
        shown = await shown_token(client, holder, clock, attributes=["age_over_18", "age_over_60"])
        redeemed = await redeem(client, registry_office, shown["token"], ["age_over_18", "age_over_60"])
        assert redeemed.status_code == 200, redeemed.text
        assert redeemed.json()["attributes"] == expected, who


# -- scopes and one-time use ---------------------------------------------------------------------------

async def test_asking_beyond_its_scopes_is_refused_and_leaves_the_qr_usable(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock, attributes=["age_over_18", "id_last4"])
    refused = await redeem(client, hotel, shown["token"], ["age_over_18", "id_last4"])
    assert refused.status_code == 403 and error_code(refused) == "SCOPE_NOT_ALLOWED"
    assert refused.json()["error"]["not_allowed"] == ["id_last4"]
    assert (await Presentation.get(id=shown["id"])).redeemed_at is None
    assert (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"] == []

    bank = await relying_party(clock, "示例银行柜台", ["age_over_18", "id_last4"])
    redeemed = await redeem(client, bank, shown["token"], ["age_over_18", "id_last4"], purpose="开户")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["attributes"] == {"age_over_18": True, "id_last4": zhang.id_number[-4:]}
    stored = await Presentation.get(id=shown["id"])
    assert stored.redeemed_at is not None


async def test_a_relying_party_must_ask_for_something_it_knows(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock)
    for attributes in ([], ["favourite_colour"]):
        refused = await redeem(client, hotel, shown["token"], attributes)
        assert refused.status_code == 422 and error_code(refused) == "VALIDATION_FAILED"
    assert (await redeem(client, hotel, shown["token"], ["is_holder"])).status_code == 200


async def test_a_qr_redeems_once(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock)
    assert (await redeem(client, hotel, shown["token"], ["is_holder"])).status_code == 200
    again = await redeem(client, hotel, shown["token"], ["is_holder"])
    assert again.status_code == 409 and error_code(again) == "TOKEN_ALREADY_USED"
    stored = await Presentation.get(id=shown["id"])
    assert stored.redeemed_by is not None and stored.redeemed_by == hotel.id


async def test_a_qr_lives_180_seconds(client, zhang, clock, hotel):
    in_time = await shown_token(client, zhang, clock)
    clock.advance(170)
    assert (await redeem(client, hotel, in_time["token"], ["is_holder"])).status_code == 200

    late = await shown_token(client, zhang, clock)
    clock.advance(181)
    expired = await redeem(client, hotel, late["token"], ["is_holder"])
    assert expired.status_code == 410 and error_code(expired) == "TOKEN_EXPIRED"
    assert (await Presentation.get(id=late["id"])).redeemed_at is None
    assert len((await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]) == 1


# -- elderly mode (适老化) ------------------------------------------------------------------------------

async def test_the_citizen_turns_on_elderly_mode_and_extends_a_qr(client, zhang, clock):
    turned_on = await client.put("/api/v1/me/preferences", headers=zhang.headers, json={"elderly_mode": True})
    assert turned_on.status_code == 200, turned_on.text
    shown = await shown_token(client, zhang, clock)
    extended = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert extended.status_code == 200 and extended.json()["extended"] is True


async def test_elderly_mode_extends_a_qr_once(client, app, zhang, clock, hotel):
    await turn_on_elderly_mode(app, zhang.citizen)
    shown = await shown_token(client, zhang, clock)
    clock.advance(150)  # still reading the hotel's form

    extended = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert extended.status_code == 200, extended.text
    body = extended.json()
    assert body["id"] == shown["id"] and body["extended"] is True
    assert body["expires_at"] > shown["expires_at"] and 170 <= body["seconds_left"] <= 180
    assert body["token"].startswith("GDID1:") and body["attributes"] == shown["attributes"]

    twice = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert twice.status_code == 409 and error_code(twice) == "ALREADY_EXTENDED"

    clock.advance(100)  # 250 s after the QR was made: past its first lifetime, within the extended one
    redeemed = await redeem(client, hotel, body["token"], ["is_holder"])
    assert redeemed.status_code == 200, redeemed.text

    used = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert used.status_code == 409 and error_code(used) == "TOKEN_ALREADY_USED"


async def test_an_extended_qr_still_expires(client, app, zhang, clock, hotel):
    await turn_on_elderly_mode(app, zhang.citizen)
    shown = await shown_token(client, zhang, clock)
    clock.advance(100)
    extended = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert extended.status_code == 200
    clock.advance(181)
    expired = await redeem(client, hotel, extended.json()["token"], ["is_holder"])
    assert expired.status_code == 410 and error_code(expired) == "TOKEN_EXPIRED"


async def test_an_expired_qr_cannot_be_extended(client, app, zhang, clock):
    await turn_on_elderly_mode(app, zhang.citizen)
    shown = await shown_token(client, zhang, clock)
    clock.advance(181)
    late = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert late.status_code == 410 and error_code(late) == "TOKEN_EXPIRED"


async def test_extending_needs_elderly_mode(client, zhang, clock):
    shown = await shown_token(client, zhang, clock)
    refused = await client.post(f"{VOUCHERS}/presentations/{shown['id']}/extension", headers=zhang.headers)
    assert refused.status_code == 403 and error_code(refused) == "ELDERLY_MODE_REQUIRED"
    assert (await Presentation.get(id=shown["id"])).extended is False


async def test_extending_an_unknown_presentation_is_not_found(client, app, zhang):
    await turn_on_elderly_mode(app, zhang.citizen)
    missing = await client.post(f"{VOUCHERS}/presentations/0123456789abcdef/extension", headers=zhang.headers)
    assert missing.status_code == 404 and error_code(missing) == "PRESENTATION_NOT_FOUND"


# -- standing requests ---------------------------------------------------------------------------------

PURPOSE = {"zh-Hans": "入住登记核验年龄与姓名", "en": "Check-in: confirm age and name"}


async def test_a_hotel_registers_a_standing_request(client, clock, hotel):
    created = await client.post(STANDING_REQUESTS, headers=rp_headers(hotel),
                                json={"attributes": ["name_masked", "age_over_18"], "purpose": PURPOSE})
    assert created.status_code == 201, created.text
    assert created.json()["id"] and created.json()["attributes"] == ["age_over_18", "name_masked"]


@pytest.mark.parametrize("body, status, code", [
    ({"attributes": ["age_over_18", "full_identity"], "purpose": PURPOSE}, 422, "VALIDATION_FAILED"),
    ({"attributes": ["age_over_18", "id_last4"], "purpose": PURPOSE}, 403, "SCOPE_NOT_ALLOWED"),
    ({"attributes": ["age_over_18", "shoe_size"], "purpose": PURPOSE}, 422, "VALIDATION_FAILED"),
    ({"attributes": [], "purpose": PURPOSE}, 422, "VALIDATION_FAILED"),
    ({"attributes": ["age_over_18"], "purpose": {"en": "Check-in"}}, 422, "VALIDATION_FAILED"),
], ids=["full-identity", "beyond-scopes", "unknown", "nothing", "no-chinese-purpose"])
async def test_a_standing_request_is_refused_when(client, clock, hotel, body, status, code):
    refused = await client.post(STANDING_REQUESTS, headers=rp_headers(hotel), json=body)
    assert refused.status_code == status and error_code(refused) == code, refused.text


async def test_the_citizen_accepts_a_standing_request_in_plain_language(client, zhang, clock, hotel):
    standing_id = (await client.post(STANDING_REQUESTS, headers=rp_headers(hotel),
                                     json={"attributes": ["age_over_18", "name_masked"], "purpose": PURPOSE})).json()["id"]

    in_english = await client.get(f"{VOUCHERS}/standing-requests/{standing_id}",
                                  headers={**zhang.headers, "Accept-Language": "en"})
    assert in_english.status_code == 200, in_english.text
    assert in_english.json() == {"id": standing_id, "attributes": ["age_over_18", "name_masked"],
                                 "purpose": "Check-in: confirm age and name"}
    in_chinese = await client.get(f"{VOUCHERS}/standing-requests/{standing_id}", headers=zhang.headers)
    assert in_chinese.json()["purpose"] == "入住登记核验年龄与姓名"
    missing = await client.get(f"{VOUCHERS}/standing-requests/sr_nope", headers=zhang.headers)
    assert missing.status_code == 404 and error_code(missing) == "STANDING_REQUEST_NOT_FOUND"

    shown = await shown_token(client, zhang, clock, standing_request=standing_id)
    assert shown["attributes"] == ["age_over_18", "name_masked"]
    assert (await Presentation.get(id=shown["id"])).standing_request == standing_id

    redeemed = await redeem(client, hotel, shown["token"], ["age_over_18", "name_masked"], purpose="入住登记")
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json() == {"attributes": {"age_over_18": True, "name_masked": "*三"}, "withheld": []}

    [entry] = (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]
    assert (entry["actor"], entry["actor_type"], entry["action"], entry["attributes"], entry["purpose"]) == \
        ("示例大酒店前台", "relying_party", "voucher_redeemed", ["age_over_18", "name_masked"], "入住登记核验年龄与姓名")
    # the purpose the citizen agreed to, not what the relying party typed at the desk


async def test_an_unknown_standing_request_cannot_be_accepted(client, zhang, clock):
    refused = await present_with_proof(client, zhang.citizen, zhang.phone.proof(zhang.voucher_id, clock),
                                       standing_request="sr_does_not_exist")
    assert refused.status_code == 404 and error_code(refused) == "STANDING_REQUEST_NOT_FOUND"


async def test_consent_to_a_hotels_standing_request_is_not_consent_to_anyone_else(client, zhang, clock, hotel):
    standing_id = (await client.post(STANDING_REQUESTS, headers=rp_headers(hotel),
                                     json={"attributes": ["age_over_18", "name_masked"], "purpose": PURPOSE})).json()["id"]
    shown = await shown_token(client, zhang, clock, standing_request=standing_id)
    bar = await relying_party(clock, "示例酒吧", ["age_over_18", "name_masked"])
    taken = await redeem(client, bar, shown["token"], ["age_over_18", "name_masked"], purpose="入场")
    assert taken.status_code == 403, taken.text


# -- the citizen's access log ----------------------------------------------------------------------------

async def test_every_redemption_is_in_the_access_log_and_the_export(client, zhang, clock, hotel, registry_office):
    bank = await relying_party(clock, "示例银行柜台", ["is_holder", "id_last4"])
    visits = [(hotel, ["age_over_18"], ["age_over_18"], "入住登记"),
              (bank, ["id_last4"], ["id_last4", "is_holder"], "开户核验"),
              (registry_office, ["name_masked"], ["age_over_60", "name_masked"], "社保业务")]
    for rp, consented, asked, purpose in visits:
        shown = await shown_token(client, zhang, clock, attributes=consented)
        assert (await redeem(client, rp, shown["token"], asked, purpose=purpose)).status_code == 200
        clock.advance(60)

    log = (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"]
    assert [(e["actor"], e["actor_type"], e["action"], e["attributes"], e["purpose"]) for e in log] == [
        ("示例区政务服务中心", "relying_party", "voucher_redeemed", ["name_masked"], "社保业务"),
        ("示例银行柜台", "relying_party", "voucher_redeemed", ["id_last4"], "开户核验"),
        ("示例大酒店前台", "relying_party", "voucher_redeemed", ["age_over_18"], "入住登记"),
    ]  # newest first, only what was actually disclosed
    assert all(e["at"].endswith("Z") for e in log) and log[0]["at"] > log[-1]["at"]

    export = await client.get(f"{ACCESS_LOG}/export", headers=zhang.headers)
    assert export.status_code == 200
    disposition = export.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f'filename="access-log-{clock.now():%Y%m%d}.json"' in disposition
    assert "no-store" in export.headers["cache-control"]
    assert export.json() == {"items": log}


async def test_a_refused_or_failed_redemption_discloses_nothing_and_logs_nothing(client, zhang, clock, hotel):
    shown = await shown_token(client, zhang, clock)
    await redeem(client, hotel, shown["token"], ["id_last4"])  # beyond its scopes
    await redeem(client, hotel, shown["token"][:-2] + "00", ["is_holder"])  # not a valid QR
    assert (await client.get(ACCESS_LOG, headers=zhang.headers)).json()["items"] == []
    export = await client.get(f"{ACCESS_LOG}/export", headers=zhang.headers)
    assert export.json() == {"items": []}
