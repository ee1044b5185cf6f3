"""The SMS and voice-code adapter against the stand-in Tencent Cloud, its own process over HTTP: what the
provider accepts arrives as the approved template says, and every way it refuses becomes the provider
error the domains act on (never with the phone number in it)."""

from __future__ import annotations

import re
import secrets
import time
from typing import AsyncIterator

import httpx
import pytest

from app.config import Settings
from app.integrations import ProviderError, ProviderMisconfigured, ProviderThrottled, ProviderUnavailable
from app.integrations.sms import InvalidPhoneNumber
from app.integrations.sms.standin_outbox import StandInOutbox
from app.integrations.sms.tencent import TencentSms, e164, sms_error
from app.integrations.tencent_cloud import Call, Credentials, TencentCloudError, signed_headers
from app.notifications.sms_templates import DEFAULT_TEMPLATE_IDS, approved_text
from standins.tencent_cloud.control import TencentStandIn
from tests.integrations.conftest import SECRET_ID, SECRET_KEY, SMS_SDK_APP_ID


def new_phone() -> str:
    return "139" + f"{secrets.randbelow(10**8):08d}"


@pytest.fixture
async def gateway(tencent_settings: Settings, tencent_control: TencentStandIn) -> AsyncIterator[TencentSms]:
    sms = TencentSms.from_settings(tencent_settings, DEFAULT_TEMPLATE_IDS)
    yield sms
    await sms.close()


async def quick(settings: Settings, **changes: object) -> TencentSms:
    """A gateway with other settings (a short timeout, a wrong key, ...)."""
    return TencentSms.from_settings(settings.with_(**changes), DEFAULT_TEMPLATE_IDS)


async def refused(sms: TencentSms, phone: str, template: str = "login_code",
                  params: tuple[str, ...] = ("123456", "5")) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await sms.send(phone, template, params)
    assert phone not in str(caught.value) and phone not in repr(caught.value)
    return caught.value


# -- accepted ---------------------------------------------------------------------------------------

async def test_a_login_code_arrives_as_the_approved_template_with_the_signature(gateway, tencent_control):
    phone = new_phone()
    serial = await gateway.send(phone, "login_code", ["123456", "5"])
    (message,) = tencent_control.outbox(phone)
    assert message.message_id == serial and message.phone == phone
    assert message.text == "【粤省事示例】" + approved_text("login_code").replace("{1}", "123456").replace("{2}", "5")
    assert message.text.startswith("【粤省事示例】您的登录验证码为 123456，5 分钟内有效。")
    assert tencent_control.count("SendSms") == 1


async def test_the_outbox_reads_what_the_stand_in_sent_newest_first(gateway, tencent_url):
    phone = new_phone()
    first = await gateway.send(phone, "login_code", ["111111", "5"])
    second = await gateway.send(f"+86{phone}", "login_code", ["222222", "5"])
    outbox = StandInOutbox(tencent_url)
    try:
        messages = await outbox.recent(phone)
        assert [m.message_id for m in messages] == [second, first]
        assert "222222" in messages[0].text and messages[0].sent_at.tzinfo is not None
        assert await outbox.recent(new_phone()) == []
    finally:
        await outbox.close()


async def test_an_outbox_that_cannot_answer_is_unavailable():
    outbox = StandInOutbox("http://127.0.0.1:9", timeout=0.5)
    try:
        with pytest.raises(ProviderUnavailable):
            await outbox.recent("13800138000")
    finally:
        await outbox.close()


async def test_a_voice_code_is_read_aloud_in_words_twice(gateway, tencent_control):
    phone = new_phone()
    call_id = await gateway.call_code(phone, "305917")
    (call,) = tencent_control.calls(phone)
    assert call.message_id == call_id and tencent_control.outbox(phone) == []
    assert call.text == "您好，您的验证码是：三，〇，五，九，一，七。再说一遍：三，〇，五，九，一，七。"
    assert not re.search(r"[0-9]", call.text)
    assert tencent_control.count("SendCodeVoice") == 1


# -- refused by the provider -------------------------------------------------------------------------

async def test_a_number_that_is_not_a_mobile_number_is_invalid(gateway, tencent_control):
    error = await refused(gateway, "12345678901")
    assert isinstance(error, InvalidPhoneNumber) and error.code == "InvalidParameterValue.IncorrectPhoneNumber"


