"""Venue check-in (场所码扫码登记)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339

bp = audience_blueprint("citizen_venues", url_prefix="/api/v1/venue-check-ins", audience="citizen")


class CheckInRequest(Strict):
    venue_code: str = Field(max_length=1024, description="The text of the scanned venue QR (GDVC1:...)")


class CheckInReply(BaseModel):
    id: str
    venue_id: str
    venue_name: str
    at: str


@bp.post("")
@documented("Check in at a venue by its scanned code; a repeat within 5 minutes returns the same check-in (200)",
            body=CheckInRequest, reply_model=CheckInReply, status=201, tag="health-code")
async def check_in(request: Request) -> HTTPResponse:
    body = parse_body(request, CheckInRequest)
    done = await services(request).venues.check_in(request.ctx.citizen_id, body.venue_code)
    return reply(CheckInReply(id=done.id, venue_id=done.venue_id, venue_name=done.venue_name, at=rfc3339(done.at)),
                 status=200 if done.repeated else 201)
