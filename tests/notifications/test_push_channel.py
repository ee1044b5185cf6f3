"""App push (推送) through the API, with the JPush stand-in as its own process: a device registers its push
token; new-device sign-ins, health-code changes, application results and payment notices reach it by push;
a citizen without a device gets an SMS instead; a token the provider no longer knows is dropped; a failing
provider is retried with backoff; signing out ends push to that device; nobody else sees or moves it."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import pytest

from app.accounts.models import LoginSession
from app.notifications import channels
from app.notifications.models import Notification
from app.notifications.service import notify
from app.notifications.models import NotificationDelivery
from standins.jpush.control import JPushStandIn
from tests.factories import SignedInCitizen, sign_in

PAID = {"description": "机动车违法罚款（示例）", "amount": "¥200.00"}


@pytest.fixture
def standin(jpush: JPushStandIn) -> JPushStandIn:
    """The JPush stand-in process of the test run (tests/conftest.py), emptied for this test."""
    return jpush


class FakeSms:
    """Stands in for the SMS channel behind push: which messages went by SMS instead."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, message: Notification) -> None:
        self.sent.append((message.citizen_id, message.kind))

    def kinds_to(self, citizen_id: str) -> list[str]:
        return [kind for who, kind in self.sent if who == citizen_id]


@pytest.fixture
def texts(app, platform) -> FakeSms:
    configured = platform.channels
    assert configured is not None
    fake = FakeSms()
    configured.senders["push"].fallback = fake  # type: ignore[attr-defined]
    return fake


def new_token() -> str:
    return "1a0018970a" + secrets.token_hex(5)  # the shape of a JPush registration id


async def register(client, citizen: SignedInCitizen, token: str, platform: str = "ios"):
    return await client.put("/api/v1/me/sessions/current/push-token", headers=citizen.headers,
                            json={"platform": platform, "token": token})


async def push_delivery(citizen_id: str, kind: str) -> NotificationDelivery:
    message = await Notification.filter(citizen_id=citizen_id, kind=kind).order_by("-created_at", "-id").first()
    assert message is not None
    return await NotificationDelivery.get(notification_id=message.id, channel="push")


async def test_a_new_device_sign_in_reaches_the_registered_device_by_push_and_not_by_sms(
        client, sms, standin, texts, app, caplog):
    citizen = await sign_in(client, sms, device="iPhone 15")
    token = new_token()
    registered = await register(client, citizen, token)
    assert registered.status_code == 200, registered.text
    assert registered.json()["platform"] == "ios" and registered.json()["session_id"].startswith("ses")
    texts.sent.clear()

    with caplog.at_level(logging.DEBUG):
        await sign_in(client, sms, phone=citizen.phone, device="小米 14")
    (shown,) = standin.pushes(token)
    assert (shown["platform"], shown["title"]) == ("ios", "新设备登录提醒")
    assert "“小米 14”上登录" in shown["body"] and shown["extras"]["kind"] == "login_new_device"
    delivery = await push_delivery(citizen.id, "login_new_device")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, None)
    assert shown["extras"]["message_id"] == delivery.notification_id  # type: ignore[attr-defined]
    assert texts.kinds_to(citizen.id) == []
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app"))
    assert "went by push to 1 device" in ours and token not in ours and citizen.phone not in ours


async def test_a_citizen_without_a_device_gets_the_sms(client, sms, standin, texts, clock, platform):
    citizen = await sign_in(client, sms)  # no token registered: the sign-in alert goes by SMS
    assert texts.kinds_to(citizen.id) == ["login_new_device"]
    await notify(platform, citizen.id, "payment_succeeded", PAID)
    assert texts.kinds_to(citizen.id) == ["login_new_device", "payment_succeeded"]
    assert (await push_delivery(citizen.id, "payment_succeeded")).status == "sent"


async def test_results_health_codes_and_payments_go_by_push(client, sms, standin, texts, clock, platform):
    citizen = await sign_in(client, sms)
    token = new_token()
    assert (await register(client, citizen, token, "android")).status_code == 200
    await notify(platform, citizen.id, "health_code_yellow")
    await notify(platform, citizen.id, "application_approved", {"item": "居住证签注（示例）", "number": "A1", "note": "请领取"})
    await notify(platform, citizen.id, "payment_refunded", PAID)
    await notify(platform, citizen.id, "application_submitted", {"item": "居住证签注（示例）", "number": "A1"})  # no push
    assert [p["title"] for p in standin.pushes(token)] == ["退款已到账", "申请已审批通过", "健康码状态变更"]
    assert all(p["platform"] == "android" for p in standin.pushes(token))
    assert texts.kinds_to(citizen.id) == ["login_new_device"]  # before the token only


