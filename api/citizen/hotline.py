"""The citizen's 12345 tickets (工单): file a 投诉 / 建议 / 咨询 / 求助, follow it against its deadlines,
confirm or reopen the department's answer, and rate it (好差评)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.applications import RatingIn
from api.http import audience_blueprint, documented, idempotency_key, limit_arg, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.hotline.service import Location, TicketDraft, TicketView, category_text, note_text, status_text
from app.services.catalogue.service import department_name_of
from app.services.ratings.service import TicketRating, is_bad

bp = audience_blueprint("citizen_hotline", url_prefix="/api/v1/hotline", audience="citizen")

Category = Literal["complaint", "suggestion", "enquiry", "help"]


class LocationIn(Strict):
    address: str = Field(min_length=2, max_length=200, description="Where it happened, as you would tell a person")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="WGS-84, with longitude")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="WGS-84, with latitude")

    @model_validator(mode="after")
    def both_or_neither(self) -> "LocationIn":
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        return self


class TicketIn(Strict):
    category: Category = Field(description="complaint 投诉, suggestion 建议, enquiry 咨询 or help 求助")
    description: str = Field(min_length=2, max_length=2000, description="What happened or what you ask")
    location: LocationIn
    item_id: str | None = Field(default=None, max_length=40, description="The catalogue item it is about, if any: "
                                                                        "routes it to that item's department")
    department_id: str | None = Field(default=None, max_length=40, description="The department it is for, if known")
    uploads: list[str] = Field(default_factory=list, max_length=9, description="Ids of your uploads (photos, files)")


class ReopenIn(Strict):
    reason: str = Field(min_length=2, max_length=500, description="Why the answer does not settle it")


class TicketEventOut(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    actor_type: str
    note: str
    text: str = Field(default="", description="What a person wrote with this step: the department's answer of that "
                                               "round, or the citizen's reason for reopening")
    at: str


class TicketOut(BaseModel):
    id: str
    category: str
    category_text: str
    description: str
    location: dict[str, Any]
    item_id: str | None
    department_id: str
    department_name: str | None
    routed_by: str = Field(description="item, department or category: what decided the department")
    uploads: list[str]
    status: str
    status_text: str
    accept_due: str = Field(description="The department accepts (签收) by then")
    answer_due: str = Field(description="The department answers (答复) by then")
    escalated: bool = Field(description="A time limit was missed and the ticket escalated (督办)")
    answer: str
    created_at: str
    updated_at: str
    closed_at: str | None
    events: list[TicketEventOut] | None = None
    ratings: list[dict[str, Any]] | None = None


class TicketList(BaseModel):
    items: list[TicketOut]


class TicketRatingOut(BaseModel):
    id: str
    ticket_id: str
    answer_round: int
    score: int
    tags: list[str]
    text: str
    reopened: bool = Field(description="A bad rating (2 or less) sent the ticket back to its department")
    created_at: str


async def ticket_out(view: TicketView, language: str, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": view.id, "category": view.category, "category_text": category_text(view.category, language),
        "description": view.description,
        "location": {"address": view.location.address, "latitude": view.location.latitude,
                     "longitude": view.location.longitude},
        "item_id": view.item_id, "department_id": view.department_id,
        "department_name": await department_name_of(view.department_id, language), "routed_by": view.routed_by,
        "uploads": view.uploads, "status": view.status, "status_text": status_text(view.status, language),
        "accept_due": rfc3339(view.accept_due), "answer_due": rfc3339(view.answer_due), "escalated": view.escalated,
        "answer": view.answer, "created_at": rfc3339(view.created_at), "updated_at": rfc3339(view.updated_at),
        "closed_at": rfc3339(view.closed_at),
    }
    if full:
        body["events"] = [{"action": e.action, "from_status": e.from_status, "to_status": e.to_status,
                           "actor_type": e.actor_type, "note": note_text(e.note, language) or e.words,
                           "text": e.words, "at": rfc3339(e.at)} for e in view.events]
        body["ratings"] = [{"answer_round": r.answer_round, "score": r.score, "created_at": rfc3339(r.created_at)}
                           for r in view.ratings]
    return body


def ticket_rating_out(rating: TicketRating) -> dict[str, Any]:
    return {"id": rating.id, "ticket_id": rating.ticket_id, "answer_round": rating.answer_round,
            "score": rating.score, "tags": rating.tags, "text": rating.text, "reopened": is_bad(rating.score),
            "created_at": rfc3339(rating.created_at)}


def draft_of(body: TicketIn) -> TicketDraft:
    place = Location(body.location.address, body.location.latitude, body.location.longitude)
    return TicketDraft(body.category, body.description, place, body.item_id or None, body.department_id or None,
                       list(dict.fromkeys(body.uploads)))


@bp.post("/tickets")
@documented("File a 12345 ticket (投诉 / 建议 / 咨询 / 求助) with a location and optional uploads, with the header "
            "Idempotency-Key (8–64 of A–Z a–z 0–9 - _)", body=TicketIn, reply_model=TicketOut, status=201,
            tag="hotline",
            description="201 with the ticket, routed to a department (the item's, the department named, or the "
                        "category's), with the deadlines to accept and to answer in working days. 422 with fields "
                        "for an unknown category, an empty description, coordinates out of range or given alone; 404 "
                        "TICKET_ITEM_NOT_FOUND / TICKET_DEPARTMENT_NOT_FOUND for an item or department the catalogue "
                        "does not have; 404 UPLOAD_NOT_FOUND (naming the field) for an upload not yours. A retry with "
                        "the same key and the same body answers 201 again with the same ticket as it is now (header "
                        "Idempotent-Replayed: true) and files nothing; the same key with another body is 409 "
                        "IDEMPOTENCY_KEY_REUSED (naming ticket_id); no key is 400 IDEMPOTENCY_KEY_REQUIRED, a malformed "
                        "one 400 IDEMPOTENCY_KEY_INVALID.")
async def submit(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    body = parse_body(request, TicketIn)
    view, replayed = await services(request).hotline.submit(request.ctx.citizen_id, key, draft_of(body))
    return reply(await ticket_out(view, request.ctx.language), status=201,
                 headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.get("/tickets")
@documented("My 12345 tickets, newest first (?limit=1..200)", reply_model=TicketList, tag="hotline")
async def mine(request: Request) -> HTTPResponse:
    views = await services(request).hotline.mine(request.ctx.citizen_id, limit_arg(request))
    return reply({"items": [await ticket_out(v, request.ctx.language, full=False) for v in views]})


@bp.get("/tickets/<ticket_id:str>")
@documented("One of my 12345 tickets with its timeline and ratings (someone else's: 404)", reply_model=TicketOut,
            tag="hotline")
async def one(request: Request, ticket_id: str) -> HTTPResponse:
    view = await services(request).hotline.one_of_mine(request.ctx.citizen_id, ticket_id)
    return reply(await ticket_out(view, request.ctx.language))


@bp.post("/tickets/<ticket_id:str>/confirm")
@documented("Confirm the department's answer: the ticket is closed and may be rated (409 unless answered)",
            reply_model=TicketOut, tag="hotline")
async def confirm(request: Request, ticket_id: str) -> HTTPResponse:
    view = await services(request).hotline.confirm(request.ctx.citizen_id, ticket_id)
    return reply(await ticket_out(view, request.ctx.language))


@bp.post("/tickets/<ticket_id:str>/reopen")
@documented("Reopen an answered ticket: the department answers again within the answer limit (409 unless answered)",
            body=ReopenIn, reply_model=TicketOut, tag="hotline")
async def reopen(request: Request, ticket_id: str) -> HTTPResponse:
    body = parse_body(request, ReopenIn)
    view = await services(request).hotline.reopen(request.ctx.citizen_id, ticket_id, body.reason)
    return reply(await ticket_out(view, request.ctx.language))


@bp.post("/tickets/<ticket_id:str>/rating")
@documented("好差评: rate a closed ticket's answer once; 2 or less reopens it (409 unless closed, or rated)",
            body=RatingIn, reply_model=TicketRatingOut, status=201, tag="hotline")
async def rate(request: Request, ticket_id: str) -> HTTPResponse:
    body = parse_body(request, RatingIn)
    rating = await services(request).hotline.rate(request.ctx.citizen_id, ticket_id, body.score, body.tags, body.text)
    return reply(ticket_rating_out(rating), status=201)
