"""Mutual recognition (互转互认): partners verify our codes, we verify and convert theirs, border passes.

Nothing is trusted that cannot be checked: a partner's code is accepted only with a key from
the trust list, inside the key's validity, in a format the partner registered, not revoked
by the partner, and for the citizen who presents it. Every cross-region read of a citizen's
status is written to their access log.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import jwt

from app import audit, metrics
from app.accounts.service import CitizenSnapshot, document_birth_date
from app.errors import AppError, Forbidden, NotFound, ValidationFailed
from app.security import ratelimit
from app.security.clients import AuthenticatedClient
from health_code import codec
from health_code.codec import CodeError, StatusChanged
from health_code.interop import default_adapters
from health_code.interop.formats import FormatAdapter, ForeignStatus, detect_format
from health_code.interop.models import RevokedPartnerCode
from health_code.interop.registry import PartnerRegistry
from health_code.interop.subject import subject_matches
from health_code.interop.trust import PartnerTrustList, PartnerView
from health_code.service import REVOKED, REVOKED_ERROR, HealthCodeService, Holder, IssuedCode, lasting

MAX_BATCH = 100
TRUST_LIST_TTL = 24 * 3600
BORDER_PASS_PREFIX = "GDBP1:"
BORDER_PASS_KEY = "bp"
CWT_AUD = 3
# The document a border pass names, as its CBOR carries it: 居民身份证, 往来港澳通行证 (typed per pass), then the
# documents a citizen may bind instead of a resident ID (accounts.documents).
DOCUMENT_TYPES = {"resident_id": 1, "exit_entry_permit": 2, "residence_permit": 3, "hk_macao_permit": 4,
                  "taiwan_permit": 5, "permanent_residence": 6, "passport": 7}
PERMIT_NUMBER = re.compile(r"^[A-Z][0-9A-Z]{8}$")
# A scanned text that names a format ("HC1:", "MOHC1:") other than ours: told apart from garbage so a
# partner learns that this endpoint checks our codes only, not that the code is broken.
OTHER_FORMAT = re.compile(r"^[A-Z][A-Z0-9]{1,9}:")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass  # not frozen: made once per code of a batch and read once, and a frozen one is much slower to make
class PartnerVerification:
    """One result of `POST /api/partner/v1/verifications`."""

    valid: bool
    error: str | None = None
    color: str | None = None
    partner_color: str | None = None
    issuer: str | None = None
    expires_at: int | None = None
    subject_masked: str | None = None
    current_color: str | None = None  # with STATUS_CHANGED: the holder's colour now
    current_partner_color: str | None = None


@dataclass(frozen=True)
class Conversion:
    """A local code issued for a partner's code (转码), and where it came from."""

    code: IssuedCode
    partner: PartnerView
    source: ForeignStatus
    mapped_colour: str


@dataclass(frozen=True)
class BorderPass:
    """通关凭证: status plus minimal identity, for one partner, verifiable offline with our JWKS."""

    payload: str
    pass_id: str
    partner_id: str
    colour: str
    subject_masked: str
    document_type: str
    document_last4: str
    issued_at: int
    expires_at: int


