"""The digital resident ID voucher (居民身份电子凭证): issue, lock, revoke, show, redeem.

The citizen's phone replaces the plastic card, and the relying party learns only what it must:
what it asked for, what its registered scopes allow, and what the citizen consented to for
this one presentation, by default a yes/no answer rather than data.

A presentation QR carries no personal data at all: `GDID1:` + the EU-DCC pipeline over a CWT
whose only claims are issuer, times and a random token id (claim 7, cti). The relying party
redeems it online, once, within its lifetime.

Offline, the phone keeps a short-lived SD-JWT bound to the voucher's device key (`cnf`) and, at the
desk, signs a key-binding JWT over the relying party's audience and a nonce the relying party got
from us: a photo of that QR fails at any other desk, and at the same desk once its nonce is spent.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Awaitable, Callable, Iterable, Mapping

import jwt
from tortoise import connections
from tortoise.transactions import in_transaction

from app import audit
from app.accounts.service import (LEVEL_FACE, RESIDENT_ID, CitizenSnapshot, citizen_with_id_number, document_birth_date, lock_citizen,
                                  require_level)
from app.clock import china_day
from app.db import parameter
from app.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed
from app.ids import new_id
from app.platform import Platform
from app.security import cose, jwk, jws, ratelimit
from app.security.clients import AuthenticatedClient
from app.security.pii import mask_name
from app.vouchers import offline
from app.vouchers.licences import LicenceService as LicenceService, PulledStatus as PulledStatus
from app.vouchers.licences import validity_of as validity_of
from app.vouchers.models import IdVoucher, Licence as Licence, LicenceType as LicenceType, Presentation, StandingRequest

PREFIX = "GDID1:"
ATTRIBUTES = ("is_holder", "age_over_18", "age_over_60", "name_masked", "id_last4", "full_identity")
YES_NO = ("is_holder", "age_over_18", "age_over_60")
DEFAULT_CONSENT = ("is_holder",)  # the minimum: "is this the registered holder", yes or no
PROOF_WINDOW = 60  # seconds a device proof is accepted after it was made
OFFLINE_CLAIMS = ("age_over_18", "age_over_60", "name_masked", "id_last4")  # never the full identity offline
REVOCATION_REASONS = ("id_card_lost", "id_card_expired", "left_service", "reissued")
ONLINE_TOKEN_ID_HEX = 16  # an online showing's id; an offline one's (offline.credential_id) is 40
OFFLINE_NONCE_TTL = 120  # seconds a relying party's nonce for one offline presentation is accepted
OFFLINE_NONCES_PER_MINUTE = 3000  # per relying party: one offline presentation each, as many as its desks redeem
# What a verifier's PresentationError means to a relying party: (code, HTTP status).
OFFLINE_REFUSALS = {
    "KEY_BINDING_MISSING": ("OFFLINE_KEY_BINDING_MISSING", 422),
    "KEY_BINDING_INVALID": ("OFFLINE_KEY_BINDING_INVALID", 422),
    "KEY_BINDING_STALE": ("OFFLINE_KEY_BINDING_STALE", 422),
    "SD_HASH_MISMATCH": ("OFFLINE_DISCLOSURES_CHANGED", 422),
    "WRONG_AUDIENCE": ("PRESENTATION_FOR_ANOTHER_PARTY", 403),
    "WRONG_NONCE": ("OFFLINE_NONCE_MISMATCH", 422),
    "EXPIRED": ("OFFLINE_PRESENTATION_EXPIRED", 410),
}


@dataclass(frozen=True)
class IssuedPresentation:
    presentation: Presentation
    token: str


@dataclass(frozen=True)
class OfflineShown:
    credential: str  # <JWT>~<disclosure>~...~: the phone adds a KB-JWT at the desk
    disclosed: tuple[str, ...]
    expires_at: datetime


@dataclass(frozen=True)
class OfflineNonce:
    nonce: str
    audience: str
    expires_at: datetime


@dataclass(frozen=True)
class OfflineCheck:
    disclosed: dict[str, Any]
    withheld: tuple[str, ...]  # disclosed by the holder, beyond the relying party's scopes
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Redemption:
    disclosed: dict[str, Any]
    withheld: tuple[str, ...]  # asked for, allowed, but not consented to by the citizen


class VoucherService:
    def __init__(self, platform: Platform, citizens: Callable[[str], Awaitable[CitizenSnapshot]]) -> None:
        self.platform = platform
        self.settings = platform.settings
        self.citizens = citizens  # AccountService.citizen: the cached snapshot

    # -- lifecycle --------------------------------------------------------------------------------
    async def issue(self, citizen: CitizenSnapshot, device_id: str, device_key: Mapping[str, Any]) -> IdVoucher:
        """Issue (or re-issue, on a new phone) the voucher; only after the face check (level 3)."""
        require_level(citizen, LEVEL_FACE)
        _device_public_key(device_key)
        now = self.platform.clock.now()
        # One live voucher per citizen, even when two phones ask at once: the citizen row is locked
        # (PostgreSQL) or the transaction holds the only connection (SQLite) while we look and write.
        async with in_transaction() as conn:
            await lock_citizen(conn, citizen.id)
            previous = await IdVoucher.filter(citizen_id=citizen.id, status__in=["active", "suspended"]) \
                .using_db(conn).first()
            if previous is not None:
                previous.status, previous.status_reason, previous.status_changed_at = "revoked", "reissued", now
                await previous.save(update_fields=["status", "status_reason", "status_changed_at"], using_db=conn)
            voucher = await IdVoucher.create(id=new_id("idv"), citizen_id=citizen.id, device_id=device_id,
                                             device_key=jwk.public_members(device_key), status="active", issued_at=now,
                                             status_changed_at=now, replaces=previous.id if previous else None,
                                             using_db=conn)
        if previous is not None:
            await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="voucher_revoked",
                                     subject_id=citizen.id, attributes={"voucher": previous.id, "reason": "reissued"})
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen",
                                 action="voucher_reissued" if previous else "voucher_issued", subject_id=citizen.id,
                                 attributes={"voucher": voucher.id, "device": device_id})
        return voucher

    async def current(self, citizen_id: str) -> IdVoucher:
        voucher = await IdVoucher.filter(citizen_id=citizen_id, status__in=["active", "suspended"]).first()
        if voucher is None:
            raise NotFound("VOUCHER_NOT_FOUND")
        return voucher

    async def lock(self, citizen: CitizenSnapshot, locked: bool) -> IdVoucher:
        """The citizen suspends (locks) or resumes their voucher, e.g. when the phone is lost."""
        voucher = await self.current(citizen.id)
        target = "suspended" if locked else "active"
        if voucher.status != target:
            await self._change(voucher, target, "citizen_lock" if locked else None, actor=citizen.id,
                               actor_type="citizen")
        if locked:  # a lost phone: QRs shown before the lock must not work after an unlock either
            await Presentation.filter(voucher_id=voucher.id, redeemed_at=None,
                                      expires_at__gt=self.platform.clock.now()).update(expires_at=self.platform.clock.now())
        return voucher

    async def revoke_for_citizen(self, citizen: CitizenSnapshot) -> IdVoucher:
        """The citizen leaves the voucher service: the voucher never verifies again."""
        voucher = await self.current(citizen.id)
        await self._change(voucher, "revoked", "left_service", actor=citizen.id, actor_type="citizen")
        return voucher

    async def revoke_released_identity(self, citizen: CitizenSnapshot) -> None:
        """The identity behind the voucher was taken back by its owner (a face check): the account that
        held it keeps no voucher, and QRs it showed stop working."""
        voucher = await IdVoucher.filter(citizen_id=citizen.id, status__in=["active", "suspended"]).first()
        if voucher is None:
            return
        await self._change(voucher, "revoked", "identity_reclaimed", actor="system", actor_type="system")
        await Presentation.filter(voucher_id=voucher.id, redeemed_at=None,
                                  expires_at__gt=self.platform.clock.now()).update(expires_at=self.platform.clock.now())

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased: its vouchers are revoked (a relying party redeeming a QR it showed gets
        VOUCHER_REVOKED). The voucher rows and their presentations stay as the record of what was disclosed to
        whom, under the account's opaque id; the phone they were bound to goes (device id and key), so nothing
        links them to a person any more."""
        for voucher in await IdVoucher.filter(citizen_id=citizen_id, status__in=["active", "suspended"]):
            await self._change(voucher, "revoked", "account_erased", actor="system", actor_type="system")
        await IdVoucher.filter(citizen_id=citizen_id).update(device_id="", device_key={})

    async def revoke_by_id_number(self, authority: AuthenticatedClient, id_number: str, reason: str) -> IdVoucher:
        """The ID authority reports the card lost or expired: the voucher is revoked at once."""
        if reason not in ("id_card_lost", "id_card_expired"):
            raise ValidationFailed([{"field": "reason", "problem": "id_card_lost or id_card_expired"}])
        citizen = await citizen_with_id_number(self.platform, id_number)
        voucher = await self.current(citizen.id)
        await self._change(voucher, "revoked", reason, actor=authority.id, actor_type="department")
        return voucher

    async def _change(self, voucher: IdVoucher, status: str, reason: str | None, actor: str, actor_type: str) -> None:
        voucher.status, voucher.status_reason, voucher.status_changed_at = status, reason, self.platform.clock.now()
        await voucher.save(update_fields=["status", "status_reason", "status_changed_at"])
        await audit.record_event(self.platform.clock, actor=actor, actor_type=actor_type, action=f"voucher_{status}",
                                 subject_id=voucher.citizen_id, attributes={"voucher": voucher.id, "reason": reason})

    # -- showing it ---------------------------------------------------------------------------------
    async def _voucher_to_show(self, citizen: CitizenSnapshot, device_proof: str) -> IdVoucher:
        """The citizen's active voucher, shown from its registered phone, within the showings allowed a minute."""
        voucher = await self.current(citizen.id)
        if voucher.status != "active":
            raise AppError("VOUCHER_SUSPENDED", status=409)
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"voucher-show:{citizen.id}",
                            self.settings.vouchers.presentations_per_minute, 60)
        await self._check_device_proof(voucher, device_proof)
        return voucher

    async def present(self, citizen: CitizenSnapshot, device_proof: str, attributes: Iterable[str] | None = None,
                      standing_request_id: str | None = None, confirm_full_identity: bool = False) -> IssuedPresentation:
        """A one-time presentation token for the attributes the citizen chose, from the registered device."""
        voucher = await self._voucher_to_show(citizen, device_proof)
        consented, standing = await self._consent(attributes, standing_request_id, confirm_full_identity)
        now = self.platform.clock.now()
        token_id = os.urandom(ONLINE_TOKEN_ID_HEX // 2)
        presentation = await Presentation.create(
            id=token_id.hex(), voucher_id=voucher.id, citizen_id=citizen.id, consented=consented,
            standing_request=standing, created_at=now, expires_at=now + timedelta(seconds=self.settings.vouchers.token_ttl))
        return IssuedPresentation(presentation, self._token(token_id, presentation))

    async def present_offline(self, citizen: CitizenSnapshot, device_proof: str, disclose: Iterable[str]) -> OfflineShown:
        """For places without a network: an SD-JWT (RFC 9901) bound to this voucher's device key, from which a
        verifier learns the chosen claims and nothing else, once the phone adds its key-binding JWT."""
        voucher = await self._voucher_to_show(citizen, device_proof)
        chosen = sorted(set(disclose))
        if not chosen or any(name not in OFFLINE_CLAIMS for name in chosen):
            raise ValidationFailed([{"field": "disclose", "problem": f"1 or more of {', '.join(OFFLINE_CLAIMS)}"}])
        now = self.platform.clock.now()
        values = await self._values(citizen.id, list(OFFLINE_CLAIMS), china_day(now))
        chosen = [name for name in chosen if name in values]  # an age the document does not carry is not claimed
        ttl = self.settings.vouchers.offline_ttl
        credential = offline.issue_offline_credential(values, self.platform.keys.current, self.settings.health_code.issuer, now, ttl,
                                                      holder_binding=offline.holder_binding(voucher.device_key))
        # Whose credential it is, for the access log of a relying party that checks it with us: kept in the
        # database, as an online showing is, so that no cache loss leaves a check out of the citizen's log.
        await Presentation.create(id=offline.credential_id(credential.jwt), voucher_id=voucher.id,
                                  citizen_id=citizen.id, consented=chosen, created_at=now,
                                  expires_at=now + timedelta(seconds=ttl))
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen",
                                 action="voucher_offline_presentation", subject_id=citizen.id,
                                 attributes={"voucher": voucher.id, "disclosed": chosen})
        return OfflineShown(offline.present(credential, chosen), tuple(chosen), now + timedelta(seconds=ttl))

    async def extend(self, citizen: CitizenSnapshot, presentation_id: str) -> IssuedPresentation:
        """Elderly mode (适老化): one more lifetime for a token not yet used, once."""
        if not citizen.elderly_mode:
            raise Forbidden("ELDERLY_MODE_REQUIRED")
        presentation = await Presentation.get_or_none(id=presentation_id, citizen_id=citizen.id)
        if presentation is None or len(presentation.id) != ONLINE_TOKEN_ID_HEX:  # an offline showing has no QR to extend
            raise NotFound("PRESENTATION_NOT_FOUND")
        if presentation.redeemed_at is not None:
            raise Conflict("TOKEN_ALREADY_USED")
        now = self.platform.clock.now()
        if presentation.expires_at <= now:
            raise AppError("TOKEN_EXPIRED", status=410, message_key="PRESENTATION_EXPIRED")
        new_expiry = now + timedelta(seconds=self.settings.vouchers.token_ttl)
        updated = await Presentation.filter(id=presentation.id, extended=False, redeemed_at=None).update(
            extended=True, expires_at=new_expiry)
        if not updated:
            raise Conflict("ALREADY_EXTENDED")
        presentation.extended, presentation.expires_at = True, new_expiry
        return IssuedPresentation(presentation, self._token(bytes.fromhex(presentation.id), presentation))

    def _token(self, token_id: bytes, presentation: Presentation) -> str:
        key = self.platform.keys.current
        claims = {cose.CWT_ISS: self.settings.health_code.issuer, cose.CWT_IAT: int(presentation.created_at.timestamp()),
                  cose.CWT_EXP: int(presentation.expires_at.timestamp()), cose.CWT_CTI: token_id}
        return cose.sign_cwt(claims, key.private_key, key.kid_bytes, PREFIX)

    async def _check_device_proof(self, voucher: IdVoucher, proof: str) -> None:
        """The request comes from the registered phone: a JWT signed with its key, fresh and used once."""
        try:
            claims = jwt.decode(proof, _device_public_key(voucher.device_key), algorithms=["ES256"],
                                options={"require": ["sub", "iat", "jti"], "verify_iat": False})
        except jwt.PyJWTError:
            raise Forbidden("DEVICE_PROOF_INVALID") from None
        iat = claims["iat"]
        if claims["sub"] != voucher.id or not jws.issued_within(iat, self.platform.clock.timestamp(), PROOF_WINDOW):
            raise Forbidden("DEVICE_PROOF_INVALID")
        if not await self.platform.cache.claim_once(f"device-proof:{voucher.id}:{claims['jti']}", "1",
                                            ttl=2 * PROOF_WINDOW + 5):
            raise Forbidden("DEVICE_PROOF_INVALID")

    async def _consent(self, attributes: Iterable[str] | None, standing_request_id: str | None,
                       confirm_full_identity: bool) -> tuple[list[str], str | None]:
        if standing_request_id:
            standing = await self.standing_request(standing_request_id)
            return sorted(standing.attributes), standing.id
        chosen = sorted(set(attributes)) if attributes else list(DEFAULT_CONSENT)
        unknown = [a for a in chosen if a not in ATTRIBUTES]
        if unknown:
            raise ValidationFailed([{"field": "attributes", "problem": f"unknown: {', '.join(unknown)}"}])
        if "full_identity" in chosen and not confirm_full_identity:
            raise AppError("FULL_IDENTITY_CONSENT_REQUIRED", status=422)
        return chosen, None

    # -- relying parties ------------------------------------------------------------------------------
    async def redeem(self, rp: AuthenticatedClient, token: str, asked: Iterable[str], purpose: str) -> Redemption:
        """Redeem a presentation once: the reply holds asked ∩ allowed scopes ∩ consented, nothing more."""
        # Both limits in one round trip: this redemption counted, and the lockout after too many invalid
        # tokens looked at (counted 0 here; each invalid token counts it in `_redeem_checked`).
        await ratelimit.hit_all(self.platform.cache, self.platform.clock, [
            ratelimit.Limit(f"voucher-redeem:{rp.id}", self.settings.vouchers.redemptions_per_minute, 60),
            ratelimit.Limit(_invalid_tokens(rp), self.settings.vouchers.invalid_tokens_per_minute - 1, 60)],
            amount=(1, 0))
        asked = _asked_within_scopes(rp, asked)
        now = self.platform.clock.now()
        token_id = self._token_id(token)
        plain = await _redeem_plain(token_id, rp.id, now) if token_id else None
        if plain is not None:
            citizen_id, consented = plain
        else:  # not a presentation redeemable as it stands: find out why, or redeem it checked
            citizen_id, consented, purpose = await self._redeem_checked(rp, token_id, purpose, now)
        shared = [a for a in asked if a in consented]
        disclosed = await self._values(citizen_id, shared, china_day(now))
        await audit.record_access(self.platform.clock, citizen_id=citizen_id, actor=rp.name,
                                  actor_type="relying_party", action="voucher_redeemed",
                                  attributes=[a for a in shared if a in disclosed],  # an age with no birth date: none
                                  purpose=purpose)
        return Redemption(disclosed, tuple(a for a in asked if a not in shared))

    def _token_id(self, token: str) -> str | None:
        """The presentation id a token signed by us names, or None."""
        try:
            claims = cose.verify_cwt(token, self.platform.keys.public_key_for, PREFIX)
            return bytes(claims[cose.CWT_CTI]).hex()
        except (cose.CodeError, KeyError, TypeError, ValueError):
            return None

    async def _redeem_checked(self, rp: AuthenticatedClient, token_id: str | None, purpose: str,
                              now: datetime) -> tuple[str, list[str], str]:
        """A presentation `_redeem_plain` did not redeem: refused with the reason (an invalid token counts
        towards the relying party's lockout), or, answering this relying party's standing request,
        redeemed with that request's purpose. Its holder, consented attributes and the purpose to record."""
        presentation = await Presentation.filter(id=token_id).select_related("voucher").first() if token_id else None
        if presentation is None:
            await ratelimit.hit(self.platform.cache, self.platform.clock, _invalid_tokens(rp),
                                self.settings.vouchers.invalid_tokens_per_minute, 60)
            raise AppError("TOKEN_INVALID_SIGNATURE", status=422)
        purpose = await _purpose_agreed(rp, presentation, purpose)
        _check_redeemable(presentation, now)
        # Single use even under concurrent redemptions: only one UPDATE finds it unredeemed.
        if not await Presentation.filter(id=presentation.id, redeemed_at=None).update(redeemed_at=now, redeemed_by=rp.id):
            raise Conflict("TOKEN_ALREADY_USED")
        return presentation.citizen_id, presentation.consented, purpose

    async def offline_nonce(self, rp: AuthenticatedClient) -> OfflineNonce:
        """A nonce for one offline presentation at this relying party's desk, kept until spent or expired."""
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"voucher-offline-nonce:{rp.id}", OFFLINE_NONCES_PER_MINUTE, 60)
        nonce = secrets.token_urlsafe(16)
        expires_at = self.platform.clock.now() + timedelta(seconds=OFFLINE_NONCE_TTL)
        await self.platform.cache.set(_nonce_key(nonce), _nonce_state(rp.id, expires_at, spent=False),
                               ttl=2 * OFFLINE_NONCE_TTL)
        return OfflineNonce(nonce, rp.id, expires_at)

    async def check_offline(self, rp: AuthenticatedClient, qr: str, nonce: str, purpose: str) -> OfflineCheck:
        """Verify a key-bound offline presentation for this relying party and its nonce, spending the nonce."""
        state = await self._live_nonce(rp, nonce)
        try:
            presentation = offline.from_qr_text(qr)
            claims = offline.verify_presentation(presentation, self.platform.keys.jwks(), self.platform.clock.now(),
                                                 self.settings.health_code.issuer, audience=rp.id, nonce=nonce)
        except offline.PresentationError as refused:
            code, status = OFFLINE_REFUSALS.get(refused.code, ("OFFLINE_PRESENTATION_INVALID", 422))
            raise AppError(code, status=status, extra={"reason": refused.code}) from None
        shown = await Presentation.get_or_none(id=offline.credential_id(presentation.split("~")[0])).select_related(
            "voucher")
        if shown is None:  # signed by us, but not whose: nothing is disclosed that the holder's log would not show
            raise AppError("OFFLINE_PRESENTATION_INVALID", status=422, extra={"reason": "HOLDER_UNKNOWN"})
        # Locked (a lost phone) or revoked since it was shown, or locked and unlocked again: what was shown is dead.
        if shown.voucher.status != "active" or shown.expires_at <= self.platform.clock.now():
            raise AppError("OFFLINE_VOUCHER_WITHDRAWN", status=409)
        spent = json.dumps({**json.loads(state), "spent": True})
        if not await self.platform.cache.replace(_nonce_key(nonce), state, spent, ttl=2 * OFFLINE_NONCE_TTL, announce=False):
            raise Conflict("OFFLINE_NONCE_USED")  # another check spent it meanwhile
        disclosed = {k: v for k, v in claims.items() if k in OFFLINE_CLAIMS}
        shared = {k: v for k, v in disclosed.items() if k in rp.roles}
        await audit.record_access(self.platform.clock, citizen_id=shown.citizen_id, actor=rp.name, actor_type="relying_party",
                                  action="voucher_offline_checked", attributes=sorted(shared), purpose=purpose)
        tz = self.platform.clock.now().tzinfo
        return OfflineCheck(shared, tuple(sorted(set(disclosed) - set(shared))),
                            datetime.fromtimestamp(claims["iat"], tz), datetime.fromtimestamp(claims["exp"], tz))

    async def _live_nonce(self, rp: AuthenticatedClient, nonce: str) -> str:
        """The nonce's stored state if we handed it to this relying party, unspent and unexpired."""
        raw = await self.platform.cache.get(_nonce_key(nonce))
        state = json.loads(raw) if raw else {}
        if not raw or state["rp"] != rp.id:
            raise AppError("OFFLINE_NONCE_UNKNOWN", status=422)
        if state["spent"]:
            raise Conflict("OFFLINE_NONCE_USED")
        if state["exp"] <= self.platform.clock.timestamp():
            raise AppError("OFFLINE_NONCE_EXPIRED", status=410)
        return raw

    async def attribute_values(self, citizen_id: str, names: list[str], today: date) -> dict[str, Any]:
        """The voucher's attributes (ATTRIBUTES) of a citizen, as a redemption would disclose them; `today` is the
        date in China, where a birthday (and so an age) begins at midnight Beijing time."""
        return await self._values(citizen_id, names, today)

    async def _values(self, citizen_id: str, names: list[str], today: date) -> dict[str, Any]:
        citizen = await self.citizens(citizen_id)
        name = self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
        number = self.platform.pii.decrypt(citizen.id_number_enc, "id_number") if citizen.id_number_enc else ""
        born = document_birth_date(self.platform, citizen)
        values: dict[str, Any] = {}
        for attribute in names:
            if attribute == "is_holder":
                values[attribute] = True  # shown from the registered device of this voucher's holder
            elif attribute in ("age_over_18", "age_over_60"):
                if born is not None:  # a document without a birth date (a permit, a passport without its zone): none
                    values[attribute] = _age(born, today) >= int(attribute[-2:])
            elif attribute == "name_masked":
                values[attribute] = mask_name(name)
            elif attribute == "id_last4":
                values[attribute] = number[-4:]
            elif attribute == "full_identity":
                values[attribute] = {"name": name, "id_number": number}
                if citizen.document_type != RESIDENT_ID:  # which document the number is of, when not a resident ID
                    values[attribute].update(document_type=citizen.document_type, nationality=citizen.nationality)
        return values

    async def standing_request(self, request_id: str) -> StandingRequest:
        standing = await StandingRequest.get_or_none(id=request_id, active=True)
        if standing is None:
            raise NotFound("STANDING_REQUEST_NOT_FOUND")
        return standing

    async def add_standing_request(self, rp: AuthenticatedClient, attributes: list[str],
                                   purpose: Mapping[str, str]) -> StandingRequest:
        """What a relying party always asks for, in plain language; full identity never rides on one."""
        wanted = sorted(set(attributes))
        if not wanted or any(a not in ATTRIBUTES for a in wanted):
            raise ValidationFailed([{"field": "attributes", "problem": f"1 or more of {', '.join(ATTRIBUTES)}"}])
        if "full_identity" in wanted:
            raise ValidationFailed([{"field": "attributes", "problem": "full_identity needs consent each time"}])
        beyond = [a for a in wanted if a not in rp.roles]
        if beyond:
            raise Forbidden("SCOPE_NOT_ALLOWED", params={"scopes": ", ".join(beyond)}, extra={"not_allowed": beyond})
        if "zh-Hans" not in purpose:
            raise ValidationFailed([{"field": "purpose.zh-Hans", "problem": "the purpose in Simplified Chinese"}])
        return await StandingRequest.create(id=new_id("sr"), client_id=rp.id, attributes=wanted,
                                            purpose=dict(purpose), created_at=self.platform.clock.now())


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _nonce_key(nonce: str) -> str:
    return f"voucher-offline-nonce:{nonce}"


