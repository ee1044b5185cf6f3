"""Words that can be heard: dates, times, phone digits, amounts and symbols as people say them."""

from __future__ import annotations

import re

import pytest

from elderly_mode.tts import en_number, read_digits, spoken, zh_number
from tests.factories import sign_in
from tests.elderly_mode.elderly_factory import elder

SYMBOLS = re.compile(r"[0-9*#¥￥/\\<>=~_^|{}\[\]【】“”\"·:]")


@pytest.mark.parametrize(("text", "language", "expected"), [
    ("2026-12-01", "zh-Hans", "二〇二六年十二月一日"),
    ("2026-12-01", "zh-Hant", "二〇二六年十二月一日"),
    ("2026-12-01", "en", "the first of December two thousand twenty six"),
    ("2026-03-22", "en", "the twenty second of March two thousand twenty six"),
    ("2026-03-30", "en", "the thirtieth of March two thousand twenty six"),
    ("13800138000", "zh-Hans", "一三八 〇〇一三 八〇〇〇"),
    ("13800138000", "en", "one three eight, zero zero one three, eight zero zero zero"),
    ("¥52,316.08", "zh-Hans", "五万二千三百一十六元零八分"),
    ("¥52,316.08", "zh-Hant", "五萬二千三百一十六元零八分"),
    ("¥2,874.50", "en", "two thousand eight hundred seventy four yuan and fifty fen"),
    ("180", "zh-Hans", "一百八十"),
    ("1005", "zh-Hans", "一千零五"),
    ("15", "zh-Hans", "十五"),
    ("12345", "zh-Hans", "一二三四五"),  # a hotline is read digit by digit
    ("138****8000", "zh-Hans", "一三八，中间几位已隐藏，八〇〇〇"),
    ("*三", "zh-Hans", "某三"),
    ("50%", "zh-Hans", "百分之五十"),
    ("09:00", "zh-Hans", "九点整"),
    ("14:05", "en", "two oh five in the afternoon"),
])
def test_spoken_forms(text, language, expected):
    assert spoken(text, language) == expected


def test_an_rfc3339_time_is_said_in_china_time():
    assert spoken("有效期至 2026-12-01T01:30:00Z", "zh-Hans") == "有效期至 二〇二六年十二月一日九点三十分"
    assert spoken("until 2026-12-01T13:00:00Z", "en") == "until the first of December two thousand twenty six at nine o'clock in the evening"


def test_numbers_in_words():
    assert zh_number(0) == "零" and zh_number(10) == "十" and zh_number(100_000) == "十万"
    assert zh_number(1_000_001) == "一百万零一" and zh_number(20_300) == "二万零三百"
    assert en_number(0) == "zero" and en_number(1_000_001) == "one million one"
    assert read_digits("440104194803152862") == "四四〇一〇四 一九四八〇三一五 二八六二"


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_no_symbol_or_digit_is_left_for_a_synthesiser(language):
    text = "【粤省事】账户余额 ¥52,316.08 · 电话 13800138000 / 12345，时间 2026-12-01T01:30:00Z，进度 50% > 3 项"
    said = spoken(text, language)
    assert not SYMBOLS.search(said), said


async def test_every_error_carries_words_to_hear(client):
    reply = await client.post("/api/v1/auth/otp", json={"phone": "12"})
    body = reply.json()["error"]
    assert reply.status_code == 422
    assert body["tts_text"] == "请输入正确的 十一 位中国大陆手机号码。"
    english = await client.post("/api/v1/auth/otp", json={"phone": "12"}, headers={"Accept-Language": "en"})
    assert english.json()["error"]["tts_text"] == "Enter a valid eleven digit mainland China mobile number."
    assert "next_step" not in body  # not signed in: no elderly mode known


async def test_in_elderly_mode_an_error_says_what_to_do_next(client, sms):
    citizen = await elder(client, sms)
    reply = await client.get("/api/v1/applications/ap_nobody", headers=citizen.headers)
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["message"] == "未找到该办件。如需帮助，请拨打 12345 政务服务便民热线，或请家人帮您操作。"
    assert error["next_step"] == "如需帮助，请拨打 12345 政务服务便民热线，或请家人帮您操作。"
    assert "一二三四五" in error["tts_text"] and "12345" not in error["tts_text"]
    english = await client.get("/api/v1/applications/ap_nobody", headers={**citizen.headers, "Accept-Language": "en"})
    assert english.json()["error"]["message"].endswith("or ask a family member to help you.")


async def test_outside_elderly_mode_the_message_is_unchanged(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.get("/api/v1/applications/ap_nobody", headers=citizen.headers)
    error = reply.json()["error"]
    assert error["message"] == "未找到该办件。" and "next_step" not in error
    assert error["tts_text"] == "未找到该办件。"
