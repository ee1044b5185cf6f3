"""Confirming it is really the citizen (确认本人操作) before a sensitive operation: a fresh SMS code.

A signed-in session asks for a code to the citizen's own phone and gives it back; the session is then
"fresh" for `APP_STEP_UP_TTL` seconds. Freshness belongs to the one session (device) that gave the code,
and ends early when that session signs out or is revoked. It is kept in the cache as the instant it ends,
compared with the service clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from app import audit
from app.accounts.codes import CodeSender
from app.config import AccountSettings
from app.errors import AppError, Unauthorized, ValidationFailed
from app.platform import Platform
from app.security import ratelimit
from app.security.one_time_codes import CodeErrors, OneTimeCodes
from app.security.pii import mask_phone

STEP_UP_CODE_PATH = "/api/v1/me/step-up/code"
_ACTION = "确认本人操作"  # as the SMS says what the code is for
# The operations a step-up may name, as its SMS names them (您正在为注销账号确认本人操作…).
OPERATIONS = {"data_export": "导出个人数据", "account_deletion": "注销账号"}


@dataclass(frozen=True)
class StepUpCodeSent:
    sent_to: str  # the phone, masked
    expires_in: int
    resend_after: int


def _code_key(session_id: str) -> str:
    return f"stepup:code:{session_id}"


def fresh_key(session_id: str) -> str:
    """Where a session's freshness is kept: deleted when the session ends."""
    return f"stepup:fresh:{session_id}"


class FreshOtpRequired(AppError):
    """403: the operation needs a step-up the session has not passed (or whose time is over)."""

    status, code = 403, "FRESH_OTP_REQUIRED"

    def __init__(self) -> None:
        super().__init__(extra={"step_up": {"path": STEP_UP_CODE_PATH}})


class StepUp:
    def __init__(self, platform: Platform, sender: CodeSender) -> None:
        self.platform, self.sender = platform, sender
        self.codes = OneTimeCodes(platform.cache, platform.pii, platform.clock, prefix="stepup:", purpose="otp",
                                  max_tries=sender.settings.otp_max_tries,
                                  errors=CodeErrors(lapsed=lambda: Unauthorized("OTP_EXPIRED"), wrong="OTP_INVALID"))

    @property
    def settings(self) -> AccountSettings:
        return self.sender.settings

    async def request_code(self, citizen_id: str, session_id: str, phone: str, client_ip: str,
                           operation: str | None = None) -> StepUpCodeSent:
        """Send a code to the citizen's own `phone` for this session (limits shared with the login code); the
        SMS names `operation` (one of OPERATIONS) when given, so the citizen knows what they are agreeing to."""
        if operation is not None and operation not in OPERATIONS:
            raise ValidationFailed([{"field": "operation", "problem": f"one of {', '.join(OPERATIONS)}"}])
        action = f"为{OPERATIONS[operation]}{_ACTION}" if operation else _ACTION
        phone_hash = self.platform.pii.lookup_hash(phone, "phone")
        await self.sender.send(phone, phone_hash, _code_key(session_id), self.codes, client_ip, action=action)
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="step_up_code_sent",
                                 subject_id=citizen_id, attributes={"session_id": session_id, "operation": operation})
        return StepUpCodeSent(mask_phone(phone), self.settings.otp_ttl, self.settings.otp_resend_interval)

    async def confirm(self, citizen_id: str, session_id: str, code: str, client_ip: str) -> datetime:
        """Use up the session's code; the session is fresh until the instant returned."""
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"login-ip:{client_ip}",
                            self.settings.login_ip_hourly_limit, 3600)
        await self.codes.use(_code_key(session_id), code, ttl=self.settings.otp_ttl + 60)
        until = self.platform.clock.timestamp() + self.settings.step_up_ttl
        await self.platform.cache.set(fresh_key(session_id), repr(until), ttl=self.settings.step_up_ttl + 60)
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="step_up_passed",
                                 subject_id=citizen_id, attributes={"session_id": session_id})
        return datetime.fromtimestamp(until, timezone.utc)

    async def fresh_until(self, session_id: str) -> datetime | None:
        """When the session's step-up ends, or None when it has none now."""
        raw = await self.platform.cache.get(fresh_key(session_id))
        if raw is None or self.platform.clock.timestamp() >= float(raw):
            return None
        return datetime.fromtimestamp(float(raw), timezone.utc)

    async def end(self, session_id: str) -> None:
        await self.platform.cache.delete(fresh_key(session_id))