def _nonce_state(rp_id: str, expires_at: datetime, spent: bool) -> str:
    return json.dumps({"rp": rp_id, "exp": int(expires_at.timestamp()), "spent": spent})


def _device_public_key(device_key: Mapping[str, Any]) -> Any:
    try:
        return jwk.public_key_from_jwk(device_key)
    except jwk.JwkError as error:
        problem = "send only the public key" if error.reason == "private" else "an EC P-256 public JWK"
        raise ValidationFailed([{"field": "device_key", "problem": problem}]) from None


# -- the e-licence wallet as other domains read it (电子证照: 免提交 materials, a guardian's 户口簿) ----------
async def licence_of(citizen_id: str, licence_id: str, type_id: str | None = None) -> Licence | None:
    """One licence in the citizen's wallet (of `type_id`, when given), or None."""
    found = Licence.filter(id=licence_id, citizen_id=citizen_id)
    return await (found.filter(type_id=type_id) if type_id else found).get_or_none()


async def licences_of(citizen_id: str) -> list[Licence]:
    """Every licence in the citizen's wallet, oldest first."""
    return await Licence.filter(citizen_id=citizen_id).order_by("issued_at")


async def licence_types(codes: Iterable[str]) -> dict[str, LicenceType]:
    """The licence types of these codes that exist, by code."""
    wanted = list(codes)
    return {t.code: t for t in await LicenceType.filter(code__in=wanted)} if wanted else {}


