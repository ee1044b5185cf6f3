"""Payments (缴费): the operations the HTTP handlers, the scheduled jobs and other domains use, with a full
audit trail. A small facade over the parts that do the work, which share one `PaymentsContext`:

    notices         a citizen's payment (缴费单, 下单): create and submit, follow, cancel, its receipt
    settlement      what the provider says became of an order (支付结果通知, queries), the paid reference,
                    receipt, wallet licence and the department told; the settle job
    refunds         refunds by admins (and of duplicate payments), and how each ends
    reconciliation  对账 of the daily trade bill, and the discrepancy cases the office resolves

The states of a payment and the only moves between them are in `rules`; each move (`moves`) is one
conditional UPDATE with its event in the same transaction, and is audited. Amounts are integer fen.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Mapping, Sequence

from app.integrations.payment_providers import Channel, PaymentNotice, PaymentProvider
from app.payments.context import PaymentsContext, provider_unavailable
from app.db import column, lag_tolerant
from app.payments.models import DiscrepancyCase, Payment, Receipt, Refund
from app.payments.notices import Notices, PaymentHeading, PaymentView, ReceiptView
from app.payments.payables import Payables
from app.payments.receipts import Receipts
from app.payments.reconciliation import Reconciliation, ReconciliationReport
from app.payments.refunds import Refunds
from app.payments.rules import OPEN, UNSETTLED_REFUNDS, WALLET_COPY_ERASED, StateConflict, state_text
from app.payments.settlement import NoticeAnswer, Settlement
from app.platform import Platform
from app.security.clients import AuthenticatedClient

__all__ = ["NoticeAnswer", "PaymentHeading", "PaymentService", "PaymentView", "ReceiptView", "ReconciliationReport", "StateConflict",
           "provider_unavailable", "state_text"]


class PaymentService:
    """Payments of citizens, provider notices and queries, refunds by admins, daily reconciliation."""

    def __init__(self, platform: Platform, provider: PaymentProvider | None, payables: Payables,
                 receipts: Receipts, wallet: Any = None) -> None:
        self.context = PaymentsContext(platform, provider, payables, receipts, wallet,
                                       platform.settings.resolved_payment_notify_url)
        self.reconciliation = Reconciliation(self.context)
        self.refunds = Refunds(self.context, self.reconciliation)
        self.settlement = Settlement(self.context, self.refunds, self.reconciliation)
        self.notices = Notices(self.context, self.settlement)

    # -- what the parts share ------------------------------------------------------------------------
    @property
    def provider(self) -> PaymentProvider | None:
        return self.context.provider

    @provider.setter
    def provider(self, provider: PaymentProvider | None) -> None:
        self.context.provider = provider

    @property
    def notify_url(self) -> str:
        """Where the provider sends its notices (APP_PAYMENT_NOTIFY_URL)."""
        return self.context.notify_url

    @notify_url.setter
    def notify_url(self, url: str) -> None:
        self.context.notify_url = url

    @property
    def payables(self) -> Payables:
        return self.context.payables

    @property
    def receipts(self) -> Receipts:
        return self.context.receipts

    @property
    def wallet(self) -> Any:
        return self.context.wallet

    async def told(self) -> None:
        """Wait until the departments this worker is telling of settlements have been told (or not)."""
        await self.context.telling.drained()

    async def close(self) -> None:
        await self.context.telling.close()  # a department not told yet is told by the settle job
        if self.context.provider is not None:
            await self.context.provider.aclose()

    # -- citizens ------------------------------------------------------------------------------------
    async def create(self, citizen_id: str, key: str, reference: str, amount_fen: int, currency: str,
                     description: str, channel: Channel = "app", payer: str | None = None) -> tuple[PaymentView, bool]:
        return await self.notices.create(citizen_id, key, reference, amount_fen, currency, description, channel, payer)

    @lag_tolerant
    async def mine(self, citizen_id: str, limit: int = 50) -> list[PaymentView]:
        return await self.notices.mine(citizen_id, limit)

    async def one_of_mine(self, citizen_id: str, payment_id: str, refresh: bool = True) -> PaymentView:
        return await self.notices.one_of_mine(citizen_id, payment_id, refresh)

    async def cancel(self, citizen_id: str, payment_id: str) -> PaymentView:
        return await self.notices.cancel(citizen_id, payment_id)

    async def receipt_of(self, citizen_id: str, payment_id: str) -> ReceiptView:
        return await self.notices.receipt_of(citizen_id, payment_id)

    async def view(self, payment_id: str, with_details: bool = True,
                   pay_params: dict[str, str] | None = None) -> PaymentView:
        return await self.notices.view(payment_id, with_details, pay_params)

    # -- the provider --------------------------------------------------------------------------------
    async def authenticate_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        return await self.settlement.authenticate_notice(headers, body)

    async def handle_notice(self, notice: PaymentNotice, body: bytes) -> NoticeAnswer:
        return await self.settlement.handle_notice(notice, body)

    async def settle_by_query(self, payment_id: str) -> str:
        return await self.settlement.settle_by_query(payment_id)

    # -- admins --------------------------------------------------------------------------------------
    async def for_admin(self, admin: AuthenticatedClient, payment_id: str, purpose: str) -> PaymentView:
        return await self.notices.for_admin(admin, payment_id, purpose)

    async def refund(self, admin: AuthenticatedClient, payment_id: str, amount_fen: int, reason: str) -> Refund:
        return await self.refunds.refund(admin, payment_id, amount_fen, reason)

    async def reconcile(self, day: date, ran_by: str = "scheduler") -> ReconciliationReport:
        return await self.reconciliation.reconcile(day, ran_by)

    async def discrepancies(self, status: str | None, limit: int = 100) -> Sequence[DiscrepancyCase]:
        return await self.reconciliation.discrepancies(status, limit)

    async def resolve_case(self, admin: AuthenticatedClient, case_id: str, resolution: str) -> DiscrepancyCase:
        return await self.reconciliation.resolve_case(admin, case_id, resolution)

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def deletion_blockers(self, citizen_id: str) -> list[dict[str, str]]:
        """What must end before the account can be erased: payments still open at the provider and refunds
        not yet settled (money in flight is never left without its owner)."""
        now = self.context.platform.clock.now()
        paying: list[str] = await column(Payment.filter(citizen_id=citizen_id, state__in=OPEN, expires_at__gt=now), "id")
        refunding: list[str] = await column(
            Refund.filter(payment__citizen_id=citizen_id, state__in=UNSETTLED_REFUNDS), "id")
        return [{"kind": "payment", "id": i} for i in paying] + [{"kind": "refund", "id": i} for i in refunding]

    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased. Payments, their events, refunds and e-receipts are accounting records (会计
        档案) and stay as they are, under the account's opaque id; the receipts lose only their wallet copy
        (the wallet erases it), so nothing puts them back there."""
        await Receipt.filter(citizen_id=citizen_id).exclude(licence_id=WALLET_COPY_ERASED).update(
            licence_id=WALLET_COPY_ERASED, wallet_outdated=False)

    # -- scheduled work ------------------------------------------------------------------------------
    async def settle_unnotified(self) -> int:
        return await self.settlement.settle_unnotified()

    async def reconcile_yesterday(self) -> int:
        return await self.reconciliation.reconcile_yesterday()


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.payments.models import PaymentEvent, PaidReference  # noqa: E402
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Payments' part of the citizen's copy of their data: payments (缴费) with their history, refunds,
    e-receipts (电子票据) and what each paid. The provider's handles of an open order (prepay id, payment
    page), with which it could still be paid, are left out."""
    return {
        "payments": [record_of(row, pii, skip=("prepay_id", "pay_url")) for row in
                     await Payment.filter(citizen_id=citizen_id).order_by("created_at")],
        "payment_events": [record_of(row, pii) for row in
                           await PaymentEvent.filter(payment__citizen_id=citizen_id).order_by("at", "id")],
        "refunds": [record_of(row, pii) for row in
                    await Refund.filter(payment__citizen_id=citizen_id).order_by("created_at")],
        "receipts": [record_of(row, pii) for row in await Receipt.filter(citizen_id=citizen_id).order_by("issued_at")],
        "paid_references": [record_of(row, pii) for row in
                            await PaidReference.filter(citizen_id=citizen_id).order_by("paid_at")],
    }