def code_ref(text: str) -> str:
    """How an audit entry names a scanned code without storing it."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class InteropService:
    def __init__(self, health: HealthCodeService, trust: PartnerTrustList, partners: PartnerRegistry,
                 adapters: Sequence[FormatAdapter] | None = None) -> None:
        self.health = health
        self.platform = health.platform
        self.trust = trust
        self.partners = partners
        self.adapters = list(adapters or default_adapters())

    # -- what we publish ---------------------------------------------------------------------------
    async def signed_trust_list(self) -> str:
        """The trust list as a compact JWS (ES256, `kid` of our JWKS), valid for a day."""
        await self.trust.refresh()
        now = self.platform.clock.now()
        claims = {"iss": self.platform.settings.health_code.issuer, "iat": int(now.timestamp()),
                  "exp": int(now.timestamp()) + TRUST_LIST_TTL, **self.trust.document(now)}
        key = self.platform.keys.current
        return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "trust-list+jwt"})

    def format_document(self) -> dict[str, Any]:
        """Everything an offline verifier needs besides the JWKS (the README explains it in prose)."""
        rules = self.health.rules
        reasons = {str(r.code): dict(r.text) for r in rules.all_reasons()}
        return {
            "issuer": self.platform.settings.health_code.issuer,
            "jwks": "/.well-known/jwks.json",
            "pipeline": "PREFIX + base45(COSE_Sign1 ES256, kid in protected header), inflated first when it starts "
                        "with a zlib header (0x78) ; CWT claims 1 iss, 4 exp, 6 iat ; fits a QR of version 10 at level Q",
            "formats": {
                codec.PREFIX: {"claims_key": codec.CLAIMS_KEY, "claims": {
                    "1": "code id (bytes)", "2": "colour index", "3": "reason codes as a bit set (bit n: code n)",
                    "4": "masked name: * and the last character",
                    "5": "only on converted codes: the partner's id, e.g. MO (the source code is kept with the code id; "
                         "older codes: true)",
                    "6": "only in a partner's code: holder tag, HMAC-SHA256(holder key shared with us, 'GDHC1-holder' 00 "
                         "code id 00 standardised name 00 YYYY-MM-DD)[:6]"}},
                BORDER_PASS_PREFIX: {"claims_key": BORDER_PASS_KEY, "audience_claim": CWT_AUD, "claims": {
                    "1": "pass id (bytes)", "2": "colour index", "4": "masked name: * and the last character",
                    "5": "document type (1 resident_id, 2 exit_entry_permit)", "6": "last 4 of the document number"}},
            },
            "colours": list(codec.COLOURS),
            "reasons": reasons,
            "rule_version": rules.version,
            "max_lifetime_seconds": self.platform.settings.health_code.ttl,
        }

    # -- outbound: a partner verifies our codes ---------------------------------------------------
    async def calling_partner(self, client: AuthenticatedClient) -> PartnerView:
        await self.trust.refresh()
        partner = self.trust.partner(client.id)
        if partner is None:
            raise Forbidden("PARTNER_NOT_REGISTERED")
        if not partner.active:
            raise Forbidden("CLIENT_SUSPENDED")
        return partner

    async def _count_codes(self, partner: PartnerView, count: int) -> None:
        """Rate limit per minute and quota per day, both counted in codes, not requests."""
        await ratelimit.hit_all(self.platform.cache, self.platform.clock, [
            ratelimit.Limit(f"partner:{partner.id}:codes", partner.rate_limit_per_minute, 60),
            ratelimit.Limit(f"partner:{partner.id}:quota", partner.daily_quota, 86400, code="QUOTA_EXCEEDED"),
        ], amount=count)

    async def verify_for_partner(self, client: AuthenticatedClient, codes: Sequence[str]) -> list[PartnerVerification]:
        """Verify up to 100 of our codes for a partner; each is audited and reaches its holder's access log."""
        partner = await self.calling_partner(client)
        if not 1 <= len(codes) <= MAX_BATCH:
            raise ValidationFailed([{"field": "codes", "problem": f"1 to {MAX_BATCH} codes"}])
        await self._count_codes(partner, len(codes))
        checked = await self.health.verify_many(list(codes))
        results, records = [], []
        for text, (outcome, holder) in zip(codes, checked):
            if isinstance(outcome, CodeError) and outcome.code == "BAD_PREFIX" and OTHER_FORMAT.match(text):
                outcome = CodeError("UNSUPPORTED_FORMAT")
            if isinstance(outcome, StatusChanged) and holder:
                results.append(PartnerVerification(False, outcome.code, current_color=outcome.colour_now,
                                                   current_partner_color=partner.their_word_for(outcome.colour_now)))
                records.append(audit.access(citizen_id=holder, actor=partner.name, actor_type="partner",
                                            action="health_code_verified", attributes=["current_color"],
                                            purpose=f"跨境互认查验（{partner.id} · 码 {outcome.code_id.hex()} · 状态已变更）"))
                continue
            if isinstance(outcome, CodeError):
                results.append(PartnerVerification(False, outcome.code))
                records.append(audit.event(actor=partner.id, actor_type="partner", action="partner_verification",
                                           attributes={"code": code_ref(text), "result": outcome.code}))
                continue
            results.append(PartnerVerification(True, None, outcome.colour, partner.their_word_for(outcome.colour),
                                               outcome.issuer, outcome.expires_at, outcome.subject_masked))
            # One entry per code (the audit write is most of the cost of a batch): the holder's access
            # log names the partner, what it learned and which code; a code without a known holder is
            # still recorded as an event.
            if holder:
                records.append(audit.access(citizen_id=holder, actor=partner.name, actor_type="partner",
                                            action="health_code_verified", attributes=["color", "subject_masked"],
                                            purpose=f"跨境互认查验（{partner.id} · 码 {outcome.code_id.hex()}）"))
            else:
                records.append(audit.event(actor=partner.id, actor_type="partner", action="partner_verification",
                                           attributes={"code": outcome.code_id.hex(), "result": "valid"}))
        await audit.record_all(self.platform.clock, records)
        for result in results:
            metrics.verification("partner", result.error or "valid")
        return results

    async def publish_revocations(self, client: AuthenticatedClient, hashes: Sequence[str]) -> int:
        """A partner revokes its own codes by hashed identifier; returns how many were new."""
        partner = await self.calling_partner(client)
        bad = [i for i, h in enumerate(hashes) if not SHA256_HEX.match(h)]
        if bad or not 1 <= len(hashes) <= 1000:
            raise ValidationFailed([{"field": f"hashes.{bad[0]}" if bad else "hashes",
                                     "problem": "1-1000 lowercase hex SHA-256 hashes of code identifiers"}])
        existing = set(await RevokedPartnerCode.filter(partner_id=partner.id, code_hash__in=list(hashes))
                       .values_list("code_hash", flat=True))
        new = sorted(set(hashes) - existing)
        now = self.platform.clock.now()
        await RevokedPartnerCode.bulk_create([RevokedPartnerCode(partner_id=partner.id, code_hash=h, revoked_at=now)
                                              for h in new], ignore_conflicts=True)
        await audit.record_event(self.platform.clock, actor=partner.id, actor_type="partner", action="partner_codes_revoked",
                                 attributes={"count": len(new)})
        return len(new)

    # -- inbound: we verify and convert a partner's code --------------------------------------------
    async def read_partner_code(self, text: str) -> tuple[PartnerView, ForeignStatus, str]:
        """Check a partner's code against the trust list; returns the partner, its status, our colour."""
        await self.trust.refresh()
        adapter = detect_format(text, self.adapters)
        decoded = adapter.decode(text)
        partner = self.trust.partner(decoded.issuer or "")
        if partner is None:
            raise CodeError("UNKNOWN_PARTNER")
        if not partner.active:
            raise CodeError("PARTNER_SUSPENDED")
        if adapter.name not in partner.formats:
            raise CodeError("FORMAT_NOT_ACCEPTED")
        key = adapter.verify(decoded, self.trust.find_key, self.platform.clock.timestamp())
        self.trust.check_signed_while_current(key.kid, decoded.issued_at)
        if key.issuer != partner.id:
            raise CodeError("ISSUER_MISMATCH")  # a partner's key signs only that partner's codes
        status = adapter.to_status(decoded)
        if await RevokedPartnerCode.exists(partner_id=partner.id, code_hash__in=list(status.revocation_hashes)):
            raise CodeError("REVOKED")
        colour = partner.status_mapping.get(status.state)
        if colour is None:
            raise CodeError("STATE_NOT_MAPPED")
        return partner, status, colour

    async def convert(self, citizen: CitizenSnapshot, text: str, consent: bool) -> Conversion:
        """转码: the citizen presents a partner's code; we issue a local code with its provenance."""
        if not consent:
            raise AppError("CONSENT_REQUIRED", status=422)
        try:
            partner, status, colour = await self.read_partner_code(text)
            name = self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else ""
            id_number = self.platform.pii.decrypt(citizen.id_number_enc, "id_number") if citizen.id_number_enc else ""
            born = document_birth_date(self.platform, citizen)
            birth = born.isoformat() if born else None
            accepted, stopped = await self.partners.holder_keys_for_checking(partner.id) \
                if "holder_tag" in status.subject else ([], [])
            if "holder_tag" in status.subject and not accepted and not stopped:
                raise CodeError("HOLDER_KEY_NOT_AGREED")
            matched = subject_matches(status.subject, name, id_number, status.code_id, accepted, birth)
            if matched is None:
                raise CodeError("HOLDER_NOT_BOUND" if status.format == "GDHC1" else "SUBJECT_NOT_PRESENT")
            if not matched:
                # The holder's own code under a key the partner no longer may use is not "someone else's".
                under_stopped = stopped and subject_matches(status.subject, name, id_number, status.code_id, stopped,
                                                            birth)
                raise CodeError("HOLDER_KEY_STOPPED" if under_stopped else "SUBJECT_MISMATCH")
        except CodeError as error:
            metrics.verification("inbound", error.code)
            await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="partner_code_refused",
                                     subject_id=citizen.id, attributes={"code": code_ref(text), "error": error.code})
            raise AppError(error.code, status=422) from None
        metrics.verification("inbound", "valid")
        provenance = (partner.id, hashlib.sha256(status.code_id.encode()).digest()[:8], status.state)
        code, _ = await self.health.issue_converted_code(citizen, colour, status.expires_at, provenance)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="partner_code_converted",
                                 subject_id=citizen.id, purpose="consent given for this conversion",
                                 attributes={"partner": partner.id, "format": status.format, "source_state": status.state,
                                             "source_code": status.revocation_hash[:16], "color": code.colour,
                                             "consent": True})
        return Conversion(code, partner, status, colour)

    # -- border pass ---------------------------------------------------------------------------------
    async def check_border_passes(self, client: AuthenticatedClient, passes: Sequence[str]) -> list[BorderPassCheck]:
        """A partner checks border passes meant for it online: the offline checks (signature, audience,
        expiry) and the holder's status now. A pass issued before its holder's status turned worse
        answers STATUS_CHANGED with the colour now. Each check reaches the holder's access log."""
        partner = await self.calling_partner(client)
        if not 1 <= len(passes) <= MAX_BATCH:
            raise ValidationFailed([{"field": "passes", "problem": f"1 to {MAX_BATCH} passes"}])
        await self._count_codes(partner, len(passes))
        now = self.platform.clock.timestamp()
        read: list[Mapping[Any, Any] | CodeError] = []
        for text in passes:
            try:
                read.append(verify_border_pass(text, self.platform.keys.public_key_for, now, partner.id))
            except CodeError as error:
                read.append(error)
        holders = await self.health.holders_of([claims[BORDER_PASS_KEY][1] for claims in read if isinstance(claims, dict)])
        results, records = [], []
        for text, claims in zip(passes, read):
            holder = holders.get(claims[BORDER_PASS_KEY][1]) if isinstance(claims, dict) else None
            result = self._border_pass_check(partner, claims, holder)
            results.append(result)
            metrics.verification("border_pass", result.error or "valid")
            if holder is not None and holder.status_changed_to != REVOKED and isinstance(claims, dict):
                shown = ["current_color"] if result.current_color else ["color", "subject_masked", "document_last4"]
                records.append(audit.access(
                    citizen_id=holder.citizen_id, actor=partner.name, actor_type="partner",
                    action="border_pass_verified", attributes=shown,
                    purpose=f"通关凭证查验（{partner.id} · 凭证 {claims[BORDER_PASS_KEY][1].hex()}）"))
            else:
                records.append(audit.event(actor=partner.id, actor_type="partner", action="border_pass_verification",
                                           attributes={"pass": code_ref(text), "result": result.error or "valid"}))
        await audit.record_all(self.platform.clock, records)
        return results

    @staticmethod
    def _border_pass_check(partner: PartnerView, claims: Mapping[Any, Any] | CodeError,
                           holder: Holder | None) -> BorderPassCheck:
        if isinstance(claims, CodeError):
            return BorderPassCheck(False, claims.code)
        if holder is None:  # signed by us, but whose it is is not known (older than the record of passes)
            return BorderPassCheck(False, "STATUS_UNKNOWN")
        if holder.status_changed_to == REVOKED:  # its holder's account was erased
            return BorderPassCheck(False, REVOKED_ERROR)
        if holder.status_changed_to is not None:
            return BorderPassCheck(False, "STATUS_CHANGED", current_color=holder.status_changed_to,
                                   current_partner_color=partner.their_word_for(holder.status_changed_to))
        body = claims[BORDER_PASS_KEY]
        colour = codec.COLOURS[body[2]]
        return BorderPassCheck(True, None, colour, partner.their_word_for(colour), int(claims[codec.CWT_EXP]), body[4],
                               DOCUMENT_NAMES.get(body[5]), body[6])

    async def border_pass(self, citizen: CitizenSnapshot, partner_id: str, document_type: str,
                          document_number: str | None) -> BorderPass:
        await self.trust.refresh()
        partner = self.trust.partner(partner_id)
        if partner is None or not partner.active:
            raise NotFound("PARTNER_NOT_FOUND")
        if document_type in ("resident_id", citizen.document_type):
            # The document bound to the account, whichever it is ("resident_id", what older clients send, included).
            document_type = citizen.document_type
            number = self.platform.pii.decrypt(citizen.id_number_enc, "id_number") if citizen.id_number_enc else ""
        elif document_type == "exit_entry_permit":
            number = (document_number or "").strip().upper()
            if not PERMIT_NUMBER.match(number):
                raise ValidationFailed([{"field": "document_number", "problem": "9 letters/digits, e.g. C12345678"}])
        else:
            raise ValidationFailed([{"field": "document_type",
                                     "problem": f"exit_entry_permit or the document bound: {citizen.document_type}"}])
        status = await self.health.status(citizen.id)
        now = int(self.platform.clock.timestamp())
        expires_at = lasting(status, now + self.platform.settings.health_code.border_pass_ttl)
        name = codec.masked_name(self.platform.pii.decrypt(citizen.name_enc, "name") if citizen.name_enc else "")
        pass_id = os.urandom(6)
        claims = border_pass_claims(self.platform.settings.health_code.issuer, partner.id, now, expires_at, pass_id,
                                    status.colour, name, document_type, number)
        key = self.platform.keys.current
        payload = codec.sign_cwt(claims, key.private_key, key.kid_bytes, BORDER_PASS_PREFIX)
        await self.health.remember_border_pass(pass_id, citizen.id, status.colour, now, expires_at)
        await audit.record_event(self.platform.clock, actor=citizen.id, actor_type="citizen", action="border_pass_issued",
                                 subject_id=citizen.id, attributes={"partner": partner.id, "document_type": document_type,
                                                                    "pass": pass_id.hex()})
        return BorderPass(payload, pass_id.hex(), partner.id, status.colour, name, document_type, number[-4:], now,
                          expires_at)


