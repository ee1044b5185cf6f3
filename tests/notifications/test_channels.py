"""Message channels (消息通道): every message lands in the inbox; templates that ask for it also go out by
SMS and as a mini-program subscription message. A gateway that fails never fails the sender: the
delivery is recorded as failed and retried later, waiting longer each time, until it gives up."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import timedelta

import pytest

from app.notifications import channels
from app.platform import build_platform
from app.notifications.service import notify
from app.notifications.templates import TEMPLATES
from app.notifications.models import NotificationDelivery
from app.miniprogram.topics import TOPICS
from tests.factories import sign_in
from tests.miniprogram.conftest import fault
from tests.miniprogram.mp_factory import in_mini_program, messages_to

REMINDER = {"item": "往来港澳通行证再次签注（示例）", "office": "天河区政务服务中心（示例）", "time": "09:30"}


@pytest.fixture
def mini_program(client, platform_api):
    """Bind a citizen in the mini-program (stand-in platform process) and accept appointment messages."""

    async def bind(citizen):
        return await in_mini_program(client, platform_api, citizen.phone, "appointment")

    return bind


async def deliveries(message_id: str) -> dict[str, NotificationDelivery]:
    return {d.channel: d for d in await NotificationDelivery.filter(notification_id=message_id)}


def reminder_sms(sms, phone: str) -> list[str]:
    return [m.text for m in sms.outbox(phone) if "预约办事提醒" in m.text]


async def test_an_in_app_only_message_is_delivered_when_stored(client, sms, clock, platform):
    citizen = await sign_in(client, sms, device="华为 Mate 60")
    texts_before = len(sms.outbox(citizen.phone))
    message = await notify(platform, citizen.id, "identity_verified")
    (delivery,) = (await deliveries(message.id)).values()
    assert (delivery.channel, delivery.status, delivery.attempts, delivery.next_attempt_at) == ("in_app", "sent", 1, None)
    assert len(sms.outbox(citizen.phone)) == texts_before  # nothing texted


async def test_a_reminder_goes_to_the_inbox_by_sms_and_to_the_mini_program(client, sms, clock, mini_program, platform_api, platform):
    citizen = await sign_in(client, sms)
    mp = await mini_program(citizen)
    message = await notify(platform, citizen.id, "appointment_reminder", REMINDER)

    sent = await deliveries(message.id)
    assert {name: (d.status, d.attempts, d.last_error) for name, d in sent.items()} == {
        "in_app": ("sent", 1, None), "sms": ("sent", 1, None), "mini_program": ("sent", 1, None)}
    assert reminder_sms(sms, citizen.phone) == [
        "【粤省事示例】预约办事提醒：您预约了明天 09:30（北京时间）在天河区政务服务中心（示例）办理“往来港澳通行证再次签注（示例）”，"
        "请携带所需材料按时前往。如不能前往，请提前取消预约。"]
    (pushed,) = await messages_to(platform_api, mp)
    assert pushed["template_id"] == TOPICS["appointment"]["template_id"] and pushed["data"]["thing1"] == {"value": "预约办事提醒"}
    assert pushed["data"]["thing2"] == {"value": REMINDER["item"]} and pushed["msgid"] > 0

    english = await client.get("/api/v1/notifications", headers={**citizen.headers, "Accept-Language": "en"})
    assert english.json()["items"][0]["title"] == "Appointment tomorrow"  # the inbox still speaks the reader's language


async def test_a_failed_sms_is_recorded_and_sent_by_the_retry_job(client, sms, clock, mini_program, platform_api, caplog, platform):
    citizen = await sign_in(client, sms)
    mp = await mini_program(citizen)
    sms.fail_next(1)
    with caplog.at_level(logging.WARNING):
        message = await notify(platform, citizen.id, "appointment_reminder", REMINDER)  # does not raise
    failed = (await deliveries(message.id))["sms"]
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "sms gateway: InternalError")
    assert timedelta(seconds=29) < failed.next_attempt_at - clock.now() <= timedelta(seconds=30)
    assert (await deliveries(message.id))["mini_program"].status == "sent"
    assert reminder_sms(sms, citizen.phone) == []
    assert citizen.phone not in caplog.text  # the number never reaches the log

    assert await channels.retry_due(platform) == 0  # not due yet
    clock.advance(31)
    assert await channels.retry_due(platform) == 1
    retried = (await deliveries(message.id))["sms"]
    assert (retried.status, retried.attempts, retried.next_attempt_at, retried.last_error) == ("sent", 2, None, None)
    assert len(reminder_sms(sms, citizen.phone)) == 1
    assert await channels.retry_due(platform) == 0
    assert len(await messages_to(platform_api, mp)) == 1  # channels that worked are not sent again


async def test_retries_back_off_and_give_up_after_the_last_attempt(client, sms, clock, mini_program, platform):
    citizen = await sign_in(client, sms)
    sms.fail_next(10)
    message = await notify(platform, citizen.id, "appointment_reminder", REMINDER)
    waits = []
    for attempt in (1, 2, 3):
        delivery = (await deliveries(message.id))["sms"]
        assert (delivery.status, delivery.attempts) == ("failed", attempt)
        waits.append(round((delivery.next_attempt_at - clock.now()).total_seconds()))
        clock.advance(waits[-1] - 5)
        assert await channels.retry_due(platform) == 0  # a little early: still waiting
        clock.advance(6)
        assert await channels.retry_due(platform) == 1
    assert waits == [30, 120, 480]

    given_up = (await deliveries(message.id))["sms"]
    assert (given_up.status, given_up.attempts, given_up.next_attempt_at) == ("failed", 4, None)
    clock.advance(days=1)
    assert await channels.retry_due(platform) == 0
    assert reminder_sms(sms, citizen.phone) == []
    assert (await deliveries(message.id))["in_app"].status == "sent"  # the inbox has it all along


async def test_a_slow_channel_times_out_without_holding_up_the_sender(app, client, sms, clock, mini_program, platform_api, platform):
    citizen = await sign_in(client, sms)
    mp = await mini_program(citizen)
    settings = platform.channels
    assert settings is not None
    await app.ctx.services.mini_program.access_token()  # fetched beforehand: the send itself is what hangs
    await fault(platform_api, "subscribe_send", "timeout", delay=3)
    settings.timeout = 0.3
    started = time.perf_counter()
    message = await notify(platform, citizen.id, "appointment_reminder", REMINDER)
    assert time.perf_counter() - started < 2
    slow = (await deliveries(message.id))["mini_program"]
    assert (slow.status, slow.attempts, slow.last_error) == ("failed", 1, "timed out after 0.3 s")
    assert (await deliveries(message.id))["sms"].status == "sent"

    settings.timeout = 3.0
    await platform_api.delete("/mock/faults")  # (had the cut-off send not even reached it, the hang stays queued)
    await fault(platform_api, "subscribe_send", "http_500")
    clock.advance(31)
    assert await channels.retry_due(platform) == 1
    again = (await deliveries(message.id))["mini_program"]
    assert (again.status, again.attempts, again.last_error) == ("failed", 2, "mini-program platform: http 500")
    assert await messages_to(platform_api, mp) == []
    assert (await mp.get("/subscriptions"))["remaining"]["appointment"] == 1  # not used up by the failures


async def test_two_retry_runs_at_once_send_a_message_once(client, sms, clock, mini_program, platform):
    citizen = await sign_in(client, sms)
    sms.fail_next(1)
    message = await notify(platform, citizen.id, "appointment_reminder", REMINDER)
    clock.advance(31)
    assert sorted(await asyncio.gather(channels.retry_due(platform), channels.retry_due(platform))) == [0, 1]
    assert len(reminder_sms(sms, citizen.phone)) == 1
    assert (await deliveries(message.id))["sms"].attempts == 2


async def test_a_template_may_only_name_known_channels(monkeypatch):
    assert channels.channels_of("login_new_device") == ("in_app", "push")
    assert channels.channels_of("appointment_reminder") == ("in_app", "sms", "mini_program")
    monkeypatch.setitem(TEMPLATES, "carrier_pigeon", {**TEMPLATES["identity_verified"], "channels": ["in_app", "pigeon"]})
    with pytest.raises(ValueError, match="pigeon"):
        channels.channels_of("carrier_pigeon")


async def test_the_retry_policy_comes_from_settings(settings, platform):
    from app.config import ConfigError
    from app.server import create_app

    create_app(settings.with_(notify_channel_timeout=1.5, notify_first_backoff=60, notify_max_attempts=2),
               platform=platform, name=f"channels{secrets.token_hex(4)}")
    policy = platform.channels
    assert policy is not None and (policy.timeout, policy.max_attempts) == (1.5, 2)
    assert [policy.backoff(n).total_seconds() for n in (1, 2)] == [60, 240]
    for wrong in ({"notify_channel_timeout": 0}, {"notify_first_backoff": 0}, {"notify_max_attempts": 11}):
        with pytest.raises(ConfigError, match="APP_NOTIFY_"):
            settings.with_(**wrong)


async def test_a_message_written_where_no_channel_is_set_up_waits_for_the_service(
        client, sms, clock, mini_program, platform, settings):
    citizen = await sign_in(client, sms)
    await mini_program(citizen)
    script = build_platform(settings, clock)  # e.g. a maintenance script's, which writes messages: no senders
    try:
        assert script.channels is None
        message = await notify(script, citizen.id, "appointment_reminder", REMINDER)
        assert {d.channel: (d.status, d.attempts) for d in (await deliveries(message.id)).values()} == {
            "in_app": ("sent", 1), "sms": ("pending", 0), "mini_program": ("pending", 0)}
        assert await channels.retry_due(script) == 0
        assert reminder_sms(sms, citizen.phone) == []
        clock.advance(minutes=3)  # past the lease
        assert await channels.retry_due(script) == 0  # the script still sends nothing
    finally:
        await script.cache.close()
    assert await channels.retry_due(platform) == 2  # the service's retry job does
    assert {d.status for d in (await deliveries(message.id)).values()} == {"sent"}
    assert len(reminder_sms(sms, citizen.phone)) == 1
