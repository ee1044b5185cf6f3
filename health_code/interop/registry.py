"""The partner registry (互认伙伴登记): admins register partner regions, their keys and their vocabulary.

Two kinds of keys per partner, kept apart on purpose:
- API keys (ES256 JWK) sign the JWTs the partner calls our partner API with; they are the
  partner's `ApiClient` keys, `iss` = the partner id.
- Code-signing keys (JWK, or an X.509 certificate for EU DCC signers) sign the partner's
  health codes; they form the trust list, each valid from `not_before` until `not_after`.
- Holder keys are secrets shared with the partner: they key the holder tags in its codes
  (health_code.holder), so that only the two regions can tell whose a code is. Made here, shown once.
Every change is audited and bumps the trust-list version, so all workers see it at once.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from cryptography.hazmat.primitives import serialization
from tortoise.transactions import in_transaction

from app import audit
from app.errors import AppError, Conflict, NotFound, ValidationFailed
from app.platform import Platform
from app.security.clients import (ApiClient, ApiClientKey, AuthenticatedClient, check_client_key, forget_client,
                                  revoke_client_key)
from app.security.cose import MAX_KID_BYTES
from app.security.jwk import jwk_of, public_key_from_jwk, public_members
from app.security.keys import b64url, b64url_decode
from health_code.codec import COLOURS
from health_code.interop import default_adapters
from health_code.interop.dcc import trusted_key_from_certificate
from health_code.holder import KEY_BYTES
from health_code.interop.models import Partner, PartnerHolderKey, PartnerKey
from health_code.interop.trust import PartnerTrustList

PARTNER_ID = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")  # ISO 3166-1 / 3166-2, e.g. MO, HK, CN-GX
PARTNER_STATUSES = ("active", "suspended")
USAGES = ("t", "v", "r")
# A replaced holder key still checks codes this long: a partner's codes issued before it switched keys
# (a GDHC1 code lives minutes, a printed one days) and its verifiers that switch a little late.
HOLDER_KEY_OVERLAP = timedelta(days=7)


def narrowed_usages(allowed: list[str] | None, stated: Sequence[str]) -> list[str]:
    """What a certificate key may sign when its registration states usages too: the types stated that the
    certificate allows (all of them when the certificate allows any); none when they have none in common.
    A registration narrows a certificate, never widens it."""
    return sorted(set(stated) if allowed is None else set(stated) & set(allowed))


def _later(stated: datetime | None, certified: datetime | None) -> datetime | None:
    """A validity start stated beside a certificate narrows the certificate's, never widens it."""
    return max(stated, certified) if stated and certified else stated or certified


def _earlier(stated: datetime | None, certified: datetime | None) -> datetime | None:
    return min(stated, certified) if stated and certified else stated or certified


def _holder_key_context(partner_id: str, key_id: str) -> str:
    """Bound into a holder key's ciphertext, so that one stored for another partner or row does not decrypt."""
    return f"partner_holder_key:{partner_id}:{key_id}"


def _invalid(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "problem": problem}])


