"""Partner key feeds (伙伴密钥发布): a partner publishes its code-signing keys, we apply them on a schedule.

The partner serves a keys document at a URL registered by an admin with its long-term publishing key:
a JWT (header `typ` = `partner-keys+jwt`, ES256 or PS256, signed by that key) whose claims are

    {"iss": "MO", "iat": 1764979200, "exp": 1765584000, "seq": 42,
     "keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "...", "kid": "<base64url of the kid bytes>",
               "nbf": 1764979200, "exp": 1796515200, "usages": ["v"], "x5c": ["<base64 DER>"]}]}

(`nbf`, `exp`, `usages` and `x5c` of a key are optional; with `x5c`, a DCC signer certificate, the kid is
the first 8 bytes of its SHA-256, and the key signs the certificate types both its certificate and `usages`
allow: a document may narrow what the certificate allows, never widen it). A document changes our trust list only when its signature verifies
with the registered long-term key, it is within `iat`..`exp`, and its `seq` is higher than that of the
last document applied, so an older document replayed cannot undo a newer one. A document with the sequence
of the last one applied is that document again (re-signed, say) only if it lists the same keys: otherwise
it is refused (SEQUENCE_REUSED), as a partner changing its keys must number the change.

Applying it: a listed key we do not hold is added; a listed key we hold takes the terms listed (usages,
validity, certificate: a partner may shorten a key's life or narrow what it signs); a key the feed listed before
and no longer lists is retired (it keeps verifying codes signed before its retirement, until their own expiry but
for no longer than `trust.RETIRED_GRACE` after the retirement); a retired key listed again is restored. The
manual override stays: a key an admin revoked is never re-added nor changed, and a key an admin added stays, on
its own terms, until an admin revokes it, unless the feed lists it (then the feed manages it).
Every change, and every refused document, leaves an audit entry.

In production a feed's host name is resolved before each fetch, every address it names must be a public one,
and the fetch connects to those very addresses (the name kept for Host and TLS), never resolving it again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.exceptions import DoesNotExist
from tortoise.transactions import in_transaction

from app import audit
from app.cache import LockNotAcquired, cache_lock
from app.errors import NotFound, ValidationFailed
from app.integrations import http_client, is_stand_in
from app.platform import Platform
from app.security.clients import AuthenticatedClient
from app.security.jwk import public_key_from_jwk, public_members
from health_code.interop.models import Partner, PartnerKey, PartnerKeyFeed
from health_code.interop.registry import PartnerRegistry
from health_code.interop.trust import PartnerTrustList

log = logging.getLogger("health_code.interop.key_feed")

DOCUMENT_TYPE = "partner-keys+jwt"
MAX_DOCUMENT_BYTES = 64 * 1024  # a document of 20 keys with certificates is ~30 KB
FETCH_TIMEOUT = 10.0  # seconds, connect and read
CLOCK_SKEW = 60  # seconds an `iat` may be ahead of our clock
MAX_KEYS = 20
FEED_ACTOR = "partner-key-feed"
PUBLISHED = "published"


class FeedReregistered(Exception):
    """An admin changed the feed's URL or publishing key while its document was being fetched and verified."""


class FeedRefused(Exception):
    """The keys document was not applied; `reason` is a short code kept in the feed's outcome and the audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeysDocument:
    sequence: int
    issued_at: datetime
    expires_at: datetime
    keys: list[Mapping[str, Any]]


@dataclass
class FeedChanges:
    added: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # kid: the terms (`KEY_TERMS`) it changed
    kept_revoked: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.added or self.retired or self.restored or self.changed)


def _invalid(field_name: str, problem: str) -> ValidationFailed:
    return ValidationFailed([{"field": field_name, "problem": problem}])


def check_feed_url(url: str, production: bool) -> str:
    """An absolute http(s) URL without credentials; https only, and not loopback, in production."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise _invalid("url", "an absolute https URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password \
            or parts.fragment:
        raise _invalid("url", "an absolute https URL, without user name, password or fragment")
    if production and (parts.scheme != "https" or is_stand_in(url) or not _may_be_public(parts.hostname)):
        raise _invalid("url", "https to the partner's own host in production")
    return url