def _invalid_tokens(rp: AuthenticatedClient) -> str:
    """The limit on invalid tokens a relying party sends: past it, nothing more is even checked this minute."""
    return f"voucher-redeem-invalid:{rp.id}"


async def _redeem_plain(token_id: str, rp_id: str, now: datetime) -> tuple[str, list[str]] | None:
    """Mark a presentation redeemed if it can be as it stands: unredeemed, unexpired, of an active voucher
    and answering no standing request. Its holder and consented attributes, or None (nothing changed).
    One statement, where reading the row and then updating it took two; single use even under
    concurrent redemptions: only one UPDATE finds it unredeemed."""
    conn = connections.get("default")
    at, rp, presentation = parameter(conn, 1), parameter(conn, 2), parameter(conn, 3)
    rows = await conn.execute_query_dict(  # a dict a row, RETURNING's rows too on both dialects
        f"UPDATE voucher_presentations SET redeemed_at = {at}, redeemed_by = {rp} WHERE id = {presentation} "
        f"AND redeemed_at IS NULL AND expires_at > {at} AND standing_request IS NULL "
        "AND voucher_id IN (SELECT id FROM id_vouchers WHERE status = 'active') RETURNING citizen_id, consented",
        [now, rp_id, token_id])
    if not rows:
        return None
    consented = Presentation._meta.fields_map["consented"].to_python_value(rows[0]["consented"])
    return str(rows[0]["citizen_id"]), list(consented)


