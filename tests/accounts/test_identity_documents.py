"""实名 with a document other than the resident ID, through the API and the stand-in identity authority: each type
is checked by its own rules (a malformed number answers 422 naming the rule), the documents the authority covers
lift the account to 实名, the others are recorded as declared below it, and the profile, the level rules and the
ID voucher's age attributes follow the document. Every number here is a sample (示例)."""

from __future__ import annotations

from datetime import date

import pytest

from app.accounts import documents as d
from app.accounts.models import Citizen
from app.audit import AuditEntry
from tests.accounts.document_factory import IDENTITY, gb11643_number, post, td3
from tests.factories import live_sample, sign_in, valid_id_number
from tests.vouchers.voucher_factory import Phone, get_voucher, redeem, relying_party, shown_token, Holder

# 示例 numbers, each valid by its document's rules.
RESIDENCE_PERMIT = gb11643_number("810000", "19880512", "031")
PR_2023_HEAD = "9" + "44" + "840" + "19850704" + "012"  # issued in Guangdong, nationality 840 (USA)
PERMANENT_2023 = PR_2023_HEAD + d.gb11643_check_char(PR_2023_HEAD)
PR_2004_BODY = "CAN" + "44" + "760215" + "007"  # 示例: Canada, issued in Guangdong, born 1976-02-15
PERMANENT_2004 = PR_2004_BODY + d.icao_check_digit(PR_2004_BODY)
HK_PERMIT = "H12345678"
TAIWAN_PERMIT = "08123456"
PASSPORT = "E12345678"


def wrong_last(text: str) -> str:
    """The same text with another last (check) digit."""
    return text[:-1] + ("1" if text[-1] != "1" else "2")


async def profile(client, citizen) -> dict:
    return (await client.get("/api/v1/me", headers=citizen.headers)).json()


# -- documents the authority covers: 实名 --------------------------------------------------------------

@pytest.mark.parametrize(("document_type", "number", "name", "nationality", "masked"), [
    ("residence_permit", RESIDENCE_PERMIT, "陈家明", None, RESIDENCE_PERMIT[:4] + "*" * 10 + RESIDENCE_PERMIT[-4:]),
    ("permanent_residence", PERMANENT_2023, "JOHN SMITH", "USA", PERMANENT_2023[:4] + "*" * 10 + PERMANENT_2023[-4:]),
])
async def test_a_covered_document_is_confirmed_by_the_authority_and_bound(client, sms, tencent, document_type, number,
                                                                          name, nationality, masked):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, name, number, document_type=document_type)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"level": 2, "document_type": document_type, "confirmed": True}
    assert tencent.count("IdCardVerification") == 1
    shown = await profile(client, citizen)
    assert (shown["level"], shown["id_number_masked"], shown["document_type"], shown["nationality"],
            shown["document_confirmed"]) == (2, masked, document_type, nationality, True)
    row = await Citizen.get(id=citizen.id)
    assert row.document_type == document_type and row.id_number_hash is not None and row.birth_date_enc is None
    (entry,) = await AuditEntry.filter(action="identity_verified", subject_id=citizen.id)
    assert entry.attributes["document_type"] == document_type and number not in str(entry.attributes)


async def test_a_foreigner_name_in_latin_letters_is_upper_cased_and_single_spaced(client, sms):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, "  John   o'Neil-smith ", PERMANENT_2023, document_type="permanent_residence")
    assert reply.status_code == 200, reply.text
    assert (await profile(client, citizen))["name_masked"].endswith("H")


async def test_a_resident_id_keeps_refusing_a_latin_name(client, sms):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, "JOHN SMITH", valid_id_number())
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "INVALID_NAME"


async def test_one_document_binds_one_account(client, sms):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    assert (await post(client, first, "陈家明", RESIDENCE_PERMIT, document_type="residence_permit")).status_code == 200
    taken = await post(client, second, "陈家明", RESIDENCE_PERMIT, document_type="residence_permit")
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "ID_NUMBER_TAKEN"