class PartnerRegistry:
    def __init__(self, platform: Platform, trust: PartnerTrustList) -> None:
        self.platform = platform
        self.trust = trust

    async def register(self, admin: AuthenticatedClient, *, partner_id: str, name: str, formats: Sequence[str],
                       status_mapping: Mapping[str, str], rate_limit_per_minute: int, daily_quota: int,
                       contact: Mapping[str, str], api_keys: Sequence[Mapping[str, Any]],
                       signing_keys: Sequence[Mapping[str, Any]],
                       color_words: Mapping[str, str] | None = None) -> Partner:
        """Register a partner region with its vocabulary, limits, API keys and code-signing keys."""
        if not PARTNER_ID.match(partner_id):
            raise _invalid("id", "an ISO 3166 code such as MO, HK or CN-GX")
        _check_formats(formats)
        _check_mapping(status_mapping)
        if not api_keys:
            raise _invalid("api_keys", "at least one key to sign API calls with")
        if await Partner.exists(id=partner_id) or await ApiClient.exists(id=partner_id):
            raise Conflict("PARTNER_EXISTS")
        api_pems = [(_api_kid(jwk, i), _pem_of(jwk, f"api_keys.{i}")) for i, jwk in enumerate(api_keys)]
        code_keys = [self.signing_key_row(partner_id, spec, f"signing_keys.{i}") for i, spec in enumerate(signing_keys)]
        if len({row["kid"] for row in code_keys}) != len(code_keys):
            raise _invalid("signing_keys", "each kid once")
        for row in code_keys:
            await _check_kid_unused(row["kid"])
        now = self.platform.clock.now()
        async with in_transaction():
            partner = await Partner.create(id=partner_id, name=name, formats=list(formats),
                                           status_mapping=dict(status_mapping),
                                           color_words=_color_words(status_mapping, color_words),
                                           rate_limit_per_minute=rate_limit_per_minute, daily_quota=daily_quota,
                                           contact=dict(contact), created_at=now, updated_at=now)
            client = await ApiClient.create(id=partner_id, name=name, audience="partner", roles=["partner"],
                                            created_at=now)
            for kid, pem in api_pems:
                await ApiClientKey.create(client=client, kid=kid, public_key_pem=pem, created_at=now)
            for row in code_keys:
                await self._store_key(partner_id, row)
        await self.trust.changed()
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_registered",
                                 attributes={"partner": partner_id, "signing_keys": [r["kid"] for r in code_keys],
                                             "api_keys": [k for k, _ in api_pems]})
        return partner

    async def get(self, partner_id: str) -> Partner:
        partner = await Partner.get_or_none(id=partner_id)
        if partner is None:
            raise NotFound("PARTNER_NOT_FOUND")
        return partner

    async def keys_of(self, partner_id: str) -> list[PartnerKey]:
        return await PartnerKey.filter(partner_id=partner_id).order_by("created_at", "id")

    async def update(self, admin: AuthenticatedClient, partner_id: str, changes: Mapping[str, Any]) -> Partner:
        """Suspend or reactivate a partner, or change its vocabulary, limits or contact."""
        partner = await self.get(partner_id)
        if "status" in changes and changes["status"] not in PARTNER_STATUSES:
            raise _invalid("status", "active or suspended")
        if "formats" in changes:
            _check_formats(changes["formats"])
        if "status_mapping" in changes:
            _check_mapping(changes["status_mapping"])
        changes = dict(changes)
        if "status_mapping" in changes or "color_words" in changes:
            changes["color_words"] = _color_words(changes.get("status_mapping", partner.status_mapping),
                                                  changes.get("color_words", partner.color_words))
        for name, value in changes.items():
            setattr(partner, name, value)
        partner.updated_at = self.platform.clock.now()
        async with in_transaction():
            await partner.save()
            if "status" in changes:
                # A suspended partner can neither call us nor have its codes accepted.
                await ApiClient.filter(id=partner_id).update(active=changes["status"] == "active")
        if "status" in changes:  # the only change here to its API client: others leave the cached client as it is
            await forget_client(self.platform.cache, partner_id)
        await self.trust.changed()
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_updated",
                                 attributes={"partner": partner_id, "changed": sorted(changes)})
        return partner

    async def add_signing_key(self, admin: AuthenticatedClient, partner_id: str, spec: Mapping[str, Any]) -> PartnerKey:
        """Rotation: the new key is added beside the old ones, which verify until their own not_after."""
        await self.get(partner_id)
        row = self.signing_key_row(partner_id, spec, "body")
        await _check_kid_unused(row["kid"])
        key = await self._store_key(partner_id, row)
        await self.trust.changed()
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_key_added",
                                 attributes={"partner": partner_id, "kid": row["kid"]})
        return key

    async def revoke_signing_key(self, admin: AuthenticatedClient, partner_id: str, kid: str) -> PartnerKey:
        """A revoked key fails at once, whatever its validity said."""
        key = await PartnerKey.get_or_none(partner_id=partner_id, kid=kid)
        if key is None:
            raise NotFound("PARTNER_KEY_NOT_FOUND")
        if key.revoked_at is None:
            key.revoked_at = self.platform.clock.now()
            await key.save(update_fields=["revoked_at"])
            await self.trust.changed()
            await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_key_revoked",
                                     attributes={"partner": partner_id, "kid": kid})
        return key

    async def add_api_key(self, admin: AuthenticatedClient, partner_id: str, jwk: Mapping[str, Any],
                          expires_at: datetime | None) -> ApiClientKey:
        await self.get(partner_id)
        kid = _api_kid(jwk, 0)
        if await ApiClientKey.exists(client_id=partner_id, kid=kid):
            raise Conflict("PARTNER_KEY_EXISTS")
        key = await ApiClientKey.create(client_id=partner_id, kid=kid, public_key_pem=_pem_of(jwk, "jwk"),
                                        created_at=self.platform.clock.now(), expires_at=expires_at)
        await forget_client(self.platform.cache, partner_id)
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_api_key_added",
                                 attributes={"partner": partner_id, "kid": kid})
        return key

    async def revoke_api_key(self, admin: AuthenticatedClient, partner_id: str, kid: str) -> None:
        updated = await revoke_client_key(self.platform.clock, self.platform.cache, partner_id, kid)
        if not updated and not await ApiClientKey.exists(client_id=partner_id, kid=kid):
            raise NotFound("PARTNER_KEY_NOT_FOUND")
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_api_key_revoked",
                                 attributes={"partner": partner_id, "kid": kid})

    async def make_holder_key(self, admin: AuthenticatedClient, partner_id: str) -> tuple[PartnerHolderKey, bytes]:
        """A new holder key for the partner, returned once with its secret; the current one is accepted
        HOLDER_KEY_OVERLAP longer, then no more."""
        await self.get(partner_id)
        secret, now = secrets.token_bytes(KEY_BYTES), self.platform.clock.now()
        key_id = b64url(secrets.token_bytes(9))
        async with in_transaction():
            # The partner row is the lock: two admins making a key at once leave one current key, not two.
            await Partner.filter(id=partner_id).select_for_update().first()
            replaced = await PartnerHolderKey.filter(partner_id=partner_id, accepted_until=None)
            await PartnerHolderKey.filter(id__in=[k.id for k in replaced]).update(accepted_until=now + HOLDER_KEY_OVERLAP)
            key = await PartnerHolderKey.create(partner_id=partner_id, key_id=key_id, created_at=now,
                                                key_enc=self.platform.pii.encrypt(b64url(secret),
                                                                           _holder_key_context(partner_id, key_id)))
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_holder_key_made",
                                 attributes={"partner": partner_id, "key_id": key.key_id,
                                             "replaced": [k.key_id for k in replaced]})
        return key, secret

    async def holder_keys_of(self, partner_id: str) -> list[PartnerHolderKey]:
        await self.get(partner_id)
        return await PartnerHolderKey.filter(partner_id=partner_id).order_by("created_at", "id")

    async def withdraw_holder_key(self, admin: AuthenticatedClient, partner_id: str, key_id: str) -> PartnerHolderKey:
        """A withdrawn holder key (leaked, or the partner has switched) checks no code from now on."""
        key = await PartnerHolderKey.get_or_none(partner_id=partner_id, key_id=key_id)
        if key is None:
            raise NotFound("PARTNER_KEY_NOT_FOUND")
        now = self.platform.clock.now()
        if key.accepted_until is None or key.accepted_until > now:
            key.accepted_until = now
            await key.save(update_fields=["accepted_until"])
            await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin",
                                     action="partner_holder_key_withdrawn",
                                     attributes={"partner": partner_id, "key_id": key_id})
        return key

    async def holder_keys_for_checking(self, partner_id: str) -> tuple[list[bytes], list[bytes]]:
        """The secrets that may key the holder tag of a code the partner issued (newest first), and those that
        no longer may (replaced past their overlap, or withdrawn): a tag under one of those is told apart
        from a tag for someone else."""
        now = self.platform.clock.now()
        accepted: list[bytes] = []
        stopped: list[bytes] = []
        for key in await PartnerHolderKey.filter(partner_id=partner_id).order_by("-created_at", "-id"):
            secret = b64url_decode(self.platform.pii.decrypt(key.key_enc, _holder_key_context(partner_id, key.key_id)))
            (accepted if key.accepted_until is None or key.accepted_until > now else stopped).append(secret)
        return accepted, stopped

    # -- helpers ---------------------------------------------------------------------------------
    def signing_key_row(self, partner_id: str, spec: Mapping[str, Any], field: str) -> dict[str, Any]:
        not_before, not_after = spec.get("not_before"), spec.get("not_after")
        if not_before and not_after and not_after <= not_before:
            raise _invalid(f"{field}.not_after", "must be after not_before")
        usages = spec.get("usages")
        if usages is not None and not set(usages) <= set(USAGES):
            raise _invalid(f"{field}.usages", "t, v and/or r")
        if spec.get("certificate"):
            try:
                der = base64.b64decode(spec["certificate"], validate=True)
                from_cert = trusted_key_from_certificate(der, issuer=partner_id)
            except ValueError:
                raise _invalid(f"{field}.certificate", "base64 DER of an X.509 certificate") from None
            allowed = sorted(from_cert.usages) if from_cert.usages is not None else None
            return {"kid": b64url(from_cert.kid), "jwk": jwk_of(from_cert.public_key),
                    "certificate": spec["certificate"],
                    "usages": allowed if usages is None else narrowed_usages(allowed, usages),
                    "not_before": _later(not_before, from_cert.not_before),
                    "not_after": _earlier(not_after, from_cert.not_after)}
        jwk = spec.get("jwk")
        if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kid"), str):
            raise _invalid(f"{field}.jwk", "a public JWK with kid (base64url of the kid bytes in the codes)")
        try:
            kid_bytes = b64url_decode(jwk["kid"])
            public_key_from_jwk(jwk, allow_rsa=True)
        except ValueError as error:
            raise _invalid(f"{field}.jwk", str(error)) from None
        if not 1 <= len(kid_bytes) <= MAX_KID_BYTES:
            raise _invalid(f"{field}.jwk.kid", f"1 to {MAX_KID_BYTES} bytes, base64url")
        return {"kid": b64url(kid_bytes), "jwk": public_members(jwk), "certificate": None, "usages": usages,
                "not_before": not_before, "not_after": not_after}

    async def _store_key(self, partner_id: str, row: dict[str, Any]) -> PartnerKey:
        return await PartnerKey.create(partner_id=partner_id, created_at=self.platform.clock.now(), **row)


