"""Identity levels: a citizen binds their name and resident ID number (实名认证, level 2) and
then passes a face check (人脸核验, level 3). The rules behind the ID number come first."""

from __future__ import annotations

import base64
import json
import os
from datetime import date

import pytest
from cryptography.exceptions import InvalidTag

from app.accounts.models import Citizen
from app.accounts.rules import id_check_char, normalize_id_number, normalize_name, normalize_phone
from app.audit import AuditEntry
from tests.factories import live_sample, sign_in, valid_id_number, verify_real_name

TODAY = date(2024, 6, 1)
KNOWN_VALID = "11010519491231002X"  # the sample number printed in GB 11643-1999
EN = {"Accept-Language": "en"}
IDENTITY = "/api/v1/me/identity"
FACE = "/api/v1/me/identity/face"
UNIFORM_SAMPLE = base64.b64encode(bytes(4096)).decode("ascii")


# -- resident ID numbers (GB 11643-1999) ---------------------------------------------------

def test_a_valid_id_number_is_accepted_as_is():
    for number in (valid_id_number(), valid_id_number("110105", "19491231", "002"), KNOWN_VALID,
                   valid_id_number("650102", "20000229", "517"), valid_id_number("820101", "19991220", "001")):
        assert normalize_id_number(number, TODAY) == number, number


def test_the_known_sample_has_check_character_x():
    assert id_check_char(KNOWN_VALID[:17]) == "X"


def test_a_lowercase_x_and_surrounding_spaces_are_normalized():
    assert normalize_id_number(KNOWN_VALID.lower(), TODAY) == KNOWN_VALID
    assert normalize_id_number(f"  {KNOWN_VALID[:-1]}x ", TODAY) == KNOWN_VALID


def test_every_wrong_check_character_is_refused():
    for number in (KNOWN_VALID, valid_id_number()):
        wrong = [c for c in "0123456789X" if c != number[-1]]
        assert len(wrong) == 10
        for check in wrong:
            assert normalize_id_number(number[:17] + check, TODAY) is None, check


def test_a_changed_digit_breaks_the_checksum():
    number = valid_id_number()
    altered = number[:15] + str((int(number[15]) + 1) % 10) + number[16:]
    assert normalize_id_number(altered, TODAY) is None


@pytest.mark.parametrize("birth", ["19900230", "19900231", "19901301", "19900001", "19900100", "19000229", "20230229"])
def test_a_birth_date_that_does_not_exist_is_refused(birth):
    # The checksum is right, so only the date can be the reason.
    assert normalize_id_number(valid_id_number(birth=birth), TODAY) is None


def test_a_birth_date_in_the_future_is_refused_but_today_is_fine():
    assert normalize_id_number(valid_id_number(birth="20240602"), TODAY) is None
    assert normalize_id_number(valid_id_number(birth="20300101"), TODAY) is None
    assert normalize_id_number(valid_id_number(birth="20240601"), TODAY) == valid_id_number(birth="20240601")


def test_a_birth_year_before_1900_is_refused():
    assert normalize_id_number(valid_id_number(birth="18991231"), TODAY) is None
    assert normalize_id_number(valid_id_number(birth="19000101"), TODAY) is not None


@pytest.mark.parametrize("region", ["990106", "000000", "100101", "200101", "910101", "440000"])
def test_a_region_that_is_not_a_county_of_a_province_is_refused(region):
    assert normalize_id_number(valid_id_number(region=region), TODAY) is None


@pytest.mark.parametrize("raw", [
    KNOWN_VALID[:17],  # 17 characters
    KNOWN_VALID + "1",  # 19
    "110105491231002",  # the old 15-digit format
    "",
    None,
    "11010519491231002Y",
    "X1010519491231002X",
    "1101051949123100 2X",
    "110105-19491231-002X",
])
def test_the_wrong_length_or_characters_are_refused(raw):
    assert normalize_id_number(raw, TODAY) is None


# -- phone numbers and names ---------------------------------------------------------------

@pytest.mark.parametrize("raw", ["13800138000", "+8613800138000", "+86 138 0013 8000", "0086-138-0013-8000",
                                 "8613800138000", "(138) 0013-8000", " 13800138000 "])
def test_mainland_mobile_numbers_are_normalized_to_11_digits(raw):
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize("raw", ["", None, "1380013800", "138001380000", "12800138000", "23800138000",
                                 "1380013800a", "+1 2025550100", "+85213800138000", "010-12345678"])
def test_other_phone_numbers_are_refused(raw):
    assert normalize_phone(raw) is None


@pytest.mark.parametrize("name", ["李小龙", "王五", "欧阳娜娜", "买买提·艾力", "爱新觉罗·溥仪", "䶮龙", "龍"*20])
def test_chinese_names_are_accepted(name):
    assert normalize_name(name) == name


