"""The partner-region API (互认地区接口): verify our codes in batches, publish revoked codes.

Callers sign a JWT with their registered API key: `iss` = partner id, `aud` = {issuer}/partner.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
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
    current_color: str | None = Field(default=None, description="With error STATUS_CHANGED: the holder's colour now "
                                                                "(the code was issued before it turned worse)")
    current_partner_color: str | None = Field(default=None, description="current_color in the partner's vocabulary")


class VerificationsReply(BaseModel):
    results: list[VerificationResult]


class BorderPassChecksRequest(Strict):
    passes: list[str] = Field(min_length=1, max_length=100, description="Scanned border passes, GDBP1:…")


class BorderPassCheckResult(BaseModel):
    valid: bool
    error: str | None
    color: str | None
    partner_color: str | None
    expires_at: str | None
    subject_masked: str | None
    document_type: str | None
    document_last4: str | None
    current_color: str | None
    current_partner_color: str | None


class BorderPassChecksReply(BaseModel):
    results: list[BorderPassCheckResult]


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
    results = await services(request).interop.verify_for_partner(request.ctx.client, body.codes)
    return reply({"results": [
        {**r.__dict__, "expires_at": rfc3339(r.expires_at)} for r in results
    ]})


@bp.post("/border-pass-verifications")
@documented("Check 1-100 border passes (通关凭证) meant for you online: the offline checks plus the holder's status "
            "now (STATUS_CHANGED for a pass issued before it turned worse); each check reaches the holder's access log",
            body=BorderPassChecksRequest, reply_model=BorderPassChecksReply, tag="partner")
async def border_pass_verifications(request: Request) -> HTTPResponse:
    body = parse_body(request, BorderPassChecksRequest)
    results = await services(request).interop.check_border_passes(request.ctx.client, body.passes)
    return reply({"results": [{**r.__dict__, "expires_at": rfc3339(r.expires_at)} for r in results]})


@bp.post("/revocations")
@documented("Publish revoked code identifiers (hashed, as EU DCC revocation lists); conversions honour them",
            body=RevocationsRequest, reply_model=RevocationsReply, tag="partner")
async def revocations(request: Request) -> HTTPResponse:
    body = parse_body(request, RevocationsRequest)
    return reply({"accepted": await services(request).interop.publish_revocations(request.ctx.client, body.hashes)})
