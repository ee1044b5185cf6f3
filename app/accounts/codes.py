"""Sending a six-digit code by SMS or voice call (验证码): the login code, and the codes a signed-in
citizen confirms an operation with (确认本人操作, 更换绑定手机号).

Every code to a phone number shares that number's limits (one send at a time, the daily cap per number,
the hourly cap per client address), whatever it is for; a flow may add limits of its own."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Callable, Sequence

from app.cache import get_json
from app.config import AccountSettings, Settings
from app.errors import AppError, RateLimited, Unavailable
from app.integrations import ProviderError, ProviderThrottled
from app.integrations.sms import InvalidPhoneNumber, SmsGateway
from app.notifications.service import CONFIRM_CODE, LOGIN_CODE, sms_params
from app.platform import Platform
from app.security import ratelimit
from app.security.one_time_codes import OneTimeCodes, new_code

log = logging.getLogger("app.accounts")


class CodeSender:
    """Hands codes to the SMS provider and keeps them (as keyed hashes) for their one use."""

    def __init__(self, platform: Platform, sms: SmsGateway, settings: Callable[[], Settings]) -> None:
        self.platform, self.sms, self._settings = platform, sms, settings

    @property
    def settings(self) -> AccountSettings:
        """The owner's settings as they are now (tests change them on a running service)."""
        return self._settings().accounts

    async def send(self, phone: str, phone_hash: str, key: str, codes: OneTimeCodes, client_ip: str, *,
                   channel: str = "sms", action: str | None = None, field: str = "phone",
                   limits: Sequence[ratelimit.Limit] = ()) -> None:
        """Send a new code to `phone` and keep it under `key`: a login code, or with `action` (what the
        citizen is doing, as the SMS says it) a confirmation code. Refused (429) within the resend interval
        of the code kept under `key`, or over any limit; `field` names the number in a 422."""
        cache, interval = self.platform.cache, self.settings.otp_resend_interval
        wait = await self.wait_before(key)
        if wait:
            raise RateLimited(retry_after=wait)
        # Two sends racing for the same phone: only one goes to the provider (held as long as a call may take).
        sending, holder = f"otp:sending:{phone_hash}", secrets.token_hex(8)
        if not await cache.set_if_absent(sending, holder, ttl=self._timeout(channel) + 5):
            raise RateLimited(retry_after=interval)
        counted = [ratelimit.Limit(f"otp-ip:{client_ip}", self.settings.otp_ip_hourly_limit, 3600),
                   ratelimit.Limit(f"otp-day:{phone_hash}", self.settings.otp_daily_limit, 86400), *limits]
        try:
            await ratelimit.hit_all(cache, self.platform.clock, counted)
            code = new_code()
            await self._hand_over(phone, code, channel, action, counted, field)
            sent = self.platform.clock.timestamp()  # the code lives from when the provider took it
            await codes.keep(key, code, expires_at=sent + self.settings.otp_ttl,
                             keep_for=self.settings.otp_ttl + interval + 60, sent_at=sent)
        finally:
            await cache.delete_if(sending, holder)

    async def wait_before(self, key: str) -> int:
        """Seconds until another code may be kept under `key` (its resend interval); 0: now."""
        previous = await get_json(self.platform.cache, key)
        left = previous["sent_at"] + self.settings.otp_resend_interval - self.platform.clock.timestamp() if previous else 0
        return int(left) + 1 if left > 0 else 0

    def _timeout(self, channel: str) -> float:
        timeout = self._settings().sms.timeout
        return timeout * 3 if channel == "voice" else timeout  # a call takes longer to set up

    async def _hand_over(self, phone: str, code: str, channel: str, action: str | None,
                         limits: list[ratelimit.Limit], field: str) -> None:
        """Hand the code to the provider. A code the provider did not take counts against no limit, and
        the caller is told to retry (503), to wait for the provider's own limit (429), or that the number
        was refused (422)."""
        minutes = self.settings.otp_ttl // 60
        try:
            if channel == "voice":
                sending = self.sms.call_code(phone, code)
            elif action is None:
                sending = self.sms.send(phone, LOGIN_CODE, sms_params(LOGIN_CODE, {"code": code, "minutes": minutes}))
            else:
                sending = self.sms.send(phone, CONFIRM_CODE, sms_params(
                    CONFIRM_CODE, {"action": action, "code": code, "minutes": minutes}))
            await asyncio.wait_for(sending, timeout=self._timeout(channel))
        except (ProviderError, asyncio.TimeoutError) as exc:
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, limits, amount=-1)
            if isinstance(exc, InvalidPhoneNumber):
                raise AppError("INVALID_PHONE", status=422, extra={
                    "fields": [{"field": field, "problem": "refused by the SMS provider"}]}) from None
            log.warning("one-time code not sent over %s: %s", channel, kind_of(exc))
            if isinstance(exc, ProviderThrottled) and exc.retry_after >= 3600:  # the provider's daily cap for the number
                raise RateLimited(retry_after=exc.retry_after, code="SMS_LIMIT_REACHED") from None
            raise Unavailable("SMS_UNAVAILABLE", headers={"Retry-After": str(retry_after_of(exc))}) from None


def kind_of(exc: BaseException) -> str:
    """What went wrong, for the log: the provider's code or the exception type, never a message."""
    return getattr(exc, "code", None) or type(exc).__name__


def retry_after_of(exc: BaseException) -> int:
    return max(1, min(int(exc.retry_after), 3600)) if isinstance(exc, ProviderThrottled) else 30
