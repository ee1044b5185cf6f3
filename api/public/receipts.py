"""Public verification of e-receipts (电子票据查验): anyone holding a receipt checks it, no sign-in."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, client_ip, documented, reply
from api.services import services
from app.clock import rfc3339
from app.security.ratelimit import hit

bp = audience_blueprint("public_receipts", url_prefix="/api/v1/e-receipts", audience="public")
CHECKS_PER_MINUTE = 30  # per address: enough for a desk checking receipts, too few to guess check codes


class ReceiptCheckOut(BaseModel):
    valid: bool
    number: str
    amount_fen: int | None
    currency: str | None
    payee: str | None
    description: str | None
    payer_name_masked: str | None
    paid_at: str | None
    status: str | None = Field(description="paid, partially_refunded or refunded")
    refunded_fen: int | None = Field(description="What the provider has refunded, in fen")
    remaining_fen: int | None = Field(description="What remains paid after the refunds, in fen")


@bp.get("/<number:str>")
@documented("Check an e-receipt: number in the path, check code `c` from its QR; says paid, refunded or not valid",
            reply_model=ReceiptCheckOut, tag="payments")
async def verify_receipt(request: Request, number: str) -> HTTPResponse:
    platform = services(request).platform
    await hit(platform.cache, platform.clock, f"receipt-check:{client_ip(request)}", CHECKS_PER_MINUTE, 60)
    check = await services(request).payments.receipts.verify(number, request.args.get("c", ""))
    return reply({**check.__dict__, "paid_at": rfc3339(check.paid_at)})
