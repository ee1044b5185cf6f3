"""The citizen's online applications (办件): submit with an Idempotency-Key, follow, correct, rate (好差评).

Also the public rating summary of an item (`public_bp`: no sign-in, numbers only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, idempotency_key, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.services.applications.service import ApplicationView, MaterialGiven, decision_in, status_text
from app.services.catalogue import words as catalogue_words
from app.services.ratings.service import Rating
from app.services.ratings.service import RatingStats
from elderly_mode import replies as spoken_replies

bp = audience_blueprint("citizen_applications", url_prefix="/api/v1", audience="citizen")
public_bp = audience_blueprint("public_ratings", url_prefix="/api/v1/services", audience="public")



class MaterialIn(Strict):
    name: str = Field(min_length=1, max_length=100, description="The material's name as the item's guide lists it")
    licence_id: str | None = Field(default=None, max_length=40, description="A licence in your wallet (免提交)")
    upload_ref: str | None = Field(default=None, max_length=200, description="The id of one of your uploads (POST /api/v1/uploads)")

    @model_validator(mode="after")
    def one_source(self) -> "MaterialIn":
        if (self.licence_id is None) == (self.upload_ref is None):
            raise ValueError("give exactly one of licence_id and upload_ref")
        return self


class ApplicationIn(Strict):
    item_id: str = Field(min_length=1, max_length=40)
    form: dict[str, Any] = Field(default_factory=dict, description=(
        "The application form (stored encrypted), checked against the item's form_schema where it has one"))
    materials: list[MaterialIn] = Field(default_factory=list, max_length=30, description=(
        "Materials you name; those a valid wallet licence satisfies are attached by reference automatically"))


class CorrectionIn(Strict):
    form: dict[str, Any] | None = Field(default=None, description="The corrected form, replacing the old one")
    materials: list[MaterialIn] | None = Field(default=None, max_length=30, description="Replaces the materials given")
    note: str = Field(default="", max_length=500)


class RatingIn(Strict):
    score: int = Field(ge=1, le=5, description="1 (very bad) to 5 (very good); 2 or less opens a follow-up case")
    tags: list[str] = Field(default_factory=list, max_length=10)
    text: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def short_tags(self) -> "RatingIn":
        self.tags = [t.strip() for t in self.tags if t.strip()]
        if any(len(t) > 20 for t in self.tags):
            raise ValueError("a tag has at most 20 characters")
        return self


class EventOut(BaseModel):
    from_status: str | None
    to_status: str
    actor_type: str
    note: str
    at: str


class ApplicationOut(BaseModel):
    id: str
    item_id: str
    item_name: str
    status: str
    status_text: str
    decision: dict[str, Any] | None = Field(description="秒批: auto_approved, rules_version, each rule with passed")
    materials: list[dict[str, Any]]
    form: dict[str, Any] | None = None
    events: list[EventOut] | None = None
    created_at: str
    updated_at: str
    tts_text: str = Field(default="", description="The status in plain spoken words")
    undo_until: str | None = Field(default=None, description="Elderly mode: withdrawable without penalty until then")


class ApplicationList(BaseModel):
    items: list[ApplicationOut]


class RatingOut(BaseModel):
    id: str
    application_id: str
    score: int
    tags: list[str]
    text: str
    follow_up: bool = Field(description="A bad rating opened a follow-up case for the department")
    created_at: str


class RatingSummary(BaseModel):
    item_id: str
    count: int
    average: float | None
    good_rate: float | None = Field(description="Share of ratings 4 or 5")
    distribution: dict[str, int]


def application_out(view: ApplicationView, language: str, *, full: bool = True,
                    undo_until: datetime | None = None) -> dict[str, Any]:
    words = status_text(view.status, language)
    item_name = catalogue_words.text(view.item_name, language)
    body: dict[str, Any] = {
        "id": view.id, "item_id": view.item_id, "item_name": item_name, "status": view.status,
        "status_text": words, "decision": decision_in(view.decision, language), "materials": view.materials,
        "created_at": rfc3339(view.created_at), "updated_at": rfc3339(view.updated_at),
        "tts_text": spoken_replies.application(item_name, words, rfc3339(view.created_at), rfc3339(undo_until),
                                               language),
        "undo_until": rfc3339(undo_until),
    }
    if full:
        body["form"] = view.form
        body["events"] = [{"from_status": e.from_status, "to_status": e.to_status, "actor_type": e.actor_type,
                           "note": e.note, "at": rfc3339(e.at)} for e in view.events]
    return body


def materials_given(items: list[MaterialIn]) -> list[MaterialGiven]:
    return [MaterialGiven(m.name, m.licence_id, m.upload_ref) for m in items]


@bp.post("/applications")
@documented(
    "Submit an application (办件) with the header Idempotency-Key (8–64 of A–Z a–z 0–9 - _)", body=ApplicationIn,
    reply_model=ApplicationOut, status=201, level=LEVEL_REAL_NAME, tag="applications",
    description="201 with the application. A retry with the same key and the same body answers 201 again with the "
                "same application as it is now (header Idempotent-Replayed: true) and creates nothing; the same key "
                "with another body is 409 IDEMPOTENCY_KEY_REUSED. If the item's 秒批 rules all pass, the application "
                "is approved and completed at once (status completed, decision.auto_approved true); otherwise it is "
                "under_review with the failed rules in decision.rules. A form that does not fit the item's form_schema "
                "(GET /api/v1/services/{id}) is 422 FORM_INVALID with fields: [{field, title, problem}], one per "
                "failing field, and nothing is stored.")
@requires_level(LEVEL_REAL_NAME)
async def submit(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    body = parse_body(request, ApplicationIn)
    view, replayed = await services(request).applications.submit(
        request.ctx.citizen.id, key, body.item_id, body.form, materials_given(body.materials))
    undo_until = await services(request).undo.undo_until(request.ctx.citizen.id, view.id)
    return reply(application_out(view, request.ctx.language, undo_until=undo_until), status=201,
                 headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.get("/applications")
@documented("My applications, newest first", reply_model=ApplicationList, tag="applications")
async def mine(request: Request) -> HTTPResponse:
    views = await services(request).applications.mine(request.ctx.citizen_id)
    return reply({"items": [application_out(v, request.ctx.language, full=False) for v in views]})


@bp.get("/applications/<application_id:str>")
@documented("One of my applications with its form, materials, 秒批 decision and history", reply_model=ApplicationOut,
            tag="applications")
async def one(request: Request, application_id: str) -> HTTPResponse:
    view = await services(request).applications.one_of_mine(request.ctx.citizen_id, application_id)
    undo_until = await services(request).undo.undo_until(request.ctx.citizen_id, view.id)
    return reply(application_out(view, request.ctx.language, undo_until=undo_until))


@bp.post("/applications/<application_id:str>/corrections")
@documented("补正: answer a return with a corrected form and/or materials (only when status is returned)",
            body=CorrectionIn, reply_model=ApplicationOut, tag="applications")
async def correct(request: Request, application_id: str) -> HTTPResponse:
    body = parse_body(request, CorrectionIn)
    view = await services(request).applications.correct(
        request.ctx.citizen_id, application_id, body.form,
        materials_given(body.materials) if body.materials is not None else None, body.note)
    return reply(application_out(view, request.ctx.language))


@bp.post("/applications/<application_id:str>/rating")
@documented("好差评: rate a completed application once (409 RATING_EXISTS the second time)", body=RatingIn,
            reply_model=RatingOut, status=201, tag="applications")
async def rate(request: Request, application_id: str) -> HTTPResponse:
    body = parse_body(request, RatingIn)
    rating = await services(request).ratings.rate(request.ctx.citizen_id, application_id, body.score, body.tags,
                                                  body.text)
    return reply(rating_out(rating), status=201)


def rating_out(rating: Rating) -> dict[str, Any]:
    return {"id": rating.id, "application_id": rating.application_id, "score": rating.score, "tags": rating.tags,
            "text": rating.text, "follow_up": rating.score <= 2, "created_at": rfc3339(rating.created_at)}


def summary_out(item_id: str, stats: RatingStats) -> dict[str, Any]:
    return {"item_id": item_id, "count": stats.count, "average": stats.average, "good_rate": stats.good_rate,
            "distribution": stats.distribution}


@public_bp.get("/<item_id:str>/ratings")
@documented("Public: how citizens rated a service item (numbers only, no texts)", reply_model=RatingSummary,
            tag="services")
async def public_summary(request: Request, item_id: str) -> HTTPResponse:
    stats = await services(request).ratings.public_summary(item_id)
    return reply(summary_out(item_id, stats), headers={"Cache-Control": "public, max-age=60"})
