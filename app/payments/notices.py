"""Payment notices (缴费单, 下单): a citizen pays what they owe, through one payment API in front of the provider,
GOV.UK Pay-style; follows and cancels it, and reads its receipt. An admin reads a citizen's payment.

What is owed comes from `Payables`, never from the client. A double tap with the same Idempotency-Key makes
one order; the provider keys orders by our id, so a submit repeated after a lost answer is never a second.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.errors import AppError, Conflict, NotFound, Unavailable
from app.integrations import ProviderError
from app.integrations.payment_providers import ORDER_CLOSED, ORDER_PAID, Channel, OrderRequest, ProviderRefused
from app.money import yuan
from app.payments.context import Operations, PaymentsContext, provider_unavailable
from app.payments.models import PaidReference, Payment, PaymentEvent, Receipt, Refund
from app.payments.moves import audit_move, move, try_move
from app.payments.payables import split_reference
from app.payments.receipts import receipt_status, refunded_fen
from app.payments.rules import CURRENCY, OPEN, StateConflict, fingerprint
from app.payments.settlement import Settlement
from app.security.clients import AuthenticatedClient

log = logging.getLogger("app.payments")
REFRESH_EVERY = 3  # seconds between provider queries for one payment a citizen is looking at


class PaymentHeading(BaseModel):
    """What a payment is: its id, what it pays, how much and its state; the citizen API's reply begins with these."""

    model_config = ConfigDict(frozen=True)

    id: str
    reference: str
    reference_kind: str
    amount_fen: int
    currency: str
    description: str
    state: str


class PaymentView(PaymentHeading):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)  # events and refunds are rows

    refunded_fen: int
    channel: str
    pay_params: dict[str, str] | None  # what the client pays with while submitted (wx.requestPayment, the app SDK)
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    settled_at: datetime | None
    receipt_number: str | None
    events: list[PaymentEvent]
    refunds: list[Refund]


@dataclass(frozen=True)
class ReceiptView:
    """A receipt as its payer sees it: what was paid, what was refunded, what remains paid."""

    receipt: Receipt
    payment: Payment
    status: str  # paid, partially_refunded, refunded
    refunded_fen: int

    @property
    def remaining_fen(self) -> int:
        return self.payment.amount_fen - self.refunded_fen