def _asked_within_scopes(rp: AuthenticatedClient, asked: Iterable[str]) -> list[str]:
    """The attributes asked for, sorted once each; refused when none or an unknown one is asked, or one beyond
    the relying party's allowed scopes."""
    wanted = sorted(set(asked))
    unknown = [a for a in wanted if a not in ATTRIBUTES]
    if not wanted or unknown:
        raise ValidationFailed([{"field": "attributes", "problem": f"1 or more of {', '.join(ATTRIBUTES)}"}])
    beyond = [a for a in wanted if a not in rp.roles]
    if beyond:
        raise Forbidden("SCOPE_NOT_ALLOWED", params={"scopes": ", ".join(beyond)}, extra={"not_allowed": beyond})
    return wanted


async def _purpose_agreed(rp: AuthenticatedClient, presentation: Presentation, purpose: str) -> str:
    """The purpose to record: the standing request's when the presentation answers one, which must be this
    relying party's (the citizen agreed to that organisation's request, not to whoever scans the QR)."""
    if not presentation.standing_request:
        return purpose
    standing = await StandingRequest.get_or_none(id=presentation.standing_request)
    if standing is None or standing.client_id != rp.id:
        raise Forbidden("PRESENTATION_FOR_ANOTHER_PARTY")
    return standing.purpose.get("zh-Hans", purpose)