async def _check_kid_unused(kid: str) -> None:
    """A kid names one key across the whole trust list: a second partner cannot shadow the first's key."""
    if await PartnerKey.exists(kid=kid):
        raise Conflict("PARTNER_KEY_EXISTS")


def _color_words(mapping: Mapping[str, str], given: Mapping[str, str] | None) -> dict[str, str]:
    """Our colours in the partner's words: as given, else the first of its states (in the order it
    registered them) that maps to each colour. Stored, because JSON columns may not keep key order."""
    words = {colour: state for state, colour in reversed(list(mapping.items()))}
    words.update(given or {})
    return {colour: words[colour] for colour in COLOURS if colour in words}


def _check_formats(formats: Sequence[str]) -> None:
    known = {adapter.name for adapter in default_adapters()}
    if not formats:
        raise _invalid("formats", f"one or more of {', '.join(sorted(known))}")
    if not set(formats) <= known:
        raise AppError("UNSUPPORTED_FORMAT", status=422,
                       extra={"unsupported": sorted(set(formats) - known), "supported": sorted(known)})


def _check_mapping(mapping: Mapping[str, str]) -> None:
    if not mapping or any(colour not in COLOURS for colour in mapping.values()):
        raise _invalid("status_mapping", "their states to green, yellow or red")


def _api_kid(jwk: Mapping[str, Any], index: int) -> str:
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 64:
        raise _invalid(f"api_keys.{index}.kid", "a kid of 1-64 characters")
    return kid


def _pem_of(jwk: Mapping[str, Any], field: str) -> str:
    try:
        key = public_key_from_jwk(jwk, allow_rsa=True)
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        check_client_key(pem)
    except ValueError as error:
        raise _invalid(field, f"an EC P-256 public JWK: {error}") from None
    return pem

