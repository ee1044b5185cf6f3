"""Mini-program sign-in (小程序登录) and subscriptions (订阅消息).

1. The front-end gets a login code from the platform (wx.login) and posts it; we exchange it
   server-to-server (jscode2session) for the user's openid, unionid and session key.
2. An openid already bound to a citizen signs in at once: a session of our own with an access
   token for the mini-program API (audience `APP_MINIPROGRAM_AUDIENCE`).
3. Otherwise the reply is a bind ticket (short-lived, single use). The front-end proves the phone
   number with the platform's encrypted phone data, or with one of our SMS codes; the openid is
   then bound to the citizen who owns that number (created on first sign-in).

The session key never leaves the server: it is kept only inside the bind ticket's cache record,
encrypted with the PII cipher, for `APP_MINIPROGRAM_BIND_TTL` seconds. Openids are stored
encrypted with a keyed hash beside them for lookup. Platform failures become our error envelope
(`MP_*` codes); the platform's own messages are never passed on.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Awaitable, TypeVar

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from app import audit
from app.accounts.service import AccountService, CodeSent, SignedIn, citizen_record
from app.cache import get_json, set_json
from app.errors import AppError, RateLimited, Unauthorized, Unavailable
from app.ids import new_id
from app.miniprogram.models import MiniProgramBinding, MiniProgramSubscription
from app.miniprogram.platform import MiniProgramPlatform, PlatformError
from app.miniprogram.rules import PhoneDataInvalid, decrypt_phone_data
from app.miniprogram.topics import TOPICS
from app.platform import Platform
from app.security import ratelimit

T = TypeVar("T")
BAD_CODE = {40029, 40163}  # invalid code, code been used
QUOTA = 45011  # the platform's per-minute quota for our appid is used up
BUSY = -1  # "system busy": the platform asks to try again later
MAX_BIND_TRIES = 5
DEVICE = "微信小程序"


@dataclass(frozen=True)
class MiniProgramLogin:
    """Either signed in (`signed_in`) or waiting for the phone to be verified (`bind_ticket`)."""

    signed_in: SignedIn | None
    bind_ticket: str | None = None
    expires_in: int = 0


def platform_failure(exc: PlatformError) -> AppError:
    """Our error for a platform failure: what to do next, never the platform's text."""
    if exc.errcode in BAD_CODE:
        return Unauthorized("MP_CODE_INVALID")
    if exc.errcode == QUOTA:
        return RateLimited(retry_after=60, code="MP_RATE_LIMITED")
    if exc.errcode is None or exc.errcode == BUSY:  # timed out, unreachable, 5xx, malformed, busy
        return Unavailable("MP_PLATFORM_UNAVAILABLE", headers={"Retry-After": "30"})
    return AppError("MP_PLATFORM_ERROR", status=502, extra={"platform_errcode": exc.errcode})


