"""The texts each domain wrote inline in three languages now come from the catalogs, word for word.

One representative text per domain, compared to the words it had before it moved (the catalog test
checks that every marked text has its translations; this checks they are the same words).
"""

from __future__ import annotations

import pytest

from app.accounts.rules import LEVEL_FACE
from app.accounts.service import IdentityLevelRequired
from app.departments.provident_fund import FundRule, status_text
from app.departments.social_insurance_words import SCHEMES, text
from app.departments.traffic import POINTS_NOTICES
from app.i18n import EN, LANGUAGES, ZH_HANS, ZH_HANT, translate
from app.notifications.channels import render_text
from app.notifications.sms_templates import sms_params
from app.payments.rules import state_text
from app.services.applications.service import status_text as application_status_text
from app.services.cards.service import describe_provident_fund
from app.vouchers.licences import validity_text
from elderly_mode import guidance, presets, replies

pytestmark = pytest.mark.unit


def in_each_language(say) -> list[str]:
    return [say(language) for language in LANGUAGES]


def test_an_inbox_message_keeps_its_words():
    params = {"device": "小米 14", "at": "2026-12-06 09:30"}
    assert in_each_language(lambda language: render_text("login_new_device", params, language)) == [
        ("新设备登录提醒", "您的账号于 2026-12-06 09:30 在“小米 14”上登录。如非本人操作，请在“登录设备”中将其退出。"),
        ("新裝置登入提醒", "您的帳號於 2026-12-06 09:30 在「小米 14」上登入。如非本人操作，請在「登入裝置」中將其登出。"),
        ("New sign-in", "Your account was signed in on “小米 14” at 2026-12-06 09:30. If this was not you, sign it out under Devices."),
    ]


def test_a_parameter_given_in_each_language_is_said_in_the_language_read():
    params = {"proxy": "*明", "phone_tail": "1234", "relation_hans": "子女", "relation_hant": "子女",
              "relation_en": "son or daughter", "code": "123456", "minutes": "10", "until": "09:40"}
    hans, hant, en = (body for _, body in in_each_language(
        lambda language: render_text("family_consent_requested", params, language)))
    assert hans.startswith("*明（手机尾号 1234）申请作为您的亲友代办人（子女），可为您出示健康码")
    assert hant.startswith("*明（手機尾號 1234）申請作為您的親友代辦人（子女），可為您出示健康碼")
    assert en.startswith("*明 (phone ending 1234) asks to act for you as your son or daughter: to show your health code")
    # the SMS template's parameters keep their order: the relation is the third, in zh-Hans
    assert sms_params("family_consent_requested", params)[:3] == ["*明", "1234", "子女"]


def test_the_health_code_notices_name_the_colour_in_each_language():
    assert [body for _, body in in_each_language(lambda language: render_text("health_code_yellow", {}, language))] == [
        "您的健康码已变为黄码，请打开健康码查看原因。", "您的健康碼已變為黃碼，請開啟健康碼查看原因。",
        "Your health code is now yellow. Open it to see why."]


def test_department_words_keep_their_translations():
    assert in_each_language(lambda language: text(SCHEMES, "110", language)) == [
        "企业职工基本养老保险", "企業職工基本養老保險", "Basic pension insurance (enterprise employees)"]
    assert in_each_language(lambda language: translate(POINTS_NOTICES["near"], language, points=9, left=3)) == [
        "本记分周期已记 9 分，距满分还剩 3 分。", "本記分週期已記 9 分，距滿分還剩 3 分。", "9 points this cycle: 3 left before the limit of 12."]
    assert in_each_language(lambda language: status_text("normal", language)) == ["正常", "正常", "Active"]
    assert in_each_language(lambda language: status_text("sealed", language)) == ["封存", "封存", "Sealed (no deposits)"]
    rule = FundRule("paid_3_months", True, "连续足额缴存满3个月（中心原文）")
    assert in_each_language(rule.text_in) == [
        "连续足额缴存满3个月（中心原文）", "連續足額繳存滿3個月", "Deposits paid in full for the last 3 months"]


def test_a_home_card_keeps_its_words():
    facts = {"balance": 1234.5, "monthly_deposit": 800}
    assert in_each_language(lambda language: describe_provident_fund(facts, language)) == [
        "账户余额 ¥1,234.50 · 月缴存 ¥800.00", "帳戶餘額 ¥1,234.50 · 月繳存 ¥800.00", "Balance ¥1,234.50 · ¥800.00 a month"]


def test_states_of_applications_payments_and_licences_keep_their_words():
    assert in_each_language(lambda language: application_status_text("auto_approved", language)) == [
        "秒批通过", "秒批通過", "Approved instantly"]
    assert application_status_text("no_such_state", EN) == "no_such_state"
    assert in_each_language(lambda language: state_text("partially_refunded", language)) == ["部分退款", "部分退款", "Partly refunded"]
    assert in_each_language(lambda language: validity_text("revoked", language)) == ["已吊销", "已撤銷", "Revoked"]


def test_the_level_an_error_asks_for_keeps_its_words():
    def level_name(language: str) -> str:
        error = IdentityLevelRequired(LEVEL_FACE, 2)
        error.message(language)
        return error.params["level_name"]
    assert in_each_language(level_name) == ["人脸核验", "人臉核驗", "the face check"]


def test_elderly_mode_words_and_spoken_texts_keep_their_words():
    assert in_each_language(lambda language: presets.status_label("ok", language)["label"]) == ["正常", "正常", "OK"]
    assert in_each_language(lambda language: guidance.next_step("TOKEN_EXPIRED", language)) == [
        "请重新登录一次。", "請重新登入一次。", "Please sign in once more."]
    assert replies.voucher(30, True, ZH_HANT).startswith("身分電子憑證二維碼已準備好，請把手機交給工作人員掃碼。")
    assert "If you need more time, tap Extend" in replies.voucher(30, True, EN)
    assert "还有 三十 秒有效，如需更多时间，可以点击延长时间" in replies.voucher(30, True, ZH_HANS)
