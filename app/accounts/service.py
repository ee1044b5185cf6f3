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
from datetime import date, datetime, timedelta
from typing import Awaitable, Callable

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app import audit
from app.accounts import documents, rules
from app.accounts.codes import CodeSender, kind_of, retry_after_of
from app.accounts.phone_change import PhoneChange, PhoneChangeCodesSent, PhoneChangeProof
from app.accounts.step_up import FreshOtpRequired, StepUp, StepUpCodeSent
from app.accounts.documents import DOCUMENT_TYPES as DOCUMENT_TYPES, RESIDENT_ID as RESIDENT_ID
from app.accounts.documents import Document, DocumentRejected
from app.accounts.models import AccountDeletion, Citizen, FaceSession, LoginSession, RefreshToken
from app.accounts.keys import citizen_key as citizen_key, session_key as session_key, unlinked_phone_hash
from app.accounts.deletion import AccountDeletions as AccountDeletions, DeletionState as DeletionState
from app.accounts.deletion import deletion_pending as deletion_pending
from app.accounts.rules import LEVEL_FACE as LEVEL_FACE, LEVEL_PHONE as LEVEL_PHONE
from app.accounts.rules import LEVEL_REAL_NAME as LEVEL_REAL_NAME
from app.accounts.rules import normalize_citizen_number as normalize_citizen_number
from app.accounts.rules import normalize_id_number as normalize_id_number, normalize_phone as normalize_phone
from app.cache import ParsedOnce, get_json, set_json
from app.db import parameter, placeholders
from app.clock import rfc3339
from app.errors import AppError, Conflict, NotFound, Unauthorized, Unavailable, ValidationFailed
from app.ids import new_id
from app.i18n import N_, translate
from app.ownership import get_owned
from app.integrations import ProviderError, is_stand_in
from app.integrations.face import FaceProvider, FaceSessionGone, FaceSubjectRefused, FaceVerdict
from app.integrations.identity import INVALID_ID_NUMBER, INVALID_NAME, IdentityAuthority
from app.integrations.sms import SmsGateway
from app.notifications.service import notify
from app.platform import Platform
from app.security import ratelimit
from app.security.one_time_codes import CodeErrors, OneTimeCodes
from app.security.pii import mask_name, mask_phone
from app.security.tokens import AccessClaims

LEVEL_NAMES = {
    rules.LEVEL_REAL_NAME: N_("实名认证"),
    rules.LEVEL_FACE: N_("人脸核验"),
}
_CODE = re.compile(r"^[0-9]{6}$")
# level3: lift the account to level 3; reclaim: take back an identity another account holds; phone_change:
# prove it is the citizen when the old phone number is lost (更换手机号), used by the phone change itself.
FACE_PURPOSES = ("level3", "reclaim", "phone_change")
PHONE_CHANGE_VIA = ("old_phone", "face")  # what proves it is the citizen, beside the new number's code
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
    document_type: str = documents.RESIDENT_ID
    nationality: str | None = None
    birth_date_enc: str | None = None

    @property
    def closed(self) -> bool:
        """The account is being erased (注销: its phone number already unlinked, the first step) or is erased."""
        return self.phone_hash == unlinked_phone_hash(self.id)


@dataclass(frozen=True)
class SessionSignIn:
    """How a signed-in device signed in: when (the session's start), and whether a face check passed since."""

    signed_in_at: datetime
    face_checked: bool


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
    document_type: str | None = None  # the document bound or declared (accounts.documents.DOCUMENT_TYPES)
    nationality: str | None = None  # ISO 3166 alpha-3, where the document states one
    document_confirmed: bool = False  # confirmed by the identity authority (实名), not only declared


@dataclass(frozen=True)
class IdentityBound:
    """The outcome of binding a document: the account's level, and whether the authority confirmed the document
    (a document it does not cover is recorded as declared, below 实名)."""

    level: int
    document_type: str
    confirmed: bool


@dataclass(frozen=True)
class DocumentClaim:
    """A name + document as the citizen typed them, before any rule is checked."""

    name: str
    number: str
    document_type: str = documents.RESIDENT_ID
    nationality: str | None = None
    renewal_count: int | None = None
    mrz: str | None = None


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
    """The account holding a resident ID number, or a number of its form (港澳台居民居住证, 2023 永居证), found by its
    lookup hash; None for a number nobody holds or that cannot exist."""
    normalized = rules.normalize_citizen_number(id_number, platform.clock.today())
    if normalized is None:
        return None
    row = await Citizen.get_or_none(id_number_hash=platform.pii.lookup_hash(normalized, "id_number"))
    return snapshot_of(row) if row is not None else None