class MiniProgramService:
    def __init__(self, platform: Platform, accounts: AccountService, mini_program: MiniProgramPlatform) -> None:
        self.platform, self.accounts, self.mp = platform, accounts, mini_program
        self.settings = platform.settings

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased: its mini-program bindings (openids) and accepted subscriptions go; the same
        WeChat user signing in again starts from the phone binding, as a new user does."""
        await MiniProgramSubscription.filter(citizen_id=citizen_id).delete()
        await MiniProgramBinding.filter(citizen_id=citizen_id).delete()

    async def _ask(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except PlatformError as exc:
            raise platform_failure(exc) from None

    def openid_hash(self, openid: str) -> str:
        return self.platform.pii.lookup_hash(f"{self.mp.appid}:{openid}", "mp_openid")

    # -- login -----------------------------------------------------------------------------------
    async def login(self, code: str, client_ip: str) -> MiniProgramLogin:
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"mp-login-ip:{client_ip}", self.settings.accounts.login_ip_hourly_limit, 3600)
        session = await self._ask(self.mp.code_to_session(code))
        binding = await MiniProgramBinding.get_or_none(appid=self.mp.appid, openid_hash=self.openid_hash(session.openid))
        if binding is not None:
            await MiniProgramBinding.filter(id=binding.id).update(last_login_at=self.platform.clock.now())
            citizen = await citizen_record(binding.citizen_id)
            signed_in = await self.accounts.start_session(citizen, DEVICE, self.settings.miniprogram.audience, "mini_program")
            return MiniProgramLogin(signed_in)
        ticket = secrets.token_urlsafe(32)
        pii = self.platform.pii
        record = {"openid_enc": pii.encrypt(session.openid, "mp_openid"),
                  "unionid": session.unionid and self.platform.pii.lookup_hash(session.unionid, "mp_unionid"),
                  "session_key_enc": pii.encrypt(session.session_key, "mp_session_key"),
                  "expires_at": self.platform.clock.timestamp() + self.settings.miniprogram.bind_ttl}
        await set_json(self.platform.cache, _ticket_key(ticket), record, ttl=self.settings.miniprogram.bind_ttl + 5)
        return MiniProgramLogin(None, ticket, self.settings.miniprogram.bind_ttl)

    async def _ticket(self, ticket: str) -> dict:
        record = await get_json(self.platform.cache, _ticket_key(ticket or ""))
        if record is None or self.platform.clock.timestamp() >= record["expires_at"]:
            raise Unauthorized("MP_BIND_TICKET_INVALID")
        tries = await self.platform.cache.incr(f"{_ticket_key(ticket)}:tries", ttl=self.settings.miniprogram.bind_ttl + 5)
        if tries > MAX_BIND_TRIES:
            await self.platform.cache.delete(_ticket_key(ticket))
            raise Unauthorized("MP_BIND_TICKET_INVALID")
        return record

    async def bind_with_phone_data(self, ticket: str, encrypted_data: str, iv: str) -> SignedIn:
        """Bind with the phone number the platform vouches for (encrypted with this login's session key)."""
        record = await self._ticket(ticket)
        session_key = self.platform.pii.decrypt(record["session_key_enc"], "mp_session_key")
        try:
            phone = decrypt_phone_data(session_key, encrypted_data, iv, self.mp.appid, self.platform.clock.timestamp())
        except PhoneDataInvalid as exc:
            raise AppError("MP_PHONE_DATA_INVALID", status=422, extra={"reason": str(exc)}) from None
        return await self._bind(ticket, record, phone, "phone_data")

    async def send_bind_code(self, ticket: str, phone: str, client_ip: str) -> CodeSent:
        """Or prove the number with one of our SMS codes (same limits as the app's login code)."""
        await self._ticket(ticket)
        return await self.accounts.request_login_code(phone, client_ip)

    async def bind_with_sms(self, ticket: str, phone: str, code: str, client_ip: str) -> SignedIn:
        record = await self._ticket(ticket)
        verified = await self.accounts.check_login_code(phone, code, client_ip)
        return await self._bind(ticket, record, verified, "sms")

    async def _bind(self, ticket: str, record: dict, phone: str, verified_by: str) -> SignedIn:
        # Single use, even when two binds race with the same ticket.
        if not await self.platform.cache.claim_once(f"{_ticket_key(ticket)}:used", "1", ttl=self.settings.miniprogram.bind_ttl + 5):
            raise Unauthorized("MP_BIND_TICKET_INVALID")
        await self.platform.cache.delete(_ticket_key(ticket))
        openid = self.platform.pii.decrypt(record["openid_enc"], "mp_openid")
        signed_in = await self.accounts.sign_in_verified_phone(phone, DEVICE, self.settings.miniprogram.audience,
                                                               f"mini_program_{verified_by}")
        now = self.platform.clock.now()
        try:
            await MiniProgramBinding.create(
                id=new_id("mpb"), appid=self.mp.appid, openid_hash=self.openid_hash(openid),
                openid_enc=self.platform.pii.encrypt(openid, "mp_openid"), unionid_hash=record.get("unionid"),
                citizen_id=signed_in.citizen.id, verified_by=verified_by, created_at=now, last_login_at=now)
        except IntegrityError:
            pass  # a parallel bind of the same openid won; it verified a phone too
        await audit.record_event(self.platform.clock, actor=signed_in.citizen.id, actor_type="citizen",
                                 action="mini_program_bound", subject_id=signed_in.citizen.id,
                                 attributes={"appid": self.mp.appid, "verified_by": verified_by})
        return signed_in

    async def end_bindings(self, citizen_id: str) -> int:
        """The citizen's phone number changed (更换手机号): every binding of theirs ends, in every mini-program.
        Each was verified with the old number, so a WeChat user bound through it (perhaps whoever holds that
        number now) signs in again only by proving the new one. How many ended."""
        ended = await MiniProgramBinding.filter(citizen_id=citizen_id).delete()
        if ended:
            await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                     action="mini_program_unbound", subject_id=citizen_id,
                                     attributes={"bindings": ended, "reason": "phone_changed"})
        return int(ended)

    async def payer_openid(self, citizen_id: str) -> str:
        """The openid WeChat Pay charges in this mini-program: that of the citizen's latest sign-in here."""
        binding = await MiniProgramBinding.filter(appid=self.mp.appid, citizen_id=citizen_id).order_by(
            "-last_login_at").first()
        if binding is None:
            raise Unauthorized("MP_NOT_BOUND")
        return self.platform.pii.decrypt(binding.openid_enc, "mp_openid")

    # -- subscriptions ---------------------------------------------------------------------------
    async def record_subscriptions(self, citizen_id: str, answers: dict[str, str]) -> dict[str, int]:
        """What the user answered to wx.requestSubscribeMessage: each accept allows one message."""
        unknown = sorted(set(answers) - set(TOPICS))
        if unknown:
            raise AppError("MP_TOPIC_UNKNOWN", status=422, extra={"topics": unknown})
        now = self.platform.clock.now()
        for topic, answer in answers.items():
            if answer != "accept":
                continue
            row, created = await MiniProgramSubscription.get_or_create(
                citizen_id=citizen_id, topic=topic, defaults={"remaining": 1, "updated_at": now})
            if not created:
                await MiniProgramSubscription.filter(id=row.id).update(remaining=F("remaining") + 1, updated_at=now)
        return await self.subscriptions(citizen_id)

    async def subscriptions(self, citizen_id: str) -> dict[str, int]:
        rows = await MiniProgramSubscription.filter(citizen_id=citizen_id)
        counts = {topic: 0 for topic in TOPICS}
        counts.update({row.topic: row.remaining for row in rows})
        return counts


def _ticket_key(ticket: str) -> str:
    return f"mp:bind:{hashlib.sha256(ticket.encode()).hexdigest()}"


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.miniprogram.models import MiniProgramSubscription as _Subscription  # noqa: E402
from app.personal_data import Areas, Sealed, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Mini-programs' part of the citizen's copy of their data: the mini-program accounts (openid, opened)
    bound to them, and the subscription messages (订阅消息) they accepted and have not yet received."""
    return {
        "mini_program_bindings": [record_of(row, pii, sealed={"openid_enc": Sealed("mp_openid")}) for row in
                                  await MiniProgramBinding.filter(citizen_id=citizen_id).order_by("created_at")],
        "mini_program_subscriptions": [record_of(row, pii) for row in
                                       await _Subscription.filter(citizen_id=citizen_id).order_by("topic")],
    }
