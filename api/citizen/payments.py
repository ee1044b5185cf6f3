"""The citizen's payments (缴费): what is owed, paying it with an Idempotency-Key, following it, the e-receipt."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, idempotency_key, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.payments.service import PaymentHeading, PaymentView, state_text

bp = audience_blueprint("citizen_payments", url_prefix="/api/v1", audience="citizen")


class PaymentIn(Strict):
    reference: str = Field(min_length=3, max_length=80, description="What is paid, from GET /api/v1/payables")
    amount_fen: StrictInt = Field(ge=1, le=10_000_000_00, description="Integer fen (分); must equal what is owed")
    currency: Literal["CNY"] = "CNY"
    description: str = Field(default="", max_length=127, description="Shown in WeChat Pay and on the receipt")


class NextStep(BaseModel):
    type: Literal["redirect", "wechat_app_pay", "wechat_request_payment"] = Field(
        description="wechat_app_pay: hand `params` to the WeChat open SDK (PayReq); wechat_request_payment: call "
                    "wx.requestPayment(params) in the mini-program; redirect: open `url` (a provider with a pay page)")
    url: str | None = None
    params: dict[str, str] | None = Field(default=None, description="signed by us, fresh on every read")


class PaymentOut(PaymentHeading):
    state_text: str
    refunded_fen: int
    next_step: NextStep | None = Field(description="How the client has the payer pay, while the payment is open")
    receipt_number: str | None
    created_at: str
    expires_at: str
    settled_at: str | None
    events: list[dict[str, Any]] | None = None
    refunds: list[dict[str, Any]] | None = None


class PaymentList(BaseModel):
    items: list[PaymentOut]


class PayableOut(BaseModel):
    reference: str
    kind: str
    amount_fen: int
    description: str
    paid: bool


class PayableList(BaseModel):
    items: list[PayableOut]


def next_step(view: PaymentView) -> dict[str, Any] | None:
    """What the client does to pay an open payment, in the channel it was made for."""
    if view.pay_params is None:
        return None
    kind = "wechat_request_payment" if view.channel == "jsapi" else "wechat_app_pay"
    return {"type": kind, "url": None, "params": view.pay_params}


def payment_out(view: PaymentView, language: str, *, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": view.id, "reference": view.reference, "reference_kind": view.reference_kind,
        "amount_fen": view.amount_fen, "currency": view.currency, "description": view.description,
        "state": view.state, "state_text": state_text(view.state, language), "refunded_fen": view.refunded_fen,
        "next_step": next_step(view),
        "receipt_number": view.receipt_number, "created_at": rfc3339(view.created_at),
        "expires_at": rfc3339(view.expires_at), "settled_at": rfc3339(view.settled_at),
    }
    if full:
        body["events"] = [{"from_state": e.from_state, "to_state": e.to_state, "actor_type": e.actor_type,
                           "note": e.note, "at": rfc3339(e.at)} for e in view.events]
        body["refunds"] = [{"id": r.id, "amount_fen": r.amount_fen, "state": r.state, "created_at": rfc3339(r.created_at),
                            "settled_at": rfc3339(r.settled_at)} for r in view.refunds]
    return body


@bp.get("/payables")
@documented("What you owe or have paid: application fees, traffic fines, utility bills (amounts in fen)",
            reply_model=PayableList, level=LEVEL_REAL_NAME, tag="payments")
@requires_level(LEVEL_REAL_NAME)
async def payables(request: Request) -> HTTPResponse:
    found = await services(request).payments.payables.of(request.ctx.citizen_id)
    return reply({"items": [p.__dict__ for p in found]})


@bp.post("/payments")
@documented("Pay a fee, fine or bill (header Idempotency-Key: a double tap makes one order); reply has next_step",
            body=PaymentIn, reply_model=PaymentOut, status=201, level=LEVEL_REAL_NAME, tag="payments")
@requires_level(LEVEL_REAL_NAME)
async def create_payment(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    body = parse_body(request, PaymentIn)
    view, replayed = await services(request).payments.create(request.ctx.citizen_id, key, body.reference,
                                                             body.amount_fen, body.currency, body.description)
    return reply(payment_out(view, request.ctx.language), status=200 if replayed else 201)


@bp.get("/payments")
@documented("Your payments, newest first", reply_model=PaymentList, tag="payments")
async def my_payments(request: Request) -> HTTPResponse:
    views = await services(request).payments.mine(request.ctx.citizen_id)
    return reply({"items": [payment_out(v, request.ctx.language, full=False) for v in views]})


@bp.get("/payments/<payment_id:str>")
@documented("One of your payments, with its events and refunds (an unsettled one is checked with the provider)",
            reply_model=PaymentOut, tag="payments")
async def my_payment(request: Request, payment_id: str) -> HTTPResponse:
    view = await services(request).payments.one_of_mine(request.ctx.citizen_id, payment_id)
    return reply(payment_out(view, request.ctx.language))


@bp.post("/payments/<payment_id:str>/cancellation")
@documented("Cancel an unpaid payment (the order is closed at the provider)", reply_model=PaymentOut, tag="payments")
async def cancel_payment(request: Request, payment_id: str) -> HTTPResponse:
    view = await services(request).payments.cancel(request.ctx.citizen_id, payment_id)
    return reply(payment_out(view, request.ctx.language))


@bp.get("/payments/<payment_id:str>/receipt")
@documented("The e-receipt (电子票据) of a paid payment: number, verification URL, image and PDF links; status "
            "paid, partially_refunded or refunded, with refunded_fen and remaining_fen", tag="payments")
async def receipt(request: Request, payment_id: str) -> HTTPResponse:
    view = await services(request).payments.receipt_of(request.ctx.citizen_id, payment_id)
    found, payment = view.receipt, view.payment
    receipts = services(request).payments.receipts
    return reply({"number": found.number, "payment_id": payment.id, "amount_fen": payment.amount_fen,
                  "payer_name_masked": found.payer_name_masked, "issued_at": rfc3339(found.issued_at),
                  "licence_id": found.licence_id, "verify_url": receipts.verify_url(found.number),
                  "image_url": f"/api/v1/payments/{payment.id}/receipt.png",
                  "pdf_url": f"/api/v1/payments/{payment.id}/receipt.pdf", "status": view.status,
                  "refunded_fen": view.refunded_fen, "remaining_fen": view.remaining_fen})


async def _receipt_file(request: Request, payment_id: str, fmt: str) -> HTTPResponse:
    view = await services(request).payments.receipt_of(request.ctx.citizen_id, payment_id)
    found = view.receipt
    data = await services(request).payments.receipts.image(found, view.payment, view.refunded_fen, fmt)
    kind = "application/pdf" if fmt == "pdf" else "image/png"
    return response.raw(data, content_type=kind, headers={
        "Cache-Control": "private, no-store", "Content-Disposition": f'inline; filename="{found.number}.{fmt}"'})


@bp.get("/payments/<payment_id:str>/receipt.png")
@documented("The e-receipt drawn as a PNG image, with its verification QR", tag="payments")
async def receipt_png(request: Request, payment_id: str) -> HTTPResponse:
    return await _receipt_file(request, payment_id, "png")


@bp.get("/payments/<payment_id:str>/receipt.pdf")
@documented("The e-receipt as a PDF (drawn with pillow), with its verification QR", tag="payments")
async def receipt_pdf(request: Request, payment_id: str) -> HTTPResponse:
    return await _receipt_file(request, payment_id, "pdf")