async def test_an_invalid_token_is_dropped_and_the_sms_goes_instead(client, sms, standin, texts, clock, app, platform):
    citizen = await sign_in(client, sms)
    token = new_token()
    assert (await register(client, citizen, token)).status_code == 200
    standin.invalidate(token)  # the app was removed from the phone
    await notify(platform, citizen.id, "health_code_red")
    assert texts.kinds_to(citizen.id) == ["login_new_device", "health_code_red"]
    assert (await push_delivery(citizen.id, "health_code_red")).status == "sent"
    assert await app.ctx.services.devices.devices_of(citizen.id) == []
    session = await LoginSession.get(citizen_id=citizen.id)
    assert (session.push_platform, session.push_token_enc, session.push_token_hash) == (None, None, None)

    standin.reset()  # were the dropped token still asked, the stand-in would now accept it
    await notify(platform, citizen.id, "payment_failed", PAID)
    assert standin.pushes(token) == [] and texts.kinds_to(citizen.id)[-1] == "payment_failed"


async def test_a_failing_push_provider_is_retried_with_backoff(client, sms, standin, texts, clock, platform):
    citizen = await sign_in(client, sms)
    token = new_token()
    assert (await register(client, citizen, token)).status_code == 200
    standin.behave("fail", count=2)
    await notify(platform, citizen.id, "payment_succeeded", PAID)  # does not raise
    failed = await push_delivery(citizen.id, "payment_succeeded")
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "push provider: 1000")
    assert timedelta(seconds=29) < failed.next_attempt_at - clock.now() <= timedelta(seconds=30)

    assert await channels.retry_due(platform) == 0  # not due yet
    clock.advance(31)
    assert await channels.retry_due(platform) == 1
    again = await push_delivery(citizen.id, "payment_succeeded")
    assert (again.status, again.attempts) == ("failed", 2)
    assert timedelta(seconds=119) < again.next_attempt_at - clock.now() <= timedelta(seconds=120)
    clock.advance(121)
    assert await channels.retry_due(platform) == 1
    sent = await push_delivery(citizen.id, "payment_succeeded")
    assert (sent.status, sent.attempts, sent.next_attempt_at, sent.last_error) == ("sent", 3, None, None)
    assert [p["title"] for p in standin.pushes(token)] == ["缴费成功"]
    assert texts.kinds_to(citizen.id) == ["login_new_device"]  # no SMS while push is only failing for a while


async def test_a_throttled_push_is_retried(client, sms, standin, texts, clock, platform):
    citizen = await sign_in(client, sms)
    token = new_token()
    assert (await register(client, citizen, token)).status_code == 200
    standin.behave("throttle", count=1, delay=20)
    await notify(platform, citizen.id, "payment_expired", PAID)
    throttled = await push_delivery(citizen.id, "payment_expired")
    assert (throttled.status, throttled.last_error) == ("failed", "push provider: 2002")
    clock.advance(31)
    assert await channels.retry_due(platform) == 1
    assert (await push_delivery(citizen.id, "payment_expired")).status == "sent"


async def test_signing_out_ends_push_to_that_device(client, sms, standin, texts, clock, app, platform):
    citizen = await sign_in(client, sms, device="iPhone 15")
    token = new_token()
    assert (await register(client, citizen, token)).status_code == 200
    assert [d.token for d in await app.ctx.services.devices.devices_of(citizen.id)] == [token]
    assert (await client.post("/api/v1/auth/logout", headers=citizen.headers)).status_code == 204

    assert await app.ctx.services.devices.devices_of(citizen.id) == []
    session = await LoginSession.get(citizen_id=citizen.id)
    assert (session.push_token_enc, session.push_token_hash) == (None, None)  # not kept once signed out
    await notify(platform, citizen.id, "payment_succeeded", PAID)
    assert standin.pushes(token) == [] and texts.kinds_to(citizen.id)[-1] == "payment_succeeded"
    assert (await register(client, citizen, token)).status_code == 401  # a signed-out session registers nothing


async def test_a_device_signed_out_remotely_gets_no_more_push(client, sms, standin, texts, clock, app, platform):
    phone_a = await sign_in(client, sms, device="iPhone 15")
    token = new_token()
    assert (await register(client, phone_a, token)).status_code == 200
    tablet = await sign_in(client, sms, phone=phone_a.phone, device="iPad")
    session_a = (await register(client, phone_a, token)).json()["session_id"]
    assert (await client.delete(f"/api/v1/me/sessions/{session_a}", headers=tablet.headers)).status_code == 204
    await notify(platform, phone_a.id, "payment_succeeded", PAID)
    assert [p["title"] for p in standin.pushes(token)] == ["新设备登录提醒"]  # the iPad's sign-in only


