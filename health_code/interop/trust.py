"""The trust list (信任列表): which partner keys we accept, read by every verification.

A snapshot of partners and keys is kept per process and reloaded when the shared version
counter in the cache moves, so a key revoked on one worker stops verifying on every worker
at once, while a batch of 100 codes costs one cache read, not 100 database queries.

A key retired from a partner's published keys verifies only codes issued (`iat`) before its retirement, and
nothing at all once `RETIRED_GRACE` has passed since it was retired, whatever a code's own `exp` says: whoever
still holds a retired private key could otherwise backdate `iat` and set a far `exp`, and sign without end.
In the snapshot its `not_after` is brought forward to that time, so every format refuses it (KEY_NOT_VALID).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from app.cache import Cache
from app.clock import rfc3339
from app.security import jwk
from app.security.keys import b64url, b64url_decode
from health_code.codec import CodeError
from health_code.interop.dcc import trusted_key_from_certificate
from health_code.interop.formats import TrustedKey
from health_code.interop.models import Partner, PartnerKey

VERSION_KEY = "interop:trust-version"
VERSION_TTL = 30 * 24 * 3600
# How long after its retirement a retired key still verifies the codes it signed before it (their holders have
# had that long to get a code signed by the partner's current key).
RETIRED_GRACE = timedelta(days=7)


@dataclass(frozen=True)
class PartnerView:
    """What verification needs of a partner, without an ORM object."""

    id: str
    name: str
    status: str
    formats: tuple[str, ...]
    status_mapping: Mapping[str, str]
    color_words: Mapping[str, str]
    rate_limit_per_minute: int
    daily_quota: int

    @property
    def active(self) -> bool:
        return self.status == "active"

    def their_word_for(self, colour: str) -> str:
        """Our colour in the partner's vocabulary."""
        return self.color_words.get(colour, colour)


@dataclass(frozen=True)
class ListedKey:
    trusted: TrustedKey
    partner_id: str
    revoked: bool
    # Left the partner's published keys: signs nothing after this, verifies nothing after this + RETIRED_GRACE.
    retired_at: datetime | None = None


def trusted_key(row: PartnerKey) -> TrustedKey:
    usages = frozenset(row.usages) if row.usages is not None else None
    if row.certificate:
        cert_key = trusted_key_from_certificate(base64.b64decode(row.certificate), issuer=row.partner_id)
        # The row may narrow what the certificate allows (a partner's keys document did), never widen it.
        if cert_key.usages is not None:
            usages = cert_key.usages if usages is None else usages & cert_key.usages
        return TrustedKey(cert_key.kid, cert_key.public_key, row.partner_id, row.not_before, row.not_after, usages)
    return TrustedKey(b64url_decode(row.kid), jwk.public_key_from_jwk(row.jwk, allow_rsa=True), row.partner_id, row.not_before,
                      row.not_after, usages)


def bounded_by_retirement(key: TrustedKey, retired_at: datetime | None) -> TrustedKey:
    """A retired key valid until RETIRED_GRACE after its retirement at the latest (sooner if its own validity ends)."""
    if retired_at is None:
        return key
    last = retired_at + RETIRED_GRACE
    return key if key.not_after is not None and key.not_after <= last else replace(key, not_after=last)


class PartnerTrustList:
    """Partners and their code-signing keys, as one verification sees them."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._version: str | None = None
        self._partners: dict[str, PartnerView] = {}
        self._keys: dict[bytes, ListedKey] = {}

    async def changed(self) -> None:
        """Call after any change to partners or keys: every worker reloads before its next use."""
        # A fresh random token, not a counter: after a cache flush a counter would repeat a value
        # some worker already holds, and that worker would keep a revoked key.
        await self.cache.set(VERSION_KEY, uuid.uuid4().hex, ttl=VERSION_TTL)

    async def refresh(self) -> None:
        version = await self.cache.get(VERSION_KEY)
        if version is None:  # flushed or expired: everyone reloads, then agrees on a new token
            await self.cache.set_if_absent(VERSION_KEY, uuid.uuid4().hex, ttl=VERSION_TTL)
            version = await self.cache.get(VERSION_KEY)
            self._version = None
        if version is not None and version == self._version:
            return
        partners = {p.id: PartnerView(p.id, p.name, p.status, tuple(p.formats), dict(p.status_mapping),
                                      dict(p.color_words), p.rate_limit_per_minute, p.daily_quota)
                    for p in await Partner.all()}
        keys: dict[bytes, ListedKey] = {}
        for row in await PartnerKey.all():
            listed = ListedKey(bounded_by_retirement(trusted_key(row), row.retired_at), row.partner_id,
                               row.revoked_at is not None, row.retired_at)
            keys[listed.trusted.kid] = listed
        self._partners, self._keys, self._version = partners, keys, version

    def partner(self, partner_id: str) -> PartnerView | None:
        return self._partners.get(partner_id)

    def find_key(self, kid: bytes) -> TrustedKey | None:
        """The key lookup handed to format adapters: revoked keys and suspended partners fail at once."""
        listed = self._keys.get(kid)
        if listed is None:
            return None
        if listed.revoked:
            raise CodeError("KEY_REVOKED")
        partner = self._partners.get(listed.partner_id)
        if partner is None or not partner.active:
            raise CodeError("PARTNER_SUSPENDED")
        return listed.trusted

    def check_signed_while_current(self, kid: bytes, issued_at: float | None) -> None:
        """A retired key verifies only codes issued before it was retired (each until its own expiry, and none
        after the key's validity, which ends RETIRED_GRACE after its retirement)."""
        listed = self._keys.get(kid)
        if listed is None or listed.retired_at is None:
            return
        if issued_at is None or issued_at >= listed.retired_at.timestamp():
            raise CodeError("KEY_RETIRED")

    def document(self, now: datetime) -> dict[str, Any]:
        """The trust list as published: every active partner and its keys with their validity."""
        entries: list[dict[str, Any]] = []
        for partner in sorted(self._partners.values(), key=lambda p: p.id):
            if not partner.active:
                continue
            keys = [_published_key(listed) for listed in self._keys.values()
                    if listed.partner_id == partner.id and not listed.revoked]
            entries.append({"id": partner.id, "name": partner.name, "formats": list(partner.formats),
                            "status_mapping": dict(partner.status_mapping),
                            "color_words": dict(partner.color_words), "keys": sorted(keys, key=lambda k: k["kid"])})
        return {"partners": entries}


def _published_key(listed: ListedKey) -> dict[str, Any]:
    key = listed.trusted
    return {
        "kid": b64url(key.kid),
        "not_before": rfc3339(key.not_before) if key.not_before else None,
        "not_after": rfc3339(key.not_after) if key.not_after else None,
        "usages": sorted(key.usages) if key.usages is not None else None,
        # Retired: it verifies only codes issued (iat) before this time, and none after not_after (RETIRED_GRACE
        # after this at the latest).
        "retired_at": rfc3339(listed.retired_at) if listed.retired_at else None,
        "jwk": jwk.jwk_of(key.public_key),
    }
