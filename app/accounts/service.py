"""Account operations: SMS-code login, token refresh and sessions, 实名 and face verification.

实名 (level 2) is what the identity authority confirmed: a name + ID-number pair it matched. Level 3 is
a face session at the provider, checked against the authority's photo of that pair. A pair another
account already holds can be taken back by its owner through a passed face session (`reclaim`)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import binascii
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Awaitable, Callable

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app import audit
from app.accounts import rules
from app.accounts.models import Citizen, FaceSession, LoginSession, RefreshToken
from app.accounts.rules import LEVEL_FACE as LEVEL_FACE, LEVEL_PHONE as LEVEL_PHONE
from app.accounts.rules import LEVEL_REAL_NAME as LEVEL_REAL_NAME
from app.accounts.rules import normalize_id_number as normalize_id_number, normalize_phone as normalize_phone
from app.cache import ParsedOnce, get_json, set_json
from app.clock import rfc3339
from app.errors import AppError, Conflict, NotFound, RateLimited, Unauthorized, Unavailable, ValidationFailed
from app.ids import new_id
from app.i18n import N_, translate
from app.ownership import get_owned
from app.integrations import ProviderError, ProviderThrottled, is_stand_in
from app.integrations.face import FaceProvider, FaceSessionGone, FaceSubjectRefused, FaceVerdict
from app.integrations.identity import INVALID_ID_NUMBER, INVALID_NAME, IdentityAuthority
from app.integrations.sms import InvalidPhoneNumber, SmsGateway
from app.notifications.service import LOGIN_CODE, notify, sms_params
from app.platform import Platform
from app.security import ratelimit
from app.security.one_time_codes import CodeErrors, OneTimeCodes, new_code
from app.security.pii import mask_id_number, mask_name, mask_phone
from app.security.tokens import AccessClaims

LEVEL_NAMES = {
    rules.LEVEL_REAL_NAME: N_("实名认证"),
    rules.LEVEL_FACE: N_("人脸核验"),
}
_CODE = re.compile(r"^[0-9]{6}$")
FACE_PURPOSES = ("level3", "reclaim")
log = logging.getLogger("app.accounts")


@dataclass(frozen=True)
class CitizenSnapshot:
    """What requests need of a citizen row (a plain object: building an ORM model on every request is
    slower; docs/capacity.md)."""

    id: str
    phone_enc: str
    phone_hash: str
    name_enc: str | None
    id_number_enc: str | None
    id_number_hash: str | None
    level: int
    elderly_mode: bool


@dataclass(frozen=True)
class CodeSent:
    expires_in: int
    resend_after: int


@dataclass(frozen=True)
class SignedIn:
    access_token: str
    refresh_token: str
    expires_in: int
    citizen: CitizenSnapshot
    session_id: str


@dataclass(frozen=True)
class Profile:
    id: str
    level: int
    phone_masked: str
    name_masked: str | None
    id_number_masked: str | None
    elderly_mode: bool


@dataclass(frozen=True)
class FaceSessionStarted:
    """A face check (人脸核身) the phone completes in the provider's SDK or page."""

    session_id: str
    provider: str
    biz_token: str
    url: str
    expires_in: int


IdentityReleased = Callable[[CitizenSnapshot], Awaitable[object]]


class IdentityLevelRequired(AppError):
    status, code = 403, "IDENTITY_LEVEL_REQUIRED"

    def __init__(self, required: int, current: int) -> None:
        super().__init__(extra={"required_level": required, "current_level": current})
        self.required = required

    def message(self, language: str) -> str:
        self.params["level_name"] = translate(LEVEL_NAMES[self.required], language)
        return super().message(language)


def require_level(citizen: CitizenSnapshot, level: int) -> None:
    """Raise 403 IDENTITY_LEVEL_REQUIRED (with the level needed) when the citizen is below `level`."""
    if citizen.level < level:
        raise IdentityLevelRequired(level, citizen.level)


def snapshot_of(row: Citizen) -> CitizenSnapshot:
    """The snapshot of a citizen row, the only form in which a citizen leaves this domain."""
    return CitizenSnapshot(**{f.name: getattr(row, f.name) for f in dataclasses.fields(CitizenSnapshot)})


async def citizen_record(citizen_id: str) -> CitizenSnapshot:
    """The citizen as stored now, read from the database (never the cache), for a change just made to count;
    raises DoesNotExist for an unknown id."""
    return snapshot_of(await Citizen.get(id=citizen_id))


async def citizen_record_or_none(citizen_id: str) -> CitizenSnapshot | None:
    """As `citizen_record`, or None for an unknown id."""
    row = await Citizen.get_or_none(id=citizen_id)
    return snapshot_of(row) if row is not None else None


async def citizen_by_phone(platform: Platform, phone: str) -> CitizenSnapshot | None:
    """The account of a phone number (found by its lookup hash), or None: for a number that has no account
    or is not a mainland mobile number."""
    normalized = rules.normalize_phone(phone)
    if normalized is None:
        return None
    row = await Citizen.get_or_none(phone_hash=platform.pii.lookup_hash(normalized, "phone"))
    return snapshot_of(row) if row is not None else None


