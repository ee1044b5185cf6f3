"""电子社保卡 (the electronic social security card): the holder's dynamic signed QR, short-lived like the health code,
and the check a pharmacy or hospital makes of it.

The card itself is 人社's (HRSS_SOCIAL_SECURITY_CARD on the data exchange): the platform keeps no copy and asks
each time, by the holder's verified ID number.

The QR is `GDSSC1:` + the EU-DCC pipeline of the health code (CWT → COSE_Sign1 with the platform's current key →
zlib → base45). Its only claims are issuer, times, a random handle (claim 7, cti) and its type (the private
claim TYPE_CLAIM, signed: no other token the same key signs, a voucher's or a health code's, passes as a card's
QR whatever prefix it is shown with): no ID number, no name.
The platform maps the handle to the holder in the shared cache for the QR's lifetime (the health code's,
APP_HEALTH_CODE_TTL). A relying party checks a QR online, once: the first check marks the handle in the cache
(set-if-absent), a second is refused, and without the cache nothing is checked at all (fail closed).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

from app import audit
from app.accounts.service import CitizenSnapshot
from app.departments.exchange_services import HRSS_SOCIAL_SECURITY_CARD, DepartmentAsker, Reader, unreadable
from app.errors import AppError, Conflict, Forbidden
from app.platform import Platform
from app.qr import framed_png
from app.security import cose, ratelimit
from app.security.clients import AuthenticatedClient
from app.security.pii import mask_name

PREFIX = "GDSSC1:"
TYPE_CLAIM = -70_001  # a private CWT claim (RFC 8392: below -65536): what the token is
TOKEN_TYPE = "GDSSC1"  # the value of TYPE_CLAIM in a card's QR
HANDLE_BYTES = 16
SCOPE = "social_security_card"  # the relying-party scope (client role) that may check a card
HOLDER_KEY = "ssc:qr:"  # + handle → [citizen id, masked name], for the QR's lifetime
CHECKED_KEY = "ssc:qr:checked:"  # + handle → the relying party that checked it
KEEP_AFTER_EXPIRY = 60  # seconds the cache keeps a handle past its QR's expiry (clock skew of the checker)
QRS_PER_MINUTE = 30  # per holder: a QR refreshed every few seconds on screen stays well inside
CHECKS_PER_MINUTE = 3000  # per relying party: a hospital's counters together
FRAME = (22, 76, 150)  # blue, as a venue code's frame: the card is no health status, so no status colour
LOST = "SOCIAL_SECURITY_CARD_LOST"
NOT_ISSUED = "ELECTRONIC_SOCIAL_SECURITY_CARD_NOT_ISSUED"
CHECK_ATTRIBUTES = ("valid", "card_status", "holder_name_masked", "card_no_masked")


@dataclass(frozen=True)
class Card:
    """社会保障卡 as 人社 holds it, its number masked."""

    card_no_masked: str
    generation: int
    status: str  # active or lost
    status_name: str  # 正常 / 挂失, the department's words
    bank: str
    issued_on: str
    valid_until: str
    electronic_card_issued: bool
    issuer: str
    sample: bool

    def refusal(self) -> str | None:
        """Why no QR is shown for this card (an error code), or None."""
        if self.status != "active":
            return LOST
        return None if self.electronic_card_issued else NOT_ISSUED


@dataclass(frozen=True)
class CardQr:
    """A dynamic QR of the electronic card (电子社保卡二维码), checkable once until `expires_at` (UNIX seconds)."""

    payload: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class CardCheck:
    """What a relying party learns from one check (扫码核验): the name and number only of a valid card."""

    valid: bool
    reason: str | None
    status: str
    status_name: str
    holder_name_masked: str | None
    card_no_masked: str | None
    checked_at: int
    sample: bool


class SocialSecurityCards:
    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker

    @property
    def platform(self) -> Platform:
        return self.asker.platform

    async def card(self, citizen_id: str) -> Card:
        """The holder's own card, asked of 人社 now (purpose citizen_request)."""
        return card_of(await self.asker.ask(HRSS_SOCIAL_SECURITY_CARD, citizen_id))

    async def issue_qr(self, citizen: CitizenSnapshot) -> CardQr:
        """A new dynamic QR for the holder's electronic card; 409 when 人社 reports the card lost or the
        electronic card not issued."""
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"ssc-qr:{citizen.id}", QRS_PER_MINUTE, 60)
        refusal = (await self.card(citizen.id)).refusal()
        if refusal is not None:
            raise Conflict(refusal)
        handle = os.urandom(HANDLE_BYTES)
        now = int(self.platform.clock.timestamp())
        expires_at = now + self.platform.settings.health_code.ttl
        name = self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
        await self.platform.cache.set(HOLDER_KEY + handle.hex(), json.dumps([citizen.id, mask_name(name)], ensure_ascii=False),
                               ttl=expires_at - now + KEEP_AFTER_EXPIRY)
        key = self.platform.keys.current
        claims = {cose.CWT_ISS: self.platform.settings.health_code.issuer, cose.CWT_IAT: now, cose.CWT_EXP: expires_at,
                  cose.CWT_CTI: handle, TYPE_CLAIM: TOKEN_TYPE}
        return CardQr(cose.sign_cwt(claims, key.private_key, key.kid_bytes, PREFIX), now, expires_at)

    async def qr_image(self, qr: CardQr, caption: str) -> bytes:
        """The QR as a PNG in the health code's frame, drawn off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, framed_png, qr.payload, FRAME, caption)

    async def check(self, rp: AuthenticatedClient, token: str, purpose: str) -> CardCheck:
        """A relying party checks a QR the holder showed: signature, expiry, once; then 人社 is asked live
        (purpose relying_party_check, the relying party named by its display name in the holder's access log)."""
        if SCOPE not in rp.roles:
            raise Forbidden("SCOPE_NOT_ALLOWED", params={"scopes": SCOPE}, extra={"not_allowed": [SCOPE]})
        await ratelimit.hit(self.platform.cache, self.platform.clock, f"ssc-check:{rp.id}", CHECKS_PER_MINUTE, 60)
        handle = self._handle(token)
        holder = await self._claim(handle, rp)
        try:
            card = card_of(await self.asker.ask(HRSS_SOCIAL_SECURITY_CARD, holder[0], purpose="relying_party_check",
                                                reader=Reader(actor=rp.name, actor_type="relying_party")))
        except BaseException:
            # Nothing was learned: the same QR may be checked again within its lifetime (e.g. after Retry-After).
            await self.platform.cache.delete_if(CHECKED_KEY + handle, rp.id)
            raise
        checked = self._outcome(card, holder[1])
        disclosed = CHECK_ATTRIBUTES if checked.valid else CHECK_ATTRIBUTES[:2]
        await audit.record_access(self.platform.clock, citizen_id=holder[0], actor=rp.name, actor_type="relying_party",
                                  action="social_security_card_checked", attributes=disclosed, purpose=purpose)
        return checked

    def _handle(self, token: str) -> str:
        """The QR's handle, once its signature, type and time verify: 422 TOKEN_INVALID_SIGNATURE (also a token of
        another kind signed with our key), 410 TOKEN_EXPIRED."""
        try:
            claims = cose.verify_cwt(token, self.platform.keys.public_key_for, PREFIX)
            handle, expires_at = bytes(claims[cose.CWT_CTI]), int(claims[cose.CWT_EXP])
        except (cose.CodeError, KeyError, TypeError, ValueError):
            raise AppError("TOKEN_INVALID_SIGNATURE", status=422) from None
        if claims.get(TYPE_CLAIM) != TOKEN_TYPE or len(handle) != HANDLE_BYTES:
            raise AppError("TOKEN_INVALID_SIGNATURE", status=422)
        if expires_at <= self.platform.clock.timestamp():
            raise _expired()
        return handle.hex()

    async def _claim(self, handle: str, rp: AuthenticatedClient) -> tuple[str, str]:
        """Mark the handle checked (the first check wins: 409 TOKEN_ALREADY_USED after it) and find its holder.
        A handle the cache no longer knows is refused as expired: the holder shows a fresh QR."""
        if not await self.platform.cache.claim_once(CHECKED_KEY + handle, rp.id,
                                            ttl=self.platform.settings.health_code.ttl + KEEP_AFTER_EXPIRY):
            raise Conflict("TOKEN_ALREADY_USED")
        raw = await self.platform.cache.get(HOLDER_KEY + handle)
        if raw is None:
            raise _expired()
        citizen_id, name_masked = json.loads(raw)
        return citizen_id, name_masked

    def _outcome(self, card: Card, name_masked: str) -> CardCheck:
        reason = card.refusal()
        valid = reason is None
        return CardCheck(valid=valid, reason=reason, status=card.status, status_name=card.status_name,
                         holder_name_masked=name_masked if valid else None,
                         card_no_masked=card.card_no_masked if valid else None,
                         checked_at=int(self.platform.clock.timestamp()), sample=card.sample)


def _expired() -> AppError:
    return AppError("TOKEN_EXPIRED", status=410, message_key="PRESENTATION_EXPIRED")


def card_of(reply: dict[str, Any]) -> Card:
    """人社's reply as a Card; a reply of another shape is unreadable (503, as if 人社 were down)."""
    try:
        electronic = reply["electronic_card"]
        return Card(card_no_masked=mask_card_number(str(reply["card_no"])), generation=int(reply["generation"]),
                    status=str(reply["status"]), status_name=str(reply["status_name"]), bank=str(reply["bank"]),
                    issued_on=str(reply["issued_on"]), valid_until=str(reply["valid_until"]),
                    electronic_card_issued=electronic["issued"] is True, issuer=str(reply.get("issuer", "")),
                    sample=reply.get("sample") is True)
    except (KeyError, TypeError, ValueError):
        raise unreadable(HRSS_SOCIAL_SECURITY_CARD) from None


def mask_card_number(card_no: str) -> str:
    """社会保障卡号 A12345678 -> A*****678: the letter and the last three only."""
    return card_no[:1] + "*" * (len(card_no) - 4) + card_no[-3:] if len(card_no) > 4 else "*" * len(card_no)


__all__ = ["Card", "CardCheck", "CardQr", "PREFIX", "SCOPE", "SocialSecurityCards", "card_of", "mask_card_number"]
