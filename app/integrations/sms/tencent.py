"""Tencent Cloud SMS (`SendSms`, sms 2021-01-11) and voice codes (`SendCodeVoice`, vms 2020-09-02).

SendSms answers HTTP 200 with one `SendStatusSet` entry per number: `Code` "Ok" and a `SerialNo`, or
the number's own refusal code. Those codes and the action's API error codes map alike:

- InvalidParameterValue.IncorrectPhoneNumber, FailedOperation.PhoneNumberInBlacklist (and vms's
  InvalidParameterValue.CalledNumberVerifyFail) → InvalidPhoneNumber;
- LimitExceeded.* → ProviderThrottled, `retry_after` from the limit's name (30 s, 1 h, 1 day, else 60 s);
- template, signature and application refusals (FailedOperation.Template*/Signature*, *SdkAppidNotExist,
  UnauthorizedOperation.*), and a template name with no provider id in settings → ProviderMisconfigured;
- InternalError.* → ProviderUnavailable; anything else stays a TencentCloudError with its code.

The phone is sent as E.164 ("+86" and the 11 digits); the code read aloud is digits only, played twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from app.integrations import ProviderError, ProviderMisconfigured, ProviderThrottled, ProviderUnavailable
from app.integrations.sms import InvalidPhoneNumber
from app.integrations.tencent_cloud import TencentCloudClient, TencentCloudError

if TYPE_CHECKING:
    from app.config import Settings

SMS_SERVICE, SMS_VERSION = "sms", "2021-01-11"
VOICE_SERVICE, VOICE_VERSION = "vms", "2020-09-02"
PLAY_TIMES = 2
INVALID_NUMBER = frozenset({
    "InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
    "InvalidParameterValue.CalledNumberVerifyFail",
})
MISCONFIGURED_PREFIXES = (
    "FailedOperation.Template", "FailedOperation.Signature", "FailedOperation.InsufficientBalance",
    "InvalidParameterValue.SdkAppIdNotExist", "InvalidParameterValue.SdkAppidNotExist",
    "UnauthorizedOperation", "AuthFailure",
)
RETRY_AFTER = {"ThirtySecond": 30, "OneHour": 3600, "Daily": 86400}


def sms_error(code: str) -> ProviderError:
    """What one of SendSms's or SendCodeVoice's refusal codes means for us (see the module docstring)."""
    if code in INVALID_NUMBER:
        return InvalidPhoneNumber(code)
    if code.startswith("LimitExceeded"):
        wait = next((seconds for part, seconds in RETRY_AFTER.items() if part in code), 60)
        return ProviderThrottled(code, retry_after=wait)
    if code.startswith(MISCONFIGURED_PREFIXES):
        return ProviderMisconfigured(code)
    if code.startswith("InternalError"):
        return ProviderUnavailable(code)
    return TencentCloudError(code)


def e164(phone: str) -> str:
    """A mainland number as the provider wants it: "+86" and the 11 digits (anything else as given)."""
    return f"+86{phone}" if len(phone) == 11 and phone.isascii() and phone.isdigit() else phone


class TencentSms:
    """SmsGateway over Tencent Cloud SMS and voice messages."""

    def __init__(self, sms: TencentCloudClient, voice: TencentCloudClient, *, sdk_app_id: str, sign_name: str,
                 template_ids: Mapping[str, str], voice_sdk_app_id: str) -> None:
        self._sms = sms
        self._voice = voice
        self._sdk_app_id = sdk_app_id
        self._sign_name = sign_name
        self._template_ids = dict(template_ids)
        self._voice_sdk_app_id = voice_sdk_app_id

    @classmethod
    def from_settings(cls, settings: Settings, template_ids: Mapping[str, str]) -> TencentSms:
        """From Settings; `template_ids` maps our template names to the provider's ids."""
        sms = TencentCloudClient.for_service(settings, settings.sms.url, service=SMS_SERVICE, version=SMS_VERSION,
                                             timeout=settings.sms.timeout)
        voice = TencentCloudClient.for_service(settings, settings.voice.url, service=VOICE_SERVICE,
                                               version=VOICE_VERSION, timeout=settings.sms.timeout)
        return cls(sms, voice, sdk_app_id=settings.sms.sdk_app_id, sign_name=settings.sms.sign_name,
                   template_ids=template_ids, voice_sdk_app_id=settings.voice.sdk_app_id)

    async def send(self, phone: str, template: str, params: Sequence[str]) -> str:
        """Send our template `template` with `params` to `phone`; the provider's SerialNo."""
        template_id = self._template_ids.get(template)
        if template_id is None:
            raise ProviderMisconfigured("template_not_mapped")
        response = await _mapped(self._sms, "SendSms", {
            "PhoneNumberSet": [e164(phone)], "SmsSdkAppId": self._sdk_app_id, "SignName": self._sign_name,
            "TemplateId": template_id, "TemplateParamSet": [str(p) for p in params],
        })
        statuses = response.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise ProviderUnavailable("bad_reply")
        status = statuses[0]
        if status.get("Code") != "Ok":
            raise sms_error(str(status.get("Code") or "UnknownError"))
        return str(status.get("SerialNo", ""))

    async def call_code(self, phone: str, code: str) -> str:
        """Ring `phone` and read out the digits of `code`; the provider's CallId."""
        response = await _mapped(self._voice, "SendCodeVoice", {
            "CodeMessage": code, "CalledNumber": e164(phone), "VoiceSdkAppid": self._voice_sdk_app_id,
            "PlayTimes": PLAY_TIMES,
        })
        status = response.get("SendStatus")
        if not isinstance(status, dict) or not status.get("CallId"):
            raise ProviderUnavailable("bad_reply")
        return str(status["CallId"])

    async def close(self) -> None:
        await self._sms.close()
        await self._voice.close()


async def _mapped(client: TencentCloudClient, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Call `action`, the action's own error codes mapped as a per-number code would be."""
    try:
        return await client.call(action, params)
    except TencentCloudError as refused:
        raise sms_error(refused.code) from None
