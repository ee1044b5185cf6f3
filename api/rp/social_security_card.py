"""Relying parties (pharmacies, hospitals) check a 电子社保卡 QR; each check is in the holder's access log."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.errors import AppError

bp = audience_blueprint("rp_social_security_card", url_prefix="/api/rp/v1/social-security-card",
                        audience="relying_party")


class SocialSecurityCardCheckRequest(Strict):
    qr: str = Field(min_length=8, max_length=512, description="The scanned QR text, GDSSC1:…")
    purpose: str = Field(min_length=2, max_length=100, description="e.g. 购药结算: shown to the holder in their access log")


class SocialSecurityCardCheckReply(BaseModel):
    valid: bool = Field(description="True: an electronic card in use (正常), as 人社 says at this moment")
    reason: str | None = Field(description="Why not valid: SOCIAL_SECURITY_CARD_LOST or "
                                           "ELECTRONIC_SOCIAL_SECURITY_CARD_NOT_ISSUED")
    message: str | None = Field(description="The reason in the caller's language")
    status: str = Field(description="The card's status at 人社: active or lost")
    status_name: str = Field(description="The department's words: 正常, 挂失")
    holder_name_masked: str | None = Field(description="Only of a valid card: *三")
    card_no_masked: str | None = Field(description="Only of a valid card: A*****678")
    checked_at: str
    sample: bool = Field(description="True: sample data of a stand-in department")


@bp.post("/checks")
@documented("Check a 电子社保卡 QR the holder shows, once, within its lifetime (needs the social_security_card "
            "scope); 人社 is asked live and the holder sees the check in their access log. 422 "
            "TOKEN_INVALID_SIGNATURE, 410 TOKEN_EXPIRED, 409 TOKEN_ALREADY_USED, 503 DEPARTMENT_UNAVAILABLE",
            body=SocialSecurityCardCheckRequest, reply_model=SocialSecurityCardCheckReply, tag="relying-party")
async def check(request: Request) -> HTTPResponse:
    body = parse_body(request, SocialSecurityCardCheckRequest)
    done = await services(request).departments.social_security_card.check(request.ctx.client, body.qr, body.purpose)
    message = AppError(done.reason).message(request.ctx.language) if done.reason else None
    return reply(SocialSecurityCardCheckReply(
        valid=done.valid, reason=done.reason, message=message, status=done.status, status_name=done.status_name,
        holder_name_masked=done.holder_name_masked, card_no_masked=done.card_no_masked,
        checked_at=rfc3339(done.checked_at), sample=done.sample))
