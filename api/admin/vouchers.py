"""The ID authority (公安/发证机关) revokes vouchers when a card is reported lost or expires."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services

bp = audience_blueprint("admin_vouchers", url_prefix="/api/admin/v1", audience="admin")


class RevocationRequest(Strict):
    id_number: str = Field(max_length=32)
    reason: Literal["id_card_lost", "id_card_expired"]


class RevocationReply(BaseModel):
    voucher: str
    status: str


@bp.post("/voucher-revocations")
@documented("Revoke the voucher of the holder of an ID card reported lost or expired (role id_authority)",
            body=RevocationRequest, reply_model=RevocationReply, tag="admin")
async def revoke(request: Request) -> HTTPResponse:
    request.ctx.client.require_role("id_authority")
    body = parse_body(request, RevocationRequest)
    voucher = await services(request).vouchers.revoke_by_id_number(request.ctx.client, body.id_number, body.reason)
    return reply(RevocationReply(voucher=voucher.id, status=voucher.status))
