"""Department APIs for online applications: the clerk queue (role `clerk`), 秒批 rules (role
`catalogue_admin`), rating statistics and follow-up cases of bad ratings (好差评).

A clerk works its own department's items only (the department its client is bound to; a clerk
bound to none gets 403 CLIENT_DEPARTMENT_REQUIRED): another department's application or case
answers 404, as an unknown one, and never appears in a listing or a statistic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, file_reply, limit_arg, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.errors import ValidationFailed
from app.security.clients import AuthenticatedClient
from app.services.applications.service import CATALOGUE_ADMIN, CLERK, STATUSES, ApplicationView, status_text
from app.services.ratings.service import FollowUpCase
from app.services.catalogue.service import ServiceItem
from app.services.ratings.service import case_state

bp = audience_blueprint("admin_applications", url_prefix="/api/admin/v1", audience="admin")


def require_any_role(client: AuthenticatedClient, *roles: str) -> None:
    if not any(role in client.roles for role in roles):
        client.require_role(roles[0])


class DecisionIn(Strict):
    decision: Literal["approve", "reject", "return"]
    note: str = Field(default="", max_length=500, description="Required to reject or return: the citizen reads it")

    @model_validator(mode="after")
    def reason_given(self) -> "DecisionIn":
        if self.decision != "approve" and not self.note:
            raise ValueError("a note saying why is required to reject or return")
        return self


class CompletionIn(Strict):
    note: str = Field(default="", max_length=500)


class RulesIn(Strict):
    rules: dict[str, Any] | None = Field(description=(
        '{"all": [{"fact", "op", "value"}, ...]} or null for no 秒批. A fact `form.<field>` reads what the citizen '
        'declared in a field the item\'s form schema declares with that type (else 422 APPROVAL_RULES_INVALID)'))


class AnswerIn(Strict):
    answer: str = Field(min_length=2, max_length=1000)


class ClerkApplication(BaseModel):
    id: str
    item_id: str
    item_name: str
    department_id: str
    status: str
    status_text: str
    citizen_name_masked: str | None
    citizen_id_number_masked: str | None = None
    assigned_to: str | None
    decision: dict[str, Any] | None
    materials: list[dict[str, Any]] | None = None
    form: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    created_at: str
    updated_at: str


class Queue(BaseModel):
    items: list[ClerkApplication]


class RulesOut(BaseModel):
    item_id: str
    rules_version: int
    approval_rules: dict[str, Any] | None


class RatingStatsOut(BaseModel):
    item_id: str | None
    department_id: str | None
    count: int
    average: float | None
    good_rate: float | None
    bad_count: int
    distribution: dict[str, int]
    top_tags: list[dict[str, Any]]
    follow_up_cases: dict[str, int]


class CaseOut(BaseModel):
    id: str
    department_id: str
    application_id: str
    item_id: str
    score: int
    tags: list[str]
    text: str
    state: str = Field(description="open, overdue or answered")
    deadline: str
    answer: str
    created_at: str
    closed_at: str | None


class CaseList(BaseModel):
    items: list[CaseOut]


def clerk_view(view: ApplicationView, language: str, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": view.id, "item_id": view.item_id, "item_name": view.item_name, "department_id": view.department_id,
        "status": view.status, "status_text": status_text(view.status, language),
        "citizen_name_masked": view.citizen_name_masked, "assigned_to": view.assigned_to, "decision": view.decision,
        "created_at": rfc3339(view.created_at), "updated_at": rfc3339(view.updated_at),
    }
    if full:
        body.update(citizen_id_number_masked=view.citizen_id_number_masked, materials=view.materials, form=view.form,
                    events=[{"from_status": e.from_status, "to_status": e.to_status, "actor": e.actor,
                             "actor_type": e.actor_type, "note": e.note, "at": rfc3339(e.at)} for e in view.events])
    return body


@bp.get("/applications")
@documented("Clerk: the work queue of the clerk's department, oldest first (?status=under_review by default, "
            "?item_id=, ?limit=1..200); citizen names masked, each listing in the citizen's access log (role clerk)",
            reply_model=Queue,
            tag="applications")
async def queue(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    status = request.args.get("status", "under_review")
    if status not in STATUSES:
        raise ValidationFailed([{"field": "status", "problem": "one of " + ", ".join(STATUSES)}])
    views = await services(request).applications.queue(request.ctx.client, status, request.args.get("item_id") or None,
                                                       limit_arg(request))
    return reply({"items": [clerk_view(v, request.ctx.language, full=False) for v in views]})


@bp.get("/applications/<application_id:str>")
@documented("Clerk: read one application with its form and materials; the citizen sees this read (role clerk)",
            reply_model=ClerkApplication, tag="applications")
async def open_application(request: Request, application_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    view = await services(request).applications.open_for_clerk(request.ctx.client, application_id)
    return reply(clerk_view(view, request.ctx.language))


@bp.get("/applications/<application_id:str>/materials/<upload_id:str>")
@documented("Clerk: an uploaded material of the application, decrypted, with its type; the citizen sees each view "
            "in their access log (role clerk)", tag="applications",
            description="The file itself (image/jpeg, image/png or application/pdf). 404 UPLOAD_NOT_FOUND for an "
                        "upload that is not this application's.")
async def material(request: Request, application_id: str, upload_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    found = await services(request).applications.material_for_clerk(request.ctx.client, application_id, upload_id)
    return file_reply(found.content, found.info.content_type, found.info.filename)


@bp.post("/applications/<application_id:str>/claim")
@documented("Clerk: claim an application; another clerk then gets 409 APPLICATION_ASSIGNED_ELSEWHERE (role clerk)",
            reply_model=ClerkApplication, tag="applications")
async def claim(request: Request, application_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    view = await services(request).applications.claim(request.ctx.client, application_id)
    return reply(clerk_view(view, request.ctx.language))


@bp.post("/applications/<application_id:str>/decision")
@documented("Clerk: approve, reject or return (退回补正) an application under review (role clerk)", body=DecisionIn,
            reply_model=ClerkApplication, tag="applications")
async def decide(request: Request, application_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    body = parse_body(request, DecisionIn)
    view = await services(request).applications.decide(request.ctx.client, application_id, body.decision, body.note)
    return reply(clerk_view(view, request.ctx.language))


@bp.post("/applications/<application_id:str>/completion")
@documented("Clerk: complete (办结) an approved application (role clerk)", body=CompletionIn,
            reply_model=ClerkApplication, tag="applications")
async def complete(request: Request, application_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    body = parse_body(request, CompletionIn)
    view = await services(request).applications.complete(request.ctx.client, application_id, body.note)
    return reply(clerk_view(view, request.ctx.language))


def rules_out(item: ServiceItem) -> dict[str, Any]:
    return {"item_id": item.id, "rules_version": item.rules_version, "approval_rules": item.approval_rules}


@bp.get("/services/<item_id:str>/approval-rules")
@documented("An item's 秒批 rules and their version (role catalogue_admin, or clerk for its department's items)",
            reply_model=RulesOut, tag="applications")
async def get_rules(request: Request, item_id: str) -> HTTPResponse:
    require_any_role(request.ctx.client, CATALOGUE_ADMIN, CLERK)
    return reply(rules_out(await services(request).applications.rules_of(request.ctx.client, item_id)))


@bp.put("/services/<item_id:str>/approval-rules")
@documented("Replace an item's 秒批 rules (the version goes up; earlier decisions keep theirs) (role catalogue_admin)",
            body=RulesIn, reply_model=RulesOut, tag="applications",
            description='Facts: identity_level, age, prior_applications (==, !=, >, >=, <, <=, in, not_in), region '
                        '(==, !=, in, not_in, starts_with), holds_licence (holds, lacks; value a licence type code).')
async def set_rules(request: Request, item_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CATALOGUE_ADMIN)
    body = parse_body(request, RulesIn)
    item = await services(request).applications.set_rules(request.ctx.client, item_id, body.rules)
    return reply(rules_out(item))


@bp.get("/ratings/stats")
@documented("好差评 statistics for one item (?item_id=) or one department (?department_id=), or all "
            "(role catalogue_admin; role clerk: within its own department)", reply_model=RatingStatsOut, tag="applications")
async def rating_stats(request: Request) -> HTTPResponse:
    require_any_role(request.ctx.client, CLERK, CATALOGUE_ADMIN)
    item_id, department_id = request.args.get("item_id") or None, request.args.get("department_id") or None
    if item_id and department_id:
        raise ValidationFailed([{"field": "item_id", "problem": "give item_id or department_id, not both"}])
    stats = await services(request).ratings.stats(request.ctx.client, item_id=item_id, department_id=department_id)
    return reply({"item_id": item_id, "department_id": department_id, "count": stats.count, "average": stats.average,
                  "good_rate": stats.good_rate, "bad_count": stats.bad_count, "distribution": stats.distribution,
                  "top_tags": stats.top_tags, "follow_up_cases": stats.cases})


def case_out(case: FollowUpCase, now) -> dict[str, Any]:
    rating = case.rating
    return {"id": case.id, "department_id": case.department_id, "application_id": rating.application_id,
            "item_id": rating.item_id, "score": rating.score, "tags": rating.tags, "text": rating.text,
            "state": case_state(case, now), "deadline": rfc3339(case.deadline), "answer": case.answer,
            "created_at": rfc3339(case.created_at), "closed_at": rfc3339(case.closed_at)}


@bp.get("/follow-up-cases")
@documented("Follow-up cases of bad ratings of the clerk's department, earliest deadline first "
            "(?state=open|overdue|answered, ?department_id=) (role clerk)", reply_model=CaseList, tag="applications")
async def follow_up_cases(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    state = request.args.get("state") or None
    if state not in (None, "open", "overdue", "answered"):
        raise ValidationFailed([{"field": "state", "problem": "open, overdue or answered"}])
    cases = await services(request).ratings.cases(request.ctx.client, request.args.get("department_id") or None, state,
                                                  limit_arg(request))
    now = services(request).platform.clock.now()
    return reply({"items": [case_out(c, now) for c in cases]})


@bp.post("/follow-up-cases/<case_id:str>/answer")
@documented("Answer a follow-up case; the citizen gets the answer in their inbox (role clerk)", body=AnswerIn,
            reply_model=CaseOut, tag="applications")
async def answer_case(request: Request, case_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    body = parse_body(request, AnswerIn)
    case = await services(request).ratings.answer_case(request.ctx.client, case_id, body.answer)
    await case.fetch_related("rating")
    return reply(case_out(case, services(request).platform.clock.now()))