def _may_be_public(host: str) -> bool:
    """False for an address literal that is not a public one (private, loopback, link-local, metadata, mapped...);
    a name is judged by what it resolves to, at each fetch (`public_addresses`)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return is_public_address(address)


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are the IPv4 address
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")  # a network's own translation: where it leads is its own
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global address that leads to no other kind: an IPv6 one carrying an IPv4 one (NAT64, 6to4, Teredo,
    IPv4-compatible or -mapped) reaches that IPv4 address through a translator or tunnel, so it must be global
    too; a network's own NAT64 prefix leads wherever that network says, so it is never public."""
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return True
    if address in LOCAL_NAT64:
        return False
    carried = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if address in NAT64 or address in IPV4_COMPATIBLE:
        carried.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(inner.is_global for inner in carried if inner is not None)


async def public_addresses(host: str, timeout: float = FETCH_TIMEOUT) -> list[str]:
    """Resolve `host` (within `timeout` seconds, else UNREACHABLE) and return the addresses it names, refusing
    (NOT_PUBLIC) unless every one is a public one: a feed registered by name must not lead the job to an internal
    service. The fetch then connects to these addresses only (`fetch_document`), so a name that answers otherwise
    a moment later (DNS rebinding) is never asked again."""
    try:
        async with asyncio.timeout(timeout):
            found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        raise FeedRefused("UNREACHABLE") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not addresses or not all(is_public_address(ipaddress.ip_address(address.split("%")[0])) for address in addresses):
        raise FeedRefused("NOT_PUBLIC")
    return addresses


def _signer_algorithm(signer: Any) -> str:
    return "ES256" if isinstance(signer, ec.EllipticCurvePublicKey) else "PS256"


LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z: a time past it (or not finite) is not one
MAX_SEQUENCE = 2**63 - 1  # what the sequence column holds