def _check_redeemable(presentation: Presentation, now: datetime) -> None:
    """Refuse a presentation already redeemed, expired, or of a voucher no longer active."""
    if presentation.redeemed_at is not None:
        raise Conflict("TOKEN_ALREADY_USED")
    if presentation.expires_at <= now:
        raise AppError("TOKEN_EXPIRED", status=410, message_key="PRESENTATION_EXPIRED")
    if presentation.voucher.status != "active":
        raise AppError("VOUCHER_REVOKED" if presentation.voucher.status == "revoked" else "VOUCHER_SUSPENDED",
                       status=409)


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, Sealed, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402
from app.vouchers.models import LicenceShare  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """The wallet's part of the citizen's copy of their data: ID vouchers (居民身份电子凭证) and each showing
    of them (who redeemed it, what was consented to; not its token id, which a QR still shown may carry), e-licences (电子证照) with their fields and the
    issuer-signed document opened, and the licences' shares."""
    licence_sealed = {"fields_enc": Sealed("licence:{id}", json=True), "document": Sealed("licence-document:{id}")}
    return {
        "id_vouchers": [record_of(row, pii) for row in
                        await IdVoucher.filter(citizen_id=citizen_id).order_by("issued_at")],
        "voucher_presentations": [record_of(row, pii, skip=("id",)) for row in
                                  await Presentation.filter(citizen_id=citizen_id).order_by("created_at")],
        "licences": [record_of(row, pii, sealed=licence_sealed) for row in
                     await Licence.filter(citizen_id=citizen_id).order_by("issued_at")],
        "licence_shares": [record_of(row, pii) for row in
                           await LicenceShare.filter(citizen_id=citizen_id).order_by("created_at")],
    }
