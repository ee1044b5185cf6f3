"""The JPush adapter against the JPush stand-in, its own process over HTTP: a push arrives as the device
shows it, and every way the provider refuses becomes the provider error the domains act on."""

from __future__ import annotations

import secrets
import time
from typing import AsyncIterator

import httpx
import pytest

from app.config import Settings
from app.integrations import ProviderMisconfigured, ProviderThrottled, ProviderUnavailable
from app.integrations.push import InvalidPushToken
from app.integrations.push.jpush import JPush, push_object, retry_after
from standins.jpush import server as standin_server
from standins.jpush.control import JPushStandIn


@pytest.fixture
def standin(jpush: JPushStandIn) -> JPushStandIn:
    """The JPush stand-in process of the test run (tests/conftest.py), emptied for this test."""
    return jpush


@pytest.fixture
async def gateway(standin: JPushStandIn) -> AsyncIterator[JPush]:
    gateway = JPush.from_settings(Settings(push_url=standin.url, push_timeout=1.0))
    yield gateway
    await gateway.close()


def token() -> str:
    return secrets.token_hex(10)  # JPush registration ids look like 19-20 hex-ish characters


def test_the_stand_in_starts_with_the_app_s_default_credentials() -> None:
    assert standin_server.DEFAULT_APP_KEY == Settings().push.app_key
    assert standin_server.DEFAULT_MASTER_SECRET == Settings().push.master_secret


async def test_an_android_push_arrives_with_its_title_body_and_extras(gateway: JPush, standin: JPushStandIn) -> None:
    device = token()
    msg_id = await gateway.push("android", device, "新设备登录提醒", "您的账号在“小米 14”上登录。", {"kind": "login_new_device"})
    (shown,) = standin.pushes(device)
    assert shown["msg_id"] == msg_id and msg_id.isdigit()
    assert (shown["platform"], shown["title"], shown["body"], shown["extras"]) == (
        "android", "新设备登录提醒", "您的账号在“小米 14”上登录。", {"kind": "login_new_device"})


async def test_an_ios_push_carries_title_and_body_in_the_apns_alert(gateway: JPush, standin: JPushStandIn) -> None:
    device = token()
    await gateway.push("ios", device, "缴费成功", "您已成功缴纳。", {"message_id": "msg_1"})
    await gateway.push("ios", device, "健康码状态变更", "您的健康码已变为绿码。", {})
    latest, first = standin.pushes(device)  # newest first
    assert (latest["title"], latest["body"], latest["platform"]) == ("健康码状态变更", "您的健康码已变为绿码。", "ios")
    assert (first["title"], first["extras"]) == ("缴费成功", {"message_id": "msg_1"})
    assert standin.pushes(token()) == []  # another device got nothing


def test_the_push_object_is_jpush_s() -> None:
    body = push_object("ios", "rid1", "标题", "正文", {"n": 1}, apns_production=True)  # type: ignore[dict-item]
    assert body["platform"] == ["ios"] and body["audience"] == {"registration_id": ["rid1"]}
    assert body["notification"] == {"alert": "正文", "ios": {"alert": {"title": "标题", "body": "正文"}, "sound": "default",
                                                           "extras": {"n": "1"}}}
    assert body["options"]["apns_production"] is True and body["options"]["time_to_live"] == 86400
    assert 0 < body["options"]["sendno"] < 2**31


async def test_a_wrong_master_secret_is_misconfigured(standin: JPushStandIn) -> None:
    wrong = JPush(standin.url, Settings().push.app_key, "not-the-secret", timeout=1.0)
    try:
        with pytest.raises(ProviderMisconfigured) as refused:
            await wrong.push("android", token(), "t", "b", {})
    finally:
        await wrong.close()
    assert refused.value.code == "1004"
    assert "not-the-secret" not in repr(wrong)


async def test_a_token_the_provider_no_longer_knows_is_invalid(gateway: JPush, standin: JPushStandIn,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    device = token()
    standin.invalidate(device)
    with caplog.at_level("DEBUG"), pytest.raises(InvalidPushToken) as refused:
        await gateway.push("ios", device, "t", "b", {})
    assert refused.value.code == "1011" and standin.pushes(device) == []
    assert "1011" in caplog.text and device not in caplog.text and Settings().push.master_secret not in caplog.text


async def test_a_throttled_push_says_when_to_try_again(gateway: JPush, standin: JPushStandIn) -> None:
    standin.behave("throttle", count=1, delay=20)
    with pytest.raises(ProviderThrottled) as throttled:
        await gateway.push("android", token(), "t", "b", {})
    assert (throttled.value.code, throttled.value.retry_after) == ("2002", 20)
    await gateway.push("android", token(), "t", "b", {})  # count 1: the next one goes through


async def test_a_provider_error_is_unavailable(gateway: JPush, standin: JPushStandIn) -> None:
    standin.behave("fail", count=2)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable) as failed:
            await gateway.push("android", token(), "t", "b", {})
        assert failed.value.code == "1000"
    await gateway.push("android", token(), "t", "b", {})


async def test_a_hanging_provider_times_out_as_unavailable(gateway: JPush, standin: JPushStandIn) -> None:
    standin.behave("hang", count=1, delay=5)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as failed:
        await gateway.push("android", token(), "t", "b", {})
    assert failed.value.code == "timeout" and time.monotonic() - started < 3


async def test_an_unreachable_provider_is_unavailable() -> None:
    gone = JPush("http://127.0.0.1:9", Settings().push.app_key, Settings().push.master_secret, timeout=1.0)
    try:
        with pytest.raises(ProviderUnavailable) as failed:
            await gone.push("ios", token(), "t", "b", {})
    finally:
        await gone.close()
    assert failed.value.code == "unreachable"


async def test_the_stand_in_refuses_what_jpush_refuses(standin: JPushStandIn) -> None:
    auth = (Settings().push.app_key, Settings().push.master_secret)
    good = push_object("android", token(), "t", "b", {}, apns_production=False)
    wrong = {
        "missing platform": ({k: v for k, v in good.items() if k != "platform"}, 1002),
        "unknown platform": ({**good, "platform": ["winphone"]}, 1003),
        "empty audience": ({**good, "audience": {"registration_id": []}}, 1003),
        "no alert": ({**good, "notification": {"android": {"title": "t"}}}, 1002),
        "bad ttl": ({**good, "options": {"time_to_live": -1}}, 1003),
        "too long": ({**good, "notification": {"alert": "长" * 1500}}, 1005),
    }
    with httpx.Client(base_url=standin.url, auth=auth) as client:
        for what, (body, code) in wrong.items():
            refused = client.post("/v3/push", json=body)
            assert (refused.status_code, refused.json()["error"]["code"]) == (400, code), what
        assert client.post("/v3/push", json=good).status_code == 200
        assert client.post("/v3/push", json=good, auth=("x", "y")).json()["error"]["code"] == 1004


def test_retry_after_reads_the_rate_limit_window() -> None:
    assert retry_after({"X-Rate-Limit-Reset": "12"}) == 12
    assert retry_after({"X-Rate-Limit-Reset": str(int(1_700_000_045))}, now=1_700_000_000) == 45
    assert retry_after({"Retry-After": "7"}) == 7
    assert retry_after({}) == 60
    assert retry_after({"X-Rate-Limit-Reset": "999999"}) == 3600

