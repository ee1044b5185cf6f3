"""Signing in from a mini-program: the login code is exchanged with the platform server to server,
a new user proves the phone number (the platform's encrypted phone data, or our SMS code) and is
bound; after that, the same WeChat user signs straight in. Platform failures reach the user as
our own error envelope, never as the platform's words."""

from __future__ import annotations

import time

import httpx
import pytest

from app.audit import AuditEntry
from app.miniprogram.models import MiniProgramBinding
from miniprogram_mock.client import JourneyError
from tests.factories import last_code, new_phone, sign_in
from tests.miniprogram.conftest import calls, fault


async def test_a_new_user_binds_with_the_shared_phone_number_and_is_signed_in(mp, client, app):
    first = await mp.login()
    assert first["bound"] is False and first["expires_in"] == 300 and first["bind_ticket"]
    assert "session_key" not in str(first) and "openid" not in str(first)  # neither leaves the server

    phone = new_phone()
    bound = await mp.bind_phone(phone)
    assert bound["bound"] is True and bound["token_type"] == "Bearer" and bound["citizen"]["level"] == 1
    me = await mp.get("/me")
    assert me["phone"] == phone[:3] + "****" + phone[-4:]

    (binding,) = await MiniProgramBinding.filter(citizen_id=bound["citizen"]["id"])
    assert binding.verified_by == "phone_data" and mp.openid not in (binding.openid_enc + binding.openid_hash)
    assert app.ctx.services.platform.pii.decrypt(binding.openid_enc, "mp_openid") == mp.openid
    actions = await AuditEntry.filter(subject_id=bound["citizen"]["id"]).values_list("action", flat=True)
    assert "mini_program_bound" in actions


async def test_a_bound_user_signs_straight_in_next_time_and_the_token_is_only_for_the_mini_program_api(mp, client):
    await mp.login()
    bound = await mp.bind_phone(new_phone())
    mp.token = None
    again = await mp.login()
    assert again["bound"] is True and again["citizen"]["id"] == bound["citizen"]["id"]
    # The mini-program token is refused by the phone-app API, and the other way round.
    assert (await client.get("/api/v1/me", headers=mp.headers)).status_code == 401
    assert (await client.get("/api/mp/v1/me")).status_code == 401


async def test_the_phone_app_account_and_the_mini_program_are_the_same_citizen(mp, client, sms):
    citizen = await sign_in(client, sms)
    await mp.login()
    bound = await mp.bind_phone(citizen.phone)
    assert bound["citizen"]["id"] == citizen.id


async def test_binding_with_an_sms_code_instead(mp, client, sms):
    await mp.login()
    phone = new_phone()

    async def read_code(number: str) -> str:
        return last_code(sms, number)

    bound = await mp.bind_with_sms(phone, read_code)
    assert bound["bound"] is True
    (binding,) = await MiniProgramBinding.filter(citizen_id=bound["citizen"]["id"])
    assert binding.verified_by == "sms"


async def test_a_login_code_works_once(mp, client):
    code = await mp.wx_login()
    assert (await mp.login(code))["bound"] is False
    with pytest.raises(JourneyError) as refused:
        await mp.login(code)
    assert (refused.value.status, refused.value.code) == (401, "MP_CODE_INVALID")


