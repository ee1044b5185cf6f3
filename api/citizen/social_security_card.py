"""The citizen's 电子社保卡: the card and its dynamic QR."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, reply, requires_level
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.departments.social_security_card import Card, CardQr
from app.errors import ValidationFailed
from app.i18n import N_, NC_, translate

bp = audience_blueprint("citizen_social_security_card", url_prefix="/api/v1/social-security-card", audience="citizen")

# The card's state in the caller's language, beside the department's own words (status_name).
ACTIVE_STATUS = NC_("社保卡状态", "正常")  # "In use": a plain "正常" is a status label's "OK"
STATUS_TEXT = {"lost": N_("挂失")}
CAPTION = N_("电子社保卡 · 仅限本人使用")


class SocialSecurityCardReply(BaseModel):
    card_no_masked: str = Field(description="社会保障卡号, masked: A*****678")
    generation: int = Field(description="2 or 3 (第三代社保卡)")
    status: str = Field(description="active or lost")
    status_name: str = Field(description="The department's words: 正常, 挂失")
    status_text: str = Field(description="The status in the caller's language")
    bank: str
    issued_on: str
    valid_until: str
    electronic_card_issued: bool = Field(description="Whether the electronic card (电子社保卡) is issued: the QR needs it")
    issuer: str
    sample: bool = Field(description="True: sample data of a stand-in department")


class SocialSecurityCardQrReply(BaseModel):
    payload: str = Field(description="The QR text, GDSSC1:…: no ID number or name inside; checkable once")
    issued_at: str
    expires_at: str
    seconds_left: int


def card_view(card: Card, language: str) -> SocialSecurityCardReply:
    if card.status == "active":
        status_text = translate(ACTIVE_STATUS, language)
    else:
        status_text = translate(STATUS_TEXT[card.status], language) if card.status in STATUS_TEXT else card.status_name
    return SocialSecurityCardReply(
        card_no_masked=card.card_no_masked, generation=card.generation, status=card.status,
        status_name=card.status_name, status_text=status_text, bank=card.bank, issued_on=card.issued_on,
        valid_until=card.valid_until, electronic_card_issued=card.electronic_card_issued, issuer=card.issuer,
        sample=card.sample)


def qr_view(qr: CardQr, now: float) -> SocialSecurityCardQrReply:
    return SocialSecurityCardQrReply(payload=qr.payload, issued_at=rfc3339(qr.issued_at),
                                     expires_at=rfc3339(qr.expires_at), seconds_left=max(0, qr.expires_at - int(now)))


@bp.get("")
@documented("My social security card (社会保障卡) as 人社 holds it now", reply_model=SocialSecurityCardReply,
            level=LEVEL_REAL_NAME, tag="social-security-card")
@requires_level(LEVEL_REAL_NAME)
async def my_card(request: Request) -> HTTPResponse:
    card = await services(request).departments.social_security_card.card(request.ctx.citizen_id)
    return reply(card_view(card, request.ctx.language))


@bp.post("/qr")
@documented("A fresh dynamic QR of my electronic card, checkable once within its short lifetime (?format=png for "
            "the image); 409 SOCIAL_SECURITY_CARD_LOST or ELECTRONIC_SOCIAL_SECURITY_CARD_NOT_ISSUED",
            reply_model=SocialSecurityCardQrReply, status=201, level=LEVEL_REAL_NAME, tag="social-security-card")
@requires_level(LEVEL_REAL_NAME)
async def new_qr(request: Request) -> HTTPResponse:
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "png"):
        raise ValidationFailed([{"field": "format", "problem": "json or png"}])
    cards = services(request).departments.social_security_card
    qr = await cards.issue_qr(request.ctx.citizen)
    if fmt == "png":
        image = await cards.qr_image(qr, translate(CAPTION, request.ctx.language))
        return response.raw(image, status=201, content_type="image/png", headers={
            "Cache-Control": "private, no-store", "X-QR-Expires-At": rfc3339(qr.expires_at)})
    return reply(qr_view(qr, services(request).platform.clock.timestamp()), status=201)