@pytest.mark.parametrize(("body", "field"), [
    ({"platform": "windows", "token": "1a0018970a8f3d0b0f9"}, "platform"),
    ({"token": "1a0018970a8f3d0b0f9"}, "platform"),
    ({"platform": "ios", "token": ""}, "token"),
    ({"platform": "ios", "token": "short"}, "token"),
    ({"platform": "ios", "token": "has spaces in it"}, "token"),
    ({"platform": "android", "token": "x" * 300}, "token"),
    ({"platform": "android", "token": 12345678}, "token"),
])
async def test_a_bad_platform_or_token_is_422_naming_the_field(client, sms, body, field):
    citizen = await sign_in(client, sms)
    refused = await client.put("/api/v1/me/sessions/current/push-token", headers=citizen.headers, json=body)
    assert refused.status_code == 422, refused.text
    assert [problem["field"] for problem in refused.json()["error"]["fields"]] == [field]


async def test_registering_needs_a_signed_in_device(client):
    refused = await client.put("/api/v1/me/sessions/current/push-token", json={"platform": "ios", "token": new_token()})
    assert refused.status_code == 401


async def test_another_citizen_cannot_see_or_affect_my_device(client, sms, standin, texts, clock, app, platform):
    mine = await sign_in(client, sms, device="iPhone 15")
    token = new_token()
    my_session = (await register(client, mine, token)).json()["session_id"]
    other = await sign_in(client, sms, device="Galaxy S24")

    listed = (await client.get("/api/v1/me/sessions", headers=other.headers)).json()["items"]
    assert my_session not in [s["id"] for s in listed]
    assert (await client.delete(f"/api/v1/me/sessions/{my_session}", headers=other.headers)).status_code == 404
    await notify(platform, other.id, "payment_succeeded", PAID)
    assert standin.pushes(token) == []  # their messages never reach my phone
    assert [d.session_id for d in await app.ctx.services.devices.devices_of(mine.id)] == [my_session]


async def test_a_token_registered_again_moves_to_the_new_session(client, sms, standin, texts, clock, app, platform):
    first = await sign_in(client, sms, device="iPhone 15")
    token = new_token()
    assert (await register(client, first, token)).status_code == 200
    second = await sign_in(client, sms, device="iPhone 15")  # the same phone, now signed in to another account
    assert (await register(client, second, token)).status_code == 200

    assert await app.ctx.services.devices.devices_of(first.id) == []
    assert [d.token for d in await app.ctx.services.devices.devices_of(second.id)] == [token]
    await notify(platform, first.id, "payment_succeeded", PAID)
    assert standin.pushes(token) == [] and texts.kinds_to(first.id)[-1] == "payment_succeeded"


async def test_one_token_registered_by_two_sessions_at_once_ends_on_one_of_them(client, sms, app):
    import asyncio

    first, second = await sign_in(client, sms), await sign_in(client, sms)
    token = new_token()
    replies = await asyncio.gather(register(client, first, token), register(client, second, token))
    assert [r.status_code for r in replies] == [200, 200]
    holders = await LoginSession.filter(push_token_hash=app.ctx.services.platform.pii.lookup_hash(token, "push_token")).count()
    assert holders == 1


async def test_each_device_is_pushed_in_the_language_it_registered_in(client, sms, standin, clock, platform):
    citizen = await sign_in(client, sms)
    english, traditional = new_token(), new_token()
    assert (await client.put("/api/v1/me/sessions/current/push-token", json={"platform": "android", "token": english},
                             headers={**citizen.headers, "Accept-Language": "en"})).status_code == 200
    tablet = await sign_in(client, sms, phone=citizen.phone, device="iPad")
    assert (await client.put("/api/v1/me/sessions/current/push-token", json={"platform": "ios", "token": traditional},
                             headers={**tablet.headers, "Accept-Language": "zh-HK"})).status_code == 200
    await notify(platform, citizen.id, "payment_succeeded", PAID)
    (in_english,) = [p for p in standin.pushes(english) if p["extras"]["kind"] == "payment_succeeded"]
    (in_traditional,) = [p for p in standin.pushes(traditional) if p["extras"]["kind"] == "payment_succeeded"]
    assert in_english["title"] == "Payment received" and "机动车" in in_english["body"]
    assert in_traditional["title"] == "繳費成功"
