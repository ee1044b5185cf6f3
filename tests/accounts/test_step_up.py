"""Confirming it is really the citizen (确认本人操作): a fresh SMS code makes one session fresh for a while,
and sensitive operations ask for that freshness (403 FRESH_OTP_REQUIRED without it)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from app.accounts.step_up import FreshOtpRequired
from app.audit import AuditEntry
from tests.factories import SignedInCitizen, sign_in

CODE = "/api/v1/me/step-up/code"
STEP_UP = "/api/v1/me/step-up"


def step_up_code(sms, phone: str) -> str:
    """The newest step-up code sent to `phone`."""
    for message in sms.outbox(phone):
        found = re.search(r"确认本人操作，验证码为 (\d{6})", message.text)
        if found:
            return found.group(1)
    raise AssertionError("no step-up code in the outbox")


async def session_id_of(client, citizen: SignedInCitizen) -> str:
    reply = await client.get("/api/v1/me/sessions", headers=citizen.headers)
    (current,) = [item for item in reply.json()["items"] if item["current"]]
    return current["id"]


async def step_up(client, sms, citizen: SignedInCitizen) -> dict:
    sent = await client.post(CODE, headers=citizen.headers)
    assert sent.status_code == 202, sent.text
    reply = await client.post(STEP_UP, headers=citizen.headers, json={"code": step_up_code(sms, citizen.phone)})
    assert reply.status_code == 200, reply.text
    return reply.json()


def accounts(app):
    return app.ctx.services.accounts


async def test_a_code_to_my_own_phone_makes_this_session_fresh_for_the_configured_time(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    session_id = await session_id_of(client, citizen)
    with pytest.raises(FreshOtpRequired) as refused:
        await accounts(app).require_fresh_step_up(citizen.id, session_id)
    assert refused.value.status == 403 and refused.value.code == "FRESH_OTP_REQUIRED"
    assert (await client.get(STEP_UP, headers=citizen.headers)).json() == {"fresh_until": None}

    sent = await client.post(CODE, headers=citizen.headers)
    assert sent.status_code == 202
    assert sent.json() == {"sent_to": citizen.phone[:3] + "****" + citizen.phone[-4:], "expires_in": 300, "resend_after": 60}
    assert citizen.phone not in sent.text
    reply = await client.post(STEP_UP, headers=citizen.headers, json={"code": step_up_code(sms, citizen.phone)})
    assert reply.status_code == 200
    fresh_until = datetime.fromisoformat(reply.json()["fresh_until"].replace("Z", "+00:00"))
    assert 298 <= (fresh_until - clock.now()).total_seconds() <= 300
    assert (await client.get(STEP_UP, headers=citizen.headers)).json() == reply.json()
    await accounts(app).require_fresh_step_up(citizen.id, session_id)
    assert await AuditEntry.filter(action="step_up_passed", subject_id=citizen.id).count() == 1

    clock.advance(301)
    with pytest.raises(FreshOtpRequired):
        await accounts(app).require_fresh_step_up(citizen.id, session_id)
    assert (await client.get(STEP_UP, headers=citizen.headers)).json() == {"fresh_until": None}


async def test_the_refusal_says_what_to_do_in_each_language(app, client, sms):
    citizen = await sign_in(client, sms)
    refused = FreshOtpRequired()
    assert refused.message("zh-Hans") == "请先输入短信验证码确认是本人操作。"
    assert refused.message("zh-Hant") == "請先輸入短信驗證碼確認是本人操作。"
    assert refused.message("en") == "Please enter the SMS code to confirm it is you."
    assert refused.extra["step_up"] == {"path": CODE}
    assert citizen.id


async def test_freshness_belongs_to_the_one_session_that_gave_the_code(app, client, sms, clock):
    first = await sign_in(client, sms, device="手机一")
    clock.advance(61)
    second = await sign_in(client, sms, first.phone, device="手机二")
    clock.advance(61)
    await step_up(client, sms, first)
    await accounts(app).require_fresh_step_up(first.id, await session_id_of(client, first))
    with pytest.raises(FreshOtpRequired):
        await accounts(app).require_fresh_step_up(first.id, await session_id_of(client, second))
    # A code sent for one session is no use to another.
    clock.advance(61)
    assert (await client.post(CODE, headers=first.headers)).status_code == 202
    other = await client.post(STEP_UP, headers=second.headers, json={"code": step_up_code(sms, first.phone)})
    assert other.status_code == 401 and other.json()["error"]["code"] == "OTP_EXPIRED"


async def test_signing_out_or_being_signed_out_ends_freshness(app, client, sms, clock):
    first = await sign_in(client, sms, device="手机一")
    clock.advance(61)
    second = await sign_in(client, sms, first.phone, device="手机二")
    first_session, second_session = await session_id_of(client, first), await session_id_of(client, second)
    clock.advance(61)
    await step_up(client, sms, first)
    clock.advance(61)
    await step_up(client, sms, second)

    assert (await client.delete(f"/api/v1/me/sessions/{first_session}", headers=second.headers)).status_code == 204
    with pytest.raises(FreshOtpRequired):
        await accounts(app).require_fresh_step_up(first.id, first_session)
    assert (await client.post("/api/v1/auth/logout", headers=second.headers)).status_code == 204
    with pytest.raises(FreshOtpRequired):
        await accounts(app).require_fresh_step_up(first.id, second_session)


async def test_a_wrong_code_counts_its_tries_and_a_lapsed_or_used_one_is_refused(client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    assert (await client.post(CODE, headers=citizen.headers)).status_code == 202
    code = step_up_code(sms, citizen.phone)
    wrong = await client.post(STEP_UP, headers=citizen.headers, json={"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "OTP_INVALID" and wrong.json()["error"]["tries_left"] == 4
    malformed = await client.post(STEP_UP, headers=citizen.headers, json={"code": "12ab"})
    assert malformed.status_code == 422

    assert (await client.post(STEP_UP, headers=citizen.headers, json={"code": code})).status_code == 200
    reused = await client.post(STEP_UP, headers=citizen.headers, json={"code": code})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "OTP_EXPIRED"

    clock.advance(61)
    assert (await client.post(CODE, headers=citizen.headers)).status_code == 202
    clock.advance(301)
    lapsed = await client.post(STEP_UP, headers=citizen.headers, json={"code": step_up_code(sms, citizen.phone)})
    assert lapsed.status_code == 401 and lapsed.json()["error"]["code"] == "OTP_EXPIRED"


async def test_codes_are_rate_limited_as_login_codes_are(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    assert (await client.post(CODE, headers=citizen.headers)).status_code == 202
    again = await client.post(CODE, headers=citizen.headers)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) <= 60
    # The phone's daily cap is shared with its login codes (one was sent to sign in, one just now).
    app.ctx.services.accounts.settings = app.ctx.services.settings.with_(otp_daily_limit=2)
    clock.advance(61)
    capped = await client.post(CODE, headers=citizen.headers)
    assert capped.status_code == 429


async def test_the_step_up_endpoints_need_a_signed_in_citizen(client):
    assert (await client.post(CODE)).status_code == 401
    assert (await client.post(STEP_UP, json={"code": "123456"})).status_code == 401
    assert (await client.get(STEP_UP)).status_code == 401


async def test_the_sms_names_the_operation_to_confirm(client, sms, clock):
    citizen = await sign_in(client, sms)
    clock.advance(61)
    sent = await client.post(CODE, headers=citizen.headers, json={"operation": "account_deletion"})
    assert sent.status_code == 202, sent.text
    assert "您正在为注销账号确认本人操作，验证码为" in sms.outbox(citizen.phone)[0].text
    (entry,) = await AuditEntry.filter(action="step_up_code_sent", subject_id=citizen.id)
    assert entry.attributes["operation"] == "account_deletion"
    reply = await client.post(STEP_UP, headers=citizen.headers, json={"code": step_up_code(sms, citizen.phone)})
    assert reply.status_code == 200
    unknown = await client.post(CODE, headers=citizen.headers, json={"operation": "transfer_money"})
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["field"] == "operation"
