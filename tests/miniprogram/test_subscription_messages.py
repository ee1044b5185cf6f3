"""Subscription messages (订阅消息): when an application moves on or the health-code colour changes, a
citizen who uses the mini-program and accepted that kind of message gets one through the platform,
one message per acceptance. Nobody else is sent anything, and a platform failure is retried."""

from __future__ import annotations

from app.miniprogram.models import MiniProgramSubscription
from app.miniprogram.topics import TOPICS
from app.notifications import channels
from app.notifications.models import NotificationDelivery
from tests.factories import sign_in, valid_id_number, verify_real_name
from tests.miniprogram.conftest import calls, fault
from tests.miniprogram.mp_factory import in_mini_program, messages_to
from tests.services.service_factory import apply, make_item

SYMPTOMS = {"symptoms": True, "travel_regions": [], "truthful": True}


async def mini_program_deliveries(kind: str, citizen_id: str) -> list[tuple[str, str | None]]:
    rows = await NotificationDelivery.filter(channel="mini_program", notification__kind=kind,
                                             notification__citizen_id=citizen_id)
    return [(d.status, d.last_error) for d in rows]


async def test_an_application_step_is_sent_to_a_subscribed_citizen(client, sms, clock, platform_api):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    mp = await in_mini_program(client, platform_api, citizen.phone, "application_status")
    item = await make_item(clock, materials=[])

    assert (await apply(client, citizen, item.id, materials=[])).status_code == 201
    (message,) = await messages_to(platform_api, mp)
    assert message["template_id"] == TOPICS["application_status"]["template_id"]
    assert message["data"]["thing1"] == {"value": "申请已受理"}
    assert message["data"]["thing2"] == {"value": "广州市老年人优待证申领（示例）"}
    assert message["page"] == "pages/applications/index"
    assert (await mp.get("/subscriptions"))["remaining"]["application_status"] == 0  # one acceptance, one message

    # The compact list shows the same application.
    (mine,) = (await mp.get("/applications"))["items"]
    assert (mine["item"], mine["status"]) == ("广州市老年人优待证申领（示例）", "under_review")


async def test_a_second_step_without_a_new_acceptance_is_not_sent(client, sms, clock, platform_api):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    mp = await in_mini_program(client, platform_api, citizen.phone, "application_status")
    item = await make_item(clock, materials=[])
    await apply(client, citizen, item.id, materials=[])
    await apply(client, citizen, (await make_item(clock, materials=[])).id, materials=[])
    assert len(await messages_to(platform_api, mp)) == 1
    assert await mini_program_deliveries("application_submitted", citizen.id) in (
        [("sent", None), ("skipped", "no application_status subscription left")],
        [("skipped", "no application_status subscription left"), ("sent", None)])


async def test_a_health_code_colour_change_is_sent_and_the_inbox_has_it_too(client, sms, platform_api):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    mp = await in_mini_program(client, platform_api, citizen.phone, "health_code")
    reply = await client.post("/api/v1/health-code/declarations", headers=citizen.headers, json=SYMPTOMS)
    assert reply.status_code == 200 and reply.json()["color"] != "green"

    (message,) = await messages_to(platform_api, mp)
    assert message["template_id"] == TOPICS["health_code"]["template_id"]
    assert message["data"]["thing1"] == {"value": "健康码状态变更"}
    colour_word = {"yellow": "黄码", "red": "红码"}[reply.json()["color"]]
    assert colour_word in message["data"]["thing2"]["value"]
    code = await mp.get("/health-code")
    assert code["color"] == reply.json()["color"] and code["text"] == colour_word


async def test_without_a_subscription_or_a_mini_program_nothing_is_sent(client, sms, platform_api):
    only_app = await sign_in(client, sms)
    await verify_real_name(client, only_app)
    in_wechat_but_not_subscribed = await sign_in(client, sms)
    await verify_real_name(client, in_wechat_but_not_subscribed, id_number=valid_id_number(sequence="456"))
    mp = await in_mini_program(client, platform_api, in_wechat_but_not_subscribed.phone)
    before = (await calls(platform_api))["subscribe_send"]

    for citizen in (only_app, in_wechat_but_not_subscribed):
        await client.post("/api/v1/health-code/declarations", headers=citizen.headers, json=SYMPTOMS)
    assert (await calls(platform_api))["subscribe_send"] == before  # the platform was not even asked
    assert await messages_to(platform_api, mp) == []
    kinds = [f"health_code_{c}" for c in ("yellow", "red")]
    assert [d for k in kinds for d in await mini_program_deliveries(k, only_app.id)] == [("skipped", "no mini-program bound")]
    assert [d for k in kinds for d in await mini_program_deliveries(k, in_wechat_but_not_subscribed.id)] == [
        ("skipped", "no health_code subscription left")]