async def test_a_covered_document_goes_on_to_the_face_check_and_the_voucher_gives_its_age(client, sms, clock):
    citizen = await sign_in(client, sms)
    assert (await post(client, citizen, "JOHN SMITH", PERMANENT_2023, document_type="permanent_residence")).status_code == 200
    face = await client.post("/api/v1/me/identity/face", headers=citizen.headers, json={"liveness_sample": live_sample()})
    assert face.status_code == 200 and face.json()["level"] == 3, face.text
    holder = Holder(citizen, phone := Phone(), await get_voucher(client, citizen, phone), PERMANENT_2023)
    shown = await shown_token(client, holder, clock, attributes=["age_over_18", "age_over_60", "id_last4"])
    office = await relying_party(clock, "示例区政务服务中心", ["age_over_18", "age_over_60", "id_last4"])
    redeemed = await redeem(client, office, shown["token"], ["age_over_18", "age_over_60", "id_last4"])
    assert redeemed.status_code == 200, redeemed.text
    assert redeemed.json()["attributes"] == {"age_over_18": True, "age_over_60": False, "id_last4": PERMANENT_2023[-4:]}


# -- documents nobody confirms: declared, below 实名 ---------------------------------------------------

@pytest.mark.parametrize(("document_type", "number", "more", "stored", "masked", "nationality"), [
    ("hk_macao_permit", HK_PERMIT + "01", {}, HK_PERMIT, "H1234****", None),
    ("hk_macao_permit", HK_PERMIT, {"renewal_count": 3}, HK_PERMIT, "H1234****", None),
    ("taiwan_permit", TAIWAN_PERMIT, {}, TAIWAN_PERMIT, "08****56", None),
    ("permanent_residence", PERMANENT_2004, {"nationality": "CAN"}, PERMANENT_2004, PERMANENT_2004[:4] + "*" * 7
     + PERMANENT_2004[-4:], "CAN"),
    ("passport", PASSPORT, {"nationality": "GBR"}, PASSPORT, "E1*****78", "GBR"),
])
async def test_a_document_the_authority_does_not_cover_is_declared_below_real_name(
        client, sms, tencent, document_type, number, more, stored, masked, nationality):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, "WONG KA MING" if document_type != "taiwan_permit" else "林志明", number,
                       document_type=document_type, **more)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"level": 1, "document_type": document_type, "confirmed": False}
    assert tencent.count("IdCardVerification") == 0  # not asked: it cannot check this document
    shown = await profile(client, citizen)
    assert (shown["level"], shown["id_number_masked"], shown["document_type"], shown["nationality"],
            shown["document_confirmed"]) == (1, masked, document_type, nationality, False)
    row = await Citizen.get(id=citizen.id)
    assert row.id_number_hash is None and row.level == 1 and row.identity_verified_at is None
    assert (await AuditEntry.filter(action="identity_declared", subject_id=citizen.id).count()) == 1
    # Below 实名: what needs it stays closed.
    face = await client.post("/api/v1/me/identity/face/sessions", headers=citizen.headers, json={})
    assert face.status_code == 403 and face.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert stored in number


async def test_a_declaration_binds_nothing_and_can_be_replaced_by_a_confirmed_document(client, sms):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    for citizen in (first, second):  # anyone may type anyone's passport: neither blocks the other
        assert (await post(client, citizen, "JANE DOE", PASSPORT, document_type="passport",
                           nationality="GBR")).json()["confirmed"] is False
    bound = await post(client, first, "JANE DOE", PERMANENT_2023, document_type="permanent_residence")
    assert bound.json() == {"level": 2, "document_type": "permanent_residence", "confirmed": True}


async def test_a_passport_with_its_zone_keeps_the_birth_date_encrypted(client, sms, platform):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, "JANE DOE", PASSPORT, document_type="passport", nationality="GBR",
                       mrz=td3(PASSPORT, "GBR", date(1979, 11, 3)))
    assert reply.status_code == 200, reply.text
    row = await Citizen.get(id=citizen.id)
    assert row.birth_date_enc and "1979" not in row.birth_date_enc
    assert platform.pii.decrypt(row.birth_date_enc, "birth_date") == "1979-11-03"


