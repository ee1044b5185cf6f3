"""Time that is enough: codes and login codes extended in elderly mode, seconds left, a voice-call code."""

from __future__ import annotations

import asyncio
import re

from app.audit import AuditEntry
from health_code.codec import verify_offline
from tests.factories import last_code, sign_in
from tests.elderly_mode.elderly_factory import elder
from tests.vouchers.voucher_factory import shown_token, voucher_holder

HEALTH_CODE = "/api/v1/health-code"
EXTEND = "/api/v1/health-code/extension"


async def test_an_elder_extends_her_health_code_to_twice_its_lifetime(client, sms, clock):
    grandma = await elder(client, sms)
    shown = (await client.get(HEALTH_CODE, headers=grandma.headers)).json()
    assert 179 <= shown["seconds_left"] <= 180
    assert shown["tts_text"].startswith("您的健康码是绿码。未发现风险。这个码的有效期到 二〇")
    assert shown["status_label"] == {"label": "绿码", "icon": "check-circle", "colour": "success"}
    clock.advance(100)  # the guard at the door takes his time
    extended = await client.post(EXTEND, headers=grandma.headers)
    assert extended.status_code == 200, extended.text
    body = extended.json()
    assert body["extended"] is True and body["payload"] != shown["payload"] and body["color"] == "green"
    # Twice the lifetime of the code first shown (180 s), counted from when it was shown.
    assert abs(body["seconds_left"] - (2 * 180 - 100)) <= 1
    # The code on screen is now the extended one, and it verifies offline past the first lifetime.
    again = (await client.get(HEALTH_CODE, headers=grandma.headers)).json()
    assert again["payload"] == body["payload"] and again["seconds_left"] == body["seconds_left"]
    clock.advance(200)  # 300 s after the first code: past 180, within 360
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = verify_offline(body["payload"], jwks, clock.now())
    assert claims.colour == "green"
    assert await AuditEntry.filter(subject_id=grandma.id, action="health_code_extended").count() == 1


