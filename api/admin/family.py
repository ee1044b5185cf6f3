"""Service halls (政务服务大厅, role `hall_clerk`): in-person consent codes for family links, and revoking them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339

bp = audience_blueprint("admin_family", url_prefix="/api/admin/v1/family", audience="admin")
HALL_ROLE = "hall_clerk"


class HallCodeRequest(Strict):
    principal_id_number: str = Field(max_length=32, description="The ID card checked in person at the hall")
    proxy_phone: str = Field(max_length=32, description="The phone of the family member who will act for them")
    relation: Literal["child", "spouse", "parent", "grandchild", "sibling", "relative"] = "child"


class HallCodeReply(BaseModel):
    link_id: str
    code: str = Field(description="Give it to the principal on paper; the proxy enters it in their app")
    expires_in: int


class RevokedReply(BaseModel):
    link_id: str
    status: str
    revoked_at: str | None


@bp.post("/consent-codes")
@documented("Issue an in-person consent code for a family link (role hall_clerk)", body=HallCodeRequest,
            reply_model=HallCodeReply, status=201, tag="admin")
async def hall_code(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(HALL_ROLE)
    body = parse_body(request, HallCodeRequest)
    sent = await services(request).family.hall_code(request.ctx.client, body.principal_id_number, body.proxy_phone,
                                                    body.relation)
    return reply(HallCodeReply(link_id=sent.link.id, code=sent.code or "", expires_in=sent.expires_in), status=201)


@bp.delete("/links/<link_id:str>")
@documented("Revoke a family link at once, at the principal's request at the hall (role hall_clerk)",
            reply_model=RevokedReply, tag="admin")
async def revoke(request: Request, link_id: str) -> HTTPResponse:
    request.ctx.client.require_role(HALL_ROLE)
    link = await services(request).family.revoke_by_hall(request.ctx.client, link_id)
    return reply(RevokedReply(link_id=link.id, status=link.status, revoked_at=rfc3339(link.revoked_at)))
