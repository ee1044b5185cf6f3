"""The citizen's health code (健康码): the signed dynamic QR, its status, history and declarations."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.errors import ValidationFailed
from elderly_mode import replies as spoken_replies
from elderly_mode.presets import status_label
from health_code.service import IssuedCode, colour_text, seconds_left

bp = audience_blueprint("citizen_health_code", url_prefix="/api/v1/health-code", audience="citizen")
IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


class ReasonItem(BaseModel):
    code: int
    text: str


class HealthCodeReply(BaseModel):
    payload: str
    color: str
    color_text: str
    reasons: list[ReasonItem]
    issued_at: str
    expires_at: str
    seconds_left: int
    tts_text: str = Field(default="", description="The status in plain spoken words, for a screen reader or speech")
    status_label: dict[str, str] | None = Field(default=None, description="label, icon and colour name: never colour alone")


class HistoryItem(BaseModel):
    at: str
    color: str
    color_text: str
    reasons: list[ReasonItem]
    rule_version: str


class History(BaseModel):
    items: list[HistoryItem]


class Trip(Strict):
    region_code: str = Field(description="6-digit region code (GB/T 2260) of the place visited")
    visited_on: date = Field(description="The day of the visit (Beijing time), within the last 14 days")


class DeclarationRequest(Strict):
    symptoms: bool = Field(description="Fever, cough or other symptoms now")
    confirmed_case: bool = False
    travel_regions: list[str] = Field(default_factory=list, max_length=20,
                                      description="Region codes visited in 14 days, counted as of today")
    trips: list[Trip] = Field(default_factory=list, max_length=20,
                              description="Visits with their day: each counts by the risk list of that day")
    truthful: bool = Field(description="I declare the above is true (本人承诺以上信息真实)")


class StatusReply(BaseModel):
    color: str
    color_text: str
    reasons: list[ReasonItem]


def reason_items(request: Request, codes: list[int] | tuple[int, ...]) -> list[ReasonItem]:
    rules = services(request).health.rules
    items = []
    for code in codes:
        rule = rules.rule_for_code(code)
        items.append(ReasonItem(code=code, text=rule.reason_text(request.ctx.language) if rule else str(code)))
    return items


@bp.get("")
@documented("My health code: signed QR payload, colour in words, reasons, expiry (?format=png|svg for an image)",
            reply_model=HealthCodeReply, level=LEVEL_REAL_NAME, tag="health-code")
@requires_level(LEVEL_REAL_NAME)
async def health_code(request: Request) -> HTTPResponse:
    fmt = request.args.get("format", "json")
    if fmt not in ("json", *IMAGE_TYPES):
        raise ValidationFailed([{"field": "format", "problem": "json, png or svg"}])
    health = services(request).health
    code = await health.current_code(request.ctx.citizen)
    if fmt in IMAGE_TYPES:
        language = request.ctx.language
        reasons = reason_items(request, code.reasons)
        caption = f"{colour_text(code.colour, language)} · {reasons[0].text}" if reasons else colour_text(code.colour, language)
        image = await health.image(code, fmt, caption)
        return response.raw(image, content_type=IMAGE_TYPES[fmt], headers={"Cache-Control": "private, no-store"})
    return reply(health_code_body(request, code))


def health_code_body(request: Request, code: IssuedCode) -> dict:
    """The JSON reply for an issued code; shaped once per code and language, seconds_left filled per request."""
    language = request.ctx.language
    shaped = services(request).health_code_replies.get((code.payload, language))
    if shaped is None:
        colour_words = colour_text(code.colour, language)
        reasons = reason_items(request, code.reasons)
        expires_at = rfc3339(code.expires_at)
        shaped = HealthCodeReply(
            payload=code.payload, color=code.colour, color_text=colour_words,
            reasons=reasons, issued_at=rfc3339(code.issued_at), expires_at=expires_at, seconds_left=0,
            tts_text=spoken_replies.health_code(colour_words, [r.text for r in reasons], expires_at, language),
            status_label=status_label(code.colour, language),
        ).model_dump(mode="json")
        services(request).health_code_replies.keep((code.payload, language), shaped)
    return {**shaped, "seconds_left": seconds_left(code, services(request).platform.clock.now())}


@bp.get("/history")
@documented("How my status changed, with the reasons and the rule-set version", reply_model=History,
            level=LEVEL_REAL_NAME, tag="health-code")
@requires_level(LEVEL_REAL_NAME)
async def history(request: Request) -> HTTPResponse:
    rows = await services(request).health.history(request.ctx.citizen.id)
    language = request.ctx.language
    return reply(History(items=[
        HistoryItem(at=rfc3339(r.evaluated_at), color=r.colour, color_text=colour_text(r.colour, language),
                    reasons=reason_items(request, r.reasons), rule_version=r.rule_version)
        for r in rows
    ]))


@bp.post("/declarations")
@documented("Self-declaration (健康申报): symptoms, confirmed case, travel; signed as true",
            body=DeclarationRequest, reply_model=StatusReply, level=LEVEL_REAL_NAME, tag="health-code")
@requires_level(LEVEL_REAL_NAME)
async def declare(request: Request) -> HTTPResponse:
    body = parse_body(request, DeclarationRequest)
    status = await services(request).health.declare(request.ctx.citizen, body.symptoms, body.confirmed_case,
                                                    body.travel_regions, body.truthful,
                                                    [(trip.region_code, trip.visited_on) for trip in body.trips])
    return reply(StatusReply(color=status.colour, color_text=colour_text(status.colour, request.ctx.language),
                             reasons=reason_items(request, status.reasons)))


class AppealRequest(Strict):
    reason: str = Field(min_length=5, max_length=1000, description="Why the colour is wrong, in your words")


class AppealItem(BaseModel):
    id: str
    color: str
    reason: str
    status: str
    created_at: str
    review_note: str | None
    override_until: str | None
    override_ended_at: str | None = Field(default=None, description="Set when newer health information that is "
                                                                    "not green ended the override early")


class AppealList(BaseModel):
    items: list[AppealItem]


def appeal_item(appeal) -> AppealItem:
    return AppealItem(id=appeal.id, color=appeal.colour, reason=appeal.reason, status=appeal.status,
                      created_at=rfc3339(appeal.created_at), review_note=appeal.review_note,
                      override_until=rfc3339(appeal.override_until),
                      override_ended_at=rfc3339(appeal.override_ended_at))


@bp.post("/appeals")
@documented("Appeal my colour (申诉); one pending appeal at a time", body=AppealRequest, reply_model=AppealItem,
            status=201, level=LEVEL_REAL_NAME, tag="health-code")
@requires_level(LEVEL_REAL_NAME)
async def submit_appeal(request: Request) -> HTTPResponse:
    body = parse_body(request, AppealRequest)
    appeal = await services(request).appeals.submit(request.ctx.citizen, body.reason)
    return reply(appeal_item(appeal), status=201)


@bp.get("/appeals")
@documented("My appeals and their outcomes", reply_model=AppealList, tag="health-code")
async def my_appeals(request: Request) -> HTTPResponse:
    appeals = await services(request).appeals.mine(request.ctx.citizen_id)
    return reply(AppealList(items=[appeal_item(a) for a in appeals]))
