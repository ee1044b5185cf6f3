"""网上预约: free seats of an item's slots on a day; book, change and cancel my appointments."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.errors import ValidationFailed
from app.i18n import ZH_HANS
from app.services.appointments.service import AppointmentView, SlotView
from app.services.catalogue import words as catalogue_words

bp = audience_blueprint("citizen_appointments", url_prefix="/api/v1", audience="citizen")


class Slot(BaseModel):
    id: str
    item_id: str
    item_name: str
    office: str
    starts_at: str
    ends_at: str
    capacity: int
    free: int = Field(description="Seats still free")


class SlotList(BaseModel):
    items: list[Slot]


class AppointmentReply(BaseModel):
    id: str
    status: str = Field(description="booked or cancelled")
    day: str = Field(description="The calendar day in Beijing time, YYYY-MM-DD")
    slot: Slot
    created_at: str


class AppointmentList(BaseModel):
    items: list[AppointmentReply]


class BookingRequest(Strict):
    slot_id: str = Field(min_length=1, max_length=40)


def slot_reply(slot: SlotView, language: str = ZH_HANS) -> Slot:
    """A slot as the API shows it; the item's name in `language` (clerks read the catalogue's own zh-Hans)."""
    return Slot(id=slot.id, item_id=slot.item_id, item_name=catalogue_words.text(slot.item_name, language),
                office=slot.office,
                starts_at=rfc3339(slot.starts_at), ends_at=rfc3339(slot.ends_at), capacity=slot.capacity, free=slot.free)


def appointment_reply(view: AppointmentView, language: str) -> AppointmentReply:
    return AppointmentReply(id=view.id, status=view.status, day=view.day.isoformat(),
                            slot=slot_reply(view.slot, language),
                            created_at=rfc3339(view.created_at))


def day_arg(request: Request) -> date:
    try:
        return date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        raise ValidationFailed([{"field": "day", "problem": "YYYY-MM-DD"}]) from None


@bp.get("/appointment-slots")
@documented("Slots of an item on a day (Beijing time) that have not started, with free seats (?item_id=&day=YYYY-MM-DD)",
            reply_model=SlotList, tag="appointments")
async def open_slots(request: Request) -> HTTPResponse:
    item_id = request.args.get("item_id", "")
    if not item_id:
        raise ValidationFailed([{"field": "item_id", "problem": "missing"}])
    slots = await services(request).appointments.open_slots(item_id, day_arg(request))
    return reply(SlotList(items=[slot_reply(s, request.ctx.language) for s in slots]))


@bp.post("/appointments")
@documented("Book a seat in a slot (409 SLOT_FULL, ALREADY_BOOKED for the same item and day, SLOT_STARTED)",
            body=BookingRequest, reply_model=AppointmentReply, status=201, level=LEVEL_REAL_NAME, tag="appointments")
@requires_level(LEVEL_REAL_NAME)
async def book(request: Request) -> HTTPResponse:
    body = parse_body(request, BookingRequest)
    view = await services(request).appointments.book(request.ctx.citizen_id, body.slot_id)
    return reply(appointment_reply(view, request.ctx.language), status=201)


@bp.get("/appointments")
@documented("My appointments, newest booking first", reply_model=AppointmentList, tag="appointments")
async def mine(request: Request) -> HTTPResponse:
    views = await services(request).appointments.mine(request.ctx.citizen_id)
    return reply(AppointmentList(items=[appointment_reply(v, request.ctx.language) for v in views]))


@bp.put("/appointments/<appointment_id:str>")
@documented("Move my appointment to another slot of the same item; the old seat is freed only if the new one is taken",
            body=BookingRequest, reply_model=AppointmentReply, level=LEVEL_REAL_NAME, tag="appointments")
@requires_level(LEVEL_REAL_NAME)
async def change(request: Request, appointment_id: str) -> HTTPResponse:
    body = parse_body(request, BookingRequest)
    view = await services(request).appointments.change(request.ctx.citizen_id, appointment_id, body.slot_id)
    return reply(appointment_reply(view, request.ctx.language))


@bp.delete("/appointments/<appointment_id:str>")
@documented("Cancel my appointment before it starts; the seat is free for others at once",
            reply_model=AppointmentReply, tag="appointments")
async def cancel(request: Request, appointment_id: str) -> HTTPResponse:
    view = await services(request).appointments.cancel(request.ctx.citizen_id, appointment_id)
    return reply(appointment_reply(view, request.ctx.language))
