"""The citizen functions through the mini-program API: the same operations as the phone-app API,
in compact replies, for the signed-in mini-program user only."""

from __future__ import annotations

import pytest

from tests.factories import new_phone, sign_in
from app.security import ratelimit
from tests.miniprogram.conftest import calls
from tests.miniprogram.mp_factory import in_mini_program
from tests.vouchers.voucher_factory import Phone, face_verified, get_voucher, redeem, relying_party


async def test_the_id_voucher_shown_from_the_mini_program_is_redeemed_by_a_hotel(client, sms, clock, platform_api):
    holder = await face_verified(client, sms, name="陈秀英", birth="19560214")
    phone = Phone()
    voucher = await get_voucher(client, holder, phone)
    mp = await in_mini_program(client, platform_api, holder.phone)

    shown = await mp.post("/vouchers/current/presentations", {"device_proof": phone.proof(voucher["id"], clock),
                                                              "attributes": ["age_over_60"]}, 201)
    assert set(shown) == {"token", "attributes", "seconds_left"} and shown["attributes"] == ["age_over_60"]
    assert 0 < shown["seconds_left"] <= 180
    hotel = await relying_party(clock, "白云宾馆（示例）", ["age_over_60"])
    redeemed = await redeem(client, hotel, shown["token"], ["age_over_60"])
    assert redeemed.status_code == 200 and redeemed.json()["attributes"] == {"age_over_60": True}
    log = (await client.get("/api/v1/me/access-log", headers=holder.headers)).json()["items"]
    assert any(e["actor_type"] == "relying_party" and e["purpose"] == "入住登记" for e in log)


async def test_each_mini_program_user_sees_only_their_own_data(client, sms, platform_api):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    mp_first = await in_mini_program(client, platform_api, first.phone)
    mp_second = await in_mini_program(client, platform_api, second.phone)
    inbox_first = await mp_first.get("/notifications")
    inbox_second = await mp_second.get("/notifications")
    assert {m["id"] for m in inbox_first["items"]}.isdisjoint({m["id"] for m in inbox_second["items"]})
    assert (await mp_first.get("/me"))["id"] == first.id and (await mp_second.get("/me"))["id"] == second.id
    assert (await mp_first.get("/appointments"))["items"] == [] and (await mp_first.get("/applications"))["items"] == []


async def test_the_home_screen_is_compact(mp):
    await mp.login()
    await mp.bind_phone(new_phone())
    home = await mp.get("/home")
    assert home["elderly"] is False and home["cards"]
    assert all(set(card) == {"type", "title", "summary", "stale"} for card in home["cards"])
    locked = next(c for c in home["cards"] if c["type"] == "health_code")
    assert locked["summary"]  # a level-1 user is told what to do, not shown a blank


async def test_the_mini_program_gets_the_elderly_preset_at_its_own_font_scale(mp):
    await mp.login()
    await mp.bind_phone(new_phone())
    plain = await mp.get("/elderly/preset")
    scaled = await mp.get("/elderly/preset?font_scale=1.3")  # the platform's fontSizeScaleFactor
    capped = await mp.get("/elderly/preset?font_scale=4")
    assert plain["sizes"]["body_dp"] >= 18 and plain["sizes"]["touch_target_dp"] >= 60
    assert scaled["sizes"]["body_dp"] == pytest.approx(plain["sizes"]["body_dp"] * 1.3)
    assert capped["font_scale"] == plain["font_scale_cap"] == 2.0


async def test_the_health_code_needs_real_name_verification(mp, client):
    await mp.login()
    await mp.bind_phone(new_phone())
    reply = await client.get("/api/mp/v1/health-code", headers=mp.headers)
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"


async def test_logging_out_ends_the_mini_program_session(mp, client):
    await mp.login()
    await mp.bind_phone(new_phone())
    assert (await client.post("/api/mp/v1/auth/logout", headers=mp.headers)).status_code == 204
    after = await client.get("/api/mp/v1/me", headers=mp.headers)
    assert after.status_code == 401 and after.json()["error"]["code"] == "TOKEN_REVOKED"


async def test_an_sms_binding_with_a_wrong_code_says_how_many_tries_are_left(mp, client):
    await mp.login()
    phone = new_phone()
    assert (await client.post("/api/mp/v1/auth/sms-code", json={"bind_ticket": mp.bind_ticket, "phone": phone})).status_code == 202
    wrong = await client.post("/api/mp/v1/auth/sms", json={"bind_ticket": mp.bind_ticket, "phone": phone, "code": "000000"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] in ("OTP_INVALID",)
    assert wrong.json()["error"]["tries_left"] == 4


async def test_an_sms_code_needs_a_live_bind_ticket(client):
    reply = await client.post("/api/mp/v1/auth/sms-code", json={"bind_ticket": "made-up", "phone": new_phone()})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "MP_BIND_TICKET_INVALID"


@pytest.mark.parametrize("body, field", [({}, "code"), ({"code": ""}, "code")])
async def test_a_login_without_a_code_is_a_clear_422(client, body, field):
    reply = await client.post("/api/mp/v1/auth/login", json=body)
    assert reply.status_code == 422 and reply.json()["error"]["fields"][0]["field"] == field


async def test_logins_from_one_address_are_limited_before_the_platform_is_asked(app, mp, client, platform_api):
    platform, limit = app.ctx.services.platform, app.ctx.services.settings.accounts.login_ip_hourly_limit
    # An hour's worth of logins from the test client's address (203.0.113.10) so far.
    await ratelimit.hit(platform.cache, platform.clock, "mp-login-ip:203.0.113.10", limit, 3600, amount=limit)
    code = await mp.wx_login()
    before = (await calls(platform_api))["jscode2session"]
    reply = await client.post("/api/mp/v1/auth/login", json={"code": code})
    assert reply.status_code == 429 and reply.json()["error"]["code"] == "RATE_LIMITED" and reply.headers["Retry-After"]
    assert (await calls(platform_api))["jscode2session"] == before
