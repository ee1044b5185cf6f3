"""Offices (办事窗口) publish appointment slots and see who is booked (role `office`)."""

from __future__ import annotations


from pydantic import AwareDatetime, BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.appointments import Slot, SlotList, day_arg, slot_reply
from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.services.appointments.service import OFFICE_ROLE

bp = audience_blueprint("admin_appointments", url_prefix="/api/admin/v1", audience="admin")


class SlotRequest(Strict):
    item_id: str = Field(min_length=1, max_length=40)
    office: str = Field(min_length=2, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    starts_at: AwareDatetime = Field(description="RFC 3339 with a zone")
    ends_at: AwareDatetime
    capacity: int = Field(description="Seats, 1..500")


class Booking(BaseModel):
    id: str
    status: str
    created_at: str


class BookingList(BaseModel):
    items: list[Booking]


@bp.post("/appointment-slots")
@documented("Publish a slot for an item (role office)", body=SlotRequest, reply_model=Slot, status=201, tag="admin")
async def publish(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(OFFICE_ROLE)
    body = parse_body(request, SlotRequest)
    slot = await services(request).appointments.publish_slot(request.ctx.client, body.item_id, body.office,
                                                             body.starts_at, body.ends_at, body.capacity)
    return reply(slot_reply(slot), status=201)


@bp.get("/appointment-slots")
@documented("Slots, optionally of one item (?item_id=) and one day (?day=YYYY-MM-DD, Beijing time) (role office)",
            reply_model=SlotList, tag="admin")
async def slots(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(OFFICE_ROLE)
    day = day_arg(request) if request.args.get("day") else None
    found = await services(request).appointments.office_slots(request.args.get("item_id") or None, day)
    return reply(SlotList(items=[slot_reply(s) for s in found]))


@bp.get("/appointment-slots/<slot_id:str>/bookings")
@documented("The live bookings of a slot (role office)", reply_model=BookingList, tag="admin")
async def bookings(request: Request, slot_id: str) -> HTTPResponse:
    request.ctx.client.require_role(OFFICE_ROLE)
    rows = await services(request).appointments.bookings(slot_id)
    return reply(BookingList(items=[Booking(id=r.id, status=r.status, created_at=rfc3339(r.created_at)) for r in rows]))
