"""The citizen's inbox (消息中心): sign-in alerts arrive, in the reader's language, and can be read."""

from __future__ import annotations

import pytest

from app.notifications.models import Notification
from app.notifications.service import notify
from tests.factories import sign_in, verify_real_name


async def inbox(client, citizen, **params):
    reply = await client.get("/api/v1/notifications", headers=citizen.headers, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_first_login_leaves_a_new_device_alert(client, sms):
    citizen = await sign_in(client, sms, device="华为 Mate 60")
    box = await inbox(client, citizen)
    assert box["unread"] == 1
    (message,) = box["items"]
    assert message["kind"] == "login_new_device"
    assert message["title"] == "新设备登录提醒"
    assert "华为 Mate 60" in message["body"]
    assert "{" not in message["body"]
    assert message["read"] is False
    assert message["created_at"].endswith("Z")
    assert message["id"]


@pytest.mark.parametrize("language, title, body_word", [
    ("en", "New sign-in", "signed in"),
    ("en-GB,en;q=0.9", "New sign-in", "signed in"),
    ("zh-TW", "新裝置登入提醒", "登入"),
    ("zh-HK", "新裝置登入提醒", "登入"),
    ("zh-CN", "新设备登录提醒", "登录"),
])
async def test_messages_are_shown_in_the_readers_language(client, sms, language, title, body_word):
    citizen = await sign_in(client, sms, device="iPhone")
    reply = await client.get("/api/v1/notifications", headers={**citizen.headers, "Accept-Language": language})
    message = reply.json()["items"][0]
    assert message["title"] == title
    assert body_word in message["body"] and "iPhone" in message["body"]


async def test_marking_a_message_read_lowers_the_unread_count(client, sms):
    citizen = await sign_in(client, sms)
    message_id = (await inbox(client, citizen))["items"][0]["id"]
    reply = await client.post(f"/api/v1/notifications/{message_id}/read", headers=citizen.headers)
    assert reply.status_code == 204
    box = await inbox(client, citizen)
    assert box["unread"] == 0
    assert box["items"][0]["read"] is True
    again = await client.post(f"/api/v1/notifications/{message_id}/read", headers=citizen.headers)
    assert again.status_code == 204  # reading twice is harmless
    assert (await inbox(client, citizen))["unread"] == 0


async def test_read_all_marks_every_unread_message(client, sms, clock):
    citizen = await sign_in(client, sms, device="旧手机")
    clock.advance(61)
    await sign_in(client, sms, citizen.phone, device="新手机")
    await verify_real_name(client, citizen)
    box = await inbox(client, citizen)
    assert box["unread"] == 3
    assert [m["kind"] for m in box["items"]] == ["identity_verified", "login_new_device", "login_new_device"]
    assert "新手机" in box["items"][1]["body"] and "旧手机" in box["items"][2]["body"]

    reply = await client.post("/api/v1/notifications/read-all", headers=citizen.headers)
    assert reply.status_code == 200 and reply.json() == {"marked": 3}
    box = await inbox(client, citizen)
    assert box["unread"] == 0 and all(m["read"] for m in box["items"])
    assert (await client.post("/api/v1/notifications/read-all", headers=citizen.headers)).json() == {"marked": 0}


async def test_limit_and_unread_filter(client, sms, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    newest = await inbox(client, citizen, limit=1)
    assert [m["kind"] for m in newest["items"]] == ["identity_verified"]
    assert newest["unread"] == 2  # the count covers all messages, not just the page

    await client.post(f"/api/v1/notifications/{newest['items'][0]['id']}/read", headers=citizen.headers)
    unread = await inbox(client, citizen, unread=1)
    assert [m["kind"] for m in unread["items"]] == ["login_new_device"]
    assert len((await inbox(client, citizen, limit=100))["items"]) == 2


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
async def test_an_invalid_limit_is_422(client, sms, limit):
    citizen = await sign_in(client, sms)
    reply = await client.get("/api/v1/notifications", headers=citizen.headers, params={"limit": limit})
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["fields"] == [{"field": "limit", "problem": "1..100"}]


async def test_a_citizen_cannot_mark_someone_elses_message(client, sms):
    alice = await sign_in(client, sms)
    bob = await sign_in(client, sms)
    bobs_message = (await inbox(client, bob))["items"][0]["id"]

    reply = await client.post(f"/api/v1/notifications/{bobs_message}/read", headers=alice.headers)
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"
    assert (await inbox(client, bob))["unread"] == 1
    assert (await inbox(client, bob))["items"][0]["read"] is False
    # Alice's read-all touches only her own inbox.
    assert (await client.post("/api/v1/notifications/read-all", headers=alice.headers)).json() == {"marked": 1}
    assert (await inbox(client, bob))["unread"] == 1


async def test_each_citizen_sees_only_their_own_messages(client, sms):
    alice = await sign_in(client, sms, device="Alice 的手机")
    bob = await sign_in(client, sms, device="Bob 的手机")
    alice_box = await inbox(client, alice)
    assert len(alice_box["items"]) == 1 and "Alice 的手机" in alice_box["items"][0]["body"]
    assert all("Alice" not in m["body"] for m in (await inbox(client, bob))["items"])


async def test_an_unknown_message_is_404(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.post("/api/v1/notifications/msg_doesnotexist/read", headers=citizen.headers)
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"


async def test_the_inbox_needs_a_signed_in_citizen(client):
    reply = await client.get("/api/v1/notifications")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTH_REQUIRED"


async def test_notify_refuses_an_unknown_kind(client, sms, platform):
    citizen = await sign_in(client, sms)
    with pytest.raises(ValueError, match="no inbox template"):
        await notify(platform, citizen.id, "lottery_win", {"amount": "¥1,000,000"})
    assert await Notification.filter(citizen_id=citizen.id).count() == 1  # only the login alert


async def test_notify_refuses_wrong_template_parameters_at_once(client, sms, platform):
    """A message the citizen could not read properly must fail when written, not when opened."""
    citizen = await sign_in(client, sms)
    with pytest.raises(KeyError):
        await notify(platform, citizen.id, "session_revoked", {"wrong": "x"})
    assert await Notification.filter(citizen_id=citizen.id).count() == 1


async def test_notify_refuses_a_message_without_its_parameters(client, sms, platform):
    """Without any parameters the template must not be stored with a raw "{device}" placeholder."""
    citizen = await sign_in(client, sms)
    with pytest.raises(KeyError):
        await notify(platform, citizen.id, "session_revoked")
    reply = await client.get("/api/v1/notifications", headers=citizen.headers)
    assert all("{" not in m["body"] for m in reply.json()["items"])


async def test_a_message_written_by_a_domain_appears_rendered(client, sms, platform):
    citizen = await sign_in(client, sms)
    await notify(platform, citizen.id, "session_revoked", {"device": "平板"})
    reply = await client.get("/api/v1/notifications", headers={**citizen.headers, "Accept-Language": "en"})
    newest = reply.json()["items"][0]
    assert newest["kind"] == "session_revoked"
    assert newest["title"] == "Device signed out"
    assert newest["body"] == "“平板” was signed out."
