"""Reconciliation (对账): the provider's daily trade bill compared with our records, and the discrepancy cases
the payments office resolves. Cases are opened here for every disagreement found anywhere in payments (a
notice or a query that does not match, a duplicate payment, an abnormal refund, a department that refuses a
settlement), one per (day, kind, reference), so a re-run finds the same case and opens no other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Sequence

from tortoise.exceptions import IntegrityError

from app import audit
from app.clock import CHINA_TZ, china_day
from app.errors import Conflict, NotFound, Unavailable
from app.ids import new_id
from app.integrations import ProviderError
from app.integrations.payment_providers import BillLine
from app.payments.context import Operations, provider_unavailable
from app.payments.models import DiscrepancyCase, Payment, ReconciliationRun, Receipt, Refund
from app.payments.rules import PAID, ours, plain
from app.security.clients import AuthenticatedClient

log = logging.getLogger("app.payments")

Found = tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]  # kind, reference, ours, theirs


@dataclass(frozen=True)
class ReconciliationReport:
    statement_date: date
    lines: int
    matched: int
    discrepancies: list[DiscrepancyCase]
    new_cases: int
    refunds: int  # refund lines on the statement
    refunded_fen: int  # and their sum


def pay_problem(payment: Payment | None, line: BillLine) -> str:
    """What is wrong with a payment line of the bill against our payment ('' when they agree)."""
    if payment is None:
        return "missing_in_ours"
    if line.amount_fen != payment.amount_fen or line.currency != payment.currency:
        return "amount_mismatch"
    if payment.state not in PAID:
        return "status_mismatch"
    return ""


def refund_problem(refund: Refund | None, line: BillLine) -> str:
    """What is wrong with a refund line of the bill against our refund ('' when they agree)."""
    if refund is None or refund.payment_id != line.merchant_order_id:
        return "refund_missing_in_ours"
    if line.amount_fen != refund.amount_fen:
        return "refund_amount_mismatch"
    if refund.state != "succeeded":
        return "refund_status_mismatch"
    return ""


def _refund_record(refund: Refund) -> dict[str, Any]:
    return {"refund_id": refund.id, "amount_fen": refund.amount_fen, "state": refund.state}


class Reconciliation(Operations):
    """对账 of a day's trade bill, and the cases it and the rest of payments open."""

    async def reconcile(self, day: date, ran_by: str = "scheduler") -> ReconciliationReport:
        """对账: compare the provider's trade bill for `day` (Beijing) with our records; one case per mismatch."""
        try:
            lines = await self.connected().bill(day)
        except ProviderError as failure:
            raise provider_unavailable(failure) from None
        # In UTC: SQLite compares the stored UTC text, so a +08:00 bound would select the wrong rows.
        start = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).astimezone(timezone.utc)
        end = start + timedelta(days=1)
        ours_paid = {p.id: p for p in await Payment.filter(settled_at__gte=start, settled_at__lt=end)}
        ours_refunds = {r.id: r for r in await Refund.filter(state="succeeded", settled_at__gte=start, settled_at__lt=end)}
        found, matched = await self._compare(lines, ours_paid, ours_refunds)
        cases, new = [], 0
        for kind, reference, our_record, theirs in found:
            case, created = await self.open_case(day, kind, reference, our_record, theirs)
            cases.append(case)
            new += created
        refunds = [line.amount_fen for line in lines if line.kind == "refund"]
        await ReconciliationRun.create(statement_date=day, lines=len(lines), matched=matched, discrepancies=len(found),
                                       refunds=len(refunds), refunded_fen=sum(refunds),
                                       ran_at=self.platform.clock.now(), ran_by=ran_by)
        await audit.record_event(self.platform.clock, actor=ran_by,
                                 actor_type="admin" if ran_by != "scheduler" else "system",
                                 action="payments_reconciled",
                                 attributes={"date": day.isoformat(), "lines": len(lines), "matched": matched,
                                             "discrepancies": len(found), "refunds": len(refunds),
                                             "refunded_fen": sum(refunds)})
        return ReconciliationReport(day, len(lines), matched, cases, new, len(refunds), sum(refunds))

    async def _compare(self, lines: Sequence[BillLine], ours_paid: dict[str, Payment],
                       ours_refunds: dict[str, Refund]) -> tuple[list[Found], int]:
        """The disagreements between the bill's lines and our records of the day, and how many lines matched."""
        found: list[Found] = []
        matched, seen_pay, seen_refund = 0, set(), set()
        for line in lines:
            if line.kind == "payment":
                seen_pay.add(line.merchant_order_id)
                problem = await self._payment_line(line, ours_paid)
            else:
                seen_refund.add(line.merchant_refund_id)
                problem = await self._refund_line(line, ours_refunds)
            if problem:
                found.append(problem)
            else:
                matched += 1
        found += [("missing_in_statement", payment.id, ours(payment), None)
                  for payment in ours_paid.values() if payment.id not in seen_pay]
        found += [("refund_missing_in_statement", refund.id, {"refund_id": refund.id, "amount_fen": refund.amount_fen},
                   None) for refund in ours_refunds.values() if refund.id not in seen_refund]
        return found, matched

    @staticmethod
    async def _payment_line(line: BillLine, ours_paid: dict[str, Payment]) -> Found | None:
        payment = ours_paid.get(line.merchant_order_id) or await Payment.get_or_none(id=line.merchant_order_id[:40])
        problem = pay_problem(payment, line)
        if not problem:
            return None
        return problem, line.merchant_order_id, ours(payment) if payment else None, plain(line)

    @staticmethod
    async def _refund_line(line: BillLine, ours_refunds: dict[str, Refund]) -> Found | None:
        refund = ours_refunds.get(line.merchant_refund_id) or await Refund.get_or_none(id=line.merchant_refund_id[:40])
        problem = refund_problem(refund, line)
        if not problem:
            return None
        return problem, line.merchant_refund_id, _refund_record(refund) if refund else None, plain(line)

    async def open_case(self, day: date, kind: str, reference: str, our_record: dict[str, Any] | None,
                        theirs: dict[str, Any] | None) -> tuple[DiscrepancyCase, bool]:
        """One case per (day, kind, reference): a re-run finds the same case, it does not open another."""
        existing = await DiscrepancyCase.get_or_none(statement_date=day, kind=kind, reference=reference[:80])
        if existing is not None:
            return existing, False
        try:
            case = await DiscrepancyCase.create(id=new_id("dc"), statement_date=day, kind=kind, reference=reference[:80],
                                                ours=our_record, theirs=theirs, status="open",
                                                created_at=self.platform.clock.now())
        except IntegrityError:
            return await DiscrepancyCase.get(statement_date=day, kind=kind, reference=reference[:80]), False
        log.warning("reconciliation %s: %s for %s", day, kind, reference)
        return case, True

    async def department_refused(self, payment: Payment, receipt: Receipt, kind: str) -> None:
        """The department answered that it will not record this settlement (or its reversal): asking again would
        not change that, so the settle job stops asking and the payments office gets a case to resolve with it."""
        now = self.platform.clock.now()
        column = "settlement_refused_at" if kind == "settlement_refused" else "reversal_refused_at"
        await Receipt.filter(number=receipt.number).update(**{column: now})
        await self.open_case(china_day(now), kind, payment.reference, ours(payment), None)
        await audit.record_event(self.platform.clock, actor="system", actor_type="system", action=kind,
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference})

    async def reconcile_yesterday(self) -> int:
        """The daily job: yesterday (Beijing) once, from 10:00 when statements are out, catching up if missed."""
        now = self.platform.clock.now().astimezone(CHINA_TZ)
        if self.provider is None or now.hour < 10:
            return 0
        day = now.date() - timedelta(days=1)
        if await ReconciliationRun.exists(statement_date=day):
            return 0
        try:
            return len((await self.reconcile(day)).discrepancies)
        except Unavailable:
            log.warning("the trade bill of %s could not be fetched; the next run tries again", day)
            return 0

    async def discrepancies(self, status: str | None, limit: int = 100) -> Sequence[DiscrepancyCase]:
        """The cases, newest first; only those in `status` when given."""
        query = DiscrepancyCase.all() if status is None else DiscrepancyCase.filter(status=status)
        return await query.order_by("-created_at").limit(limit)

    async def resolve_case(self, admin: AuthenticatedClient, case_id: str, resolution: str) -> DiscrepancyCase:
        """An admin closes an open case with what was done about it; a resolved one is not resolved again."""
        case = await DiscrepancyCase.get_or_none(id=case_id)
        if case is None:
            raise NotFound("DISCREPANCY_NOT_FOUND")
        if not await DiscrepancyCase.filter(id=case_id, status="open").update(
                status="resolved", resolution=resolution[:200], resolved_at=self.platform.clock.now()):
            raise Conflict("DISCREPANCY_RESOLVED")
        await audit.record_event(self.platform.clock, actor=admin.id, actor_type="admin", action="discrepancy_resolved",
                                 attributes={"case_id": case_id, "kind": case.kind, "reference": case.reference})
        return await DiscrepancyCase.get(id=case_id)
