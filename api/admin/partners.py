"""Admin API for the partner registry (互认伙伴登记): partners, their vocabulary, limits and keys.

Callers are admin clients with the role `partner_admin`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.security.keys import b64url

bp = audience_blueprint("admin_partners", url_prefix="/api/admin/v1/partners", audience="admin")
ROLE = "partner_admin"


class SigningKeySpec(Strict):
    jwk: dict[str, Any] | None = Field(default=None, description="Public JWK (EC P-256 or RSA) whose kid is base64url of the kid bytes in the codes")
    certificate: str | None = Field(default=None, description="Or: base64 DER X.509 certificate of a DCC signer (kid = first 8 bytes of its SHA-256)")
    not_before: datetime | None = None
    not_after: datetime | None = None
    usages: list[Literal["t", "v", "r"]] | None = Field(default=None, description="Certificate types it may sign; absent = any")


class Contact(Strict):
    name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)


class PartnerRequest(Strict):
    id: str = Field(max_length=16, description="ISO 3166 code, e.g. MO, HK, CN-GX")
    name: str = Field(min_length=2, max_length=100)
    formats: list[str] = Field(min_length=1, max_length=5, description="Formats of its codes: GDHC1, HC1")
    status_mapping: dict[str, Literal["green", "yellow", "red"]] = Field(description="Its states to our colours")
    color_words: dict[Literal["green", "yellow", "red"], str] | None = Field(
        default=None, description="Our colours in its words for its verifiers; default: the first state mapped to each")
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000, description="Codes per minute (a region at the peak: 2,000 a second)")
    daily_quota: int = Field(default=200000, ge=1, le=100000000, description="Codes per day")
    contact: Contact
    api_keys: list[dict[str, Any]] = Field(min_length=1, max_length=5, description="Public EC P-256 JWKs (with kid) it signs API calls with")
    signing_keys: list[SigningKeySpec] = Field(default_factory=list, max_length=20)


class PartnerChange(Strict):
    status: Literal["active", "suspended"] | None = None
    name: str | None = Field(default=None, min_length=2, max_length=100)
    formats: list[str] | None = Field(default=None, min_length=1, max_length=5)
    status_mapping: dict[str, Literal["green", "yellow", "red"]] | None = None
    color_words: dict[Literal["green", "yellow", "red"], str] | None = None
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    daily_quota: int | None = Field(default=None, ge=1, le=100000000)
    contact: Contact | None = None


class ApiKeyRequest(Strict):
    jwk: dict[str, Any]
    expires_at: datetime | None = None


class PartnerKeyItem(BaseModel):
    kid: str
    not_before: str | None
    not_after: str | None
    revoked_at: str | None
    retired_at: str | None = Field(description="Left the partner's published keys: verifies codes signed before")
    source: str = Field(description="manual (admin API) or published (the partner's key feed)")
    usages: list[str] | None


class KeyFeedRequest(Strict):
    url: str = Field(max_length=500, description="Where the partner publishes its signed keys document (https)")
    signer_jwk: dict[str, Any] = Field(description="The partner's long-term public key (EC P-256 or RSA) that signs it")


class KeyFeedReply(BaseModel):
    partner: str
    url: str
    signer_kid: str | None
    sequence: int | None = Field(description="Sequence of the last keys document applied")
    document_issued_at: str | None
    checked_at: str | None
    outcome: str | None = Field(description="applied, unchanged, or why the last document changed nothing")


class HolderKeyItem(BaseModel):
    key_id: str
    created_at: str
    accepted_until: str | None = Field(description="Null while it is the partner's current holder key")


class NewHolderKeyReply(HolderKeyItem):
    key: str = Field(description="The secret, base64url (32 bytes): shown this once, to be given to the partner "
                                 "over a protected channel; it keys hc[6] in the partner's codes")


class PartnerReply(BaseModel):
    id: str
    name: str
    status: str
    formats: list[str]
    status_mapping: dict[str, str]
    color_words: dict[str, str]
    rate_limit_per_minute: int
    daily_quota: int
    contact: dict[str, Any]
    signing_keys: list[PartnerKeyItem]


def key_item(key: Any) -> dict[str, Any]:
    return {"kid": key.kid, "not_before": rfc3339(key.not_before), "not_after": rfc3339(key.not_after),
            "revoked_at": rfc3339(key.revoked_at), "retired_at": rfc3339(key.retired_at), "source": key.source,
            "usages": key.usages}


def holder_key_item(key: Any) -> dict[str, Any]:
    return {"key_id": key.key_id, "created_at": rfc3339(key.created_at), "accepted_until": rfc3339(key.accepted_until)}


def feed_item(feed: Any) -> dict[str, Any]:
    return {"partner": feed.partner_id, "url": feed.url, "signer_kid": feed.signer_jwk.get("kid"),
            "sequence": feed.sequence, "document_issued_at": rfc3339(feed.document_issued_at),
            "checked_at": rfc3339(feed.checked_at), "outcome": feed.outcome}


async def partner_reply(request: Request, partner: Any) -> dict[str, Any]:
    keys = await services(request).partners.keys_of(partner.id)
    return {"id": partner.id, "name": partner.name, "status": partner.status, "formats": partner.formats,
            "status_mapping": partner.status_mapping, "color_words": partner.color_words,
            "rate_limit_per_minute": partner.rate_limit_per_minute,
            "daily_quota": partner.daily_quota, "contact": partner.contact, "signing_keys": [key_item(k) for k in keys]}


@bp.post("")
@documented("Register a partner region with its vocabulary, limits, API keys and code-signing keys",
            body=PartnerRequest, reply_model=PartnerReply, status=201, tag="admin")
async def register(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, PartnerRequest)
    partner = await services(request).partners.register(
        request.ctx.client, partner_id=body.id, name=body.name, formats=body.formats, status_mapping=body.status_mapping,
        rate_limit_per_minute=body.rate_limit_per_minute, daily_quota=body.daily_quota,
        contact=body.contact.model_dump(exclude_none=True), api_keys=body.api_keys,
        signing_keys=[k.model_dump() for k in body.signing_keys],
        color_words=None if body.color_words is None else {str(colour): words for colour, words in body.color_words.items()},
    )
    return reply(await partner_reply(request, partner), status=201)


@bp.get("/<partner_id>")
@documented("A partner region and its keys", reply_model=PartnerReply, tag="admin")
async def show(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(await partner_reply(request, await services(request).partners.get(partner_id)))


@bp.patch("/<partner_id>")
@documented("Suspend or reactivate a partner, or change its vocabulary, limits or contact",
            body=PartnerChange, reply_model=PartnerReply, tag="admin")
async def change(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, PartnerChange)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    partner = await services(request).partners.update(request.ctx.client, partner_id, changes)
    return reply(await partner_reply(request, partner))


@bp.post("/<partner_id>/signing-keys")
@documented("Add a code-signing key (rotation: older keys verify until their own not_after)",
            body=SigningKeySpec, reply_model=PartnerKeyItem, status=201, tag="admin")
async def add_signing_key(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, SigningKeySpec)
    key = await services(request).partners.add_signing_key(request.ctx.client, partner_id, body.model_dump())
    return reply(key_item(key), status=201)


@bp.post("/<partner_id>/signing-keys/<kid>/revocation")
@documented("Revoke a code-signing key: codes it signed fail at once", reply_model=PartnerKeyItem, tag="admin")
async def revoke_signing_key(request: Request, partner_id: str, kid: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    key = await services(request).partners.revoke_signing_key(request.ctx.client, partner_id, kid)
    return reply(key_item(key))


@bp.post("/<partner_id>/api-keys")
@documented("Add an API key the partner signs its calls with", body=ApiKeyRequest, status=201, tag="admin")
async def add_api_key(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, ApiKeyRequest)
    key = await services(request).partners.add_api_key(request.ctx.client, partner_id, body.jwk, body.expires_at)
    return reply({"kid": key.kid, "expires_at": rfc3339(key.expires_at)}, status=201)


@bp.post("/<partner_id>/api-keys/<kid>/revocation")
@documented("Revoke an API key", tag="admin")
async def revoke_api_key(request: Request, partner_id: str, kid: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    await services(request).partners.revoke_api_key(request.ctx.client, partner_id, kid)
    return reply({"kid": kid, "revoked": True})


@bp.post("/<partner_id>/holder-keys")
@documented("Make the secret the partner keys its codes' holder tags with (the previous one is accepted 7 days "
            "more); the secret is in this reply only", reply_model=NewHolderKeyReply, status=201, tag="admin")
async def make_holder_key(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    key, secret = await services(request).partners.make_holder_key(request.ctx.client, partner_id)
    return reply({**holder_key_item(key), "key": b64url(secret)}, status=201, headers={"Cache-Control": "no-store"})


@bp.get("/<partner_id>/holder-keys")
@documented("The partner's holder keys and how long each is accepted (never the secrets)", tag="admin")
async def list_holder_keys(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    keys = await services(request).partners.holder_keys_of(partner_id)
    return reply({"items": [holder_key_item(k) for k in keys]})


@bp.post("/<partner_id>/holder-keys/<key_id>/withdrawal")
@documented("Withdraw a holder key at once (leaked, or the partner has switched)", reply_model=HolderKeyItem,
            tag="admin")
async def withdraw_holder_key(request: Request, partner_id: str, key_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    key = await services(request).partners.withdraw_holder_key(request.ctx.client, partner_id, key_id)
    return reply(holder_key_item(key))


@bp.put("/<partner_id>/key-feed")
@documented("Register where the partner publishes its code-signing keys, and the long-term key that signs them",
            body=KeyFeedRequest, reply_model=KeyFeedReply, tag="admin")
async def register_key_feed(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, KeyFeedRequest)
    feed = await services(request).partner_key_feeds.register(request.ctx.client, partner_id, body.url, body.signer_jwk)
    return reply(feed_item(feed))


@bp.get("/<partner_id>/key-feed")
@documented("The partner's key feed and how its last keys document fared", reply_model=KeyFeedReply, tag="admin")
async def show_key_feed(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(feed_item(await services(request).partner_key_feeds.get(partner_id)))


@bp.post("/<partner_id>/key-feed/refresh")
@documented("Fetch and apply the partner's keys document now (the scheduled job does it every ten minutes)",
            reply_model=KeyFeedReply, tag="admin")
async def refresh_key_feed(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    feeds = services(request).partner_key_feeds
    feed = await feeds.get(partner_id)
    await feeds.refresh(feed)
    return reply(feed_item(feed))


@bp.delete("/<partner_id>/key-feed")
@documented("Stop reading the partner's key feed; the keys it brought stay", tag="admin")
async def remove_key_feed(request: Request, partner_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    await services(request).partner_key_feeds.remove(request.ctx.client, partner_id)
    return reply({"partner": partner_id, "removed": True})