def _timestamp(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= LATEST_TIME:
        raise FeedRefused("MALFORMED")  # NaN and infinities fail the comparison too
    return int(value)


def read_document(token: str, signer: Any, partner_id: str, now: float) -> KeysDocument:
    """Check a keys document's signature, issuer, type and freshness; its keys are checked when applied."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != DOCUMENT_TYPE:
            raise FeedRefused("MALFORMED")
        claims = jwt.decode(token, signer, algorithms=[_signer_algorithm(signer)], issuer=partner_id,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "require": ["iss", "iat", "exp"]})
    except jwt.InvalidSignatureError:
        raise FeedRefused("BAD_SIGNATURE") from None
    except jwt.InvalidAlgorithmError:
        raise FeedRefused("BAD_SIGNATURE") from None  # signed by another kind of key than the registered one
    except jwt.InvalidIssuerError:
        raise FeedRefused("WRONG_ISSUER") from None
    except jwt.PyJWTError:
        raise FeedRefused("MALFORMED") from None
    issued_at, expires_at = _timestamp(claims, "iat"), _timestamp(claims, "exp")
    sequence, keys = claims.get("seq"), claims.get("keys")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence <= MAX_SEQUENCE:
        raise FeedRefused("MALFORMED")
    if not isinstance(keys, list) or len(keys) > MAX_KEYS or not all(isinstance(k, dict) for k in keys):
        raise FeedRefused("MALFORMED")
    if issued_at > now + CLOCK_SKEW:
        raise FeedRefused("NOT_YET_VALID")
    if expires_at <= now:
        raise FeedRefused("STALE")
    return KeysDocument(sequence, _at(issued_at), _at(expires_at), keys)


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def key_spec(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A published key as the registry's key spec (what the admin API takes)."""
    jwk = public_members(entry)
    x5c = entry.get("x5c")
    spec: dict[str, Any] = {"jwk": jwk, "usages": entry.get("usages")}
    if isinstance(x5c, list) and x5c and isinstance(x5c[0], str):
        spec["certificate"] = x5c[0]
    for member, name in (("nbf", "not_before"), ("exp", "not_after")):
        if member in entry:
            spec[name] = _at(_timestamp(entry, member))
    return spec


async def fetch_document(url: str, timeout: float = FETCH_TIMEOUT, limit: int = MAX_DOCUMENT_BYTES,
                         addresses: Sequence[str] = ()) -> str:
    """GET the keys document: no redirects, at most `limit` bytes, the whole answer within `timeout` seconds (a
    server trickling bytes is cut off, not waited for).

    With `addresses` (those `public_addresses` checked), the connection goes to them, in turn until one connects,
    each given an equal share of the time left to connect (one that never answers leaves the next their turn),
    and to nothing else: the URL's host name is never resolved again, but is still the one in the Host header and
    the one TLS sends (SNI) and checks the server's certificate against. No proxy is used, whatever the environment
    says (HTTPS_PROXY, ALL_PROXY): a proxy would choose where the connection goes, and TLS through it would check
    the address rather than the partner's name."""
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        async with asyncio.timeout_at(deadline), http_client(timeout=timeout, follow_redirects=False,
                                                             trust_env=False) as client:
            body = await _fetch_from(client, _requests_to(url, addresses), limit, deadline)
    except (httpx.HTTPError, TimeoutError):
        raise FeedRefused("UNREACHABLE") from None
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise FeedRefused("MALFORMED") from None


@dataclass(frozen=True)
class _Request:
    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


def _requests_to(url: str, addresses: Sequence[str]) -> list[_Request]:
    """The GET of `url`, or one per address: to that address, for the URL's host (Host header, TLS server name)."""
    accept = {"Accept": "application/jwt"}
    if not addresses:
        return [_Request(httpx.URL(url), accept, {})]
    parts = urlsplit(url)
    server_name = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return [_Request(httpx.URL(url).copy_with(host=address), {**accept, "Host": parts.netloc}, server_name)
            for address in addresses]


async def _fetch_from(client: httpx.AsyncClient, requests: list[_Request], limit: int, deadline: float) -> bytearray:
    """The body of the first answer; the next address is tried only when one cannot be connected to (refused, or
    no answer within its share of the time left before `deadline`, the event loop's clock)."""
    loop = asyncio.get_running_loop()
    for i, request in enumerate(requests):
        left = max(deadline - loop.time(), 0.0)
        try:
            async with client.stream("GET", request.url, headers=request.headers, extensions=request.extensions,
                                     timeout=httpx.Timeout(left, connect=left / (len(requests) - i))) as answer:
                if answer.status_code != 200:
                    raise FeedRefused("HTTP_STATUS")
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        raise FeedRefused("TOO_LARGE")
                return body
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if i == len(requests) - 1:
                raise
    raise FeedRefused("UNREACHABLE")  # no request at all: not reached, `requests` always holds one


class PartnerKeyFeeds:
    """Registers partners' key feeds and applies what they publish."""

    def __init__(self, platform: Platform, registry: PartnerRegistry, trust: PartnerTrustList) -> None:
        self.platform = platform
        self.registry = registry
        self.trust = trust

    # -- admin ---------------------------------------------------------------------------------------
    async def register(self, admin: AuthenticatedClient, partner_id: str, url: str,
                       signer_jwk: Mapping[str, Any]) -> PartnerKeyFeed:
        """Set (or replace) where the partner publishes its keys and the long-term key that signs them."""
        await self.registry.get(partner_id)
        check_feed_url(url, self.platform.settings.production)
        try:
            public_key_from_jwk(signer_jwk, allow_rsa=True)
        except ValueError as error:
            raise _invalid("signer_jwk", str(error)) from None
        signer = public_members(signer_jwk)
        now = self.platform.clock.now()
        feed = await PartnerKeyFeed.get_or_none(partner_id=partner_id)
        if feed is None:
            feed = await PartnerKeyFeed.create(partner_id=partner_id, url=url, signer_jwk=signer, created_at=now,
                                               updated_at=now)
        else:
            # A new long-term key starts a new sequence (the old one was another publisher's); the same key keeps
            # its sequence, so re-registering never lets an older document of it be applied again.
            if feed.signer_jwk != signer:
                feed.sequence = feed.document_issued_at = None
            feed.url, feed.signer_jwk, feed.updated_at = url, signer, now
            feed.checked_at = feed.outcome = None
            await feed.save()
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_key_feed_registered",
                                 attributes={"partner": partner_id, "url": url, "signer_kid": signer.get("kid")})
        return feed

    async def get(self, partner_id: str) -> PartnerKeyFeed:
        feed = await PartnerKeyFeed.get_or_none(partner_id=partner_id)
        if feed is None:
            raise NotFound("PARTNER_KEY_FEED_NOT_FOUND")
        return feed

    async def remove(self, admin: AuthenticatedClient, partner_id: str) -> None:
        """Stop reading the feed; the keys it brought stay as they are, for the admin to manage."""
        feed = await self.get(partner_id)
        await feed.delete()
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="partner_key_feed_removed",
                                 attributes={"partner": partner_id})

    # -- the scheduled job ---------------------------------------------------------------------------
    async def refresh_all(self) -> dict[str, str]:
        """Fetch and apply every registered feed; the outcome per partner."""
        outcomes = {}
        for feed in await PartnerKeyFeed.all().order_by("partner_id"):
            try:
                outcomes[feed.partner_id] = await self.refresh(feed)
            except Exception:  # one partner's feed never stops the others' rotations
                log.exception("partner key feed %s: failed, asked again next run", feed.partner_id)
                outcomes[feed.partner_id] = "error"
        return outcomes

    async def refresh(self, feed: PartnerKeyFeed) -> str:
        """Fetch, verify and apply one feed: `applied`, `unchanged`, or the reason it changed nothing
        (`busy` when another worker is applying it now, or an admin changed it meanwhile)."""
        try:
            async with cache_lock(self.platform.cache, f"partner-key-feed:{feed.partner_id}", ttl=2 * FETCH_TIMEOUT + 30):
                await feed.refresh_from_db()
                return await self._refresh(feed)
        except (LockNotAcquired, FeedReregistered):
            return "busy"
        except DoesNotExist:
            return "removed"  # removed by an admin since it was listed

    async def _refresh(self, feed: PartnerKeyFeed) -> str:
        try:
            addresses: list[str] = []
            if self.platform.settings.production:
                addresses = await public_addresses(urlsplit(feed.url).hostname or "")
            token = await fetch_document(feed.url, addresses=addresses)
            signer = public_key_from_jwk(feed.signer_jwk, allow_rsa=True)
            document = read_document(token, signer, feed.partner_id, self.platform.clock.timestamp())
            changes = await self._apply(feed, document)
        except FeedRefused as refused:
            return await self._refused(feed, refused.reason)
        if changes is None:
            return await self._checked(feed, "unchanged")
        await audit.record_all(self.platform.clock, _change_records(feed.partner_id, document.sequence, changes))
        return "applied"

    async def _checked(self, feed: PartnerKeyFeed, outcome: str) -> str:
        feed.checked_at, feed.outcome = self.platform.clock.now(), outcome
        await feed.save(update_fields=["checked_at", "outcome"])
        return outcome

    async def _refused(self, feed: PartnerKeyFeed, reason: str) -> str:
        """Logged every time; audited when the outcome changes (an unreachable feed is one entry, not one a run)."""
        log.warning("keys document of partner %s not applied: %s", feed.partner_id, reason)
        if feed.outcome != reason:
            await audit.record_event(self.platform.clock, actor=FEED_ACTOR, actor_type="system",
                                     action="partner_key_feed_refused",
                                     attributes={"partner": feed.partner_id, "reason": reason, "url": feed.url})
        return await self._checked(feed, reason)

    async def _apply(self, feed: PartnerKeyFeed, document: KeysDocument) -> FeedChanges | None:
        """Apply a verified document; None when it is the one applied last. The feed's sequence is read again,
        locked, in the transaction that applies: another worker may have applied a document since `feed` was
        read (a stalled worker outliving its lock), and an older document must never follow a newer one."""
        listed = self._listed_rows(feed.partner_id, document)
        now = self.platform.clock.now()
        changes = FeedChanges()
        async with in_transaction():
            current = await PartnerKeyFeed.filter(id=feed.id).select_for_update().get()  # DoesNotExist: removed
            if (current.url, current.signer_jwk) != (feed.url, feed.signer_jwk):
                raise FeedReregistered()  # verified against what an admin has replaced since: the next run reads it
            feed.sequence, feed.outcome = current.sequence, current.outcome
            if current.sequence is not None and document.sequence < current.sequence:
                raise FeedRefused("REPLAYED")
            if current.sequence is not None and document.sequence == current.sequence:
                if not _lists_what_is_held(await PartnerKey.filter(partner_id=feed.partner_id), listed):
                    raise FeedRefused("SEQUENCE_REUSED")
                return None
            if not (partner := await Partner.get_or_none(id=feed.partner_id)) or partner.status != "active":
                raise FeedRefused("PARTNER_SUSPENDED")
            held = {key.kid: key for key in await PartnerKey.filter(partner_id=feed.partner_id).select_for_update()}
            if await PartnerKey.filter(kid__in=list(listed)).exclude(partner_id=feed.partner_id).exists():
                raise FeedRefused("KID_TAKEN")  # a kid names one key across the whole trust list
            for kid, row in listed.items():
                await self._apply_listed(feed.partner_id, held.get(kid), row, changes)
            for kid, key in held.items():
                if kid not in listed and key.source == PUBLISHED and key.revoked_at is None and key.retired_at is None:
                    key.retired_at = now
                    await key.save(update_fields=["retired_at"])
                    changes.retired.append(kid)
            feed.sequence, feed.document_issued_at = document.sequence, document.issued_at
            feed.checked_at, feed.outcome = now, "applied"
            await feed.save(update_fields=["sequence", "document_issued_at", "checked_at", "outcome"])
        if changes.any:
            await self.trust.changed()
        return changes

    def _listed_rows(self, partner_id: str, document: KeysDocument) -> dict[str, dict[str, Any]]:
        rows: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(document.keys):
            usages = entry.get("usages")
            if usages is not None and not (isinstance(usages, list) and all(isinstance(u, str) for u in usages)):
                raise FeedRefused("BAD_KEY")
            try:
                row = self.registry.signing_key_row(partner_id, key_spec(entry), f"keys.{i}")
            except ValidationFailed:
                raise FeedRefused("BAD_KEY") from None
            if row["kid"] in rows:
                raise FeedRefused("BAD_KEY")
            rows[row["kid"]] = row
        return rows

    async def _apply_listed(self, partner_id: str, key: PartnerKey | None, row: dict[str, Any],
                            changes: FeedChanges) -> None:
        if key is None:
            await PartnerKey.create(partner_id=partner_id, created_at=self.platform.clock.now(), source=PUBLISHED, **row)
            changes.added.append(row["kid"])
            return
        if _public_numbers(key.jwk) != _public_numbers(row["jwk"]):
            raise FeedRefused("KEY_CHANGED")  # a kid keeps its key: a different key needs a new kid
        if key.revoked_at is not None:  # revoked by hand: the feed never brings it back
            changes.kept_revoked.append(key.kid)
            return
        if key.retired_at is not None:
            key.retired_at = None
            changes.restored.append(key.kid)
        if terms := _changed_terms(key, row):
            for name in terms:
                setattr(key, name, row[name])
            changes.changed[key.kid] = terms
        key.source = PUBLISHED
        await key.save(update_fields=["retired_at", "source", *terms])