async def citizen_by_id_number(platform: Platform, id_number: str) -> CitizenSnapshot | None:
    """The account holding a resident ID number (found by its lookup hash), or None: for a number nobody
    holds or that cannot exist."""
    normalized = rules.normalize_id_number(id_number, platform.clock.now().date())
    if normalized is None:
        return None
    row = await Citizen.get_or_none(id_number_hash=platform.pii.lookup_hash(normalized, "id_number"))
    return snapshot_of(row) if row is not None else None


async def citizen_with_id_number(platform: Platform, id_number: str) -> CitizenSnapshot:
    """The verified (实名) citizen holding a resident ID number, as a department names them:
    422 INVALID_ID_NUMBER for a number that cannot exist, 404 CITIZEN_NOT_FOUND for nobody."""
    if rules.normalize_id_number(id_number, platform.clock.now().date()) is None:
        raise AppError("INVALID_ID_NUMBER", status=422)
    citizen = await citizen_by_id_number(platform, id_number)
    if citizen is None:
        raise NotFound("CITIZEN_NOT_FOUND")
    return citizen


async def lock_citizen(conn: BaseDBAsyncClient, citizen_id: str) -> None:
    """Lock the citizen's row (SELECT ... FOR UPDATE on PostgreSQL) until the caller's transaction `conn`
    ends: work on one citizen that must not interleave (their ID voucher, their pinned cards) waits its turn."""
    await Citizen.filter(id=citizen_id).select_for_update().using_db(conn).first()


async def verified_id_number(platform: Platform, citizen_id: str) -> str | None:
    """The citizen's resident ID number as the identity authority confirmed it (实名), for a department that
    finds its records by it; None for a citizen without real-name verification."""
    citizen = await Citizen.get_or_none(id=citizen_id)
    if citizen is None or citizen.level < rules.LEVEL_REAL_NAME or not citizen.id_number_enc:
        return None
    return platform.pii.decrypt(citizen.id_number_enc, "id_number")


def _token_hash(token: str) -> str:
    # Ours are ASCII; any other text (even a lone surrogate from JSON) hashes to something never stored.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


TOUCH_EVERY = 60  # seconds between updates of a session's "last used"


