"""Department APIs for payments (role `payments_admin`): read a payment (audited), refunds, reconciliation
(对账) runs and the discrepancy cases they open."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field, StrictInt
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.payments import PaymentOut, payment_out
from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.errors import ValidationFailed
from app.payments.models import DiscrepancyCase, Refund

bp = audience_blueprint("admin_payments", url_prefix="/api/admin/v1", audience="admin")
PAYMENTS_ADMIN = "payments_admin"


class RefundIn(Strict):
    amount_fen: StrictInt = Field(ge=1, description="Integer fen; never more than is left to refund")
    reason: str = Field(min_length=1, max_length=200)


class ReconciliationIn(Strict):
    date: dt.date = Field(description="The statement day (Beijing time), YYYY-MM-DD")


class ResolutionIn(Strict):
    resolution: str = Field(min_length=1, max_length=200)


def refund_out(refund: Refund) -> dict[str, Any]:
    return {"id": refund.id, "payment_id": refund.payment_id, "amount_fen": refund.amount_fen, "reason": refund.reason,
            "state": refund.state, "created_at": rfc3339(refund.created_at), "settled_at": rfc3339(refund.settled_at)}


def case_out(case: DiscrepancyCase) -> dict[str, Any]:
    return {"id": case.id, "statement_date": case.statement_date.isoformat(), "kind": case.kind,
            "reference": case.reference, "ours": case.ours, "theirs": case.theirs, "status": case.status,
            "resolution": case.resolution, "created_at": rfc3339(case.created_at),
            "resolved_at": rfc3339(case.resolved_at)}


@bp.get("/payments/<payment_id:str>")
@documented("Read a citizen's payment (query `purpose` required): the citizen sees this read in their access log",
            reply_model=PaymentOut, tag="payments")
async def read_payment(request: Request, payment_id: str) -> HTTPResponse:
    request.ctx.client.require_role(PAYMENTS_ADMIN)
    purpose = (request.args.get("purpose") or "").strip()
    if not 2 <= len(purpose) <= 200:
        raise ValidationFailed([{"field": "purpose", "problem": "2-200 characters saying why"}])
    view = await services(request).payments.for_admin(request.ctx.client, payment_id, purpose)
    return reply(payment_out(view, request.ctx.language))


@bp.post("/payments/<payment_id:str>/refunds")
@documented("Refund a paid payment, fully or partly (never more than is left)", body=RefundIn, status=201,
            tag="payments")
async def refund(request: Request, payment_id: str) -> HTTPResponse:
    request.ctx.client.require_role(PAYMENTS_ADMIN)
    body = parse_body(request, RefundIn)
    made = await services(request).payments.refund(request.ctx.client, payment_id, body.amount_fen, body.reason)
    return reply(refund_out(made), status=201)


@bp.post("/payment-reconciliations")
@documented("Run reconciliation (对账) for one statement day now; returns the discrepancy cases found and the "
            "refunds on the statement (refunds, refunded_fen)",
            body=ReconciliationIn, tag="payments")
async def reconcile(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(PAYMENTS_ADMIN)
    body = parse_body(request, ReconciliationIn)
    report = await services(request).payments.reconcile(body.date, ran_by=request.ctx.client.id)
    return reply({"statement_date": report.statement_date.isoformat(), "lines": report.lines, "matched": report.matched,
                  "new_cases": report.new_cases, "discrepancies": [case_out(c) for c in report.discrepancies],
                  "refunds": report.refunds, "refunded_fen": report.refunded_fen})


@bp.get("/payment-discrepancies")
@documented("Discrepancy cases from reconciliation, newest first (`status` open or resolved)", tag="payments")
async def discrepancies(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(PAYMENTS_ADMIN)
    status = request.args.get("status")
    if status not in (None, "open", "resolved"):
        raise ValidationFailed([{"field": "status", "problem": "open or resolved"}])
    cases = await services(request).payments.discrepancies(status)
    return reply({"items": [case_out(c) for c in cases]})


@bp.post("/payment-discrepancies/<case_id:str>/resolution")
@documented("Resolve a discrepancy case, saying how", body=ResolutionIn, tag="payments")
async def resolve(request: Request, case_id: str) -> HTTPResponse:
    request.ctx.client.require_role(PAYMENTS_ADMIN)
    body = parse_body(request, ResolutionIn)
    case = await services(request).payments.resolve_case(request.ctx.client, case_id, body.resolution)
    return reply(case_out(case))