async def test_extending_twice_or_too_late_or_outside_elderly_mode_is_refused(client, sms, clock):
    grandma = await elder(client, sms)
    await client.get(HEALTH_CODE, headers=grandma.headers)
    assert (await client.post(EXTEND, headers=grandma.headers)).status_code == 200
    twice = await client.post(EXTEND, headers=grandma.headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "ALREADY_EXTENDED"
    assert twice.json()["error"]["next_step"]  # elderly mode: what to do next

    clock.advance(400)  # everything lapsed
    late = await client.post(EXTEND, headers=grandma.headers)
    assert late.status_code == 410 and late.json()["error"]["code"] == "CODE_LAPSED"

    young = await elder(client, sms, elderly=False, name="王小明", id_number=None)
    await client.get(HEALTH_CODE, headers=young.headers)
    refused = await client.post(EXTEND, headers=young.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ELDERLY_MODE_REQUIRED"



async def test_a_status_change_while_her_code_is_being_extended_leaves_no_green_code(client, sms, clock, app,
                                                                                       monkeypatch):
    grandma = await elder(client, sms)
    await client.get(HEALTH_CODE, headers=grandma.headers)
    health = app.ctx.services.health
    real_issue, signing, go_on = health._issue, asyncio.Event(), asyncio.Event()

    async def slow_issue(*args, **kwargs):
        signing.set()
        await go_on.wait()
        return await real_issue(*args, **kwargs)

    monkeypatch.setattr(health, "_issue", slow_issue)
    extending = asyncio.ensure_future(client.post(EXTEND, headers=grandma.headers))
    await signing.wait()  # the extension copies the green code's colour...
    await health.record_evidence(grandma.id, "test_result", clock.now(), {"result": "positive", "lab": "lab_1"},
                                 source="lab:lab_1")  # ...as her status turns red
    go_on.set()
    refused = await extending
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "CODE_LAPSED"
    monkeypatch.setattr(health, "_issue", real_issue)
    assert (await client.get(HEALTH_CODE, headers=grandma.headers)).json()["color"] == "red"


async def test_a_login_code_lives_twice_as_long_for_an_account_in_elderly_mode(client, sms, clock):
    grandma = await elder(client, sms)
    sent = await client.post("/api/v1/auth/otp", json={"phone": grandma.phone})
    assert sent.json()["expires_in"] == 300
    clock.advance(200)  # finding her glasses
    extended = await client.post("/api/v1/auth/otp/extension", json={"phone": grandma.phone})
    assert extended.status_code == 200, extended.text
    assert extended.json() == {"expires_in": 400, "seconds_left": 400}
    twice = await client.post("/api/v1/auth/otp/extension", json={"phone": grandma.phone})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "ALREADY_EXTENDED"
    clock.advance(250)  # 450 s after sending: a normal code would have lapsed at 300
    login = await client.post("/api/v1/auth/login", json={"phone": grandma.phone, "code": last_code(sms, grandma.phone)})
    assert login.status_code == 200, login.text
    # Used once: the same code again is refused (replay protection holds for an extended code).
    replay = await client.post("/api/v1/auth/login", json={"phone": grandma.phone, "code": last_code(sms, grandma.phone)})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "OTP_EXPIRED"


async def test_any_pending_login_code_may_be_extended_so_the_reply_tells_nobody_who_is_in_elderly_mode(
        client, sms, clock):
    someone = await sign_in(client, sms)  # not in elderly mode
    grandma = await elder(client, sms)
    replies = []
    for citizen in (someone, grandma):
        clock.advance(61)
        await client.post("/api/v1/auth/otp", json={"phone": citizen.phone})
        replies.append(await client.post("/api/v1/auth/otp/extension", json={"phone": citizen.phone}))
    assert [(r.status_code, r.json()) for r in replies] == [(200, {"expires_in": 600, "seconds_left": 600})] * 2
    clock.advance(400)
    login = await client.post("/api/v1/auth/login", json={"phone": someone.phone, "code": last_code(sms, someone.phone)})
    assert login.status_code == 200, login.text


async def test_a_login_code_is_not_extended_after_it_lapsed(client, sms, clock):
    grandma = await elder(client, sms)
    clock.advance(61)
    await client.post("/api/v1/auth/otp", json={"phone": grandma.phone})
    clock.advance(301)
    lapsed = await client.post("/api/v1/auth/otp/extension", json={"phone": grandma.phone})
    assert lapsed.status_code == 401 and lapsed.json()["error"]["code"] == "OTP_EXPIRED"
    bad = await client.post("/api/v1/auth/otp/extension", json={"phone": "123"})
    assert bad.status_code == 422


async def test_the_code_can_be_heard_in_a_voice_call_instead_of_read(client, sms):
    phone = "13912345678"
    sent = await client.post("/api/v1/auth/otp", json={"phone": phone, "channel": "voice"})
    assert sent.status_code == 202
    assert sms.outbox(phone) == []  # no text message: a call
    [call] = sms.calls(phone)
    assert "验证码是" in call.text and not re.search(r"\d", call.text)  # digits are spoken, not shown
    spoken = re.search(r"验证码是：([〇一二三四五六七八九，]+)。", call.text).group(1)
    code = "".join(str("〇一二三四五六七八九".index(ch)) for ch in spoken.split("，"))
    assert call.text.count(spoken) == 2  # said twice
    login = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert login.status_code == 200, login.text


async def test_a_failing_voice_gateway_says_so(client, sms):
    sms.fail_next()
    reply = await client.post("/api/v1/auth/otp", json={"phone": "13912345679", "channel": "voice"})
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "SMS_UNAVAILABLE"
    other = await client.post("/api/v1/auth/otp", json={"phone": "13912345679", "channel": "fax"})
    assert other.status_code == 422


async def test_the_id_voucher_qr_says_how_long_it_lasts(client, sms, clock):
    holder = await voucher_holder(client, sms, sequence="517")
    shown = await shown_token(client, holder, clock)
    assert re.fullmatch(r"身份电子凭证二维码已准备好，请把手机交给工作人员扫码。还有 一百(八十|七十九) 秒有效。",
                        shown["tts_text"]), shown["tts_text"]
    await client.put("/api/v1/me/preferences", headers=holder.headers, json={"elderly_mode": True})
    elderly = await shown_token(client, holder, clock)
    assert elderly["tts_text"].endswith("如需更多时间，可以点击延长时间。")
