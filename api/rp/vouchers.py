"""Relying parties (hotels, banks, hospitals) redeem ID-voucher presentations: they learn only
what they asked for, what their scopes allow and what the citizen consented to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict

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
    done = await request.app.ctx.vouchers.redeem(request.ctx.client, body.token, body.attributes, body.purpose)
    return reply(RedemptionReply(attributes=done.disclosed, withheld=list(done.withheld)))


@bp.post("/standing-requests")
@documented("Register what you always ask for and why; citizens can accept it in one tap",
            body=StandingRequestBody, reply_model=StandingRequestCreated, status=201, tag="relying-party")
async def add_standing_request(request: Request) -> HTTPResponse:
    body = parse_body(request, StandingRequestBody)
    standing = await request.app.ctx.vouchers.add_standing_request(request.ctx.client, body.attributes, body.purpose)
    return reply(StandingRequestCreated(id=standing.id, attributes=standing.attributes), status=201)