async def test_a_made_up_login_code_is_refused(client):
    reply = await client.post("/api/mp/v1/auth/login", json={"code": "not-a-code"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "MP_CODE_INVALID"
    english = await client.post("/api/mp/v1/auth/login", json={"code": "x"}, headers={"Accept-Language": "en"})
    assert english.json()["error"]["message"].startswith("The mini-program sign-in has expired")
    assert "invalid code" not in english.text  # the platform's errmsg is never passed on


async def test_a_bind_ticket_works_once(mp, client, platform_api):
    await mp.login()
    shared = (await platform_api.post("/mock/phone-number", json={"user": mp.user, "phone": new_phone()})).json()
    body = {"bind_ticket": mp.bind_ticket, "encrypted_data": shared["encryptedData"], "iv": shared["iv"]}
    assert (await client.post("/api/mp/v1/auth/phone", json=body)).status_code == 200
    replay = await client.post("/api/mp/v1/auth/phone", json=body)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "MP_BIND_TICKET_INVALID"


async def test_a_bind_ticket_expires(mp, client, clock):
    await mp.login()
    clock.advance(301)
    with pytest.raises(JourneyError) as refused:
        await mp.bind_phone(new_phone())
    assert (refused.value.status, refused.value.code) == (401, "MP_BIND_TICKET_INVALID")


@pytest.mark.parametrize("watermark, why", [
    ({"watermark_appid": "wx0000000000000000"}, "watermark appid is not ours"),
    ({"watermark_timestamp": int(time.time()) - 3600}, "watermark timestamp is not fresh"),
])
async def test_phone_data_for_another_mini_program_or_too_old_is_refused(mp, watermark, why):
    await mp.login()
    with pytest.raises(JourneyError) as refused:
        await mp.bind_phone(new_phone(), **watermark)
    assert (refused.value.status, refused.value.code) == (422, "MP_PHONE_DATA_INVALID")


async def test_phone_data_of_another_login_does_not_decrypt(mp, client, platform_api):
    await mp.login()
    ticket = mp.bind_ticket
    await mp.login()  # a second login: the platform gave a new session key
    shared = (await platform_api.post("/mock/phone-number", json={"user": mp.user, "phone": new_phone()})).json()
    reply = await client.post("/api/mp/v1/auth/phone", json={"bind_ticket": ticket, "encrypted_data": shared["encryptedData"],
                                                            "iv": shared["iv"]})
    assert reply.status_code == 422 and reply.json()["error"]["reason"] == "does not decrypt with this session"


async def test_tampered_phone_data_is_refused_and_tries_are_limited(mp, client):
    await mp.login()
    body = {"bind_ticket": mp.bind_ticket, "encrypted_data": "AAAAAAAAAAAAAAAAAAAAAA==", "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}
    codes = [(await client.post("/api/mp/v1/auth/phone", json=body)).json()["error"]["code"] for _ in range(6)]
    assert codes == ["MP_PHONE_DATA_INVALID"] * 5 + ["MP_BIND_TICKET_INVALID"]


async def log_in(mp, client) -> httpx.Response:
    """The front-end posts a fresh wx.login code; the whole reply (status, headers, envelope)."""
    return await client.post("/api/mp/v1/auth/login", json={"code": await mp.wx_login()})


def assert_refused(reply: httpx.Response, status: int, code: str, retry_after: str | None) -> None:
    assert (reply.status_code, reply.json()["error"]["code"]) == (status, code), reply.text
    assert reply.headers.get("retry-after") == retry_after


@pytest.mark.parametrize("kind, errcode, status, code, retry_after", [
    ("errcode", 45011, 429, "MP_RATE_LIMITED", "60"),
    ("errcode", -1, 503, "MP_PLATFORM_UNAVAILABLE", "30"),
    ("errcode", 40125, 502, "MP_PLATFORM_ERROR", None),  # our configuration is wrong: trying again will not help
    ("http_500", 0, 503, "MP_PLATFORM_UNAVAILABLE", "30"),
])
async def test_platform_refusals_become_our_error_envelope(mp, client, platform_api, kind, errcode, status, code,
                                                           retry_after):
    await fault(platform_api, "jscode2session", kind, errcode)
    assert_refused(await log_in(mp, client), status, code, retry_after)
    assert (await mp.login())["bound"] is False  # the next try works


async def test_a_platform_that_does_not_answer_in_time_is_unavailable(app, mp, client, platform_api):
    app.ctx.services.mini_program.timeout = 0.3
    await app.ctx.services.mini_program.close()  # the next call makes a client with the short timeout
    await fault(platform_api, "jscode2session", "timeout", delay=2)
    started = time.monotonic()
    refused = await log_in(mp, client)
    assert time.monotonic() - started < 1.5
    assert_refused(refused, 503, "MP_PLATFORM_UNAVAILABLE", "30")


async def test_the_mini_program_platform_really_down(app, mp, client, platform_host):
    """Nothing listens where the platform should be: the login is refused at once with 503 and a
    Retry-After, and when the platform is back the same service signs the user in. Lost: nothing
    (the login code the platform never saw is still good)."""
    await platform_host.go_down()
    code = await mp.wx_login()
    started = time.monotonic()
    refused = await client.post("/api/mp/v1/auth/login", json={"code": code})
    # Refused at once, not after the platform timeout (3 s): a refused connect takes milliseconds, so
    # half the timeout leaves a loaded CI machine ample room while still telling the two apart.
    assert time.monotonic() - started < app.ctx.services.mini_program.timeout / 2
    assert_refused(refused, 503, "MP_PLATFORM_UNAVAILABLE", "30")
    assert "Connect" not in refused.text and str(platform_host.port) not in refused.text
    again = await client.post("/api/mp/v1/auth/login", json={"code": code})
    assert_refused(again, 503, "MP_PLATFORM_UNAVAILABLE", "30")  # still down: the same answer, nothing cached

    await platform_host.come_back()  # no restart, no new configuration
    first = await mp.login(code)
    assert first["bound"] is False and first["bind_ticket"], "the login code of the outage was lost"
    assert (await mp.bind_phone(new_phone()))["bound"] is True


async def test_the_platform_is_asked_once_per_login(mp, platform_api):
    before = (await calls(platform_api))["jscode2session"]
    await mp.login()
    assert (await calls(platform_api))["jscode2session"] == before + 1
