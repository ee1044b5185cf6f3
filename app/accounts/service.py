"""Account operations: SMS-code login, token refresh and sessions, 实名 and face verification."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import binascii
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.accounts import rules
from app.accounts.adapters import FaceCheckError, FaceCheckProvider, SmsDeliveryError, SmsGateway
from app.accounts.models import Citizen, LoginSession, RefreshToken
from app.cache import ParsedOnce, get_json, set_json
from app.clock import rfc3339
from app.errors import AppError, Conflict, NotFound, RateLimited, Unauthorized, Unavailable, ValidationFailed
from app.ids import new_id
from app.ownership import get_owned
from app.notifications.service import notify
from app.platform import Platform
from app.security import ratelimit
from app.security.one_time_codes import CodeErrors, OneTimeCodes, new_code
from app.security.pii import mask_id_number, mask_name, mask_phone
from app.security.tokens import AccessClaims

LEVEL_NAMES = {
    rules.LEVEL_REAL_NAME: {"zh-Hans": "实名认证", "zh-Hant": "實名認證", "en": "real-name verification"},
    rules.LEVEL_FACE: {"zh-Hans": "人脸核验", "zh-Hant": "人臉核驗", "en": "the face check"},
}
_CODE = re.compile(r"^[0-9]{6}$")


@dataclass(frozen=True)
class CitizenSnapshot:
    """What requests need of a citizen row (a plain object: building an ORM model costs ~50 µs)."""

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
    citizen: Citizen
    session_id: str


@dataclass(frozen=True)
class Profile:
    id: str
    level: int
    phone_masked: str
    name_masked: str | None
    id_number_masked: str | None
    elderly_mode: bool


class IdentityLevelRequired(AppError):
    status, code = 403, "IDENTITY_LEVEL_REQUIRED"

    def __init__(self, required: int, current: int) -> None:
        super().__init__(extra={"required_level": required, "current_level": current})
        self.required = required

    def message(self, language: str) -> str:
        self.params["level_name"] = LEVEL_NAMES[self.required].get(language, LEVEL_NAMES[self.required]["zh-Hans"])
        return super().message(language)


def require_level(citizen: Citizen | CitizenSnapshot, level: int) -> None:
    """Raise 403 IDENTITY_LEVEL_REQUIRED (with the level needed) when the citizen is below `level`."""
    if citizen.level < level:
        raise IdentityLevelRequired(level, citizen.level)


async def citizen_with_id_number(platform: Platform, id_number: str) -> Citizen:
    """The verified (实名) citizen holding a resident ID number, as a department names them:
    422 INVALID_ID_NUMBER for a number that cannot exist, 404 CITIZEN_NOT_FOUND for nobody."""
    normalized = rules.normalize_id_number(id_number, platform.clock.now().date())
    if normalized is None:
        raise AppError("INVALID_ID_NUMBER", status=422)
    citizen = await Citizen.get_or_none(id_number_hash=platform.pii.lookup_hash(normalized, "id_number"))
    if citizen is None:
        raise NotFound("CITIZEN_NOT_FOUND")
    return citizen


def voice_code_speech(code: str, ttl: int) -> str:
    """What the voice call says: each digit on its own, twice, as a person would read it out."""
    digits = "，".join("〇一二三四五六七八九"[int(d)] for d in code)
    return (f"您好，这里是粤省事。您的登录验证码是：{digits}。再说一遍：{digits}。"
            f"{'一二三四五六七八九十'[ttl // 60 - 1] if 1 <= ttl // 60 <= 10 else ttl // 60}分钟内有效，请不要告诉任何人。")


def _token_hash(token: str) -> str:
    # Ours are ASCII; any other text (even a lone surrogate from JSON) hashes to something never stored.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


TOUCH_EVERY = 60  # seconds between updates of a session's "last used"


class AccountService:
    def __init__(self, platform: Platform, sms: SmsGateway, face: FaceCheckProvider) -> None:
        self.p = platform
        self.s = platform.settings
        self.sms = sms
        self.face = face
        self._touched: dict[str, float] = {}  # session id -> when this process last asked to touch it
        self._snapshot = ParsedOnce(lambda raw: CitizenSnapshot(**json.loads(raw)))
        self.login_codes = OneTimeCodes(platform.cache, platform.pii, platform.clock, prefix="otp:", purpose="otp",
                                        max_tries=self.s.otp_max_tries,
                                        errors=CodeErrors(lapsed=lambda: Unauthorized("OTP_EXPIRED"), wrong="OTP_INVALID"))

    # -- SMS one-time code --------------------------------------------------------------------
    def _phone(self, raw: str) -> tuple[str, str]:
        phone = rules.normalize_phone(raw)
        if phone is None:
            raise AppError("INVALID_PHONE", status=422, extra={"fields": [{"field": "phone", "problem": "format"}]})
        return phone, self.p.pii.lookup_hash(phone, "phone")

    async def request_login_code(self, raw_phone: str, client_ip: str, channel: str = "sms") -> CodeSent:
        """Send a 6-digit login code (登录验证码) by SMS, or read it out in a voice call (`channel` "voice");
        the code itself is never returned."""
        phone, phone_hash = self._phone(raw_phone)
        now = self.p.clock.timestamp()
        cache = self.p.cache
        previous = await get_json(cache, f"otp:{phone_hash}")
        if previous and now < previous["sent_at"] + self.s.otp_resend_interval:
            raise RateLimited(retry_after=int(previous["sent_at"] + self.s.otp_resend_interval - now) + 1)
        # Two sends racing for the same phone: only one goes to the gateway.
        if not await cache.set_if_absent(f"otp:sending:{phone_hash}", "1", ttl=self.s.sms_timeout + 5):
            raise RateLimited(retry_after=self.s.otp_resend_interval)
        try:
            await ratelimit.hit_all(cache, self.p.clock, [
                ratelimit.Limit(f"otp-ip:{client_ip}", self.s.otp_ip_hourly_limit, 3600),
                ratelimit.Limit(f"otp-day:{phone_hash}", self.s.otp_daily_limit, 86400),
            ])
            code = new_code()
            text = f"【粤省事（示例）】您的登录验证码为 {code}，{self.s.otp_ttl // 60} 分钟内有效。工作人员不会向您索要验证码，请勿告知他人。"
            try:
                if channel == "voice":
                    await asyncio.wait_for(self.sms.call(phone, voice_code_speech(code, self.s.otp_ttl)),
                                           timeout=self.s.sms_timeout * 3)
                else:
                    await asyncio.wait_for(self.sms.send(phone, text), timeout=self.s.sms_timeout)
            except (SmsDeliveryError, asyncio.TimeoutError):
                raise Unavailable("SMS_UNAVAILABLE", headers={"Retry-After": "30"}) from None
            await self.login_codes.keep(f"otp:{phone_hash}", code, expires_at=now + self.s.otp_ttl,
                                        keep_for=self.s.otp_ttl + self.s.otp_resend_interval + 60, sent_at=now)
        finally:
            await cache.delete(f"otp:sending:{phone_hash}")
        return CodeSent(expires_in=self.s.otp_ttl, resend_after=self.s.otp_resend_interval)

    async def extend_login_code(self, raw_phone: str) -> int:
        """Time enough (适老化): once, before it lapses, a pending login code lives
        `elderly_extend_factor` times as long. Offered for every pending code, not only for accounts in
        elderly mode: before sign-in, refusing others would tell whoever holds a phone number whether
        its account is in elderly mode. Tries stay counted per code. Returns the seconds now left."""
        phone, phone_hash = self._phone(raw_phone)
        cache, now = self.p.cache, self.p.clock.timestamp()
        record = await get_json(cache, f"otp:{phone_hash}")
        if record is None or now >= record["expires_at"]:
            raise Unauthorized("OTP_EXPIRED")
        if record.get("extended"):
            raise Conflict("ALREADY_EXTENDED")
        record["expires_at"] = record["sent_at"] + self.s.otp_ttl * self.s.elderly_extend_factor
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
        await ratelimit.hit(self.p.cache, self.p.clock, f"login-ip:{client_ip}", self.s.login_ip_hourly_limit, 3600)
        await self.login_codes.use(f"otp:{phone_hash}", code, ttl=self.s.otp_ttl + 60)
        return phone

    async def sign_in_verified_phone(self, phone: str, device_name: str | None, audience: str | None = None,
                                     via: str = "sms") -> SignedIn:
        """A new session for the owner of a phone number someone has just proven to hold (SMS code, or
        phone data the mini-program platform vouched for); the citizen is created on first sign-in.
        `audience` is the API the access token is for (the citizen app by default)."""
        phone, phone_hash = self._phone(phone)
        citizen = await self._citizen_for_phone(phone, phone_hash)
        return await self.start_session(citizen, device_name, audience, via)

    async def start_session(self, citizen: Citizen, device_name: str | None, audience: str | None = None,
                            via: str = "sms") -> SignedIn:
        """A new device session (and its tokens) for a citizen whose sign-in was just proven."""
        device = (device_name or "").strip()[:64] or "未命名设备"
        now = self.p.clock.now()
        session = await LoginSession.create(
            id=new_id("ses"), citizen_id=citizen.id, device_name=device, created_at=now, last_used_at=now,
            expires_at=now + timedelta(seconds=self.s.refresh_token_ttl),
        )
        refresh = await self._new_refresh_token(session.id)
        attributes = {"session_id": session.id} if via == "sms" and audience is None else \
            {"session_id": session.id, "via": via, "audience": audience or self.s.citizen_audience}
        await audit.record_event(self.p.clock, actor=citizen.id, actor_type="citizen", action="login",
                                 subject_id=citizen.id, attributes=attributes)
        await notify(self.p.clock, citizen.id, "login_new_device", {"device": device, "at": rfc3339(now)})
        return self._signed_in(citizen, session.id, refresh, audience)

    async def _citizen_for_phone(self, phone: str, phone_hash: str) -> Citizen:
        citizen = await Citizen.get_or_none(phone_hash=phone_hash)
        if citizen is not None:
            return citizen
        try:
            return await Citizen.create(
                id=new_id("c"), phone_enc=self.p.pii.encrypt(phone, "phone"), phone_hash=phone_hash,
                created_at=self.p.clock.now(),
            )
        except IntegrityError:  # a parallel first login created it
            return await Citizen.get(phone_hash=phone_hash)

    async def _new_refresh_token(self, session_id: str) -> str:
        token = secrets.token_urlsafe(32)
        await RefreshToken.create(session_id=session_id, token_hash=_token_hash(token), created_at=self.p.clock.now())
        return token

    def _signed_in(self, citizen: Citizen, session_id: str, refresh: str, audience: str | None = None) -> SignedIn:
        access = self.p.tokens.issue(citizen.id, session_id, audience or self.s.citizen_audience)
        return SignedIn(access, refresh, self.s.access_token_ttl, citizen, session_id)

    async def refresh(self, refresh_token: str) -> SignedIn:
        """Swap a refresh token for new tokens. A token used twice signs the whole session out."""
        row = await RefreshToken.get_or_none(token_hash=_token_hash(refresh_token or "")).prefetch_related("session")
        if row is None:
            raise Unauthorized("REFRESH_TOKEN_INVALID")
        session: LoginSession = row.session
        now = self.p.clock.now()
        if session.revoked_at is not None or session.expires_at <= now:
            raise Unauthorized("REFRESH_TOKEN_INVALID")
        claimed = row.used_at is None and await RefreshToken.filter(id=row.id, used_at=None).update(used_at=now) == 1
        if not claimed:
            # Replay of a rotated token: someone holds a copy. Revoke the whole family.
            await self._revoke(session, "refresh_reuse", actor=session.citizen_id, actor_type="system")
            await notify(self.p.clock, session.citizen_id, "refresh_token_reused", {"device": session.device_name})
            raise Unauthorized("REFRESH_TOKEN_REUSED")
        await LoginSession.filter(id=session.id).update(last_used_at=now)
        citizen = await Citizen.get(id=session.citizen_id)
        return self._signed_in(citizen, session.id, await self._new_refresh_token(session.id))

    async def logout(self, claims: AccessClaims) -> None:
        session = await LoginSession.get_or_none(id=claims.session_id, citizen_id=claims.subject)
        if session is not None and session.revoked_at is None:
            await self._revoke(session, "logout", actor=claims.subject, actor_type="citizen")

    async def _revoke(self, session: LoginSession, reason: str, actor: str, actor_type: str) -> None:
        now = self.p.clock.now()
        await LoginSession.filter(id=session.id, revoked_at=None).update(revoked_at=now, revoked_reason=reason)
        # Access tokens of this session stop working at once on every worker.
        await self.p.cache.set(f"sess:{session.id}", "0", ttl=self.s.access_token_ttl + 60)
        await audit.record_event(self.p.clock, actor=actor, actor_type=actor_type, action="session_revoked",
                                 subject_id=session.citizen_id, attributes={"session_id": session.id, "reason": reason})

    async def signed_in(self, session_id: str, citizen_id: str) -> CitizenSnapshot:
        """Checked on every authenticated request: the session is live (a revocation counts at once
        on every worker) and who it belongs to, read from the cache in one round trip."""
        state, data = await self.p.cache.get_many([f"sess:{session_id}", f"citizen:{citizen_id}"])
        if state is None:
            state = await self._session_state(session_id)
        if state != "1":
            raise Unauthorized("TOKEN_REVOKED")
        await self.touch_session(session_id)
        return self._snapshot(data) if data else await self.citizen(citizen_id)

    async def session_active(self, session_id: str) -> bool:
        """Cached briefly; revocations overwrite the cache."""
        state = await self.p.cache.get(f"sess:{session_id}")
        return (state or await self._session_state(session_id)) == "1"

    async def _session_state(self, session_id: str) -> str:
        session = await LoginSession.get_or_none(id=session_id)
        active = session is not None and session.revoked_at is None and session.expires_at > self.p.clock.now()
        state = "1" if active else "0"
        await self.p.cache.set(f"sess:{session_id}", state, ttl=60)
        return state

    async def touch_session(self, session_id: str) -> None:
        """Keep "last used" of the device list current, writing at most once a minute per session
        (the cache decides across workers; this process asks at most once a minute per session)."""
        now = self.p.clock.timestamp()
        if now - self._touched.get(session_id, float("-inf")) < TOUCH_EVERY:
            return
        if len(self._touched) > 100_000:  # a worker's memory stays bounded
            self._touched.clear()
        self._touched[session_id] = now
        if await self.p.cache.set_if_absent(f"touch:{session_id}", "1", ttl=TOUCH_EVERY):
            await LoginSession.filter(id=session_id).update(last_used_at=self.p.clock.now())

    async def sessions(self, citizen_id: str) -> list[LoginSession]:
        return await LoginSession.filter(citizen_id=citizen_id, revoked_at=None, expires_at__gt=self.p.clock.now()).order_by("-last_used_at")

    async def sign_out_session(self, citizen_id: str, session_id: str) -> None:
        """Remote sign-out (退出其他设备). Only the citizen's own sessions are found."""
        session = await get_owned(LoginSession, citizen_id, session_id, revoked_at=None)
        await self._revoke(session, "remote_sign_out", actor=citizen_id, actor_type="citizen")
        await notify(self.p.clock, citizen_id, "session_revoked", {"device": session.device_name})

    # -- profile and identity levels ----------------------------------------------------------
    async def citizen(self, citizen_id: str) -> CitizenSnapshot:
        """The signed-in citizen, cached because every guarded request needs it.

        Whatever changes a citizen row must call `forget_citizen` afterwards.
        """
        raw = await self.p.cache.get(f"citizen:{citizen_id}")
        if raw is not None:
            return self._snapshot(raw)
        row = await Citizen.get_or_none(id=citizen_id)
        if row is None:
            raise Unauthorized("TOKEN_INVALID")
        data = {f.name: getattr(row, f.name) for f in dataclasses.fields(CitizenSnapshot)}
        await set_json(self.p.cache, f"citizen:{citizen_id}", data, ttl=300)
        return CitizenSnapshot(**data)

    async def set_preferences(self, citizen_id: str, elderly_mode: bool | None) -> dict[str, bool]:
        """The citizen's display preferences (长辈模式 for now); the whole set is returned as stored."""
        if elderly_mode is not None:
            await Citizen.filter(id=citizen_id).update(elderly_mode=elderly_mode)
            await self.forget_citizen(citizen_id)
            await audit.record_event(self.p.clock, actor=citizen_id, actor_type="citizen", action="preferences_changed",
                                     subject_id=citizen_id, attributes=["elderly_mode"])
        citizen = await self.citizen(citizen_id)
        return {"elderly_mode": citizen.elderly_mode}

    async def forget_citizen(self, citizen_id: str) -> None:
        await self.p.cache.delete(f"citizen:{citizen_id}")

    def profile(self, citizen: Citizen | CitizenSnapshot) -> Profile:
        pii = self.p.pii
        return Profile(
            id=citizen.id,
            level=citizen.level,
            phone_masked=mask_phone(pii.decrypt(citizen.phone_enc, "phone")),
            name_masked=mask_name(pii.decrypt(citizen.name_enc, "name")) if citizen.name_enc else None,
            id_number_masked=mask_id_number(pii.decrypt(citizen.id_number_enc, "id_number")) if citizen.id_number_enc else None,
            elderly_mode=citizen.elderly_mode,
        )

    async def verify_identity(self, citizen: CitizenSnapshot, raw_name: str, raw_id_number: str) -> int:
        """实名认证: bind a name and a valid resident ID number (one ID number, one account)."""
        await ratelimit.hit(self.p.cache, self.p.clock, f"identity:{citizen.id}", 10, 86400)
        name = rules.normalize_name(raw_name)
        id_number = rules.normalize_id_number(raw_id_number, self.p.clock.now().date())
        if name is None:
            raise AppError("INVALID_NAME", status=422, extra={"fields": [{"field": "name", "problem": "format"}]})
        if id_number is None:
            raise AppError("INVALID_ID_NUMBER", status=422, extra={"fields": [{"field": "id_number", "problem": "checksum, birth date or region"}]})
        id_hash = self.p.pii.lookup_hash(id_number, "id_number")
        if citizen.level >= rules.LEVEL_REAL_NAME:
            same_name = citizen.name_enc is not None and self.p.pii.decrypt(citizen.name_enc, "name") == name
            if citizen.id_number_hash == id_hash and same_name:
                return citizen.level  # the same identity again: nothing changes
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        if await Citizen.filter(id_number_hash=id_hash).exclude(id=citizen.id).exists():
            raise Conflict("ID_NUMBER_TAKEN")
        try:
            async with in_transaction():
                updated = await Citizen.filter(id=citizen.id, level=rules.LEVEL_PHONE).update(
                    name_enc=self.p.pii.encrypt(name, "name"), id_number_enc=self.p.pii.encrypt(id_number, "id_number"),
                    id_number_hash=id_hash, level=rules.LEVEL_REAL_NAME, identity_verified_at=self.p.clock.now(),
                )
        except IntegrityError:
            raise Conflict("ID_NUMBER_TAKEN") from None
        if updated != 1:
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        await self.forget_citizen(citizen.id)
        await audit.record_event(self.p.clock, actor=citizen.id, actor_type="citizen", action="identity_verified",
                                 subject_id=citizen.id, attributes=["name", "id_number"])
        await notify(self.p.clock, citizen.id, "identity_verified")
        return rules.LEVEL_REAL_NAME

    async def verify_face(self, citizen: CitizenSnapshot, liveness_sample: str) -> int:
        """人脸核验 through the face-check provider; lifts a real-name account to level 3."""
        require_level(citizen, rules.LEVEL_REAL_NAME)
        try:
            sample = base64.b64decode(liveness_sample or "", validate=True)
        except (binascii.Error, ValueError):
            sample = b""
        if len(sample) < rules.MIN_LIVENESS_SAMPLE_BYTES:  # no capture that small can be analysed
            raise AppError("INVALID_LIVENESS_SAMPLE", status=422, extra={"fields": [{"field": "liveness_sample", "problem": "base64"}]})
        await ratelimit.hit(self.p.cache, self.p.clock, f"face:{citizen.id}", self.s.face_daily_attempts, 86400)
        try:
            result = await asyncio.wait_for(self.face.compare(sample, citizen.id_number_hash or ""), timeout=self.s.face_timeout)
        except (FaceCheckError, asyncio.TimeoutError):
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": "30"}) from None
        passed = result.live and result.score >= self.s.face_pass_score
        await audit.record_event(self.p.clock, actor=citizen.id, actor_type="citizen",
                                 action="face_check_passed" if passed else "face_check_failed",
                                 subject_id=citizen.id, attributes={"score": result.score, "live": result.live})
        if not passed:
            raise AppError("FACE_CHECK_FAILED", status=422, extra={"live": result.live})
        if citizen.level < rules.LEVEL_FACE:
            await Citizen.filter(id=citizen.id).update(level=rules.LEVEL_FACE, face_verified_at=self.p.clock.now())
            await self.forget_citizen(citizen.id)
            await notify(self.p.clock, citizen.id, "face_verified")
        return max(citizen.level, rules.LEVEL_FACE)