# -- every rule a number can break: 422 naming it ------------------------------------------------------

REFUSALS = [
    ("resident_id", valid_id_number()[:17], {}, "length", "INVALID_ID_NUMBER"),
    ("resident_id", valid_id_number()[:16] + "A1", {}, "format", "INVALID_ID_NUMBER"),
    ("resident_id", valid_id_number(region="990106"), {}, "region", "INVALID_ID_NUMBER"),
    ("resident_id", valid_id_number(birth="19900230"), {}, "birth_date", "INVALID_ID_NUMBER"),
    ("resident_id", wrong_last(valid_id_number()), {}, "checksum",
     "INVALID_ID_NUMBER"),
    ("residence_permit", valid_id_number(), {}, "prefix", "DOCUMENT_NUMBER_INVALID"),
    ("residence_permit", wrong_last(RESIDENCE_PERMIT), {}, "checksum",
     "DOCUMENT_NUMBER_INVALID"),
    ("residence_permit", RESIDENCE_PERMIT + "1", {}, "length", "DOCUMENT_NUMBER_INVALID"),
    ("hk_macao_permit", "K12345678", {}, "prefix", "DOCUMENT_NUMBER_INVALID"),
    ("hk_macao_permit", "H1234567", {}, "length", "DOCUMENT_NUMBER_INVALID"),
    ("hk_macao_permit", "H1234567A", {}, "format", "DOCUMENT_NUMBER_INVALID"),
    ("hk_macao_permit", "H1234567801", {"renewal_count": 2}, "renewal_count", "DOCUMENT_NUMBER_INVALID"),
    ("taiwan_permit", "0812345", {}, "length", "DOCUMENT_NUMBER_INVALID"),
    ("taiwan_permit", "0812345T", {}, "format", "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", "8" + PERMANENT_2023[1:], {}, "prefix", "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", "981" + PERMANENT_2023[3:], {}, "region", "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", PERMANENT_2023[:3] + "156" + PERMANENT_2023[6:], {}, "country", "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", PERMANENT_2023, {"nationality": "GBR"}, "country", "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", PERMANENT_2023[:6] + "19851304" + PERMANENT_2023[14:], {}, "birth_date",
     "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", wrong_last(PERMANENT_2023), {}, "checksum",
     "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", wrong_last(PERMANENT_2004), {}, "checksum",
     "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", "CHN" + PERMANENT_2004[3:], {}, "country", "DOCUMENT_NUMBER_INVALID"),
    ("permanent_residence", PERMANENT_2004[:-1], {}, "length", "DOCUMENT_NUMBER_INVALID"),
    ("passport", PASSPORT, {}, "country", "DOCUMENT_NUMBER_INVALID"),
    ("passport", PASSPORT, {"nationality": "CHN"}, "country", "DOCUMENT_NUMBER_INVALID"),
    ("passport", "E123", {"nationality": "GBR"}, "length", "DOCUMENT_NUMBER_INVALID"),
    ("passport", "E123/5678", {"nationality": "GBR"}, "format", "DOCUMENT_NUMBER_INVALID"),
    ("passport", "E1234567890", {"nationality": "GBR"}, "length", "DOCUMENT_NUMBER_INVALID"),
    ("passport", PASSPORT, {"nationality": "GBR", "mrz": "P<GBR"}, "mrz", "DOCUMENT_NUMBER_INVALID"),
    ("passport", PASSPORT, {"nationality": "GBR", "mrz": td3("E87654321", "GBR", date(1979, 11, 3))}, "mrz",
     "DOCUMENT_NUMBER_INVALID"),
    ("passport", PASSPORT, {"nationality": "GBR", "mrz": wrong_last(td3(PASSPORT, "GBR", date(1979, 11, 3)))},
     "checksum", "DOCUMENT_NUMBER_INVALID"),
]


