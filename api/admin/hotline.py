"""Department APIs for 12345 tickets (工单), role `clerk`: the queue of the clerk's department, reading a ticket
(in the citizen's access log), accepting (签收) and answering (答复) it.

A clerk works the tickets routed to its own department only (a clerk bound to none gets 403
CLIENT_DEPARTMENT_REQUIRED): another department's ticket answers 404, as an unknown one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.hotline import TicketOut, ticket_out
from api.http import audience_blueprint, documented, file_reply, limit_arg, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.errors import ValidationFailed
from app.hotline.service import CLERK, STATUS_TEXTS, TicketView

bp = audience_blueprint("admin_hotline", url_prefix="/api/admin/v1/hotline", audience="admin")


class TicketAnswerIn(Strict):
    answer: str = Field(min_length=2, max_length=2000, description="The answer the citizen reads (答复意见)")


class ClerkTicket(TicketOut):
    answer_round: int


class QueuedTicket(BaseModel):
    """A ticket in the queue: what and when, without the citizen's text and place (read one ticket for them)."""

    id: str
    category: str
    category_text: str
    item_id: str | None
    department_id: str
    department_name: str | None
    routed_by: str
    uploads: list[str]
    status: str
    status_text: str
    accept_due: str
    answer_due: str
    escalated: bool
    answer: str
    answer_round: int
    created_at: str
    updated_at: str
    closed_at: str | None


class ClerkQueue(BaseModel):
    items: list[QueuedTicket]


async def clerk_ticket(view: TicketView, language: str, *, full: bool = True) -> dict[str, Any]:
    body = await ticket_out(view, language, full=full)
    body["answer_round"] = view.answer_round
    if not full:
        body.pop("description")  # the queue shows what and when; the text is read (and logged) one by one
        body.pop("location")
    return body


@bp.get("/tickets")
@documented("Clerk: the tickets routed to the clerk's department, earliest answer deadline first (?status=, "
            "?limit=1..200) (role clerk)", reply_model=ClerkQueue, tag="hotline")
async def queue(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    status = request.args.get("status") or None
    if status is not None and status not in STATUS_TEXTS:
        raise ValidationFailed([{"field": "status", "problem": "one of " + ", ".join(STATUS_TEXTS)}])
    views = await services(request).hotline.queue(request.ctx.client, status, limit_arg(request))
    return reply({"items": [await clerk_ticket(v, request.ctx.language, full=False) for v in views]})


@bp.get("/tickets/<ticket_id:str>")
@documented("Clerk: read one ticket with its description, location and timeline; the citizen sees this read "
            "(role clerk)", reply_model=ClerkTicket, tag="hotline")
async def open_ticket(request: Request, ticket_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    view = await services(request).hotline.open_for_clerk(request.ctx.client, ticket_id)
    return reply(await clerk_ticket(view, request.ctx.language))


@bp.post("/tickets/<ticket_id:str>/accept")
@documented("Clerk: accept (签收) a submitted ticket (409 otherwise) (role clerk)", reply_model=ClerkTicket,
            tag="hotline")
async def accept(request: Request, ticket_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    view = await services(request).hotline.accept(request.ctx.client, ticket_id)
    return reply(await clerk_ticket(view, request.ctx.language))


@bp.post("/tickets/<ticket_id:str>/answer")
@documented("Clerk: answer (答复) an accepted or reopened ticket (409 otherwise) (role clerk)", body=TicketAnswerIn,
            reply_model=ClerkTicket, tag="hotline")
async def answer(request: Request, ticket_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    body = parse_body(request, TicketAnswerIn)
    view = await services(request).hotline.answer(request.ctx.client, ticket_id, body.answer)
    return reply(await clerk_ticket(view, request.ctx.language))


@bp.get("/tickets/<ticket_id:str>/uploads/<upload_id:str>")
@documented("Clerk: one upload attached to a ticket of the clerk's department, decrypted; the citizen sees this "
            "view in their access log (role clerk)", tag="hotline")
async def ticket_upload(request: Request, ticket_id: str, upload_id: str) -> HTTPResponse:
    request.ctx.client.require_role(CLERK)
    found = await services(request).hotline.upload_for_clerk(request.ctx.client, ticket_id, upload_id)
    return file_reply(found.content, found.info.content_type, found.info.filename)