async def test_a_platform_failure_is_retried_and_the_acceptance_kept(client, sms, clock, platform_api, platform):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    mp = await in_mini_program(client, platform_api, citizen.phone, "health_code")
    await fault(platform_api, "subscribe_send", "errcode", errcode=-1)
    await client.post("/api/v1/health-code/declarations", headers=citizen.headers, json=SYMPTOMS)
    (failed,) = await NotificationDelivery.filter(channel="mini_program", notification__citizen_id=citizen.id,
                                                  notification__kind__startswith="health_code_")
    assert (failed.status, failed.last_error) == ("failed", "mini-program platform: refused (errcode -1)")
    assert (await MiniProgramSubscription.get(citizen_id=citizen.id, topic="health_code")).remaining == 1

    clock.advance(31)
    assert await channels.retry_due(platform) == 1
    assert len(await messages_to(platform_api, mp)) == 1
    assert (await MiniProgramSubscription.get(citizen_id=citizen.id, topic="health_code")).remaining == 0


async def test_a_message_sent_while_the_platform_is_down_waits_and_is_delivered_when_it_is_back(
        client, sms, clock, platform_api, platform_host, platform):
    """Nothing listens where the platform should be when the health code turns: the citizen's own
    declaration is not held up, the message waits with its acceptance kept, a retry during the outage
    fails the same way, and the first retry after the platform is back delivers it. Lost: nothing."""
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    mp = await in_mini_program(client, platform_api, citizen.phone, "health_code")
    await platform_host.go_down()

    declared = await client.post("/api/v1/health-code/declarations", headers=citizen.headers, json=SYMPTOMS)
    assert declared.status_code == 200 and declared.json()["color"] != "green"
    (waiting,) = await NotificationDelivery.filter(channel="mini_program", notification__citizen_id=citizen.id,
                                                   notification__kind__startswith="health_code_")
    assert (waiting.status, waiting.attempts) == ("failed", 1) and waiting.next_attempt_at is not None
    assert waiting.last_error.startswith("mini-program platform: unreachable"), waiting.last_error
    assert (await MiniProgramSubscription.get(citizen_id=citizen.id, topic="health_code")).remaining == 1

    clock.advance(31)
    assert await channels.retry_due(platform) == 1  # still down: tried, failed, kept for later
    await waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == ("failed", 2) and waiting.next_attempt_at is not None
    assert (await MiniProgramSubscription.get(citizen_id=citizen.id, topic="health_code")).remaining == 1

    await platform_host.come_back()
    assert await messages_to(platform_api, mp) == []
    clock.advance(121)
    assert await channels.retry_due(platform) == 1
    (message,) = await messages_to(platform_api, mp)
    assert message["template_id"] == TOPICS["health_code"]["template_id"]
    await waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts, waiting.last_error) == ("sent", 3, None)
    assert (await MiniProgramSubscription.get(citizen_id=citizen.id, topic="health_code")).remaining == 0
    clock.advance(600)
    assert await channels.retry_due(platform) == 0 and len(await messages_to(platform_api, mp)) == 1  # sent once


async def test_a_user_who_turned_messages_off_on_the_platform_is_not_retried(client, sms, platform_api):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    await in_mini_program(client, platform_api, citizen.phone, "health_code")
    await fault(platform_api, "subscribe_send", "errcode", errcode=43101)
    await client.post("/api/v1/health-code/declarations", headers=citizen.headers, json=SYMPTOMS)
    (skipped,) = await NotificationDelivery.filter(channel="mini_program", notification__citizen_id=citizen.id,
                                                   notification__kind__startswith="health_code_")
    assert (skipped.status, skipped.next_attempt_at, skipped.last_error) == \
        ("skipped", None, "the user turned these messages off")
    assert (await MiniProgramSubscription.get(citizen_id=citizen.id, topic="health_code")).remaining == 0


async def test_unknown_topics_are_refused_and_rejections_change_nothing(mp, client):
    await mp.login()
    await mp.bind_phone("13712345678")
    reply = await client.post("/api/mp/v1/subscriptions", headers=mp.headers, json={"answers": {"lottery": "accept"}})
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "MP_TOPIC_UNKNOWN"
    kept = await mp.post("/subscriptions", {"answers": {"health_code": "reject", "appointment": "accept"}})
    assert kept["remaining"] == {"application_status": 0, "health_code": 0, "appointment": 1}


async def test_acceptances_of_one_citizen_are_not_anothers(client, sms, platform_api):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    mp_first = await in_mini_program(client, platform_api, first.phone, "appointment")
    await mp_first.subscribe("appointment")  # asked twice, accepted twice: two messages allowed
    mp_second = await in_mini_program(client, platform_api, second.phone)
    assert (await mp_first.get("/subscriptions"))["remaining"]["appointment"] == 2
    assert (await mp_second.get("/subscriptions"))["remaining"]["appointment"] == 0
