"""The partner-region API (互认地区接口): verify our codes in batches, publish revoked codes.

Callers sign a JWT with their registered API key: `iss` = partner id, `aud` = {issuer}/partner.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from app.clock import rfc3339

bp = audience_blueprint("partner", url_prefix="/api/partner/v1", audience="partner")


class VerificationsRequest(Strict):
    codes: list[str] = Field(min_length=1, max_length=100, description="Scanned payloads, GDHC1:…")


class VerificationResult(BaseModel):
    valid: bool
    error: str | None
    color: str | None
    partner_color: str | None = Field(description="The colour in the partner's own vocabulary")
    issuer: str | None
    expires_at: str | None
    subject_masked: str | None


class VerificationsReply(BaseModel):
    results: list[VerificationResult]


class RevocationsRequest(Strict):
    hashes: list[str] = Field(min_length=1, max_length=1000,
                              description="SHA-256 (lowercase hex) of each revoked code identifier")


class RevocationsReply(BaseModel):
    accepted: int


@bp.post("/verifications")
@documented("Verify 1-100 of our health codes; each check is audited and shown to the code's holder",
            body=VerificationsRequest, reply_model=VerificationsReply, tag="partner")
async def verifications(request: Request) -> HTTPResponse:
    body = parse_body(request, VerificationsRequest)
    results = await request.app.ctx.interop.verify_for_partner(request.ctx.client, body.codes)
    return reply({"results": [
        {**r.__dict__, "expires_at": rfc3339(r.expires_at)} for r in results
    ]})


@bp.post("/revocations")
@documented("Publish revoked code identifiers (hashed, as EU DCC revocation lists); conversions honour them",
            body=RevocationsRequest, reply_model=RevocationsReply, tag="partner")
async def revocations(request: Request) -> HTTPResponse:
    body = parse_body(request, RevocationsRequest)
    return reply({"accepted": await request.app.ctx.interop.publish_revocations(request.ctx.client, body.hashes)})
