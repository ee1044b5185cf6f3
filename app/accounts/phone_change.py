"""Changing the account's phone number (更换绑定手机号).

The citizen proves they hold the new number (a code sent to it) and that it is them: a code sent to the old
number, or, with the old number lost, a passed face check of their verified identity (purpose
"phone_change"). The account keeps its id, level and everything attached to it; only the number (its
ciphertext and keyed hash) changes. Every other session is then signed out, so is every mini-program
binding (through `AccountService.on_phone_changed`), both numbers are told, and the change is audited. The old number is free again: signing in with it later starts a new, empty
account, as it will for whoever the carrier gives the number to next (号码二次放号)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.accounts import rules
from app.accounts.codes import kind_of
from app.accounts.models import Citizen, FaceSession
from app.clock import rfc3339
from app.errors import AppError, Conflict, RateLimited, Unauthorized, ValidationFailed
from app.integrations import ProviderError
from app.integrations.face import FaceVerdict
from app.notifications.service import PHONE_CHANGED_AWAY, notify, sms_params
from app.security import ratelimit
from app.security.one_time_codes import CodeErrors, OneTimeCodes, use_together
from app.security.pii import mask_phone

if TYPE_CHECKING:
    from app.accounts.service import AccountService, CitizenSnapshot

log = logging.getLogger("app.accounts")
_ACTION = "更换绑定手机号"  # as the SMS says what the code is for


@dataclass(frozen=True)
class PhoneChangeCodesSent:
    """Where the codes went (masked): always the new number; the old one unless the face check replaces it."""

    new_phone_masked: str
    old_phone_masked: str | None
    expires_in: int
    resend_after: int


@dataclass(frozen=True)
class PhoneChangeProof:
    """What the citizen gives back: the new number's code, and the old number's code or a face session."""

    raw_new_phone: str
    new_code: str
    old_code: str | None = None
    face_session_id: str | None = None


def _codes(accounts: AccountService, which: str) -> OneTimeCodes:
    platform = accounts.platform
    return OneTimeCodes(platform.cache, platform.pii, platform.clock, prefix="phone-change:", purpose="otp",
                        max_tries=accounts.settings.accounts.otp_max_tries,
                        errors=CodeErrors(lapsed=lambda: Unauthorized(f"{which}_PHONE_CODE_EXPIRED"),
                                          wrong=f"{which}_PHONE_CODE_INVALID"))


def _check_form(proof: PhoneChangeProof) -> None:
    """422 unless the proof has one of old_code and face_session_id, and its codes are 6 digits."""
    if (proof.old_code is None) == (proof.face_session_id is None):
        raise ValidationFailed([{"field": "old_code", "problem": "send old_code or face_session_id, not both"}])
    for field, code in (("new_code", proof.new_code), ("old_code", proof.old_code)):
        if code is not None and not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise ValidationFailed([{"field": field, "problem": "6 digits"}])


class PhoneChange:
    def __init__(self, accounts: AccountService) -> None:
        self.accounts, self.platform = accounts, accounts.platform
        self.old_codes, self.new_codes = _codes(accounts, "OLD"), _codes(accounts, "NEW")

    @staticmethod
    def _old_key(citizen_id: str, new_hash: str) -> str:
        return f"phone-change:old:{citizen_id}:{new_hash}"  # the old number agrees to this one new number

    @staticmethod
    def _new_key(citizen_id: str, new_hash: str) -> str:
        return f"phone-change:new:{citizen_id}:{new_hash}"  # a code proves the one number it was sent to

    def _new_number(self, citizen: CitizenSnapshot, raw_new_phone: str) -> tuple[str, str]:
        """The new number and its lookup hash: a mainland mobile (422), not this account's (422 PHONE_UNCHANGED).
        Whether another account holds it is asked only behind a limit or a proof (`_refuse_taken`)."""
        phone = rules.normalize_phone(raw_new_phone)
        if phone is None:
            raise AppError("INVALID_PHONE", status=422, extra={"fields": [{"field": "new_phone", "problem": "format"}]})
        phone_hash = self.platform.pii.lookup_hash(phone, "phone")
        if phone_hash == citizen.phone_hash:
            raise AppError("PHONE_UNCHANGED", status=422, extra={"fields": [{"field": "new_phone", "problem": "the current number"}]})
        return phone, phone_hash

    @staticmethod
    async def _refuse_taken(phone_hash: str) -> None:
        """409 PHONE_TAKEN when another account holds the number."""
        if await Citizen.filter(phone_hash=phone_hash).exists():
            raise Conflict("PHONE_TAKEN")

    async def send_codes(self, citizen: CitizenSnapshot, raw_new_phone: str, via: str,
                         client_ip: str) -> PhoneChangeCodesSent:
        """Send a code to the new number and, unless `via` is "face", one to the old number. Each ask counts
        against the citizen's daily limit before the number is looked up: whether numbers have an account
        is not for asking without end."""
        new_phone, new_hash = self._new_number(citizen, raw_new_phone)
        old_phone = self.platform.pii.decrypt(citizen.phone_enc, "phone")
        keys = [self._new_key(citizen.id, new_hash)] + ([self._old_key(citizen.id, new_hash)] if via == "old_phone" else [])
        sender = self.accounts.code_sender
        wait = max([await sender.wait_before(key) for key in keys])
        if wait:  # neither is sent again within the resend interval
            raise RateLimited(retry_after=wait)
        limit = self.accounts.settings.accounts.phone_change_daily_limit
        per_citizen = ratelimit.Limit(f"phone-change:{citizen.id}", limit, 86400, "PHONE_CHANGE_LIMIT")
        await ratelimit.hit_all(self.platform.cache, self.platform.clock, [per_citizen])
        await self._refuse_taken(new_hash)
        try:
            await sender.send(new_phone, new_hash, keys[0], self.new_codes, client_ip, action=_ACTION,
                              field="new_phone", limits=[
                                  ratelimit.Limit(f"phone-change-to:{new_hash}", limit, 86400, "PHONE_CHANGE_LIMIT")])
        except AppError:  # no code went out: the ask counts against no limit (as the sender's own)
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, [per_citizen], amount=-1)
            raise
        if via == "old_phone":
            await sender.send(old_phone, citizen.phone_hash, keys[1], self.old_codes, client_ip, action=_ACTION)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen",
                                 action="phone_change_codes_sent", subject_id=citizen.id, attributes={"via": via})
        settings = self.accounts.settings.accounts
        return PhoneChangeCodesSent(mask_phone(new_phone), mask_phone(old_phone) if via == "old_phone" else None,
                                    settings.otp_ttl, settings.otp_resend_interval)

    async def change(self, citizen: CitizenSnapshot, session_id: str, proof: PhoneChangeProof, client_ip: str) -> str:
        """Change the number once the proof holds; the new number, masked."""
        _check_form(proof)
        new_phone, new_hash = self._new_number(citizen, proof.raw_new_phone)
        settings = self.accounts.settings.accounts
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"login-ip:{client_ip}",
                            settings.login_ip_hourly_limit, 3600)
        judged = await self._judged_face(citizen, proof.face_session_id) if proof.face_session_id else None
        uses = [(self.new_codes, self._new_key(citizen.id, new_hash), proof.new_code)]
        if proof.old_code is not None:
            uses.insert(0, (self.old_codes, self._old_key(citizen.id, new_hash), proof.old_code))
        await use_together(uses, ttl=settings.otp_ttl + 60)
        await self._refuse_taken(new_hash)  # taken since the codes were sent; asked only with a proven code
        if judged is not None:
            await self.accounts.use_face_session(citizen, *judged)
        old_phone = self.platform.pii.decrypt(citizen.phone_enc, "phone")
        # All or nothing: the new number, the other sessions and bindings ended, the audit entry. (A rollback
        # after the sessions' cached state was set leaves them refused until that lapses: it fails closed.)
        async with in_transaction():
            await self._store(citizen, new_phone, new_hash)
            revoked = await self.accounts.sign_out_other_sessions(citizen.id, session_id, "phone_changed")
            for changed in self.accounts.on_phone_changed:
                await changed(citizen.id)
            await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="phone_changed",
                                     subject_id=citizen.id, attributes={
                                         "via": "face" if judged else "old_phone", "session_id": session_id,
                                         "old_phone_masked": mask_phone(old_phone), "new_phone_masked": mask_phone(new_phone),
                                         "face_session_id": proof.face_session_id, "sessions_revoked": revoked})
        await self.accounts.forget_citizen(citizen.id)  # after the commit: no request caches the old row again
        await self._tell_both(citizen.id, old_phone, new_phone)
        return mask_phone(new_phone)

    async def _judged_face(self, citizen: CitizenSnapshot,
                           face_session_id: str) -> tuple[FaceSession, FaceVerdict, bool]:
        """A passed face session of this citizen for a phone change (nothing used yet); a failed one is spent
        and refused (422 FACE_CHECK_FAILED)."""
        session, verdict, passed = await self.accounts.judged_face_session(citizen, face_session_id, ("phone_change",))
        # The check must be of the identity the account holds now.
        passed = passed and session.id_number_hash == citizen.id_number_hash
        if not passed:
            await self.accounts.use_face_session(citizen, session, verdict, passed)
        return session, verdict, passed

    async def _store(self, citizen: CitizenSnapshot, new_phone: str, new_hash: str) -> None:
        """The new number's ciphertext and lookup hash, if the number is still the one the proof was for."""
        try:
            updated = await Citizen.filter(id=citizen.id, phone_hash=citizen.phone_hash).update(
                phone_enc=self.platform.pii.encrypt(new_phone, "phone"), phone_hash=new_hash)
        except IntegrityError:  # another account took the number meanwhile (its first sign-in)
            raise Conflict("PHONE_TAKEN") from None
        if updated != 1:
            raise Conflict("PHONE_CHANGED_MEANWHILE")

    async def _tell_both(self, citizen_id: str, old_phone: str, new_phone: str) -> None:
        """The new number through the inbox and its SMS; the old one by SMS alone (it is no longer the
        citizen's, so nothing retries it): a failed send is logged, the change stands."""
        at = rfc3339(self.platform.clock.now())
        await notify(self.platform, citizen_id, "phone_changed", {"at": at, "new_phone": mask_phone(new_phone)})
        params = sms_params(PHONE_CHANGED_AWAY, {"at": at, "new_phone": mask_phone(new_phone)})
        try:
            await asyncio.wait_for(self.accounts.sms.send(old_phone, PHONE_CHANGED_AWAY, params),
                                   timeout=self.accounts.settings.sms.timeout)
        except (ProviderError, asyncio.TimeoutError) as exc:
            log.warning("phone change notice to the old number not sent: %s", kind_of(exc))