class AccountService:
    def __init__(self, platform: Platform, sms: SmsGateway, identity: IdentityAuthority, face: FaceProvider) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.sms = sms
        self.identity = identity
        self.face = face
        # Called with the account an identity was taken back from (its ID voucher is revoked there).
        self.on_identity_released: list[IdentityReleased] = []
        # Called with (that account, the owner): records departments attached to the identity move.
        self.on_identity_moved: list[Callable[[str, str], Awaitable[object]]] = []
        self._touched: dict[str, float] = {}  # session id -> when this process last asked to touch it
        self._snapshot = ParsedOnce(lambda raw: CitizenSnapshot(**json.loads(raw)))
        self.login_codes = OneTimeCodes(platform.cache, platform.pii, platform.clock, prefix="otp:", purpose="otp",
                                        max_tries=self.settings.accounts.otp_max_tries,
                                        errors=CodeErrors(lapsed=lambda: Unauthorized("OTP_EXPIRED"), wrong="OTP_INVALID"))

    # -- SMS one-time code --------------------------------------------------------------------
    def _phone(self, raw: str) -> tuple[str, str]:
        phone = rules.normalize_phone(raw)
        if phone is None:
            raise AppError("INVALID_PHONE", status=422, extra={"fields": [{"field": "phone", "problem": "format"}]})
        return phone, self.platform.pii.lookup_hash(phone, "phone")

    async def request_login_code(self, raw_phone: str, client_ip: str, channel: str = "sms") -> CodeSent:
        """Send a 6-digit login code (登录验证码) by SMS, or read it out in a voice call (`channel` "voice");
        the code itself is never returned."""
        phone, phone_hash = self._phone(raw_phone)
        now = self.platform.clock.timestamp()
        cache = self.platform.cache
        previous = await get_json(cache, f"otp:{phone_hash}")
        if previous and now < previous["sent_at"] + self.settings.accounts.otp_resend_interval:
            raise RateLimited(retry_after=int(previous["sent_at"] + self.settings.accounts.otp_resend_interval - now) + 1)
        # Two sends racing for the same phone: only one goes to the provider (held as long as a call may take).
        sending, holder = f"otp:sending:{phone_hash}", secrets.token_hex(8)
        if not await cache.set_if_absent(sending, holder, ttl=self._send_timeout(channel) + 5):
            raise RateLimited(retry_after=self.settings.accounts.otp_resend_interval)
        limits = [ratelimit.Limit(f"otp-ip:{client_ip}", self.settings.accounts.otp_ip_hourly_limit, 3600),
                  ratelimit.Limit(f"otp-day:{phone_hash}", self.settings.accounts.otp_daily_limit, 86400)]
        try:
            await ratelimit.hit_all(cache, self.platform.clock, limits)
            code = new_code()
            await self._send_code(phone, code, channel, limits)
            sent = self.platform.clock.timestamp()  # the code lives from when the provider took it
            await self.login_codes.keep(f"otp:{phone_hash}", code, expires_at=sent + self.settings.accounts.otp_ttl,
                                        keep_for=self.settings.accounts.otp_ttl + self.settings.accounts.otp_resend_interval + 60, sent_at=sent)
        finally:
            await cache.delete_if(sending, holder)
        return CodeSent(expires_in=self.settings.accounts.otp_ttl, resend_after=self.settings.accounts.otp_resend_interval)

    def _send_timeout(self, channel: str) -> float:
        return self.settings.sms.timeout * 3 if channel == "voice" else self.settings.sms.timeout  # a call takes longer to set up

    async def _send_code(self, phone: str, code: str, channel: str, limits: list[ratelimit.Limit]) -> None:
        """Hand the code to the provider. A code the provider did not take counts against no limit, and
        the caller is told to retry (503), to wait for the provider's own limit (429), or that the number
        was refused (422)."""
        try:
            if channel == "voice":
                sending = self.sms.call_code(phone, code)
            else:
                sending = self.sms.send(phone, LOGIN_CODE, sms_params(LOGIN_CODE, {"code": code, "minutes": self.settings.accounts.otp_ttl // 60}))
            await asyncio.wait_for(sending, timeout=self._send_timeout(channel))
        except (ProviderError, asyncio.TimeoutError) as exc:
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, limits, amount=-1)
            if isinstance(exc, InvalidPhoneNumber):
                raise AppError("INVALID_PHONE", status=422, extra={
                    "fields": [{"field": "phone", "problem": "refused by the SMS provider"}]}) from None
            log.warning("login code not sent over %s: %s", channel, _kind(exc))
            if isinstance(exc, ProviderThrottled) and exc.retry_after >= 3600:  # the provider's daily cap for the number
                raise RateLimited(retry_after=exc.retry_after, code="SMS_LIMIT_REACHED") from None
            raise Unavailable("SMS_UNAVAILABLE", headers={"Retry-After": str(_retry_after(exc))}) from None

    async def extend_login_code(self, raw_phone: str) -> int:
        """Time enough (适老化): once, before it lapses, a pending login code lives
        `elderly_extend_factor` times as long. Offered for every pending code, not only for accounts in
        elderly mode: before sign-in, refusing others would tell whoever holds a phone number whether
        its account is in elderly mode. Tries stay counted per code. Returns the seconds now left."""
        phone, phone_hash = self._phone(raw_phone)
        cache, now = self.platform.cache, self.platform.clock.timestamp()
        record = await get_json(cache, f"otp:{phone_hash}")
        if record is None or now >= record["expires_at"]:
            raise Unauthorized("OTP_EXPIRED")
        if record.get("extended"):
            raise Conflict("ALREADY_EXTENDED")
        record["expires_at"] = record["sent_at"] + self.settings.accounts.otp_ttl * self.settings.elderly.extend_factor
        record["extended"] = True
        await set_json(cache, f"otp:{phone_hash}", record, ttl=int(record["expires_at"] - now) + 60)
        return round(record["expires_at"] - now)

    # -- login, refresh, logout ---------------------------------------------------------------
    async def login(self, raw_phone: str, code: str, device_name: str | None, client_ip: str) -> SignedIn:
        phone = await self.check_login_code(raw_phone, code, client_ip)
        return await self.sign_in_verified_phone(phone, device_name)

    async def check_login_code(self, raw_phone: str, code: str, client_ip: str) -> str:
        """Use up a valid SMS login code for `raw_phone` (rate-limited, single use); the normalized phone."""
        phone, phone_hash = self._phone(raw_phone)
        if not _CODE.match(code or ""):
            raise ValidationFailed([{"field": "code", "problem": "6 digits"}])
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"login-ip:{client_ip}", self.settings.accounts.login_ip_hourly_limit, 3600)
        await self.login_codes.use(f"otp:{phone_hash}", code, ttl=self.settings.accounts.otp_ttl + 60)
        return phone

    async def sign_in_verified_phone(self, phone: str, device_name: str | None, audience: str | None = None,
                                     via: str = "sms") -> SignedIn:
        """A new session for the owner of a phone number someone has just proven to hold (SMS code, or
        phone data the mini-program platform vouched for); the citizen is created on first sign-in.
        `audience` is the API the access token is for (the citizen app by default)."""
        phone, phone_hash = self._phone(phone)
        citizen = snapshot_of(await self._citizen_for_phone(phone, phone_hash))
        return await self.start_session(citizen, device_name, audience, via)

    async def start_session(self, citizen: CitizenSnapshot, device_name: str | None, audience: str | None = None,
                            via: str = "sms") -> SignedIn:
        """A new device session (and its tokens) for a citizen whose sign-in was just proven."""
        device = (device_name or "").strip()[:64] or "未命名设备"
        now = self.platform.clock.now()
        session = await LoginSession.create(
            id=new_id("ses"), citizen_id=citizen.id, device_name=device, created_at=now, last_used_at=now,
            expires_at=now + timedelta(seconds=self.settings.accounts.refresh_token_ttl),
        )
        refresh = await self._new_refresh_token(session.id)
        attributes = {"session_id": session.id} if via == "sms" and audience is None else \
            {"session_id": session.id, "via": via, "audience": audience or self.settings.accounts.citizen_audience}
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="login",
                                 subject_id=citizen.id, attributes=attributes)
        await notify(self.platform.clock, citizen.id, "login_new_device", {"device": device, "at": rfc3339(now)})
        return self._signed_in(citizen, session.id, refresh, audience)

    async def _citizen_for_phone(self, phone: str, phone_hash: str) -> Citizen:
        citizen = await Citizen.get_or_none(phone_hash=phone_hash)
        if citizen is not None:
            return citizen
        try:
            return await Citizen.create(
                id=new_id("c"), phone_enc=self.platform.pii.encrypt(phone, "phone"), phone_hash=phone_hash,
                created_at=self.platform.clock.now(),
            )
        except IntegrityError:  # a parallel first login created it
            return await Citizen.get(phone_hash=phone_hash)

    async def _new_refresh_token(self, session_id: str) -> str:
        token = secrets.token_urlsafe(32)
        await RefreshToken.create(session_id=session_id, token_hash=_token_hash(token), created_at=self.platform.clock.now())
        return token

    def _signed_in(self, citizen: CitizenSnapshot, session_id: str, refresh: str, audience: str | None = None) -> SignedIn:
        access = self.platform.tokens.issue(citizen.id, session_id, audience or self.settings.accounts.citizen_audience)
        return SignedIn(access, refresh, self.settings.accounts.access_token_ttl, citizen, session_id)

    async def refresh(self, refresh_token: str) -> SignedIn:
        """Swap a refresh token for new tokens. A token used twice signs the whole session out."""
        row = await RefreshToken.get_or_none(token_hash=_token_hash(refresh_token or "")).prefetch_related("session")
        if row is None:
            raise Unauthorized("REFRESH_TOKEN_INVALID")
        session: LoginSession = row.session
        now = self.platform.clock.now()
        if session.revoked_at is not None or session.expires_at <= now:
            raise Unauthorized("REFRESH_TOKEN_INVALID")
        claimed = row.used_at is None and await RefreshToken.filter(id=row.id, used_at=None).update(used_at=now) == 1
        if not claimed:
            # Replay of a rotated token: someone holds a copy. Revoke the whole family.
            await self._revoke(session, "refresh_reuse", actor=session.citizen_id, actor_type="system")
            await notify(self.platform.clock, session.citizen_id, "refresh_token_reused", {"device": session.device_name})
            raise Unauthorized("REFRESH_TOKEN_REUSED")
        await LoginSession.filter(id=session.id).update(last_used_at=now)
        citizen = await citizen_record(session.citizen_id)
        return self._signed_in(citizen, session.id, await self._new_refresh_token(session.id))

    async def logout(self, claims: AccessClaims) -> None:
        session = await LoginSession.get_or_none(id=claims.session_id, citizen_id=claims.subject)
        if session is not None and session.revoked_at is None:
            await self._revoke(session, "logout", actor=claims.subject, actor_type="citizen")

    async def _revoke(self, session: LoginSession, reason: str, actor: str, actor_type: str) -> None:
        now = self.platform.clock.now()
        # A signed-out device gets no more pushes: its token goes with the session.
        await LoginSession.filter(id=session.id, revoked_at=None).update(
            revoked_at=now, revoked_reason=reason, push_platform=None, push_token_enc=None, push_token_hash=None)
        # Access tokens of this session stop working at once on every worker.
        await self.platform.cache.set(f"sess:{session.id}", "0", ttl=self.settings.accounts.access_token_ttl + 60)
        await audit.record_event(self.platform.clock, actor=actor, actor_type=actor_type, action="session_revoked",
                                 subject_id=session.citizen_id, attributes={"session_id": session.id, "reason": reason})

    async def signed_in(self, session_id: str, citizen_id: str) -> CitizenSnapshot:
        """Checked on every authenticated request: the session is live (a revocation counts at once
        on every worker) and who it belongs to, read from the cache in one round trip."""
        state, data = await self.platform.cache.get_many([f"sess:{session_id}", f"citizen:{citizen_id}"])
        if state is None:
            state = await self._session_state(session_id)
        if state != "1":
            raise Unauthorized("TOKEN_REVOKED")
        await self.touch_session(session_id)
        return self._snapshot(data) if data else await self.citizen(citizen_id)

    async def session_active(self, session_id: str) -> bool:
        """Cached briefly; revocations overwrite the cache."""
        state = await self.platform.cache.get(f"sess:{session_id}")
        return (state or await self._session_state(session_id)) == "1"

    async def _session_state(self, session_id: str) -> str:
        session = await LoginSession.get_or_none(id=session_id)
        active = session is not None and session.revoked_at is None and session.expires_at > self.platform.clock.now()
        state = "1" if active else "0"
        await self.platform.cache.set(f"sess:{session_id}", state, ttl=60)
        return state

    async def touch_session(self, session_id: str) -> None:
        """Keep "last used" of the device list current, writing at most once a minute per session
        (the cache decides across workers; this process asks at most once a minute per session)."""
        now = self.platform.clock.timestamp()
        if now - self._touched.get(session_id, float("-inf")) < TOUCH_EVERY:
            return
        if len(self._touched) > 100_000:  # a worker's memory stays bounded
            self._touched.clear()
        self._touched[session_id] = now
        if await self.platform.cache.set_if_absent(f"touch:{session_id}", "1", ttl=TOUCH_EVERY):
            await LoginSession.filter(id=session_id).update(last_used_at=self.platform.clock.now())

    async def sessions(self, citizen_id: str) -> list[LoginSession]:
        return await LoginSession.filter(citizen_id=citizen_id, revoked_at=None, expires_at__gt=self.platform.clock.now()).order_by("-last_used_at")

    async def sign_out_session(self, citizen_id: str, session_id: str) -> None:
        """Remote sign-out (退出其他设备). Only the citizen's own sessions are found."""
        session = await get_owned(LoginSession, citizen_id, session_id, revoked_at=None)
        await self._revoke(session, "remote_sign_out", actor=citizen_id, actor_type="citizen")
        await notify(self.platform.clock, citizen_id, "session_revoked", {"device": session.device_name})

    # -- profile and identity levels ----------------------------------------------------------
    async def citizen(self, citizen_id: str) -> CitizenSnapshot:
        """The signed-in citizen, cached because every guarded request needs it.

        Whatever changes a citizen row must call `forget_citizen` afterwards.
        """
        raw = await self.platform.cache.get(f"citizen:{citizen_id}")
        if raw is not None:
            return self._snapshot(raw)
        row = await Citizen.get_or_none(id=citizen_id)
        if row is None:
            raise Unauthorized("TOKEN_INVALID")
        snapshot = snapshot_of(row)
        await set_json(self.platform.cache, f"citizen:{citizen_id}", dataclasses.asdict(snapshot), ttl=300)
        return snapshot

    async def phone_of(self, citizen_id: str) -> str | None:
        """The citizen's own phone number, for a message to them (短信通知), as stored now (not the cached
        snapshot: a changed number counts at once); None once the account is closed."""
        citizen = await citizen_record_or_none(citizen_id)
        return self.platform.pii.decrypt(citizen.phone_enc, "phone") if citizen else None

    async def set_preferences(self, citizen_id: str, elderly_mode: bool | None) -> dict[str, bool]:
        """The citizen's display preferences (长辈模式 for now); the whole set is returned as stored."""
        if elderly_mode is not None:
            await Citizen.filter(id=citizen_id).update(elderly_mode=elderly_mode)
            await self.forget_citizen(citizen_id)
            await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="preferences_changed",
                                     subject_id=citizen_id, attributes=["elderly_mode"])
        citizen = await self.citizen(citizen_id)
        return {"elderly_mode": citizen.elderly_mode}

    async def forget_citizen(self, citizen_id: str) -> None:
        await self.platform.cache.delete(f"citizen:{citizen_id}")

    def profile(self, citizen: CitizenSnapshot) -> Profile:
        pii = self.platform.pii
        return Profile(
            id=citizen.id,
            level=citizen.level,
            phone_masked=mask_phone(pii.decrypt(citizen.phone_enc, "phone")),
            name_masked=mask_name(pii.decrypt(citizen.name_enc, "name")) if citizen.name_enc else None,
            id_number_masked=mask_id_number(pii.decrypt(citizen.id_number_enc, "id_number")) if citizen.id_number_enc else None,
            elderly_mode=citizen.elderly_mode,
        )

    async def verify_identity(self, citizen: CitizenSnapshot, raw_name: str, raw_id_number: str) -> int:
        """实名认证: the identity authority confirms the name + ID-number pair, then it is bound to this
        account (one pair, one account). Nothing is stored unless the authority confirmed it."""
        name, id_number = self._pair(raw_name, raw_id_number)
        id_hash = self.platform.pii.lookup_hash(id_number, "id_number")
        if citizen.level >= rules.LEVEL_REAL_NAME:
            same_name = citizen.name_enc is not None and self.platform.pii.decrypt(citizen.name_enc, "name") == name
            if citizen.id_number_hash == id_hash and same_name:
                return citizen.level  # the same identity again: nothing changes
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        await self._confirmed_by_authority(citizen.id, name, id_number)
        if await Citizen.filter(id_number_hash=id_hash).exclude(id=citizen.id).exists():
            raise _held_elsewhere()
        try:
            async with in_transaction():
                updated = await Citizen.filter(id=citizen.id, level=rules.LEVEL_PHONE).update(
                    name_enc=self.platform.pii.encrypt(name, "name"), id_number_enc=self.platform.pii.encrypt(id_number, "id_number"),
                    id_number_hash=id_hash, level=rules.LEVEL_REAL_NAME, identity_verified_at=self.platform.clock.now(),
                )
        except IntegrityError:
            raise _held_elsewhere() from None
        if updated != 1:
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        await self.forget_citizen(citizen.id)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="identity_verified",
                                 subject_id=citizen.id, attributes={"fields": ["name", "id_number"],
                                                                    "confirmed_by": "identity_authority"})
        await notify(self.platform.clock, citizen.id, "identity_verified")
        return rules.LEVEL_REAL_NAME

    def _pair(self, raw_name: str, raw_id_number: str) -> tuple[str, str]:
        name = rules.normalize_name(raw_name)
        id_number = rules.normalize_id_number(raw_id_number, self.platform.clock.now().date())
        if name is None:
            raise AppError("INVALID_NAME", status=422, extra={"fields": [{"field": "name", "problem": "format"}]})
        if id_number is None:
            raise AppError("INVALID_ID_NUMBER", status=422, extra={"fields": [{"field": "id_number", "problem": "checksum, birth date or region"}]})
        return name, id_number

    async def _confirmed_by_authority(self, citizen_id: str, name: str, id_number: str) -> None:
        """Ask the identity authority (二要素). A pair it does not confirm is 422 IDENTITY_MISMATCH and
        counts against the account's daily limit; an authority that cannot answer is 503."""
        limit = self.settings.identity.mismatch_daily_limit
        counter = f"identity-mismatch:{citizen_id}"
        # Read the count (amount 0); at the limit one more hit answers 429 with its Retry-After, and the
        # authority is not asked.
        refused = await ratelimit.hit(self.platform.cache, self.platform.clock, counter, limit, 86400, code="IDENTITY_MISMATCH_LIMIT",
                                      amount=0)
        if refused >= limit:
            await ratelimit.hit(self.platform.cache, self.platform.clock, counter, limit, 86400, code="IDENTITY_MISMATCH_LIMIT")
        asked = ratelimit.Limit(f"identity:{citizen_id}", 10, 86400)  # what the authority is asked, a day
        await ratelimit.hit_all(self.platform.cache, self.platform.clock, [asked])
        try:
            verdict = await asyncio.wait_for(self.identity.check(name, id_number), timeout=self.settings.identity.timeout)
        except (ProviderError, asyncio.TimeoutError) as exc:
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, [asked], amount=-1)  # not answered: not counted
            log.warning("identity authority did not answer: %s", _kind(exc))
            raise Unavailable("IDENTITY_CHECK_UNAVAILABLE", headers={"Retry-After": str(_retry_after(exc))}) from None
        if verdict.confirmed:
            return
        if verdict.outcome == INVALID_NAME:
            raise AppError("INVALID_NAME", status=422, extra={"fields": [{"field": "name", "problem": "refused by the identity authority"}]})
        if verdict.outcome == INVALID_ID_NUMBER:
            raise AppError("INVALID_ID_NUMBER", status=422, extra={"fields": [{"field": "id_number", "problem": "refused by the identity authority"}]})
        await ratelimit.hit(self.platform.cache, self.platform.clock, counter, limit, 86400, code="IDENTITY_MISMATCH_LIMIT")
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="identity_mismatch",
                                 subject_id=citizen_id, attributes={"outcome": verdict.outcome})
        raise AppError("IDENTITY_MISMATCH", status=422, extra={"fields": [
            {"field": "name", "problem": "does not match the ID number"}]})

    # -- face check (人脸核身) ------------------------------------------------------------------
    async def start_face_session(self, citizen: CitizenSnapshot, purpose: str = "level3", raw_name: str | None = None,
                                 raw_id_number: str | None = None) -> FaceSessionStarted:
        """Start a face check at the provider: of the citizen's own verified identity ("level3"), or of a
        pair another account holds, to take it back ("reclaim")."""
        if purpose not in FACE_PURPOSES:
            raise ValidationFailed([{"field": "purpose", "problem": f"one of {', '.join(FACE_PURPOSES)}"}])
        if purpose == "level3":
            require_level(citizen, rules.LEVEL_REAL_NAME)
            name = self.platform.pii.decrypt(citizen.name_enc or "", "name")
            id_number = self.platform.pii.decrypt(citizen.id_number_enc or "", "id_number")
        else:
            name, id_number = await self._reclaimable(citizen, raw_name or "", raw_id_number or "")
        attempts = ratelimit.Limit(f"face:{citizen.id}", self.settings.face.daily_attempts, 86400)
        await ratelimit.hit_all(self.platform.cache, self.platform.clock, [attempts])
        redirect = self.settings.face.redirect_url or f"{self.settings.security.issuer}/face-check/done"
        try:
            started = await asyncio.wait_for(self.face.start(name, id_number, redirect), timeout=self.settings.face.timeout)
        except (ProviderError, asyncio.TimeoutError) as exc:
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, [attempts], amount=-1)  # no check was made
            if isinstance(exc, FaceSubjectRefused):
                raise AppError("FACE_CHECK_NOT_POSSIBLE", status=422) from None
            log.warning("face provider did not start a session: %s", _kind(exc))
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": str(_retry_after(exc))}) from None
        now = self.platform.clock.now()
        row = await FaceSession.create(
            id=new_id("face"), citizen_id=citizen.id, purpose=purpose, provider=self.face.name,
            biz_token=started.biz_token, name_enc=self.platform.pii.encrypt(name, "name"),
            id_number_enc=self.platform.pii.encrypt(id_number, "id_number"),
            id_number_hash=self.platform.pii.lookup_hash(id_number, "id_number"), created_at=now,
            expires_at=now + timedelta(seconds=self.settings.face.session_ttl))
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="face_session_started",
                                 subject_id=citizen.id, attributes={"session_id": row.id, "purpose": purpose})
        return FaceSessionStarted(row.id, self.face.name, started.biz_token, started.url, self.settings.face.session_ttl)

    async def _reclaimable(self, citizen: CitizenSnapshot, raw_name: str, raw_id_number: str) -> tuple[str, str]:
        """A pair the authority confirms and another account holds, asked for by an account that holds
        no other identity."""
        name, id_number = self._pair(raw_name, raw_id_number)
        id_hash = self.platform.pii.lookup_hash(id_number, "id_number")
        if citizen.level >= rules.LEVEL_REAL_NAME and citizen.id_number_hash != id_hash:
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        await self._confirmed_by_authority(citizen.id, name, id_number)
        if not await Citizen.filter(id_number_hash=id_hash).exclude(id=citizen.id).exists():
            raise Conflict("NOTHING_TO_RECLAIM")
        return name, id_number

    async def verify_face(self, citizen: CitizenSnapshot, session_id: str | None, liveness_sample: str | None = None) -> int:
        """Finish a face check: the provider's verdict for a session the phone completed, or, with the
        stand-in provider only, a liveness sample checked in one call."""
        if session_id is None:
            return await self._verify_face_sample(citizen, liveness_sample or "")
        return await self._finish_face_session(citizen, session_id)

    async def _finish_face_session(self, citizen: CitizenSnapshot, session_id: str) -> int:
        """Fetch the provider's verdict for a face session of this citizen and, when it passed, grant
        level 3 (or take the identity back). A session counts once: a second use is 409."""
        session = await get_owned(FaceSession, citizen.id, session_id)
        if session.used_at is not None:
            raise Conflict("FACE_SESSION_USED")
        if session.expires_at <= self.platform.clock.now():
            raise AppError("FACE_SESSION_EXPIRED", status=410)
        verdict = await self._verdict(session.biz_token)
        if not verdict.finished:
            raise Conflict("FACE_CHECK_NOT_FINISHED")
        passed = self._passes(session, verdict)
        claimed = await FaceSession.filter(id=session.id, used_at=None).update(
            used_at=self.platform.clock.now(), outcome="passed" if passed else "failed")
        if claimed != 1:
            raise Conflict("FACE_SESSION_USED")
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen",
                                 action="face_check_passed" if passed else "face_check_failed", subject_id=citizen.id,
                                 attributes={"session_id": session.id, "purpose": session.purpose,
                                             "score": round(verdict.similarity / 100, 3), "live": verdict.live,
                                             "provider_code": verdict.code})
        if not passed:
            raise AppError("FACE_CHECK_FAILED", status=422, extra={"live": verdict.live})
        if session.purpose == "reclaim":
            return await self._reclaim(citizen, session)
        return await self._lift_to_face_level(citizen)

    async def _verify_face_sample(self, citizen: CitizenSnapshot, liveness_sample: str) -> int:
        """Stand-in only: one call does what the phone does in the provider's page (a session, the
        capture, the verdict). Refused while the face provider is a real one."""
        if self.settings.production or not is_stand_in(self.settings.face.url):
            raise AppError("FACE_SAMPLE_NOT_ACCEPTED", status=422, extra={"fields": [
                {"field": "liveness_sample", "problem": "only with the stand-in face provider; send session_id"}]})
        require_level(citizen, rules.LEVEL_REAL_NAME)
        try:
            sample = base64.b64decode(liveness_sample or "", validate=True)
        except (binascii.Error, ValueError):
            sample = b""
        if len(sample) < rules.MIN_LIVENESS_SAMPLE_BYTES:  # no capture that small can be analysed
            raise AppError("INVALID_LIVENESS_SAMPLE", status=422, extra={"fields": [{"field": "liveness_sample", "problem": "base64"}]})
        started = await self.start_face_session(citizen)
        try:
            await asyncio.wait_for(self.face.complete_with_sample(started.biz_token, sample), timeout=self.settings.face.timeout)
        except (ProviderError, asyncio.TimeoutError) as exc:
            log.warning("stand-in face page did not take the sample: %s", _kind(exc))
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": str(_retry_after(exc))}) from None
        return await self._finish_face_session(citizen, started.session_id)

    async def _verdict(self, biz_token: str) -> FaceVerdict:
        try:
            return await asyncio.wait_for(self.face.verdict(biz_token), timeout=self.settings.face.timeout)
        except FaceSessionGone:
            raise AppError("FACE_SESSION_EXPIRED", status=410) from None
        except (ProviderError, asyncio.TimeoutError) as exc:
            log.warning("face provider gave no verdict: %s", _kind(exc))
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": str(_retry_after(exc))}) from None

    def _passes(self, session: FaceSession, verdict: FaceVerdict) -> bool:
        """Live, similar enough to the authority's photo, and of the very pair the session was started
        for (a verdict of another person's check never counts)."""
        same_person = (verdict.id_number or "").upper() == self.platform.pii.decrypt(session.id_number_enc, "id_number") \
            and (verdict.name is None or verdict.name == self.platform.pii.decrypt(session.name_enc, "name"))
        return same_person and verdict.passed_at_provider and verdict.live \
            and verdict.similarity / 100 >= self.settings.face.pass_score

    async def _lift_to_face_level(self, citizen: CitizenSnapshot) -> int:
        if citizen.level < rules.LEVEL_FACE:
            await Citizen.filter(id=citizen.id).update(level=rules.LEVEL_FACE, face_verified_at=self.platform.clock.now())
            await self.forget_citizen(citizen.id)
            await notify(self.platform.clock, citizen.id, "face_verified")
        return max(citizen.level, rules.LEVEL_FACE)

    async def _reclaim(self, citizen: CitizenSnapshot, session: FaceSession) -> int:
        """The owner of a pair proved it with their face: the account holding it drops to level 1 (its
        sessions and ID voucher are revoked, what departments attached to the identity moves here, and it
        is told by SMS), and the pair is bound here at level 3."""
        now = self.platform.clock.now()
        holder = await Citizen.get_or_none(id_number_hash=session.id_number_hash)
        released = holder if holder is not None and holder.id != citizen.id else None  # the account losing the pair
        try:
            async with in_transaction():
                if released is not None:
                    await Citizen.filter(id=released.id).update(
                        name_enc=None, id_number_enc=None, id_number_hash=None, level=rules.LEVEL_PHONE,
                        identity_verified_at=None, face_verified_at=None)
                # Only an account still without another identity takes the pair.
                bound = await Citizen.filter(id=citizen.id).filter(
                    Q(id_number_hash=None) | Q(id_number_hash=session.id_number_hash)).update(
                    name_enc=session.name_enc, id_number_enc=session.id_number_enc,
                    id_number_hash=session.id_number_hash, level=rules.LEVEL_FACE, identity_verified_at=now,
                    face_verified_at=now)
                if bound != 1:
                    raise Conflict("IDENTITY_ALREADY_VERIFIED")
        except IntegrityError:  # the pair moved again meanwhile (another reclaim): nothing changed
            raise Conflict("ID_NUMBER_TAKEN") from None
        await self.forget_citizen(citizen.id)
        if released is not None:
            await self._release(released, citizen.id, session.id)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="identity_reclaimed",
                                 subject_id=citizen.id, attributes={"session_id": session.id,
                                                                    "released_from": released.id if released else None})
        await notify(self.platform.clock, citizen.id, "face_verified")
        return rules.LEVEL_FACE

    async def _release(self, holder: Citizen, claimant_id: str, session_id: str) -> None:
        await self.forget_citizen(holder.id)  # its cached level 3 ends before anything else
        for live in await self.sessions(holder.id):
            await self._revoke(live, "identity_reclaimed", actor=claimant_id, actor_type="citizen")
        snapshot = snapshot_of(holder)
        for released in self.on_identity_released:
            await released(snapshot)
        for moved in self.on_identity_moved:
            await moved(holder.id, claimant_id)
        await audit.record_event(self.platform.clock, actor=claimant_id, actor_type="citizen", action="identity_released",
                                 subject_id=holder.id, attributes={"session_id": session_id, "to": claimant_id})
        await notify(self.platform.clock, holder.id, "identity_reclaimed")


def _held_elsewhere() -> AppError:
    """The pair is confirmed but bound to another account: its owner may take it back with a face check."""
    return Conflict("ID_NUMBER_TAKEN", extra={"reclaim": {"path": "/api/v1/me/identity/face/sessions",
                                                         "purpose": "reclaim"}})


def _kind(exc: BaseException) -> str:
    """What went wrong, for the log: the provider's code or the exception type, never a message."""
    return getattr(exc, "code", None) or type(exc).__name__


def _retry_after(exc: BaseException) -> int:
    return max(1, min(int(exc.retry_after), 3600)) if isinstance(exc, ProviderThrottled) else 30