async def citizen_with_id_number(platform: Platform, id_number: str) -> CitizenSnapshot:
    """The verified (实名) citizen holding a resident ID number (or one of its form, as `citizen_by_id_number`), as a
    department names them: 422 INVALID_ID_NUMBER for a number that cannot exist, 404 CITIZEN_NOT_FOUND for nobody."""
    if rules.normalize_citizen_number(id_number, platform.clock.today()) is None:
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
    if citizen is None or citizen.level < rules.LEVEL_REAL_NAME or not citizen.id_number_enc \
            or citizen.document_type not in documents.GB11643_FAMILY:
        return None
    return platform.pii.decrypt(citizen.id_number_enc, "id_number")


def document_birth_date(platform: Platform, citizen: CitizenSnapshot) -> date | None:
    """The birth date the citizen's document carries (in its number, or in a passport's machine-readable zone),
    or None: a permit, or a passport given without its zone, carries none."""
    if citizen.birth_date_enc:
        return date.fromisoformat(platform.pii.decrypt(citizen.birth_date_enc, "birth_date"))
    if not citizen.id_number_enc:
        return None
    number = platform.pii.decrypt(citizen.id_number_enc, "id_number")
    return documents.birth_date_in_number(citizen.document_type, number, platform.clock.today())


def masked_document_number(platform: Platform, citizen: CitizenSnapshot) -> str | None:
    """The citizen's document number masked by its type's shape (4401**********1234, H1234****), or None."""
    if not citizen.id_number_enc:
        return None
    return documents.mask_document(citizen.document_type, platform.pii.decrypt(citizen.id_number_enc, "id_number"))


