"""Cross-region recognition for the citizen: convert a partner region's code (转码), get a border pass."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.health_code import HealthCodeReply, ReasonItem, reason_items
from api.http import audience_blueprint, documented, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.i18n import N_, translate
from elderly_mode import replies as spoken_replies
from health_code.interop.words import region_words, state_words
from health_code.service import colour_text, seconds_left

bp = audience_blueprint("citizen_interop", url_prefix="/api/v1", audience="citizen")

CONVERTED_FROM = N_("由{partner}的健康码转码（原状态：{state}）")


class ConversionRequest(Strict):
    code: str = Field(min_length=4, max_length=4096, description="The partner region's code as scanned (GDHC1:…, HC1:…)")
    consent: bool = Field(description="I agree that the content of this code is read and kept for the conversion")


class ConversionSource(BaseModel):
    partner: str
    partner_name: str
    format: str
    state: str = Field(description="The status in the partner's own words")
    mapped_color: str


class ConversionReply(HealthCodeReply):
    """A health code like the citizen's own, plus where it came from."""

    source: ConversionSource


class BorderPassRequest(Strict):
    partner: str = Field(max_length=16, description="The partner region the pass is for, e.g. MO")
    document_type: Literal["resident_id", "exit_entry_permit", "residence_permit", "hk_macao_permit", "taiwan_permit",
                           "permanent_residence", "passport"] = Field(
        default="resident_id", description="resident_id or the type of the document bound to my account: that "
                                           "document; exit_entry_permit: the permit whose number is sent")
    document_number: str | None = Field(default=None, max_length=16,
                                        description="Only for exit_entry_permit (往来港澳通行证); only its last 4 are in the pass")


class BorderPassReply(BaseModel):
    payload: str
    partner: str
    color: str
    color_text: str
    subject_masked: str
    document_type: str
    document_last4: str
    issued_at: str
    expires_at: str


@bp.post("/health-code/conversions")
@documented("Convert a partner region's health code into a local one (转码), with my consent",
            body=ConversionRequest, reply_model=ConversionReply, status=201, level=LEVEL_REAL_NAME, tag="interop")
@requires_level(LEVEL_REAL_NAME)
async def convert(request: Request) -> HTTPResponse:
    body = parse_body(request, ConversionRequest)
    done = await services(request).interop.convert(request.ctx.citizen, body.code, body.consent)
    language, code = request.ctx.language, done.code
    provenance = ReasonItem(code=0, text=translate(CONVERTED_FROM, language, partner=done.partner.name, state=done.source.state))
    colour_words, expires_at = colour_text(code.colour, language), rfc3339(code.expires_at)
    reasons = [*reason_items(request, code.reasons), provenance]
    # Said aloud: the region and its state in the caller's words, not the partner's registered name and raw state.
    said_provenance = translate(CONVERTED_FROM, language, partner=region_words(done.partner.id, done.partner.name, language),
                                state=state_words(done.source.state, language))
    return reply(ConversionReply(
        payload=code.payload, color=code.colour, color_text=colour_words, reasons=reasons,
        issued_at=rfc3339(code.issued_at), expires_at=expires_at,
        seconds_left=seconds_left(code, services(request).platform.clock.now()),
        tts_text=spoken_replies.health_code(colour_words, [*(r.text for r in reasons[:-1]), said_provenance], expires_at,
                                            language),
        source=ConversionSource(partner=done.partner.id, partner_name=done.partner.name, format=done.source.format,
                                state=done.source.state, mapped_color=done.mapped_colour),
    ), status=201)


@bp.post("/border-passes")
@documented("A border pass (通关凭证) for one partner region: status plus masked name, document type and last 4",
            body=BorderPassRequest, reply_model=BorderPassReply, status=201, level=LEVEL_REAL_NAME, tag="interop")
@requires_level(LEVEL_REAL_NAME)
async def border_pass(request: Request) -> HTTPResponse:
    body = parse_body(request, BorderPassRequest)
    issued = await services(request).interop.border_pass(request.ctx.citizen, body.partner, body.document_type,
                                                         body.document_number)
    return reply(BorderPassReply(
        payload=issued.payload, partner=issued.partner_id, color=issued.colour,
        color_text=colour_text(issued.colour, request.ctx.language), subject_masked=issued.subject_masked,
        document_type=issued.document_type, document_last4=issued.document_last4,
        issued_at=rfc3339(issued.issued_at), expires_at=rfc3339(issued.expires_at),
    ), status=201)