class Notices(Operations):
    """Payments as citizens make, follow and cancel them."""

    def __init__(self, context: PaymentsContext, settlement: Settlement) -> None:
        super().__init__(context)
        self.settlement = settlement

    async def create(self, citizen_id: str, key: str, reference: str, amount_fen: int, currency: str,
                     description: str, channel: Channel = "app", payer: str | None = None) -> tuple[PaymentView, bool]:
        """Create (and submit) a payment; (view, replayed). A double tap with the same key makes one order.
        `channel` is where the citizen pays: the phone app, or the mini-program (`payer`: their openid)."""
        request_hash = fingerprint(reference, amount_fen, currency, description, channel)
        earlier = await Payment.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:
            return await self._replay(earlier, request_hash, payer), True
        split_reference(reference)
        self.connected()  # without a provider nothing is created: 503 before any row is written
        async with self.one_at_a_time(f"pay:{citizen_id}:{reference}"):
            earlier = await Payment.get_or_none(citizen_id=citizen_id, idempotency_key=key)
            if earlier is not None:  # the same key arrived again while this one waited its turn
                return await self._replay(earlier, request_hash, payer), True
            if await PaidReference.exists(reference=reference, citizen_id=citizen_id):
                # Paid through us: the department may list it as paid already, so it is no longer theirs to resolve.
                raise Conflict("REFERENCE_ALREADY_PAID")
            payable = await self.context.payables.resolve(citizen_id, reference)
            if amount_fen != payable.amount_fen:
                raise AppError("PAYMENT_AMOUNT_MISMATCH", status=422, params={"owed": yuan(payable.amount_fen)},
                               extra={"amount_fen_owed": payable.amount_fen})
            await self._clear_the_way(citizen_id, reference)
            payment = await self._new(citizen_id, key, request_hash, payable.kind, reference, amount_fen,
                                      description or payable.description, channel)
            fresh = await self._submit(payment, payer)
        return await self.view(payment.id, pay_params=fresh), False

    async def _clear_the_way(self, citizen_id: str, reference: str) -> None:
        """Refuse a reference paid already, or with a payment under way; the citizen's own open payment past its
        time is expired first (closed at the provider, which may find it paid)."""
        if await PaidReference.exists(reference=reference):
            raise Conflict("REFERENCE_ALREADY_PAID")
        open_one = await Payment.filter(reference=reference, state__in=OPEN).first()
        if open_one is None:
            return
        if open_one.citizen_id != citizen_id or open_one.expires_at > self.platform.clock.now():
            raise Conflict("PAYMENT_IN_PROGRESS", extra={"payment_id": open_one.id}
                           if open_one.citizen_id == citizen_id else {})
        await self.settlement.expire(open_one)  # past its time: closed at the provider before a new one starts
        if await PaidReference.exists(reference=reference):  # closing it found it paid: settled now
            raise Conflict("REFERENCE_ALREADY_PAID")

    async def _new(self, citizen_id: str, key: str, request_hash: str, kind: str, reference: str, amount_fen: int,
                   description: str, channel: str) -> Payment:
        now, payment_id = self.platform.clock.now(), f"PAY{secrets.token_hex(12).upper()}"
        try:
            async with in_transaction() as conn:
                payment = await Payment.create(
                    id=payment_id, citizen_id=citizen_id, reference=reference, reference_kind=kind,
                    amount_fen=amount_fen, currency=CURRENCY, description=description[:127], idempotency_key=key,
                    request_hash=request_hash, state="created", channel=channel, created_at=now, updated_at=now,
                    expires_at=now + timedelta(seconds=self.settings.payments.ttl), using_db=conn)
                await PaymentEvent.create(payment_id=payment_id, from_state=None, to_state="created", actor=citizen_id,
                                          actor_type="citizen", at=now, using_db=conn)
        except IntegrityError:
            earlier = await Payment.get(citizen_id=citizen_id, idempotency_key=key)
            raise Conflict("PAYMENT_IN_PROGRESS", extra={"payment_id": earlier.id}) from None
        await audit_move(self.context, payment, None, "created", actor=citizen_id, actor_type="citizen")
        return payment

    async def _submit(self, payment: Payment, payer: str | None) -> dict[str, str] | None:
        """Hand the order to the provider; what the client pays with (signed with the order, not again). If it
        does not answer, the payment stays created: a retry with the same Idempotency-Key submits it again
        (the provider keys orders by our id, so never twice)."""
        order = OrderRequest(payment.id, payment.amount_fen, payment.description, self.context.notify_url,
                             payment.expires_at, "jsapi" if payment.channel == "jsapi" else "app", payer,
                             payment.currency)
        try:
            created = await self.connected().create_order(order)
        except ProviderRefused as refused:
            if refused.code == ORDER_PAID:  # an earlier submit of ours got through and was paid meanwhile
                await self.settlement.settle_by_query(payment.id)
                return None
            if refused.code == ORDER_CLOSED:  # an earlier submit got through, and the order was closed since
                await try_move(self.context, payment.id, "created", "expired", "支付渠道已关闭订单")
                return None
            log.warning("payment %s refused by the provider: %s", payment.id, refused.provider_code)
            raise provider_unavailable(refused, payment_id=payment.id) from None
        except ProviderError as failure:
            log.warning("payment %s not submitted: %s", payment.id, failure.code)
            raise provider_unavailable(failure, payment_id=payment.id) from None
        await move(self.context, payment.id, "created", "submitted", actor="system", actor_type="system",
                   note="已提交支付渠道", prepay_id=created.prepay_id)
        return created.client_params

    async def _replay(self, earlier: Payment, request_hash: str, payer: str | None) -> PaymentView:
        if earlier.request_hash != request_hash:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", message_key="PAYMENT_IDEMPOTENCY_KEY_REUSED",
                           extra={"payment_id": earlier.id})
        if earlier.state == "created":
            async with self.one_at_a_time(f"pay:{earlier.citizen_id}:{earlier.reference}"):
                current = await Payment.get(id=earlier.id)
                if current.state == "created":
                    await self._submit(current, payer)
        return await self.view(earlier.id)

    async def mine(self, citizen_id: str, limit: int = 50) -> list[PaymentView]:
        """The citizen's payments, newest first, without their events and refunds."""
        rows = await Payment.filter(citizen_id=citizen_id).order_by("-created_at").limit(limit)
        return [await self.view(row.id, with_details=False) for row in rows]

    async def one_of_mine(self, citizen_id: str, payment_id: str, refresh: bool = True) -> PaymentView:
        """The citizen's own payment (another's is not found). Back from WeChat, an unsettled payment is
        asked of the provider at once, as GOV.UK Pay does on return, so the citizen sees the result."""
        payment = await self._owned(citizen_id, payment_id)
        # At most one provider query per payment every few seconds, however often the app polls.
        if refresh and payment.state == "submitted" and await self.platform.cache.set_if_absent(
                f"payquery:{payment.id}", "1", REFRESH_EVERY):
            try:
                await self.settlement.settle_by_query(payment.id)
            except (ProviderError, Unavailable):
                pass  # the notice or the scheduled query will settle it
        return await self.view(payment.id)

    async def cancel(self, citizen_id: str, payment_id: str) -> PaymentView:
        """The citizen gives up an unpaid payment; the order is closed at the provider first."""
        payment = await self._owned(citizen_id, payment_id)
        if payment.state not in OPEN:
            raise StateConflict(payment.state, "cancelled")
        if payment.state == "submitted":
            if await self.settlement.paid_meanwhile(payment):
                raise StateConflict("success", "cancelled")
        await move(self.context, payment.id, payment.state, "cancelled", actor=citizen_id, actor_type="citizen",
                   note="用户取消")
        return await self.view(payment.id)

    @staticmethod
    async def _owned(citizen_id: str, payment_id: str) -> Payment:
        row = await Payment.get_or_none(id=payment_id, citizen_id=citizen_id)
        if row is None:
            raise NotFound("PAYMENT_NOT_FOUND")
        return row

    async def receipt_of(self, citizen_id: str, payment_id: str) -> ReceiptView:
        """The receipt of the citizen's own payment, with what was refunded of it."""
        payment = await self._owned(citizen_id, payment_id)
        receipt = await Receipt.get_or_none(payment_id=payment.id)
        if receipt is None:
            raise NotFound("RECEIPT_NOT_FOUND")
        return ReceiptView(receipt, payment, receipt_status(payment), await refunded_fen(payment.id))

    async def for_admin(self, admin: AuthenticatedClient, payment_id: str, purpose: str) -> PaymentView:
        """An admin reads a citizen's payment: the citizen sees that read in their access log."""
        payment = await Payment.get_or_none(id=payment_id)
        if payment is None:
            raise NotFound("PAYMENT_NOT_FOUND")
        await audit.record_access(self.platform.clock, citizen_id=payment.citizen_id, actor=admin.name,
                                  actor_type="admin", action="payment_read",
                                  attributes=["payment", "amount", "reference"], purpose=purpose)
        return await self.view(payment_id)

    def _pay_params(self, row: Payment) -> dict[str, str] | None:
        """Freshly signed parameters for the client's pay call while the order is open at the provider."""
        provider = self.provider
        if row.state != "submitted" or not row.prepay_id or provider is None:
            return None
        return provider.client_params("jsapi" if row.channel == "jsapi" else "app", row.prepay_id)

    async def view(self, payment_id: str, with_details: bool = True,
                   pay_params: dict[str, str] | None = None) -> PaymentView:
        """The payment as its owner sees it; `pay_params` just signed for its new order spare signing again."""
        row = await Payment.get(id=payment_id)
        receipt = await Receipt.get_or_none(payment_id=row.id)
        events = await PaymentEvent.filter(payment_id=row.id).order_by("id") if with_details else []
        refunds = await Refund.filter(payment_id=row.id).order_by("created_at") if with_details else []
        return PaymentView(
            id=row.id, reference=row.reference, reference_kind=row.reference_kind, amount_fen=row.amount_fen,
            currency=row.currency, description=row.description, state=row.state, refunded_fen=row.refunded_fen,
            channel=row.channel, pay_params=(pay_params if row.state == "submitted" and pay_params else
                                             self._pay_params(row)), created_at=row.created_at,
            updated_at=row.updated_at, expires_at=row.expires_at, settled_at=row.settled_at,
            receipt_number=receipt.number if receipt else None, events=list(events), refunds=list(refunds))
