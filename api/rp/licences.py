"""Relying parties verify a licence a citizen shared with them (电子证照核验): authenticity, purpose,
expiry and status, online. Each verification shows in the holder's access log."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.errors import AppError
from app.vouchers.licences import ShareRefused

bp = audience_blueprint("rp_licences", url_prefix="/api/rp/v1", audience="relying_party")


class VerificationRequest(Strict):
    token: str = Field(max_length=1024, description="The scanned QR text of the shared licence, GDLS1:…")


class VerificationReply(BaseModel):
    valid: bool
    error: str | None = Field(description="BAD_SIGNATURE, BAD_PREFIX, …, SHARE_NOT_FOUND, SHARE_WITHDRAWN, "
                                          "SHARE_EXPIRED, LICENCE_NOT_VALID")
    message: str | None = Field(description="The error in the caller's language")
    licence_type: str | None
    licence_type_name: str | None
    issuer: str | None
    holder_name_masked: str | None
    purpose: str | None = Field(description="What the citizen shared it for: use it for nothing else")
    expires_at: str | None = Field(description="Until when the share verifies")
    status: str | None = Field(description="The licence validity: valid, or (with LICENCE_NOT_VALID) expired, "
                                           "suspended, revoked, refunded (an e-receipt), not_yet_valid")


EMPTY = dict(licence_type=None, licence_type_name=None, issuer=None, holder_name_masked=None, purpose=None,
             expires_at=None, status=None)


@bp.post("/licence-verifications")
@documented("Verify a shared licence online (any registered relying party); recorded in the holder's access log",
            body=VerificationRequest, reply_model=VerificationReply, tag="relying-party")
async def verify_licence(request: Request) -> HTTPResponse:
    body = parse_body(request, VerificationRequest)
    language = request.ctx.language
    try:
        check = await services(request).licences.verify_share(request.ctx.client, body.token)
    except ShareRefused as refused:
        return reply(VerificationReply(valid=False, error=refused.code, message=AppError(refused.code).message(language),
                                       **{**EMPTY, "licence_type": refused.licence_type, "status": refused.status}))
    name = check.type_name.get(language) or check.type_name.get("zh-Hans")
    return reply(VerificationReply(
        valid=True, error=None, message=None, licence_type=check.licence_type, licence_type_name=name,
        issuer=check.issuer_name, holder_name_masked=check.holder_name_masked, purpose=check.purpose,
        expires_at=rfc3339(check.expires_at), status=check.status,
    ))
