"""The citizen's inbox (消息中心)."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, no_content, reply
from api.services import services
from app.clock import rfc3339
from app.errors import ValidationFailed
from app.notifications import service

bp = audience_blueprint("citizen_notifications", url_prefix="/api/v1/notifications", audience="citizen")


class InboxItem(BaseModel):
    id: str
    kind: str
    title: str
    body: str
    created_at: str
    read: bool


class Inbox(BaseModel):
    items: list[InboxItem]
    unread: int


class MarkedRead(BaseModel):
    marked: int


@bp.get("")
@documented("My messages, newest first, with the unread count (?limit=1..100, ?unread=1)", reply_model=Inbox, tag="notifications")
async def inbox(request: Request) -> HTTPResponse:
    try:
        limit = int(request.args.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ValidationFailed([{"field": "limit", "problem": "1..100"}])
    unread_only = request.args.get("unread", "") in {"1", "true"}
    items, unread = await service.inbox(request.ctx.citizen_id, request.ctx.language, limit, unread_only)
    return reply(Inbox(unread=unread, items=[
        InboxItem(id=m.id, kind=m.kind, title=m.title, body=m.body, created_at=rfc3339(m.created_at), read=m.read)
        for m in items
    ]))


@bp.post("/<message_id:str>/read")
@documented("Mark one message read", status=204, tag="notifications")
async def mark_read(request: Request, message_id: str) -> HTTPResponse:
    await service.mark_read(services(request).platform.clock, request.ctx.citizen_id, message_id)
    return no_content()


@bp.post("/read-all")
@documented("Mark all my messages read", reply_model=MarkedRead, tag="notifications")
async def mark_all_read(request: Request) -> HTTPResponse:
    marked = await service.mark_all_read(services(request).platform.clock, request.ctx.citizen_id)
    return reply(MarkedRead(marked=marked))
