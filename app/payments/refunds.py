"""Refunds (退款): an admin's refund, or ours of a duplicate payment, asked of the provider and settled when it
says how the refund ended (its answer, its notice, or the settle job's query).

The amount is reserved first (never more than is left), and given back only when the refund failed. A full
refund undoes the settlement: the fine, bill or fee is owed again (its paid reference goes in the same
transaction as the move), its department is told, and the receipt's wallet licence becomes refunded.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Awaitable, Callable

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app import audit
from app.db import column
from app.errors import Conflict, NotFound, Unavailable
from app.integrations import ProviderError
from app.integrations.payment_providers import INSUFFICIENT_FUNDS, ProviderRefund, ProviderRefused
from app.money import yuan
from app.notifications.service import notify
from app.payments.context import Operations, PaymentsContext
from app.payments.models import PaidReference, Payment, Receipt, Refund
from app.payments.moves import audit_move, write_move
from app.payments.receipts import refunded_fen
from app.payments.reconciliation import Reconciliation
from app.payments.rules import UNSETTLED_REFUNDS, WALLET_COPY_ERASED, StateConflict, provider_time, wallet_fields
from app.security.clients import AuthenticatedClient

log = logging.getLogger("app.payments")


def _refund_moves_receipt(payment_id: str, target: str) -> Callable[[Any], Awaitable[None]]:
    """What commits with a refund's move: the receipt is marked for its wallet licence and, refunded in full,
    the fine, bill or fee this payment settled is owed again (a duplicate payment settled none)."""

    async def write(conn: Any) -> None:
        await Receipt.filter(payment_id=payment_id).using_db(conn).update(wallet_outdated=True)
        if target == "refunded":
            await PaidReference.filter(payment_id=payment_id).using_db(conn).delete()

    return write


class Refunds(Operations):
    """Refunds asked for, and how each ends: succeeded, failed or abnormal."""

    def __init__(self, context: PaymentsContext, cases: Reconciliation) -> None:
        super().__init__(context)
        self.cases = cases

    async def refund(self, admin: AuthenticatedClient, payment_id: str, amount_fen: int, reason: str) -> Refund:
        """An admin refunds (part of) a paid payment."""
        payment = await Payment.get_or_none(id=payment_id)
        if payment is None:
            raise NotFound("PAYMENT_NOT_FOUND")
        return await self.request(payment, amount_fen, reason, admin.id)

    async def request(self, payment: Payment, amount_fen: int, reason: str, by: str) -> Refund:
        """Reserve the amount (a conditional UPDATE: never more than is left), then ask the provider."""
        if payment.state not in ("success", "partially_refunded"):
            raise StateConflict(payment.state, "refunded")
        reserved = await Payment.filter(id=payment.id, state__in=("success", "partially_refunded"),
                                        refunded_fen__lte=payment.amount_fen - amount_fen).update(
            refunded_fen=F("refunded_fen") + amount_fen, updated_at=self.platform.clock.now())
        if not reserved:
            left = (await Payment.get(id=payment.id)).amount_fen - (await Payment.get(id=payment.id)).refunded_fen
            raise Conflict("REFUND_EXCEEDS_REMAINDER", params={"left": yuan(max(0, left))},
                           extra={"refundable_fen": max(0, left)})
        refund = await Refund.create(id=f"RF{secrets.token_hex(12).upper()}", payment_id=payment.id,
                                     amount_fen=amount_fen, reason=reason[:200], state="pending", requested_by=by,
                                     created_at=self.platform.clock.now())
        await audit.record_event(self.platform.clock, actor=by, actor_type="system" if by == "system" else "admin",
                                 action="refund_requested", subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "refund_id": refund.id, "amount_fen": amount_fen})
        try:
            answer = await self.connected().refund(payment.id, refund.id, amount_fen, payment.amount_fen, reason,
                                                   self.context.notify_url)
        except ProviderRefused as refused:
            await self.failed(refund, refused.provider_code)
            if refused.code == INSUFFICIENT_FUNDS:
                raise Conflict("REFUND_INSUFFICIENT_FUNDS") from None
            raise Conflict("REFUND_REFUSED", params={"code": refused.provider_code}) from None
        except (ProviderError, Unavailable):
            return refund  # pending: the scheduled query finishes it
        await Refund.filter(id=refund.id).update(provider_refund_id=answer.provider_refund_id)
        if answer.status == "succeeded":
            await self.succeeded(refund.id, payment.id, answer)
        elif answer.status == "failed":
            await self.failed(refund, "FAILED")
        elif answer.status == "abnormal":
            await self.abnormal(refund, "ABNORMAL")
        return await Refund.get(id=refund.id)

    async def failed(self, refund: Refund, why: str) -> bool:
        """pending → failed once: the reserved amount is refundable again, in the same transaction (a failed
        refund whose amount stayed reserved could never be refunded again)."""
        async with in_transaction() as conn:
            if not await Refund.filter(id=refund.id, state__in=UNSETTLED_REFUNDS).using_db(conn).update(
                    state="failed", settled_at=self.platform.clock.now()):
                return False
            await Payment.filter(id=refund.payment_id).using_db(conn).update(
                refunded_fen=F("refunded_fen") - refund.amount_fen)
        payment = await Payment.get(id=refund.payment_id)
        await audit.record_event(self.platform.clock, actor="payment_provider", actor_type="system",
                                 action="refund_failed", subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "refund_id": refund.id, "why": why[:40]})
        return True

    async def abnormal(self, refund: Refund, why: str) -> bool:
        """pending → abnormal once: the money did not reach the payer. The amount stays reserved (the provider
        can still pay it out, so refunding it again could pay twice) and a case is opened for the office."""
        if not await Refund.filter(id=refund.id, state="pending").update(state="abnormal"):
            return False
        payment = await Payment.get(id=refund.payment_id)
        await audit.record_event(self.platform.clock, actor="payment_provider", actor_type="system",
                                 action="refund_abnormal", subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "refund_id": refund.id, "why": why[:40]})
        await self.cases.open_case(self.platform.clock.today(), "refund_abnormal", refund.id,
                                   {"refund_id": refund.id, "payment_id": payment.id, "amount_fen": refund.amount_fen},
                                   None)
        return True

    async def succeeded(self, refund_id: str, payment_id: str, answer: ProviderRefund) -> bool:
        """pending (or abnormal) → succeeded once, and the payment partially refunded or refunded in the same
        transaction: a crash leaves neither half. The refund is marked first (on SQLite that takes the write
        lock), then the payment row is locked, so two refunds of one payment ending at once each count the
        other's amount. It is settled at the provider's time, as its trade bill has it."""
        now = self.platform.clock.now()
        async with in_transaction() as conn:
            if not await Refund.filter(id=refund_id, payment_id=payment_id, state__in=UNSETTLED_REFUNDS).using_db(
                    conn).update(state="succeeded", settled_at=provider_time(answer.succeeded_at, now),
                                 provider_refund_id=answer.provider_refund_id):
                return False
            payment = await Payment.filter(id=payment_id).select_for_update().using_db(conn).get()
            done: int = sum(await column(Refund.filter(payment_id=payment_id, state="succeeded").using_db(conn),
                                         "amount_fen"))
            target = "refunded" if done >= payment.amount_fen else "partially_refunded"
            moved = await write_move(conn, payment, target, f"退款 {yuan(done)}", now,
                                     with_move=_refund_moves_receipt(payment_id, target))
        if moved:
            await audit_move(self.context, payment, payment.state, target, actor="payment_provider",
                             actor_type="system")
            if target == "refunded":
                await self._reopened(payment)
        await self.reaches_receipt(payment_id)
        refund = await Refund.get(id=refund_id)
        await notify(self.platform, payment.citizen_id, "payment_refunded",
                     {"description": payment.description, "amount": yuan(refund.amount_fen)})
        return True

    async def _reopened(self, payment: Payment) -> None:
        """A full refund reopened what this payment settled (when it settled anything: a duplicate did not)."""
        if await Receipt.exists(payment_id=payment.id):
            await audit.record_event(self.platform.clock, actor="payment_provider", actor_type="system",
                                     action="reference_reopened", subject_id=payment.citizen_id,
                                     attributes={"payment_id": payment.id, "reference": payment.reference})

    async def reaches_receipt(self, payment_id: str) -> None:
        """After a refund: the receipt's wallet licence shows it and, after a full refund, the department hears
        that its fine or bill is due again. Either may fail; the refund stands and the settle job tries again.
        One at a time per receipt, so a late job and a notice never restate or tell twice."""
        async with self.one_at_a_time(f"receipt-refund:{payment_id}"):
            receipt = await Receipt.get_or_none(payment_id=payment_id)
            if receipt is None:
                return  # a duplicate payment settled nothing: nothing to show, nobody to tell
            payment = await Payment.get(id=payment_id)
            try:
                await self._restate_in_wallet(payment, receipt)
            except Exception:  # the wallet is another domain: its failure must not undo the refund
                log.exception("receipt %s: the refund is not shown in the wallet yet", receipt.number)
            if payment.state == "refunded" and receipt.reversal_told_at is None:
                await self._tell_department(payment, receipt)

    async def _restate_in_wallet(self, payment: Payment, receipt: Receipt) -> None:
        """The receipt's wallet licence shows what was refunded and what remains paid; refunded in full, it is
        refunded (not valid) for the holder and for every verifier."""
        wallet = self.context.wallet
        if wallet is None or not receipt.licence_id or not receipt.wallet_outdated:
            return
        if receipt.licence_id == WALLET_COPY_ERASED:  # its holder's account was erased: no wallet copy to restate
            await Receipt.filter(number=receipt.number).update(wallet_outdated=False)
            return
        refunded = await refunded_fen(payment.id)
        status = "refunded" if payment.state == "refunded" else "valid"
        await wallet.restate_own(receipt.licence_id, wallet_fields(payment, receipt, refunded), status,
                                 "全额退款" if status == "refunded" else None)
        await Receipt.filter(number=receipt.number).update(wallet_outdated=False)

    async def _tell_department(self, payment: Payment, receipt: Receipt) -> None:
        """The department hears that the fine or bill this payment settled is due again."""
        told = await self.context.payables.tell_reversed(payment.reference, payment.citizen_id)
        if told == "refused":
            await self.cases.department_refused(payment, receipt, "reversal_refused")
        if told != "told":
            return
        await Receipt.filter(number=receipt.number).update(reversal_told_at=self.platform.clock.now())
        await audit.record_event(self.platform.clock, actor="system", actor_type="system",
                                 action="settlement_reversal_sent", subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference})

    async def settle_by_query(self, refund: Refund) -> int:
        """Ask how an unsettled refund stands; one the provider never received (our call did not reach it) is
        asked for again, under the same id, so it cannot be paid out twice. Only a refused application fails
        it: a refused or unanswered query says nothing about how the refund ended. 1 when it succeeded now."""
        provider = self.provider
        assert provider is not None
        try:
            answer = await provider.query_refund(refund.id)
        except ProviderError as failure:
            log.warning("refund %s not settled by query: %s", refund.id, failure.code)
            return 0
        if answer is None:
            payment = await Payment.get(id=refund.payment_id)
            try:
                answer = await provider.refund(payment.id, refund.id, refund.amount_fen, payment.amount_fen,
                                               refund.reason, self.context.notify_url)
            except ProviderRefused as refused:
                await self.failed(refund, refused.provider_code)
                return 0
            except ProviderError as failure:
                log.warning("refund %s not asked for again: %s", refund.id, failure.code)
                return 0
        if answer.status == "succeeded":
            return int(await self.succeeded(refund.id, refund.payment_id, answer))
        if answer.status == "failed":
            await self.failed(refund, "FAILED")
        elif answer.status == "abnormal":
            await self.abnormal(refund, "ABNORMAL")
        return 0