@pytest.mark.parametrize(("document_type", "number", "more", "rule", "code"), REFUSALS)
async def test_a_malformed_number_answers_422_naming_the_rule(client, sms, tencent, document_type, number, more, rule,
                                                              code):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, "WONG KA MING" if document_type != "resident_id" else "李小龙", number,
                       document_type=document_type, **more)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["rule"], error["document_type"]) == (code, rule, document_type)
    assert error["fields"][0]["problem"] == rule and error["request_id"]
    assert tencent.count("IdCardVerification") == 0
    assert (await Citizen.get(id=citizen.id)).id_number_enc is None  # nothing stored


async def test_the_message_names_the_document_and_the_rule_in_each_language(client, sms):
    citizen = await sign_in(client, sms)
    body = {"name": "WONG KA MING", "id_number": "K12345678", "document_type": "hk_macao_permit"}
    texts = {}
    for language in ("zh-Hans", "zh-Hant", "en"):
        reply = await client.post(IDENTITY, headers={**citizen.headers, "Accept-Language": language}, json=body)
        texts[language] = reply.json()["error"]["message"]
    assert texts["zh-Hans"] == "港澳居民来往内地通行证号码不正确（开头不对），请核对后重新输入。"
    assert "港澳居民來往內地通行證" in texts["zh-Hant"]
    assert texts["en"].startswith("The Mainland Travel Permit for Hong Kong and Macao Residents number")


async def test_an_unknown_document_type_is_refused_by_the_request_schema(client, sms):
    citizen = await sign_in(client, sms)
    reply = await post(client, citizen, "李小龙", valid_id_number(), document_type="library_card")
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "VALIDATION_FAILED"


# -- taking a document back ------------------------------------------------------------------------------

async def test_the_owner_takes_back_a_residence_permit_another_account_took(client, sms, tencent):
    tencent.add_person("陈家明", RESIDENCE_PERMIT)
    squatter, owner = await sign_in(client, sms), await sign_in(client, sms)
    assert (await post(client, squatter, "陈家明", RESIDENCE_PERMIT, document_type="residence_permit")).status_code == 200
    taken = await post(client, owner, "陈家明", RESIDENCE_PERMIT, document_type="residence_permit")
    assert taken.status_code == 409 and taken.json()["error"]["reclaim"]["purpose"] == "reclaim"
    started = await client.post("/api/v1/me/identity/face/sessions", headers=owner.headers, json={
        "purpose": "reclaim", "name": "陈家明", "id_number": RESIDENCE_PERMIT, "document_type": "residence_permit"})
    assert started.status_code == 201, started.text
    tencent.complete_face(started.json()["biz_token"], outcome="pass")
    done = await client.post("/api/v1/me/identity/face", headers=owner.headers,
                             json={"session_id": started.json()["session_id"]})
    assert done.status_code == 200 and done.json()["level"] == 3, done.text
    shown = await profile(client, owner)
    assert (shown["document_type"], shown["id_number_masked"][-4:]) == ("residence_permit", RESIDENCE_PERMIT[-4:])
    released = await Citizen.get(id=squatter.id)
    assert (released.level, released.id_number_hash, released.document_type) == (1, None, "resident_id")


async def test_a_declared_document_has_nothing_to_take_back(client, sms):
    holder, other = await sign_in(client, sms), await sign_in(client, sms)
    assert (await post(client, holder, "JANE DOE", PASSPORT, document_type="passport", nationality="GBR")).status_code == 200
    asked = await client.post("/api/v1/me/identity/face/sessions", headers=other.headers, json={
        "purpose": "reclaim", "name": "JANE DOE", "id_number": PASSPORT, "document_type": "passport"})
    assert asked.status_code == 422 and asked.json()["error"]["rule"] == "country"  # a passport needs its nationality
    declared = await client.post("/api/v1/me/identity/face/sessions", headers=other.headers, json={
        "purpose": "reclaim", "name": "WONG KA MING", "id_number": HK_PERMIT, "document_type": "hk_macao_permit"})
    assert declared.status_code == 409 and declared.json()["error"]["code"] == "NOTHING_TO_RECLAIM"