def test_names_are_trimmed_and_the_middle_dot_is_unified():
    assert normalize_name("  李小龙 ") == "李小龙"
    assert normalize_name("买买提•艾力") == "买买提·艾力"


@pytest.mark.parametrize("name", ["", None, "   ", "李", "李1", "李小龙2", "Li Xiaolong", "李xl", "李 小龙",
                                  "李小龙!", "<script>", "龍" * 21])
def test_other_names_are_refused(name):
    assert normalize_name(name) is None


# -- 实名认证 through the API --------------------------------------------------------------

async def get_me(client, citizen):
    reply = await client.get("/api/v1/me", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def post_identity(client, citizen, name="李小龙", id_number=None, **headers):
    return await client.post(IDENTITY, headers={**citizen.headers, **EN, **headers},
                             json={"name": name, "id_number": id_number or valid_id_number()})


async def test_real_name_verification_lifts_the_citizen_to_level_2_and_shows_only_masked_values(client, sms):
    citizen = await sign_in(client, sms)
    before = await get_me(client, citizen)
    assert before["level"] == 1 and before["name_masked"] is None and before["id_number_masked"] is None

    number = valid_id_number(birth="19851124", sequence="561")
    reply = await post_identity(client, citizen, "李小龙", number)
    assert reply.status_code == 200
    assert reply.json() == {"level": 2, "document_type": "resident_id", "confirmed": True}

    me = await client.get("/api/v1/me", headers=citizen.headers)
    assert me.json()["level"] == 2
    assert me.json()["name_masked"] == "**龙"
    assert me.json()["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert me.json()["id_number_masked"].startswith("4401**********")
    for secret in ("李小龙", "小龙", number, number[4:14], "19851124"):
        assert secret not in me.text, secret
        assert secret not in reply.text, secret

    # The next refresh reports the new level too.
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert refreshed.json()["citizen"]["level"] == 2


async def test_the_stored_citizen_holds_only_ciphertext(client, sms, platform):
    citizen = await sign_in(client, sms)
    name, number = "买买提·艾力", valid_id_number("650102", "19780415", "213")
    assert (await post_identity(client, citizen, name, number)).status_code == 200

    (row,) = await Citizen.filter(id=citizen.id).values()
    for column, value in row.items():
        text = json.dumps(value, ensure_ascii=False, default=str)
        for secret in (name, "艾力", number, number[:17], number[6:14], citizen.phone):
            assert secret not in text, (column, secret)

    stored = await Citizen.get(id=citizen.id)
    assert stored.level == 2 and stored.identity_verified_at is not None
    assert platform.pii.decrypt(stored.name_enc, "name") == name
    assert platform.pii.decrypt(stored.id_number_enc, "id_number") == number
    assert platform.pii.decrypt(stored.phone_enc, "phone") == citizen.phone
    assert stored.id_number_hash == platform.pii.lookup_hash(number, "id_number")
    with pytest.raises(InvalidTag):  # a name ciphertext cannot be passed off as an ID number
        platform.pii.decrypt(stored.name_enc, "id_number")


async def test_an_invalid_id_number_is_refused_and_nothing_changes(client, sms):
    citizen = await sign_in(client, sms)
    good = valid_id_number()
    for bad in (good[:17] + ("0" if good[-1] != "0" else "1"), valid_id_number(birth="19900230"),
                valid_id_number(region="990106"), good[:17], "not a number"):
        reply = await post_identity(client, citizen, "李小龙", bad)
        assert reply.status_code == 422, bad
        error = reply.json()["error"]
        assert error["code"] == "INVALID_ID_NUMBER"
        assert error["message"] == "The resident ID number is not valid. Check it and try again."
        assert error["fields"][0]["field"] == "id_number"
    me = await get_me(client, citizen)
    assert me["level"] == 1 and me["id_number_masked"] is None


async def test_an_invalid_name_is_refused(client, sms):
    citizen = await sign_in(client, sms)
    for bad in ("Li Xiaolong", "李1", "李"):
        reply = await post_identity(client, citizen, bad)
        assert reply.status_code == 422, bad
        error = reply.json()["error"]
        assert error["code"] == "INVALID_NAME"
        assert error["message"] == "Enter your name as shown on your ID card."
    assert (await get_me(client, citizen))["level"] == 1


async def test_one_id_number_binds_only_one_account(client, sms):
    first = await sign_in(client, sms)
    second = await sign_in(client, sms)
    assert (await post_identity(client, first, "张三", KNOWN_VALID)).status_code == 200

    for spelling in (KNOWN_VALID, KNOWN_VALID.lower(), f" {KNOWN_VALID} "):
        reply = await post_identity(client, second, "张三", spelling)
        assert reply.status_code == 409, spelling
        assert reply.json()["error"]["code"] == "ID_NUMBER_TAKEN"
        assert "linked to another account" in reply.json()["error"]["message"]
    assert (await get_me(client, second))["level"] == 1
    assert (await post_identity(client, second, "张三", valid_id_number())).status_code == 200


async def test_a_verified_identity_cannot_be_swapped_for_another(client, sms):
    citizen = await sign_in(client, sms)
    first = valid_id_number(sequence="111")
    assert (await post_identity(client, citizen, "李小龙", first)).status_code == 200

    reply = await post_identity(client, citizen, "李小龙", valid_id_number(sequence="222"))
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "IDENTITY_ALREADY_VERIFIED"
    me = await get_me(client, citizen)
    assert me["level"] == 2
    assert me["id_number_masked"] == first[:4] + "*" * 10 + first[-4:]


async def test_repeating_the_same_identity_changes_nothing(client, sms):
    citizen = await sign_in(client, sms)
    number = valid_id_number()
    assert (await post_identity(client, citizen, "李小龙", number)).status_code == 200
    again = await post_identity(client, citizen, "李小龙", number.lower())
    assert again.status_code == 200
    assert again.json() == {"level": 2, "document_type": "resident_id", "confirmed": True}
    assert await AuditEntry.filter(action="identity_verified", subject_id=citizen.id).count() == 1


async def test_a_body_that_is_not_json_is_a_400(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.post(IDENTITY, content='{"name": "李小龙", "id_number": '.encode(),
                              headers={**citizen.headers, **EN, "Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "MALFORMED_JSON"
    assert reply.json()["error"]["message"] == "The request body is not valid JSON."
    missing = await client.post(IDENTITY, json={"name": "李小龙"}, headers={**citizen.headers, **EN})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "VALIDATION_FAILED"
    assert (await get_me(client, citizen))["level"] == 1


async def test_identity_verification_is_audited_without_the_values(client, sms):
    citizen = await sign_in(client, sms)
    number = valid_id_number()
    assert await AuditEntry.filter(action="identity_verified").count() == 0
    assert (await post_identity(client, citizen, "李小龙", number)).status_code == 200
    (entry,) = await AuditEntry.filter(action="identity_verified", subject_id=citizen.id)
    assert entry.actor == citizen.id and entry.actor_type == "citizen"
    assert entry.attributes == {"fields": ["name", "id_number"], "document_type": "resident_id",
                                 "confirmed_by": "identity_authority"}
    assert number not in json.dumps(entry.attributes) and "李小龙" not in json.dumps(entry.attributes, ensure_ascii=False)


async def test_identity_needs_a_signed_in_citizen(client):
    reply = await client.post(IDENTITY, json={"name": "李小龙", "id_number": valid_id_number()})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTH_REQUIRED"


# -- 人脸核验 ------------------------------------------------------------------------------

async def post_face(client, citizen, sample):
    return await client.post(FACE, headers={**citizen.headers, **EN}, json={"liveness_sample": sample})


async def real_name_citizen(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    return citizen


async def test_the_face_check_needs_real_name_verification_first(client, sms, tencent):
    citizen = await sign_in(client, sms)
    reply = await post_face(client, citizen, live_sample())
    assert reply.status_code == 403
    error = reply.json()["error"]
    assert error["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert error["required_level"] == 2 and error["current_level"] == 1
    assert error["message"] == "Complete real-name verification to use this service."
    assert tencent.count("DetectAuth") == 0
    assert (await get_me(client, citizen))["level"] == 1


async def test_a_live_face_lifts_the_citizen_to_level_3(client, sms, tencent):
    citizen = await real_name_citizen(client, sms)
    reply = await post_face(client, citizen, live_sample())
    assert reply.status_code == 200
    assert reply.json() == {"level": 3}
    assert tencent.count("DetectAuth") == 1
    assert (await get_me(client, citizen))["level"] == 3
    stored = await Citizen.get(id=citizen.id)
    assert stored.face_verified_at is not None

    (entry,) = await AuditEntry.filter(action="face_check_passed", subject_id=citizen.id)
    assert entry.attributes["live"] is True and entry.attributes["score"] >= 0.8
    assert await AuditEntry.filter(action="face_check_failed", subject_id=citizen.id).count() == 0


async def test_a_blank_capture_fails_the_face_check_and_the_level_stays(client, sms, tencent):
    citizen = await real_name_citizen(client, sms)
    reply = await post_face(client, citizen, UNIFORM_SAMPLE)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "FACE_CHECK_FAILED"
    assert error["live"] is False
    assert error["message"] == "Face check failed. Face the camera in good light and try again."
    assert tencent.count("DetectAuth") == 1
    assert (await get_me(client, citizen))["level"] == 2

    (entry,) = await AuditEntry.filter(action="face_check_failed", subject_id=citizen.id)
    assert entry.attributes["live"] is False
    assert await AuditEntry.filter(action="face_check_passed", subject_id=citizen.id).count() == 0


async def test_a_sample_that_is_not_base64_is_refused_before_the_provider_is_asked(client, sms, tencent):
    citizen = await real_name_citizen(client, sms)
    for sample in ("这不是图片", "not base64!", "AAA", ""):
        reply = await post_face(client, citizen, sample)
        assert reply.status_code == 422, sample
        assert reply.json()["error"]["code"] == "INVALID_LIVENESS_SAMPLE"
        assert reply.json()["error"]["message"] == "The face sample could not be read. Please capture it again."
    assert tencent.count("DetectAuth") == 0
    assert (await get_me(client, citizen))["level"] == 2


async def test_a_provider_that_does_not_answer_in_time_is_a_503(client, sms, tencent, app):
    citizen = await real_name_citizen(client, sms)
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(face_timeout=0.2)
    tencent.behave("DetectAuth", "slow", delay=2.0)
    reply = await post_face(client, citizen, live_sample())
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "FACE_CHECK_UNAVAILABLE"
    assert reply.json()["error"]["message"] == "The face check service is unavailable. Please try again later."
    assert int(reply.headers["Retry-After"]) > 0
    assert tencent.count("DetectAuth") == 1
    assert (await get_me(client, citizen))["level"] == 2

    tencent.clear_behaviour()  # the provider is back
    assert (await post_face(client, citizen, live_sample())).json() == {"level": 3}


async def test_a_provider_error_is_a_503(client, sms, tencent):
    citizen = await real_name_citizen(client, sms)
    tencent.behave("DetectAuth", "fail")
    reply = await post_face(client, citizen, live_sample())
    assert reply.status_code == 503
    assert reply.json()["error"]["code"] == "FACE_CHECK_UNAVAILABLE"
    assert (await get_me(client, citizen))["level"] == 2
    assert await AuditEntry.filter(action="face_check_passed", subject_id=citizen.id).count() == 0


async def test_five_face_checks_a_day(client, sms, tencent, clock):
    clock.set(clock.now().replace(hour=0, minute=5))
    citizen = await real_name_citizen(client, sms)
    for _ in range(5):
        reply = await post_face(client, citizen, UNIFORM_SAMPLE)
        assert reply.status_code == 422
        assert reply.json()["error"]["code"] == "FACE_CHECK_FAILED"

    sixth = await post_face(client, citizen, live_sample())
    assert sixth.status_code == 429
    assert sixth.json()["error"]["code"] == "RATE_LIMITED"
    assert int(sixth.headers["Retry-After"]) > 3600
    assert tencent.count("DetectAuth") == 5  # the provider was not asked a sixth time
    assert await AuditEntry.filter(action="face_check_failed", subject_id=citizen.id).count() == 5

    # The next day the citizen may try again (a fresh access token: the old one has expired).
    clock.advance(24 * 3600)
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    citizen.access_token = refreshed.json()["access_token"]
    assert (await post_face(client, citizen, live_sample())).json() == {"level": 3}


# -- regressions found in review ------------------------------------------------------------
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def test_id_numbers_with_non_ascii_digits_are_refused():
    assert normalize_id_number("11" + "010519491231002".translate(FULL_WIDTH) + "X", date(2024, 6, 1)) is None


def test_phone_numbers_with_non_ascii_digits_are_refused():
    assert normalize_phone("13" + "800138000".translate(FULL_WIDTH)) is None


async def test_one_id_number_cannot_be_bound_twice_through_full_width_digits(client, sms):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    await verify_real_name(client, first, id_number="11010519491231002X")
    reply = await client.post("/api/v1/me/identity", headers=second.headers,
                              json={"name": "李小龙", "id_number": "11" + "010519491231002".translate(FULL_WIDTH) + "X"})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "INVALID_ID_NUMBER"


def test_a_name_must_contain_han_characters_not_only_separators():
    for name in ("··", "·李", "李·", "••", "李··龙"):
        assert normalize_name(name) is None, name
    assert normalize_name("𠀋李") == "𠀋李"  # a rare character of Extension B, as in some real names


async def test_a_too_small_face_sample_is_the_clients_fault_not_an_outage(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    reply = await client.post("/api/v1/me/identity/face", headers=citizen.headers,
                              json={"liveness_sample": base64.b64encode(os.urandom(100)).decode()})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "INVALID_LIVENESS_SAMPLE"


async def test_the_same_id_number_with_another_name_is_not_silently_accepted(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="李小龙", id_number="11010519491231002X")
    reply = await client.post("/api/v1/me/identity", headers=citizen.headers,
                              json={"name": "王小明", "id_number": "11010519491231002X"})
    assert reply.status_code == 409
    assert reply.json()["error"]["code"] == "IDENTITY_ALREADY_VERIFIED"
