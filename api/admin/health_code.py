"""Department APIs for the health code: labs post test results, registered verifiers check codes."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, limit_arg, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.errors import ValidationFailed
from health_code.codec import CodeError, StatusChanged
from health_code.models import Appeal

bp = audience_blueprint("admin_health_code", url_prefix="/api/admin/v1", audience="admin")


class TestResultRequest(Strict):
    id_number: str = Field(max_length=32, description="Resident ID number of the person sampled")
    result: Literal["positive", "negative"]
    sampled_at: datetime = Field(description="RFC 3339 time the sample was taken")
    sample_id: str = Field(max_length=64)


class TestResultReply(BaseModel):
    accepted: bool
    color: str


class VerifyRequest(Strict):
    payload: str = Field(max_length=1024)
    purpose: str = Field(default="场所查验", max_length=100)


class VerifyReply(BaseModel):
    valid: bool
    error: str | None
    color: str | None
    issuer: str | None
    expires_at: str | None
    subject_masked: str | None
    current_color: str | None = Field(default=None, description="With error STATUS_CHANGED: the holder's colour now "
                                                                "(the code was issued before it turned worse)")


@bp.post("/test-results")
@documented("Lab: post a test result (role lab); the citizen's status is re-evaluated at once",
            body=TestResultRequest, reply_model=TestResultReply, status=201, tag="admin")
async def post_test_result(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("lab")
    body = parse_body(request, TestResultRequest)
    status = await services(request).health.record_department_evidence(
        request.ctx.client, body.id_number, "test_result", body.sampled_at,
        {"result": body.result, "sample_id": body.sample_id}, action="test_result_posted",
    )
    return reply(TestResultReply(accepted=True, color=status.colour), status=201)


class VaccinationRequest(Strict):
    id_number: str = Field(max_length=32)
    vaccine: str = Field(min_length=2, max_length=64, description="Product name, e.g. 新冠病毒灭活疫苗（Vero细胞）")
    dose: int = Field(ge=1, le=10)
    complete: bool = Field(description="The full course is completed with this dose")
    administered_at: datetime


@bp.post("/vaccinations")
@documented("Vaccination site: post a vaccination record (role vaccinator)", body=VaccinationRequest,
            reply_model=TestResultReply, status=201, tag="admin")
async def post_vaccination(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("vaccinator")
    body = parse_body(request, VaccinationRequest)
    status = await services(request).health.record_department_evidence(
        request.ctx.client, body.id_number, "vaccination", body.administered_at,
        {"vaccine": body.vaccine, "dose": body.dose, "complete": body.complete}, action="vaccination_posted",
    )
    return reply(TestResultReply(accepted=True, color=status.colour), status=201)


@bp.post("/health-code/verifications")
@documented("Verifier: check a health code (role verifier); audited in the citizen's access log",
            body=VerifyRequest, reply_model=VerifyReply, tag="admin")
async def verify_code(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("verifier")
    body = parse_body(request, VerifyRequest)
    try:
        claims = await services(request).health.verify_for(request.ctx.client, body.payload, body.purpose)
    except CodeError as exc:
        return reply(VerifyReply(valid=False, error=exc.code, color=None, issuer=None, expires_at=None, subject_masked=None,
                                 current_color=exc.colour_now if isinstance(exc, StatusChanged) else None))
    return reply(VerifyReply(valid=True, error=None, color=claims.colour, issuer=claims.issuer,
                             expires_at=rfc3339(claims.expires_at), subject_masked=claims.subject_masked))


class VenueRequest(Strict):
    name: str = Field(min_length=2, max_length=100)
    address: str = Field(min_length=2, max_length=200)
    region_code: str = Field(pattern=r"^[0-9]{6}$", description="GB/T 2260 county code, e.g. 440106")


class VenueReply(BaseModel):
    id: str
    name: str
    venue_code: str


class ExposureRequest(Strict):
    starts_at: datetime
    ends_at: datetime


class ExposureReply(BaseModel):
    affected: int


@bp.post("/venues")
@documented("Organisation: register a venue and get its signed venue code (role venue_owner)",
            body=VenueRequest, reply_model=VenueReply, status=201, tag="admin")
async def register_venue(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("venue_owner")
    body = parse_body(request, VenueRequest)
    venue, code = await services(request).venues.register(request.ctx.client, body.name, body.address, body.region_code)
    return reply(VenueReply(id=venue.id, name=venue.name, venue_code=code), status=201)


@bp.post("/venues/<venue_id:str>/exposures")
@documented("Health administrator: a confirmed case was here in this window; visitors get exposure evidence (role health_admin)",
            body=ExposureRequest, reply_model=ExposureReply, status=201, tag="admin")
async def mark_exposure(request: Request, venue_id: str) -> HTTPResponse:
    request.ctx.client.require_role("health_admin")
    body = parse_body(request, ExposureRequest)
    affected = await services(request).venues.mark_exposure(request.ctx.client, venue_id, body.starts_at, body.ends_at)
    return reply(ExposureReply(affected=affected), status=201)


class DecisionRequest(Strict):
    decision: Literal["approve", "reject"]
    note: str = Field(min_length=2, max_length=500, description="Shown to the citizen")
    override_hours: int = Field(default=72, ge=1, le=336, description="How long an approval keeps the code green")


class PendingAppeal(BaseModel):
    id: str
    citizen_id: str
    color: str
    reason: str
    created_at: str
    status: str
    disputed_reasons: list[int] = Field(description="Reason codes of the evidence the appeal disputes; an upheld "
                                                    "appeal overrides that evidence only")
    override_until: str | None
    override_ended_at: str | None = Field(description="Set when later evidence that is not green ended the override")
    ended_by_reason: int | None = Field(description="The reason code of the evidence that ended it")


class PendingAppeals(BaseModel):
    items: list[PendingAppeal]


class Decision(BaseModel):
    id: str
    status: str
    override_until: str | None


@bp.get("/appeals")
@documented("Health administrator: appeals waiting for review, oldest first (?state=pending, the default), or upheld "
            "appeals whose override later evidence ended, newest first (?state=override_ended), ?limit=1..200; each "
            "citizen listed sees the read in their access log (role health_admin)",
            reply_model=PendingAppeals, tag="admin")
async def pending_appeals(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("health_admin")
    state = request.args.get("state", "pending")
    if state not in APPEAL_LISTS:
        raise ValidationFailed([{"field": "state", "problem": "one of " + ", ".join(APPEAL_LISTS)}])
    rows = await services(request).appeals.listed_for(request.ctx.client, state, limit_arg(request))
    codes = {rule.id: rule.code for rule in services(request).health.rules.all_reasons()}
    return reply(PendingAppeals(items=[appeal_out(a, codes) for a in rows]))


APPEAL_LISTS = ("pending", "override_ended")


def appeal_out(appeal: Appeal, codes: dict[str, int]) -> PendingAppeal:
    """An appeal as an administrator sees it; `codes` are the reason codes of the rule set's rules, by id."""
    disputed = sorted({codes[rule_id] for _, rule_id in appeal.judged or () if rule_id in codes})
    return PendingAppeal(id=appeal.id, citizen_id=appeal.citizen_id, color=appeal.colour, reason=appeal.reason,
                         created_at=rfc3339(appeal.created_at), status=appeal.status, disputed_reasons=disputed,
                         override_until=rfc3339(appeal.override_until),
                         override_ended_at=rfc3339(appeal.override_ended_at),
                         ended_by_reason=codes.get(appeal.ended_by or ""))


