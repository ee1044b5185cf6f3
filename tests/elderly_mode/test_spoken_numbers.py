"""Numbers in words to hear (`tts_text`) as a person reads them out: the digits of an ID, a phone or a
code one by one, dates and amounts as words, ranges as 八到六十四 / eight to sixty four, and the
symbols that mean something (a hyphen or an underscore in a list, a hyphen between codes) said or
paused at, never silently dropped. One table in zh-Hans, zh-Hant and en, then the replies that use it:
a family member's ID attestation and a converted health code."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from elderly_mode.tts import spoken
from tests.accounts.document_factory import gb11643_number, post
from tests.elderly_mode.elderly_factory import elder, family_member, linked
from tests.factories import sign_in, valid_id_number, verify_real_name
from tests.health_code.interop.partners_factory import (
    CONVERSIONS,
    ZHANG_SAN_ID_NUMBER,
    make_partner,
    make_partner_admin,
)

HANS, HANT, EN = "zh-Hans", "zh-Hant", "en"
ELDER_ID_ENDING_IN_X = valid_id_number(region="440104", birth="19480315", sequence="104")  # ...104X

CASES = [
    # The last four of an ID, with its check letter X: digit by digit, the X as the letter X.
    ("789X", HANS, "七八九X"),
    ("尾号789X", HANS, "尾号七八九X"),
    ("尾號789X", HANT, "尾號七八九X"),
    ("身份证号码后四位 789X。", HANS, "身份证号码后四位 七八九X。"),
    ("身份證號碼後四位 2862。", HANT, "身份證號碼後四位 二八六二。"),
    ("身份证号码后四位 2862。", HANS, "身份证号码后四位 二八六二。"),
    ("ID ending 789X.", EN, "ID ending seven eight nine X."),
    ("ID ending 2862.", EN, "ID ending two eight six two."),
    ("44010419480315104X", HANS, "四四〇一〇四 一九四八〇三一五 一〇四X"),
    ("4401**********104X", HANS, "四四〇一，中间几位已隐藏，一〇四X"),
    # Phones and codes: digit by digit, a pause where a hyphen joins them.
    ("020-12345678", HANS, "〇二〇 一二三四 五六七八"),
    ("020-12345678", EN, "zero two zero, one two three four, five six seven eight"),
    ("400-820-8820", HANT, "四〇〇 八二〇 八八二〇"),
    ("13800138000", HANS, "一三八 〇〇一三 八〇〇〇"),
    ("验证码 1234", HANS, "验证码 一二三四"),
    ("驗證碼：0427", HANT, "驗證碼，〇四二七"),
    ("房间 0302", HANS, "房间 〇三〇二"),
    ("Your code is 0427.", EN, "Your code is zero four two seven."),
    ("案件编号 2026-0001", HANS, "案件编号 二〇二六 〇〇〇一"),
    ("RFC3339", EN, "RFC three three three nine"),
    # Ranges: an en dash, a tilde or a hyphen between two numbers or times.
    ("8–64", HANS, "八到六十四"),
    ("8-64 位", HANS, "八到六十四 位"),
    ("8~64", HANT, "八到六十四"),
    ("8–64", EN, "eight to sixty four"),
    ("8-64 letters", EN, "eight to sixty four letters"),
    ("8 ~ 64", EN, "eight to sixty four"),
    ("1-3 个工作日", HANS, "一到三 个工作日"),
    ("09:00-17:00", HANS, "九点整到十七点整"),
    ("9:00–17:00", EN, "nine o'clock in the morning to five o'clock in the afternoon"),
    ("50%~80%", HANT, "百分之五十到百分之八十"),
    ("¥10–¥20", EN, "ten yuan to twenty yuan"),
    # A date stays a date, and a span of dates goes from one to the other.
    ("2026-12-01", HANS, "二〇二六年十二月一日"),
    ("2026-12-01", HANT, "二〇二六年十二月一日"),
    ("2026-12-01", EN, "the first of December two thousand twenty six"),
    ("2026年12月1日", HANS, "二〇二六年十二月一日"),
    ("2026-12-01~2026-12-31", HANS, "二〇二六年十二月一日到二〇二六年十二月三十一日"),
    # Amounts and counts as words.
    ("¥52,316.08", HANT, "五萬二千三百一十六元零八分"),
    ("52,316 人", HANS, "五万二千三百一十六 人"),
    ("12,500 people", EN, "twelve thousand five hundred people"),
    ("共 180 秒", HANS, "共 一百八十 秒"),
    # Symbols that mean something are said or paused at.
    ("8–64 位字母、数字、-、_", HANS, "八到六十四 位字母、数字、短横线、下划线"),
    ("8–64 位字母、數字、-、_", HANT, "八到六十四 位字母、數字、短橫線、底線"),
    ("8-64 letters, digits, - or _.", EN, "eight to sixty four letters, digits, hyphen or underscore."),
    ("A-B", HANS, "A，B"),
    ("A-B", EN, "A, B"),
    ("苹果、香蕉", HANS, "苹果、香蕉"),
    ("1、2、3", EN, "one, two, three"),
    ("请求头（8–64 位）。", HANS, "请求头，八到六十四 位。"),
    ("required (8-64 letters).", EN, "required, eight to sixty four letters."),
    # A hyphen or an underscore inside a word is no pause.
    ("Enter a valid 11-digit number.", EN, "Enter a valid eleven digit number."),
    ("e-licence", EN, "e licence"),
    ("ap_nobody", EN, "ap nobody"),
]


@pytest.mark.parametrize(("text", "language", "expected"), CASES)
def test_numbers_and_symbols_are_read_as_a_person_would(text, language, expected):
    assert spoken(text, language) == expected


def test_the_table_covers_all_three_languages():
    languages = [language for _, language, _ in CASES]
    assert len(CASES) >= 30 and {languages.count(language) >= 8 for language in (HANS, HANT, EN)} == {True}


@pytest.mark.parametrize("language", [HANS, HANT, EN])
def test_no_hyphen_underscore_or_tilde_is_left_for_a_synthesiser(language):
    said = spoken("Idempotency-Key（8–64 位字母、数字、-、_），020-12345678，8~64，尾号 789X", language)
    assert not re.search(r"[-_~–0-9]", said), said


async def test_a_son_hears_his_mothers_id_ending_digit_by_digit(client, sms):
    mother = await elder(client, sms, id_number=ELDER_ID_ENDING_IN_X)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)

    shown = await client.get(f"/api/v1/family/{mother.id}/id-attestation", headers=son.headers)
    assert shown.status_code == 200, shown.text
    assert shown.json()["id_last4"] == "104X"
    assert "一〇四X" in shown.json()["tts_text"] and "104" not in shown.json()["tts_text"]

    english = await client.get(f"/api/v1/family/{mother.id}/id-attestation",
                               headers={**son.headers, "Accept-Language": "en"})
    assert "ending one zero four X" in english.json()["tts_text"], english.json()["tts_text"]


async def test_a_hong_kong_mothers_attestation_names_her_residence_permit_not_an_id_card(client, sms):
    """Her 港澳台居民居住证 is confirmed (实名) but is not a 身份证: the attestation says 证件号码, in every language."""
    mother = await sign_in(client, sms, device="老人机")
    permit = gb11643_number("810000", "19580226", "027")  # 示例: born 1958, over 60
    bound = await post(client, mother, "陈淑仪", permit, document_type="residence_permit")
    assert bound.json()["confirmed"] is True, bound.text
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)

    shown = await client.get(f"/api/v1/family/{mother.id}/id-attestation", headers=son.headers)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert (body["verified"], body["resident_id"], body["age_over_60"], body["age_over_18"]) == (True, False, True, True)
    assert body["id_last4"] == permit[-4:]
    assert "证件号码后四位" in body["tts_text"] and "身份证" not in body["tts_text"], body["tts_text"]
    traditional = await client.get(f"/api/v1/family/{mother.id}/id-attestation",
                                   headers={**son.headers, "Accept-Language": "zh-Hant"})
    assert "證件號碼後四位" in traditional.json()["tts_text"], traditional.json()["tts_text"]
    english = await client.get(f"/api/v1/family/{mother.id}/id-attestation",
                               headers={**son.headers, "Accept-Language": "en"})
    assert "document number ending" in english.json()["tts_text"], english.json()["tts_text"]


async def test_a_converted_macao_code_says_its_colour_where_it_came_from_and_until_when(client, sms, clock):
    clock.set(datetime(2026, 12, 1, 1, 28, 10, tzinfo=timezone.utc))  # 09:28 in China
    macao = await make_partner(client, await make_partner_admin(clock))
    zhang_san = await sign_in(client, sms)
    await verify_real_name(client, zhang_san, name="张三", id_number=ZHANG_SAN_ID_NUMBER)
    source = macao.issue_code("yellow", "*三", ttl=120)  # until 09:30 in China

    converted = await client.post(CONVERSIONS, headers=zhang_san.headers,
                                  json={"code": source.payload, "consent": True})
    assert converted.status_code == 201, converted.text
    assert converted.json()["tts_text"] == (
        "您的健康码是黄码。由澳门的健康码转码，原状态，黄码。"
        "这个码的有效期到 二〇二六年十二月一日九点三十分。")

    english = await client.post(CONVERSIONS, headers={**zhang_san.headers, "Accept-Language": "en"},
                                json={"code": source.payload, "consent": True})
    assert english.status_code == 201, english.text
    assert english.json()["tts_text"] == (
        "Your health code is Yellow. Converted from a code of Macao, status there, Yellow code. "
        "This code is valid until the first of December two thousand twenty six at nine thirty in the morning.")