@dataclass(frozen=True)
class BorderPassCheck:
    """One result of a partner's online check of border passes: the pass, and the holder's status now."""

    valid: bool
    error: str | None = None
    color: str | None = None
    partner_color: str | None = None
    expires_at: int | None = None
    subject_masked: str | None = None
    document_type: str | None = None
    document_last4: str | None = None
    current_color: str | None = None
    current_partner_color: str | None = None


DOCUMENT_NAMES = {number: name for name, number in DOCUMENT_TYPES.items()}


def border_pass_claims(issuer: str, partner_id: str, issued_at: int, expires_at: int, pass_id: bytes, colour: str,
                       masked_name: str, document_type: str, document_number: str) -> dict[Any, Any]:
    """The CWT of a border pass. No reasons: a partner at the border is shown the colour, not why (and the
    pass fits a QR of version 10 at level Q)."""
    return {
        codec.CWT_ISS: issuer, CWT_AUD: partner_id, codec.CWT_EXP: expires_at, codec.CWT_IAT: issued_at,
        BORDER_PASS_KEY: {1: pass_id, 2: codec.COLOURS.index(colour), 4: masked_name,
                          5: DOCUMENT_TYPES[document_type], 6: document_number[-4:]},
    }


def verify_border_pass(payload: str, find_key: codec.KeyFinder, now: float, partner_id: str) -> Mapping[Any, Any]:
    """What a partner does offline with our JWKS: check a border pass meant for it."""
    claims = codec.verify_cwt(payload, find_key, BORDER_PASS_PREFIX)
    if claims.get(CWT_AUD) != partner_id:
        raise CodeError("WRONG_AUDIENCE")
    if int(claims.get(codec.CWT_EXP, 0)) <= now:
        raise CodeError("EXPIRED")
    return claims