@bp.post("/appeals/<appeal_id:str>/decision")
@documented("Health administrator: approve (green until override_hours) or reject an appeal (role health_admin)",
            body=DecisionRequest, reply_model=Decision, tag="admin")
async def decide_appeal(request: Request, appeal_id: str) -> HTTPResponse:
    request.ctx.client.require_role("health_admin")
    body = parse_body(request, DecisionRequest)
    appeal = await services(request).appeals.decide(request.ctx.client, appeal_id, body.decision == "approve", body.note,
                                                    body.override_hours)
    return reply(Decision(id=appeal.id, status=appeal.status, override_until=rfc3339(appeal.override_until)))


class RiskAreaRequest(Strict):
    region_code: str = Field(pattern=r"^[0-9]{6}$", description="440106 a district, 440100 a whole city")
    level: Literal["high", "medium"]
    effective_from: datetime
    effective_to: datetime | None = None


class RiskAreaReply(BaseModel):
    id: str
    region_code: str
    level: str
    effective_from: str
    effective_to: str | None
    reevaluated: int


def risk_area_reply(area, reevaluated: int) -> RiskAreaReply:
    return RiskAreaReply(id=area.id, region_code=area.region_code, level=area.level,
                         effective_from=rfc3339(area.effective_from), effective_to=rfc3339(area.effective_to),
                         reevaluated=reevaluated)


@bp.post("/risk-areas")
@documented("Health administrator: add a risk area; travellers to it are re-evaluated at once (role health_admin)",
            body=RiskAreaRequest, reply_model=RiskAreaReply, status=201, tag="admin")
async def add_risk_area(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("health_admin")
    body = parse_body(request, RiskAreaRequest)
    area, count = await services(request).risk_areas.add(request.ctx.client, body.region_code, body.level,
                                                         body.effective_from, body.effective_to)
    return reply(risk_area_reply(area, count), status=201)


@bp.post("/risk-areas/<area_id:str>/end")
@documented("Health administrator: end a risk area now; its travellers are re-evaluated (role health_admin)",
            reply_model=RiskAreaReply, tag="admin")
async def end_risk_area(request: Request, area_id: str) -> HTTPResponse:
    request.ctx.client.require_role("health_admin")
    area, count = await services(request).risk_areas.end(request.ctx.client, area_id)
    return reply(risk_area_reply(area, count))


@bp.get("/venues/<venue_id:str>/poster.png")
@documented("Organisation: the venue code as a PNG poster to print (only for its own venues)", tag="admin")
async def venue_poster(request: Request, venue_id: str) -> HTTPResponse:
    request.ctx.client.require_role("venue_owner")
    image = await services(request).venues.poster(request.ctx.client, venue_id)
    return response.raw(image, content_type="image/png")