async def test_a_number_the_provider_refuses_is_invalid_for_sms_and_voice(gateway, tencent_control):
    phone = new_phone()
    tencent_control.behave("SendSms,SendCodeVoice", "invalid_phone")
    assert isinstance(await refused(gateway, phone), InvalidPhoneNumber)
    with pytest.raises(InvalidPhoneNumber) as caught:
        await gateway.call_code(phone, "123456")
    assert caught.value.code == "InvalidParameterValue.CalledNumberVerifyFail"
    assert tencent_control.outbox(phone) == [] and tencent_control.calls(phone) == []


async def test_throttling_says_when_to_retry(gateway, tencent_control):
    tencent_control.behave("SendSms,SendCodeVoice", "throttle")
    error = await refused(gateway, new_phone())
    assert isinstance(error, ProviderThrottled) and error.code == "LimitExceeded.PhoneNumberThirtySecondLimit"
    assert error.retry_after == 30
    with pytest.raises(ProviderThrottled) as caught:
        await gateway.call_code(new_phone(), "123456")
    assert caught.value.code == "LimitExceeded.DeliveryFrequencyLimit"


async def test_an_internal_error_or_a_500_is_unavailable(gateway, tencent_control):
    tencent_control.fail_next(1)
    error = await refused(gateway, new_phone())
    assert isinstance(error, ProviderUnavailable) and error.code == "InternalError"
    tencent_control.behave("SendCodeVoice", "http500")
    with pytest.raises(ProviderUnavailable) as caught:
        await gateway.call_code(new_phone(), "123456")
    assert caught.value.code == "http_500"
    phone = new_phone()
    await gateway.send(phone, "login_code", ["123456", "5"])  # the faults were for one call each
    assert len(tencent_control.outbox(phone)) == 1


@pytest.mark.parametrize("mode", ["slow", "hang"])
async def test_a_provider_slower_than_the_timeout_is_unavailable(tencent_settings, tencent_control, mode):
    sms = await quick(tencent_settings, sms_timeout=0.3)
    tencent_control.behave("SendSms", mode, delay=2.0)
    try:
        started = time.monotonic()
        error = await refused(sms, new_phone())
        assert isinstance(error, ProviderUnavailable) and error.code == "timeout"
        assert time.monotonic() - started < 1.5
    finally:
        await sms.close()


async def test_an_unreachable_provider_is_unavailable(tencent_settings):
    sms = await quick(tencent_settings, sms_url="http://127.0.0.1:9")
    try:
        error = await refused(sms, new_phone())
        assert isinstance(error, ProviderUnavailable) and error.code == "unreachable"
    finally:
        await sms.close()


async def test_a_template_the_provider_did_not_approve_is_misconfigured(tencent_settings, tencent_control):
    sms = TencentSms.from_settings(tencent_settings, {**DEFAULT_TEMPLATE_IDS, "login_code": "9999999"})
    try:
        error = await refused(sms, new_phone())
        assert isinstance(error, ProviderMisconfigured) and error.code == "FailedOperation.TemplateIncorrectOrUnapproved"
        unmapped = await refused(sms, new_phone(), template="no_such_template")
        assert isinstance(unmapped, ProviderMisconfigured) and unmapped.code == "template_not_mapped"
    finally:
        await sms.close()


async def test_a_wrong_parameter_count_signature_or_app_is_misconfigured(tencent_settings, gateway, tencent_control):
    count = await refused(gateway, new_phone(), params=("123456",))
    assert isinstance(count, ProviderMisconfigured)
    assert count.code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    for changes, code in (({"sms_sign_name": "未审批签名"}, "FailedOperation.SignatureIncorrectOrUnapproved"),
                          ({"sms_sdk_app_id": "1400000000"}, "InvalidParameterValue.SdkAppIdNotExist")):
        sms = await quick(tencent_settings, **changes)
        try:
            error = await refused(sms, new_phone())
            assert isinstance(error, ProviderMisconfigured) and error.code == code
        finally:
            await sms.close()
    assert tencent_control.count("SendSms") == 3


# -- the signature ------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, code", [
    ({"tencent_secret_key": "a-guessed-key"}, "AuthFailure.SignatureFailure"),
    ({"tencent_secret_id": "AKIDunknown000000000000000000000"}, "AuthFailure.SecretIdNotFound"),
])
async def test_wrong_credentials_are_misconfigured(tencent_settings, tencent_control, changes, code):
    sms = await quick(tencent_settings, **changes)
    try:
        error = await refused(sms, new_phone())
        assert isinstance(error, ProviderMisconfigured) and error.code == code
        assert SECRET_KEY not in str(error) and "a-guessed-key" not in repr(error)
    finally:
        await sms.close()
    assert tencent_control.count("SendSms") == 0  # refused before the action