def _change_records(partner_id: str, sequence: int, changes: FeedChanges) -> list[audit.AuditRecord]:
    """One entry per key changed, then one for the document applied."""
    def entry(action: str, attributes: dict[str, Any]) -> audit.AuditRecord:
        return audit.event(actor=FEED_ACTOR, actor_type="system", action=action,
                           attributes={"partner": partner_id, "sequence": sequence, **attributes})

    records = [entry(action, {"kid": kid}) for action, kids in (("partner_key_added", changes.added),
                                                                ("partner_key_retired", changes.retired),
                                                                ("partner_key_restored", changes.restored))
               for kid in kids]
    records += [entry("partner_key_changed", {"kid": kid, "fields": terms}) for kid, terms in changes.changed.items()]
    records.append(entry("partner_key_feed_applied", {"added": len(changes.added), "retired": len(changes.retired),
                                                      "restored": len(changes.restored),
                                                      "changed": len(changes.changed),
                                                      "kept_revoked": changes.kept_revoked}))
    return records


def _lists_what_is_held(held: list[PartnerKey], listed: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether applying `listed` would change no key: each is held with the same public key, not retired and on
    the same terms, and every key the feed brought and still manages is listed. (A key an admin revoked stays
    revoked, on its terms, either way.)"""
    keys = {key.kid: key for key in held}
    for kid, row in listed.items():
        key = keys.get(kid)
        if key is None or _public_numbers(key.jwk) != _public_numbers(row["jwk"]):
            return False
        if key.revoked_at is None and (key.retired_at is not None or _changed_terms(key, row)):
            return False
    return not any(key.kid not in listed and key.source == PUBLISHED and key.revoked_at is None
                   and key.retired_at is None for key in held)


KEY_TERMS = ("certificate", "not_after", "not_before", "usages")  # what a listed key may change of a held one


def _changed_terms(key: PartnerKey, row: Mapping[str, Any]) -> list[str]:
    """The terms of a held key that its listed row states otherwise (usages compared as a set: order is no term)."""
    def term(name: str, value: Any) -> Any:
        return sorted(set(value)) if name == "usages" and value is not None else value

    return [name for name in KEY_TERMS if term(name, getattr(key, name)) != term(name, row.get(name))]


def _public_numbers(jwk: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(jwk.get(member) for member in ("kty", "crv", "x", "y", "n", "e"))