def _token_hash(token: str) -> str:
    # Ours are ASCII; any other text (even a lone surrogate from JSON) hashes to something never stored.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def _swap_refresh_token(token_hash: str, new_hash: str, now: datetime) -> tuple[str, str] | None:
    """Mark a refresh token used and store the one that replaces it, in one commit: its session and citizen, or
    None when the token is unknown or used, or its session revoked or expired. Only one of two requests racing
    with the same token finds it unused. SQL of our own: the ORM's four queries and commits cost a refresh most
    of its time. On PostgreSQL both changes are one statement (a data-modifying WITH), which saves the
    transaction's own round trips; SQLite has no such statement, so there they share a transaction."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            f"WITH used AS ({_USE_REFRESH_TOKEN.format(at='$1', used='$2')}), "
            "added AS (INSERT INTO refresh_tokens (session_id, token_hash, created_at) "
            "SELECT session_id, $3, $1 FROM used) SELECT session_id, citizen_id FROM used",
            [now, token_hash, new_hash])
        return (str(rows[0]["session_id"]), str(rows[0]["citizen_id"])) if rows else None
    async with in_transaction() as conn:
        rows = await conn.execute_query_dict(  # a dict a row, RETURNING's rows too on both dialects
            _USE_REFRESH_TOKEN.format(at=parameter(conn, 1), used=parameter(conn, 2)), [now, token_hash])
        if not rows:
            return None
        session_id, citizen_id = rows[0]["session_id"], rows[0]["citizen_id"]
        await conn.execute_query(
            f"INSERT INTO refresh_tokens (session_id, token_hash, created_at) VALUES ({placeholders(conn, 3)})",
            [session_id, new_hash, now])
    return str(session_id), str(citizen_id)


# A refresh token marked used, only if unused and its session live: its session and citizen.
_USE_REFRESH_TOKEN = (
    "UPDATE refresh_tokens SET used_at = {at} WHERE token_hash = {used} AND used_at IS NULL "
    "AND session_id IN (SELECT id FROM login_sessions WHERE revoked_at IS NULL AND expires_at > {at}) "
    "RETURNING session_id, (SELECT citizen_id FROM login_sessions WHERE id = refresh_tokens.session_id) AS citizen_id")


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
        # Called with the citizen whose phone number changed, with the change (更换手机号): standing
        # sign-ins verified with the old number end there (mini-program bindings).
        self.on_phone_changed: list[Callable[[str], Awaitable[object]]] = []
        self._touched: dict[str, float] = {}  # session id -> when this process last asked to touch it
        self._snapshot = ParsedOnce(lambda raw: CitizenSnapshot(**json.loads(raw)))
        self.login_codes = OneTimeCodes(platform.cache, platform.pii, platform.clock, prefix="otp:", purpose="otp",
                                        max_tries=self.settings.accounts.otp_max_tries,
                                        errors=CodeErrors(lapsed=lambda: Unauthorized("OTP_EXPIRED"), wrong="OTP_INVALID"))
        self.code_sender = CodeSender(platform, sms, settings=lambda: self.settings)
        self.step_up = StepUp(platform, self.code_sender)
        self.phone_change = PhoneChange(self)

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
        await self.code_sender.send(phone, phone_hash, f"otp:{phone_hash}", self.login_codes, client_ip, channel=channel)
        return CodeSent(expires_in=self.settings.accounts.otp_ttl, resend_after=self.settings.accounts.otp_resend_interval)

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
        # The snapshot just read is what the device's first requests, and the closed-account check of the message
        # below, read from the cache: cached now, neither reads the citizen row again.
        await self._remember(citizen)
        await notify(self.platform, citizen.id, "login_new_device", {"device": device, "at": rfc3339(now)})
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
        token_hash, now = _token_hash(refresh_token or ""), self.platform.clock.now()
        new_token = secrets.token_urlsafe(32)
        swapped = await _swap_refresh_token(token_hash, _token_hash(new_token), now)
        if swapped is None:
            raise await self._refused_refresh(token_hash)
        session_id, citizen_id = swapped
        await self.touch_session(session_id)
        return self._signed_in(await self.citizen(citizen_id), session_id, new_token)

    async def _refused_refresh(self, token_hash: str) -> AppError:
        """Why a refresh token was not swapped. A used one is a replay of a rotated token (someone holds a
        copy): the whole family is revoked, and the citizen told."""
        row = await RefreshToken.get_or_none(token_hash=token_hash).prefetch_related("session")
        if row is None or row.used_at is None:  # unknown, or its session is over
            return Unauthorized("REFRESH_TOKEN_INVALID")
        session: LoginSession = row.session
        if session.revoked_at is not None or session.expires_at <= self.platform.clock.now():
            return Unauthorized("REFRESH_TOKEN_INVALID")
        await self._revoke(session, "refresh_reuse", actor=session.citizen_id, actor_type="system")
        await notify(self.platform, session.citizen_id, "refresh_token_reused", {"device": session.device_name})
        return Unauthorized("REFRESH_TOKEN_REUSED")

    async def logout(self, claims: AccessClaims) -> None:
        session = await LoginSession.get_or_none(id=claims.session_id, citizen_id=claims.subject)
        if session is not None and session.revoked_at is None:
            await self._revoke(session, "logout", actor=claims.subject, actor_type="citizen")

    async def _revoke(self, session: LoginSession, reason: str, actor: str, actor_type: str) -> None:
        now = self.platform.clock.now()
        # A signed-out device gets no more pushes: its token goes with the session.
        await LoginSession.filter(id=session.id, revoked_at=None).update(
            revoked_at=now, revoked_reason=reason, push_platform=None, push_token_enc=None, push_token_hash=None)
        # Access tokens of this session stop working at once on every worker, and its step-up ends.
        await self.platform.cache.set(session_key(session.citizen_id, session.id), "0",
                                      ttl=self.settings.accounts.access_token_ttl + 60)
        await self.step_up.end(session.id)
        await audit.record_event(self.platform.clock, actor=actor, actor_type=actor_type, action="session_revoked",
                                 subject_id=session.citizen_id, attributes={"session_id": session.id, "reason": reason})

    # -- step-up: a fresh SMS code before a sensitive operation (确认本人操作) ---------------------
    async def request_step_up_code(self, claims: AccessClaims, client_ip: str,
                                   operation: str | None = None) -> StepUpCodeSent:
        """Send a code to the citizen's own phone, for this session to confirm it is them (the SMS names
        `operation`, one of step_up.OPERATIONS, when given)."""
        phone = await self.phone_of(claims.subject)
        if phone is None:
            raise Unauthorized("TOKEN_INVALID")
        return await self.step_up.request_code(claims.subject, claims.session_id, phone, client_ip, operation)

    async def confirm_step_up(self, claims: AccessClaims, code: str, client_ip: str) -> datetime:
        """Use up the session's step-up code: this session is fresh until the instant returned."""
        if not _CODE.match(code or ""):
            raise ValidationFailed([{"field": "code", "problem": "6 digits"}])
        return await self.step_up.confirm(claims.subject, claims.session_id, code, client_ip)

    async def step_up_fresh_until(self, citizen_id: str, session_id: str) -> datetime | None:
        """When the session's step-up ends; None when it has none now (or the session has ended)."""
        if not await self.session_active(citizen_id, session_id):
            return None
        return await self.step_up.fresh_until(session_id)

    async def require_fresh_step_up(self, citizen_id: str, session_id: str) -> None:
        """Raise 403 FRESH_OTP_REQUIRED unless the citizen's session passed a step-up within APP_STEP_UP_TTL."""
        if await self.step_up_fresh_until(citizen_id, session_id) is None:
            raise FreshOtpRequired()

    # -- changing the phone number (更换绑定手机号) ------------------------------------------------
    async def request_phone_change_codes(self, citizen_id: str, raw_new_phone: str, via: str,
                                         client_ip: str) -> PhoneChangeCodesSent:
        """Codes for a phone change: to the new number, and to the old one (`via` "old_phone") unless a face
        check replaces it (`via` "face", for a citizen with a verified identity)."""
        if via not in PHONE_CHANGE_VIA:
            raise ValidationFailed([{"field": "via", "problem": f"one of {', '.join(PHONE_CHANGE_VIA)}"}])
        citizen = await citizen_record(citizen_id)
        if via == "face":  # the face check compares with the verified identity: there must be one
            require_level(citizen, rules.LEVEL_REAL_NAME)
        return await self.phone_change.send_codes(citizen, raw_new_phone, via, client_ip)

    async def change_phone(self, claims: AccessClaims, proof: PhoneChangeProof, client_ip: str) -> str:
        """Change the account's number once `proof` holds: this session stays, every other one is signed
        out, both numbers are told. The new number, masked."""
        return await self.phone_change.change(await citizen_record(claims.subject), claims.session_id, proof, client_ip)

    async def signed_in(self, session_id: str, citizen_id: str) -> CitizenSnapshot:
        """Checked on every authenticated request: the session is live (a revocation counts at once
        on every worker) and who it belongs to, read from the cache in one round trip."""
        state, data = await self.platform.cache.get_many([session_key(citizen_id, session_id), citizen_key(citizen_id)])
        if state is None:
            state = await self._session_state(citizen_id, session_id)
        if state != "1":
            raise Unauthorized("TOKEN_REVOKED")
        await self.touch_session(session_id)
        return self._snapshot(data) if data else await self.citizen(citizen_id)

    async def session_active(self, citizen_id: str, session_id: str) -> bool:
        """Cached briefly; revocations overwrite the cache."""
        state = await self.platform.cache.get(session_key(citizen_id, session_id))
        return (state or await self._session_state(citizen_id, session_id)) == "1"

    async def _session_state(self, citizen_id: str, session_id: str) -> str:
        session = await LoginSession.get_or_none(id=session_id)
        active = session is not None and session.revoked_at is None and session.expires_at > self.platform.clock.now()
        state = "1" if active else "0"
        await self.platform.cache.set(session_key(citizen_id, session_id), state, ttl=60)
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
        await notify(self.platform, citizen_id, "session_revoked", {"device": session.device_name})

    async def sign_out_other_sessions(self, citizen_id: str, keep_session_id: str, reason: str) -> int:
        """Revoke every live session of the citizen but `keep_session_id` (the one asking); how many ended."""
        others = [live for live in await self.sessions(citizen_id) if live.id != keep_session_id]
        for other in others:
            await self._revoke(other, reason, actor=citizen_id, actor_type="citizen")
        return len(others)

    # -- profile and identity levels ----------------------------------------------------------
    async def citizen(self, citizen_id: str) -> CitizenSnapshot:
        """The signed-in citizen, cached because every guarded request needs it.

        Whatever changes a citizen row must call `forget_citizen` afterwards.
        """
        snapshot = await self._cached_citizen(citizen_id)
        if snapshot is None:
            raise Unauthorized("TOKEN_INVALID")
        return snapshot

    async def _cached_citizen(self, citizen_id: str) -> CitizenSnapshot | None:
        """The cached snapshot, read from the database and cached when missing; None for an unknown id."""
        raw = await self.platform.cache.get(citizen_key(citizen_id))
        if raw is not None:
            return self._snapshot(raw)
        row = await Citizen.get_or_none(id=citizen_id)
        if row is None:
            return None
        return await self._remember(snapshot_of(row))

    async def _remember(self, snapshot: CitizenSnapshot) -> CitizenSnapshot:
        await set_json(self.platform.cache, citizen_key(snapshot.id), dataclasses.asdict(snapshot), ttl=300)
        return snapshot

    async def account_closed(self, citizen_id: str) -> bool:
        """Whether the account is closed (注销: being erased, its phone number unlinked, or erased): nothing new is
        written for it, no inbox message either. Read from the cached snapshot, so a message to a signed-in citizen
        costs no database query; the erasure forgets the snapshot when it unlinks the number and again at its end,
        and a message stored before then goes with the inbox, which the erasure empties after the unlinking."""
        snapshot = await self._cached_citizen(citizen_id)
        return snapshot is not None and snapshot.closed

    async def phone_of(self, citizen_id: str) -> str | None:
        """The citizen's own phone number, for a message to them (短信通知), as stored now (not the cached
        snapshot: a changed number counts at once); None once the account is closed (注销: its row keeps no
        number)."""
        citizen = await citizen_record_or_none(citizen_id)
        return self.platform.pii.decrypt(citizen.phone_enc, "phone") if citizen and citizen.phone_enc else None

    async def set_preferences(self, citizen_id: str, elderly_mode: bool | None) -> dict[str, bool]:
        """The citizen's display preferences (长辈模式 for now); the whole set is returned as stored."""
        if elderly_mode is not None:
            await Citizen.filter(id=citizen_id).update(elderly_mode=elderly_mode)
            await self.forget_citizen(citizen_id)
            await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen", action="preferences_changed",
                                     subject_id=citizen_id, attributes=["elderly_mode"])
        citizen = await self.citizen(citizen_id)
        return {"elderly_mode": citizen.elderly_mode}

    async def sign_in_of(self, session_id: str) -> SessionSignIn:
        """When the session signed in and whether a face check passed in it (an OpenID Connect site's acr, auth_time)."""
        session = await LoginSession.get(id=session_id)
        face_at = (await Citizen.get(id=session.citizen_id).only("id", "face_verified_at")).face_verified_at
        return SessionSignIn(session.created_at, face_at is not None and face_at >= session.created_at)

    async def forget_citizen(self, citizen_id: str) -> None:
        await self.platform.cache.delete(citizen_key(citizen_id))

    def profile(self, citizen: CitizenSnapshot) -> Profile:
        pii = self.platform.pii
        return Profile(
            id=citizen.id,
            level=citizen.level,
            phone_masked=mask_phone(pii.decrypt(citizen.phone_enc, "phone")),
            name_masked=mask_name(pii.decrypt(citizen.name_enc, "name")) if citizen.name_enc else None,
            id_number_masked=masked_document_number(self.platform, citizen),
            elderly_mode=citizen.elderly_mode,
            document_type=citizen.document_type if citizen.id_number_enc else None,
            nationality=citizen.nationality if citizen.id_number_enc else None,
            document_confirmed=citizen.level >= rules.LEVEL_REAL_NAME,
        )

    async def verify_identity(self, citizen: CitizenSnapshot, raw_name: str, raw_id_number: str) -> int:
        """实名认证 with a resident ID (居民身份证); the level the account is at afterwards."""
        return (await self.bind_document(citizen, DocumentClaim(raw_name, raw_id_number))).level

    async def bind_document(self, citizen: CitizenSnapshot, claim: DocumentClaim) -> IdentityBound:
        """实名认证: the identity authority confirms the name + document pair, then it is bound to this account (one
        (type, number), one account); nothing is stored unless it confirmed it. A document the authority does not
        cover (`identity.document_types`) is recorded as declared: the account stays below 实名."""
        name, document = self._document_pair(claim)
        id_hash = self.platform.pii.lookup_hash(documents.lookup_key(document), "id_number")
        if citizen.level >= rules.LEVEL_REAL_NAME:
            same_name = citizen.name_enc is not None and self.platform.pii.decrypt(citizen.name_enc, "name") == name
            if citizen.id_number_hash == id_hash and same_name:
                return IdentityBound(citizen.level, citizen.document_type, True)  # the same identity again
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        if not self._covered(document):
            return await self._declare(citizen, name, document)
        await self._confirmed_by_authority(citizen.id, name, document.printed, document.type)
        if await Citizen.filter(id_number_hash=id_hash).exclude(id=citizen.id).exists():
            raise _held_elsewhere()
        try:
            async with in_transaction():
                updated = await Citizen.filter(id=citizen.id, level=rules.LEVEL_PHONE).update(
                    **self._document_columns(name, document), id_number_hash=id_hash, level=rules.LEVEL_REAL_NAME,
                    identity_verified_at=self.platform.clock.now())
        except IntegrityError:
            raise _held_elsewhere() from None
        if updated != 1:
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        await self.forget_citizen(citizen.id)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="identity_verified",
                                 subject_id=citizen.id, attributes={"fields": ["name", "id_number"],
                                                                    "document_type": document.type,
                                                                    "confirmed_by": "identity_authority"})
        await notify(self.platform, citizen.id, "identity_verified")
        return IdentityBound(rules.LEVEL_REAL_NAME, document.type, True)

    def _covered(self, document: Document) -> bool:
        """Whether the authority confirms this document: its type is configured, and a GB 11643-family type only in
        its 18-character form (the 二要素 check takes no other; an older 永居证 number is 15 characters)."""
        if document.type not in self.settings.identity.document_type_list:
            return False
        return document.type not in documents.GB11643_FAMILY or len(document.number) == 18

    def _document_columns(self, name: str, document: Document) -> dict[str, object]:
        pii = self.platform.pii
        born = pii.encrypt(document.birth_date.isoformat(), "birth_date") \
            if document.type == documents.PASSPORT and document.birth_date else None
        return {"name_enc": pii.encrypt(name, "name"), "id_number_enc": pii.encrypt(document.number, "id_number"),
                "document_type": document.type, "nationality": document.nationality, "birth_date_enc": born}

    async def _declare(self, citizen: CitizenSnapshot, name: str, document: Document) -> IdentityBound:
        """Record a document nobody could confirm, on an account below 实名: no lookup hash, so a declaration binds
        nothing and blocks no one (anyone may type anyone's passport number); it can be replaced."""
        updated = await Citizen.filter(id=citizen.id, level=rules.LEVEL_PHONE).update(
            **self._document_columns(name, document), id_number_hash=None)
        if updated != 1:
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        await self.forget_citizen(citizen.id)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="identity_declared",
                                 subject_id=citizen.id, attributes={"fields": ["name", "id_number"],
                                                                    "document_type": document.type})
        return IdentityBound(rules.LEVEL_PHONE, document.type, False)

    def _pair(self, raw_name: str, raw_id_number: str) -> tuple[str, str]:
        name, document = self._document_pair(DocumentClaim(raw_name, raw_id_number))
        return name, document.number

    def _document_pair(self, claim: DocumentClaim) -> tuple[str, Document]:
        name = rules.normalize_document_name(claim.name, claim.document_type)
        if name is None:
            raise AppError("INVALID_NAME", status=422, extra={"fields": [{"field": "name", "problem": "format"}]})
        try:
            document = documents.parse_document(claim.document_type, claim.number, self.platform.clock.today(),
                                                nationality=claim.nationality, renewal_count=claim.renewal_count,
                                                mrz=claim.mrz)
        except DocumentRejected as rejected:
            raise DocumentNumberInvalid(claim.document_type, rejected) from None
        return name, document

    async def _confirmed_by_authority(self, citizen_id: str, name: str, id_number: str,
                                      document_type: str = documents.RESIDENT_ID) -> None:
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
            verdict = await asyncio.wait_for(self.identity.check(name, id_number, document_type),
                                             timeout=self.settings.identity.timeout)
        except (ProviderError, asyncio.TimeoutError) as exc:
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, [asked], amount=-1)  # not answered: not counted
            log.warning("identity authority did not answer: %s", kind_of(exc))
            raise Unavailable("IDENTITY_CHECK_UNAVAILABLE", headers={"Retry-After": str(retry_after_of(exc))}) from None
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
                                 raw_id_number: str | None = None,
                                 document_type: str = documents.RESIDENT_ID) -> FaceSessionStarted:
        """Start a face check at the provider: of the citizen's own verified identity ("level3", or
        "phone_change" for a phone change without the old number), or of a pair another account holds, to
        take it back ("reclaim")."""
        if purpose not in FACE_PURPOSES:
            raise ValidationFailed([{"field": "purpose", "problem": f"one of {', '.join(FACE_PURPOSES)}"}])
        if purpose != "reclaim":  # a check of the citizen's own verified identity
            require_level(citizen, rules.LEVEL_REAL_NAME)
            name = self.platform.pii.decrypt(citizen.name_enc or "", "name")
            id_number = self.platform.pii.decrypt(citizen.id_number_enc or "", "id_number")
        else:
            name, id_number = await self._reclaimable(citizen, DocumentClaim(raw_name or "", raw_id_number or "",
                                                                             document_type))
        attempts = ratelimit.Limit(f"face:{citizen.id}", self.settings.face.daily_attempts, 86400)
        await ratelimit.hit_all(self.platform.cache, self.platform.clock, [attempts])
        redirect = self.settings.face.redirect_url or f"{self.settings.security.issuer}/face-check/done"
        try:
            started = await asyncio.wait_for(self.face.start(name, id_number, redirect), timeout=self.settings.face.timeout)
        except (ProviderError, asyncio.TimeoutError) as exc:
            await ratelimit.hit_all(self.platform.cache, self.platform.clock, [attempts], amount=-1)  # no check was made
            if isinstance(exc, FaceSubjectRefused):
                raise AppError("FACE_CHECK_NOT_POSSIBLE", status=422) from None
            log.warning("face provider did not start a session: %s", kind_of(exc))
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": str(retry_after_of(exc))}) from None
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

    async def _reclaimable(self, citizen: CitizenSnapshot, claim: DocumentClaim) -> tuple[str, str]:
        """A pair the authority confirms and another account holds, asked for by an account that holds
        no other identity."""
        name, document = self._document_pair(claim)
        id_number = document.number
        id_hash = self.platform.pii.lookup_hash(documents.lookup_key(document), "id_number")
        if citizen.level >= rules.LEVEL_REAL_NAME and citizen.id_number_hash != id_hash:
            raise Conflict("IDENTITY_ALREADY_VERIFIED")
        if not self._covered(document):  # a declared document binds nothing: there is nothing to take back
            raise Conflict("NOTHING_TO_RECLAIM")
        await self._confirmed_by_authority(citizen.id, name, document.printed, document.type)
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
        session, verdict, passed = await self.judged_face_session(citizen, session_id, ("level3", "reclaim"))
        await self.use_face_session(citizen, session, verdict, passed)
        if session.purpose == "reclaim":
            return await self._reclaim(citizen, session)
        return await self._lift_to_face_level(citizen)

    async def judged_face_session(self, citizen: CitizenSnapshot, session_id: str,
                                  purposes: tuple[str, ...]) -> tuple[FaceSession, FaceVerdict, bool]:
        """A finished, unused face session of this citizen started for one of `purposes`, the provider's
        verdict and whether it passes; nothing is marked used yet (`use_face_session` does)."""
        session = await get_owned(FaceSession, citizen.id, session_id)
        if session.purpose not in purposes:
            raise AppError("FACE_SESSION_WRONG_PURPOSE", status=422)
        if session.used_at is not None:
            raise Conflict("FACE_SESSION_USED")
        if session.expires_at <= self.platform.clock.now():
            raise AppError("FACE_SESSION_EXPIRED", status=410)
        verdict = await self._verdict(session.biz_token)
        if not verdict.finished:
            raise Conflict("FACE_CHECK_NOT_FINISHED")
        return session, verdict, self._passes(session, verdict)

    async def use_face_session(self, citizen: CitizenSnapshot, session: FaceSession, verdict: FaceVerdict,
                               passed: bool) -> None:
        """Mark the session used with its outcome (once: a second use is 409) and audit it; a failed one is 422."""
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
            log.warning("stand-in face page did not take the sample: %s", kind_of(exc))
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": str(retry_after_of(exc))}) from None
        return await self._finish_face_session(citizen, started.session_id)

    async def _verdict(self, biz_token: str) -> FaceVerdict:
        try:
            return await asyncio.wait_for(self.face.verdict(biz_token), timeout=self.settings.face.timeout)
        except FaceSessionGone:
            raise AppError("FACE_SESSION_EXPIRED", status=410) from None
        except (ProviderError, asyncio.TimeoutError) as exc:
            log.warning("face provider gave no verdict: %s", kind_of(exc))
            raise Unavailable("FACE_CHECK_UNAVAILABLE", headers={"Retry-After": str(retry_after_of(exc))}) from None

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
            await notify(self.platform, citizen.id, "face_verified")
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
                        identity_verified_at=None, face_verified_at=None, document_type=documents.RESIDENT_ID,
                        nationality=None, birth_date_enc=None)
                # Only an account still without another identity takes the pair.
                bound = await Citizen.filter(id=citizen.id).filter(
                    Q(id_number_hash=None) | Q(id_number_hash=session.id_number_hash)).update(
                    name_enc=session.name_enc, id_number_enc=session.id_number_enc,
                    id_number_hash=session.id_number_hash, level=rules.LEVEL_FACE, identity_verified_at=now,
                    face_verified_at=now, **self._reclaimed_document(session), birth_date_enc=None)
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
        await notify(self.platform, citizen.id, "face_verified")
        return rules.LEVEL_FACE

    def _reclaimed_document(self, session: FaceSession) -> dict[str, str | None]:
        """The type and nationality of the document a face session took back: one of the resident ID's form (the
        only ones bound, as the authority confirms them), told by its number."""
        number = self.platform.pii.decrypt(session.id_number_enc, "id_number")
        document = documents.gb11643_family(number, self.platform.clock.today())
        if document is None:
            return {"document_type": documents.RESIDENT_ID, "nationality": None}
        return {"document_type": document.type, "nationality": document.nationality}

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
        await notify(self.platform, holder.id, "identity_reclaimed")