async def test_a_clock_more_than_five_minutes_off_is_refused(tencent_settings, tencent_control):
    sms = await quick(tencent_settings)
    sms._sms._now = lambda: time.time() - 400
    try:
        error = await refused(sms, new_phone())
        assert isinstance(error, ProviderMisconfigured) and error.code == "AuthFailure.SignatureExpire"
    finally:
        await sms.close()


async def test_a_replayed_or_altered_request_is_refused(tencent_url, tencent_control):
    """A signed request captured 400 s ago is too old to be sent again; a body changed after signing fails."""
    host = tencent_url.removeprefix("http://")
    body = ('{"PhoneNumberSet":["+8613800138000"],"SmsSdkAppId":"%s","SignName":"粤省事示例",'
            '"TemplateId":"%s","TemplateParamSet":["123456","5"]}' % (SMS_SDK_APP_ID, DEFAULT_TEMPLATE_IDS["login_code"])
            ).encode()
    call = Call("sms", host, "SendSms", "2021-01-11")
    credentials = Credentials(SECRET_ID, SECRET_KEY)
    async with httpx.AsyncClient(base_url=tencent_url) as http:
        captured = signed_headers(credentials, call, body, int(time.time()) - 400)
        old = (await http.post("/", content=body, headers=captured)).json()["Response"]
        assert old["Error"]["Code"] == "AuthFailure.SignatureExpire" and old["RequestId"]
        fresh = signed_headers(credentials, call, body, int(time.time()))
        altered = (await http.post("/", content=body.replace(b"123456", b"654321"), headers=fresh)).json()
        assert altered["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
        accepted = (await http.post("/", content=body, headers=fresh)).json()["Response"]
        assert accepted["SendStatusSet"][0]["Code"] == "Ok"
    assert tencent_control.count("SendSms") == 1


async def test_an_unknown_action_or_version_is_refused(tencent_url, tencent_control):
    host = tencent_url.removeprefix("http://")
    credentials = Credentials(SECRET_ID, SECRET_KEY)
    async with httpx.AsyncClient(base_url=tencent_url) as http:
        for call, code in ((Call("sms", host, "SendSms", "2019-07-11"), "NoSuchVersion"),
                           (Call("sms", host, "DeleteEverything", "2021-01-11"), "InvalidAction"),
                           (Call("cvm", host, "SendSms", "2021-01-11"), "InvalidAction")):
            headers = signed_headers(credentials, call, b"{}", int(time.time()))
            reply = await http.post("/", content=b"{}", headers=headers)
            assert reply.status_code == 200 and reply.json()["Response"]["Error"]["Code"] == code


# -- the stand-in's faults ------------------------------------------------------------------------------

async def test_a_fault_lasts_its_count_or_until_cleared(gateway, tencent_control):
    tencent_control.behave("*", "fail", count=2)
    for _ in range(2):
        assert isinstance(await refused(gateway, new_phone()), ProviderUnavailable)
    await gateway.send(new_phone(), "login_code", ["123456", "5"])
    tencent_control.behave("SendSms", "fail", count=0)
    for _ in range(3):
        assert isinstance(await refused(gateway, new_phone()), ProviderUnavailable)
    tencent_control.fail_next(0)
    await gateway.send(new_phone(), "login_code", ["123456", "5"])
    assert tencent_control.count("SendSms") == 7


def test_the_codes_map_as_the_module_says():
    assert isinstance(sms_error("FailedOperation.PhoneNumberInBlacklist"), InvalidPhoneNumber)
    assert sms_error("LimitExceeded.PhoneNumberDailyLimit").retry_after == 86400  # type: ignore[attr-defined]
    assert sms_error("LimitExceeded.PhoneNumberOneHourLimit").retry_after == 3600  # type: ignore[attr-defined]
    assert isinstance(sms_error("InternalError.Timeout"), ProviderUnavailable)
    assert isinstance(sms_error("UnauthorizedOperation.SmsSdkAppIdVerifyFail"), ProviderMisconfigured)
    assert type(sms_error("FailedOperation.ContainSensitiveWord")) is TencentCloudError
    assert e164("13800138000") == "+8613800138000" and e164("+8613800138000") == "+8613800138000"
