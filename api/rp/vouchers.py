"""Relying parties (hotels, banks, hospitals) redeem ID-voucher presentations: they learn only
what they asked for, what their scopes allow and what the citizen consented to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339

bp = audience_blueprint("rp_vouchers", url_prefix="/api/rp/v1", audience="relying_party")


class RedemptionRequest(Strict):
    token: str = Field(max_length=512, description="The scanned QR text, GDID1:…")
    attributes: list[str] = Field(min_length=1, max_length=6, description="e.g. [\"age_over_18\"]")
    purpose: str = Field(min_length=2, max_length=100, description="Shown to the citizen in their access log")


class RedemptionReply(BaseModel):
    attributes: dict[str, Any]
    withheld: list[str] = Field(description="Asked for, but not consented to by the citizen")


class StandingRequestBody(Strict):
    attributes: list[str] = Field(min_length=1, max_length=5)
    purpose: dict[str, str] = Field(description="Plain language, by language tag: zh-Hans (required), zh-Hant, en")


class StandingRequestCreated(BaseModel):
    id: str
    attributes: list[str]


@bp.post("/redemptions")
@documented("Redeem a presentation QR, once", body=RedemptionRequest, reply_model=RedemptionReply, tag="relying-party")
async def redeem(request: Request) -> HTTPResponse:
    body = parse_body(request, RedemptionRequest)
    done = await services(request).vouchers.redeem(request.ctx.client, body.token, body.attributes, body.purpose)
    return reply(RedemptionReply(attributes=done.disclosed, withheld=list(done.withheld)))


@bp.post("/standing-requests")
@documented("Register what you always ask for and why; citizens can accept it in one tap",
            body=StandingRequestBody, reply_model=StandingRequestCreated, status=201, tag="relying-party")
async def add_standing_request(request: Request) -> HTTPResponse:
    body = parse_body(request, StandingRequestBody)
    standing = await services(request).vouchers.add_standing_request(request.ctx.client, body.attributes, body.purpose)
    return reply(StandingRequestCreated(id=standing.id, attributes=standing.attributes), status=201)


class OfflineNonceReply(BaseModel):
    nonce: str = Field(description="Show it to the holder's app (e.g. as a QR); its KB-JWT must carry it")
    audience: str = Field(description="The `aud` the holder's KB-JWT must carry: your client id")
    expires_at: str


class OfflineCheckRequest(Strict):
    qr: str = Field(max_length=4096, description="The scanned offline QR text, GDIDO1:…")
    nonce: str = Field(min_length=16, max_length=64, description="The nonce you got for this check")
    purpose: str = Field(min_length=2, max_length=100, description="Shown to the citizen in their access log")


class OfflineCheckReply(BaseModel):
    attributes: dict[str, Any]
    withheld: list[str] = Field(description="Disclosed by the holder, beyond your scopes")
    issued_at: str
    expires_at: str


@bp.post("/offline-nonces")
@documented("A one-time nonce for checking one offline ID QR (key-bound SD-JWT) at your desk",
            reply_model=OfflineNonceReply, status=201, tag="relying-party")
async def offline_nonce(request: Request) -> HTTPResponse:
    issued = await services(request).vouchers.offline_nonce(request.ctx.client)
    return reply(OfflineNonceReply(nonce=issued.nonce, audience=issued.audience,
                                   expires_at=rfc3339(issued.expires_at)), status=201)


@bp.post("/offline-checks")
@documented("Check an offline ID QR: signed by us, bound by the holder's phone to your audience and nonce, once",
            body=OfflineCheckRequest, reply_model=OfflineCheckReply, tag="relying-party")
async def check_offline(request: Request) -> HTTPResponse:
    body = parse_body(request, OfflineCheckRequest)
    done = await services(request).vouchers.check_offline(request.ctx.client, body.qr, body.nonce, body.purpose)
    return reply(OfflineCheckReply(attributes=done.disclosed, withheld=list(done.withheld),
                                   issued_at=rfc3339(done.issued_at), expires_at=rfc3339(done.expires_at)))