def _held_elsewhere() -> AppError:
    """The pair is confirmed but bound to another account: its owner may take it back with a face check."""
    return Conflict("ID_NUMBER_TAKEN", extra={"reclaim": {"path": "/api/v1/me/identity/face/sessions",
                                                         "purpose": "reclaim"}})


class DocumentNumberInvalid(AppError):
    """422 naming the rule a document number broke; a resident ID keeps the code it always answered with."""

    status = 422

    def __init__(self, document_type: str, rejected: DocumentRejected) -> None:
        code = "INVALID_ID_NUMBER" if document_type == documents.RESIDENT_ID else "DOCUMENT_NUMBER_INVALID"
        super().__init__(code, extra={"rule": rejected.rule, "document_type": document_type,
                                "fields": [{"field": rejected.field, "problem": rejected.rule}]})
        self.document_type = document_type

    def message(self, language: str) -> str:
        self.params["document_name"] = translate(documents.DOCUMENT_NAMES.get(self.document_type, ""), language)
        self.params["rule_text"] = translate(RULE_TEXTS.get(self.extra["rule"], RULE_TEXTS["format"]), language)
        return super().message(language)


# What each rule means to the person typing the number (zh-Hans; the catalogs translate them).
RULE_TEXTS = {
    "length": N_("位数不对"), "format": N_("含有不应出现的字符"), "prefix": N_("开头不对"),
    "region": N_("地区代码不存在"), "birth_date": N_("出生日期不存在"), "checksum": N_("校验位不符"),
    "country": N_("国籍代码不对"), "renewal_count": N_("换证次数不对"), "mrz": N_("机读区与证件号码不一致"),
    "type": N_("不支持该证件类型"),
}


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, Sealed, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """The account's part of the citizen's copy of their data: the profile with their phone, name and ID
    number in clear, their preferences, every signed-in device (signed out ones too) and every face check. Refresh tokens
    (only their hashes are kept) and a device's push registration are left out: a copy carries no credential or
    handle that reaches the citizen."""
    citizen = await Citizen.get(id=citizen_id)
    sessions = await LoginSession.filter(citizen_id=citizen_id).order_by("created_at")
    face_checks = await FaceSession.filter(citizen_id=citizen_id).order_by("created_at")
    deletion = await AccountDeletion.filter(citizen_id=citizen_id)
    identity = {"name_enc": Sealed("name"), "id_number_enc": Sealed("id_number")}
    return {
        "profile": [record_of(citizen, pii, sealed={"phone_enc": Sealed("phone"), "birth_date_enc": Sealed("birth_date"),
                                                    **identity})],
        "account_deletion": [record_of(row, pii) for row in deletion],
        "preferences": [{"elderly_mode": citizen.elderly_mode}],
        "sessions": [record_of(row, pii, skip=("push_token_enc",)) for row in sessions],
        "face_checks": [record_of(row, pii, sealed=identity, skip=("biz_token",)) for row in face_checks],
    }
