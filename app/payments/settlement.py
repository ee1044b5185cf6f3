"""Settlement (支付结果通知): what the provider says became of an order, from its signed notice or from our query,
applied once; the paid reference, the receipt, the wallet licence and the department told of it.

Money the provider says it took is never dropped: a payment reported paid after we gave up on it (a failed
order paid on a retry in WeChat, a notice that crossed our close) is settled; if its fine was paid meanwhile by
another payment, it is refunded in full as a duplicate and a case is opened.

A notice and a query racing to settle a payment make one move, one paid reference (a unique row per fee,
fine or bill), one receipt and one message to the citizen.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Mapping

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit
from app.accounts.service import citizen_record
from app.db import column
from app.errors import AppError, Unauthorized, Unavailable
from app.integrations import ProviderError
from app.integrations.payment_providers import (ORDER_CLOSED, ORDER_NOT_FOUND, ORDER_PAID, NoticeRejected,
                                                PaymentNotice, ProviderOrder, ProviderRefused)
from app.money import yuan
from app.notifications.service import notify
from app.payments.context import Operations, PaymentsContext, provider_unavailable
from app.payments.models import Payment, PaymentEvent, PaidReference, ProviderNotice, Receipt, Refund
from app.payments.moves import audit_move, try_move
from app.payments.reconciliation import Reconciliation
from app.payments.refunds import Refunds
from app.clock import china_day
from app.payments.rules import OPEN, SETTLEABLE, ours, plain, provider_time, wallet_fields
from app.security.pii import mask_name

log = logging.getLogger("app.payments")
RECEIPT_LICENCE_TYPE = "payment_receipt"
NOTICE_REPLAY_WINDOW = 900  # seconds a signed delivery is remembered; one older than 300 s is refused anyway
NO_PROVIDER_CHALLENGE = 'Signature realm="payment-provider"'


@dataclass(frozen=True)
class NoticeAnswer:
    """What a notice came to, and the 200 the provider expects to hear for it."""

    outcome: str  # applied or duplicate
    body: bytes
    content_type: str


class Settlement(Operations):
    """Provider notices and queries applied to payments, and what follows a settlement."""

    def __init__(self, context: PaymentsContext, refunds: Refunds, cases: Reconciliation) -> None:
        super().__init__(context)
        self.refunds = refunds
        self.cases = cases

    # -- the provider's notices ----------------------------------------------------------------------
    async def authenticate_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """The provider's notice, verified and decrypted, each signed delivery used once. Refused with 401 when it
        is not signed by the provider (or replayed, or there is no provider to check it), 400 when signed but
        unreadable; logged, nothing changes."""
        provider = self.provider
        if provider is None:
            await self._log_notice(body, "rejected", "no_provider")
            raise Unauthorized("PAYMENT_NOTICE_SIGNATURE_INVALID", headers={"WWW-Authenticate": NO_PROVIDER_CHALLENGE})
        challenge = {"WWW-Authenticate": provider.notice_challenge}
        try:
            notice = await provider.read_notice(headers, body)
        except NoticeRejected as bad:
            await self._log_notice(body, "rejected", bad.code)
            if bad.status == 401:
                raise Unauthorized("PAYMENT_NOTICE_SIGNATURE_INVALID", headers=challenge) from None
            raise AppError("PAYMENT_NOTICE_UNREADABLE", status=400) from None
        if not await self.platform.cache.claim_once(f"paynotice:{notice.replay_key}", "1", NOTICE_REPLAY_WINDOW):
            await self._log_notice(body, "rejected", "replayed")
            raise Unauthorized("PAYMENT_NOTICE_REPLAYED", headers=challenge)
        return notice

    async def handle_notice(self, notice: PaymentNotice, body: bytes) -> NoticeAnswer:
        """Apply an authenticated notice ('applied' or 'duplicate') and say how the provider is answered. A notice
        that does not match our record (unknown order or refund, other amount or currency) changes nothing,
        answers 422 and opens a reconciliation case."""
        order, refund = notice.order, notice.refund
        merchant_order_id = order.merchant_order_id if order else refund.merchant_order_id if refund else ""
        payment = await Payment.get_or_none(id=merchant_order_id[:40])
        mismatch = "unknown_order" if payment is None else await self._mismatch(payment, notice)
        if payment is None or mismatch:
            await self._notice_mismatch(notice, body, payment, merchant_order_id, mismatch)
        assert payment is not None
        changed = await self._apply_notice(notice, payment)
        outcome = "applied" if changed else "duplicate"
        await self._log_notice(body, outcome, "", notice.notice_id, notice.event_type, payment.id)
        assert self.provider is not None
        return NoticeAnswer(outcome, *self.provider.acknowledge(outcome))

    async def _apply_notice(self, notice: PaymentNotice, payment: Payment) -> bool:
        """What the notice says became of the order (or of a refund) applied; False when nothing changed."""
        order = notice.order
        if order is not None and order.status in ("paid", "refunded"):
            if payment.state == "created":  # our create call timed out, yet the provider took the order
                await try_move(self.context, payment.id, "created", "submitted", "支付渠道已有订单")
            return await self._settle_success(payment.id, "支付渠道通知", order)
        if order is not None and order.status == "failed":
            return await self._fail(payment.id, "支付渠道通知：支付失败")
        return await self._apply_refund_notice(notice, payment)

    async def _apply_refund_notice(self, notice: PaymentNotice, payment: Payment) -> bool:
        refund = notice.refund
        if refund is None:
            return False
        if refund.status == "succeeded":
            return await self.refunds.succeeded(refund.merchant_refund_id, payment.id, refund)
        if refund.status == "failed":
            return await self.refunds.failed(await Refund.get(id=refund.merchant_refund_id), notice.event_type)
        if refund.status == "abnormal":
            return await self.refunds.abnormal(await Refund.get(id=refund.merchant_refund_id), notice.event_type)
        return False

    async def _notice_mismatch(self, notice: PaymentNotice, body: bytes, payment: Payment | None,
                               merchant_order_id: str, mismatch: str) -> None:
        """Log, audit and open a reconciliation case for a genuine notice that disagrees with our records; 422."""
        payment_id = payment.id if payment else None
        await self._log_notice(body, "rejected", mismatch, notice.notice_id, notice.event_type, payment_id)
        await audit.record_event(self.platform.clock, actor="payment_provider", actor_type="system",
                                 action="payment_notice_rejected", subject_id=payment.citizen_id if payment else None,
                                 attributes={"payment_id": payment_id or merchant_order_id[:40], "reason": mismatch})
        theirs = {"notice_id": notice.notice_id, "event_type": notice.event_type,
                  "order": plain(notice.order), "refund": plain(notice.refund)}
        await self.cases.open_case(self.platform.clock.today(), f"notice_{mismatch}",
                                   payment_id or merchant_order_id, ours(payment) if payment else None, theirs)
        raise AppError("PAYMENT_NOTICE_MISMATCH", status=422, params={"what": mismatch})

    @staticmethod
    async def _mismatch(payment: Payment, notice: PaymentNotice) -> str:
        """What in the notice disagrees with our record ('' when all agrees)."""
        if notice.refund is not None:
            refund = await Refund.get_or_none(id=notice.refund.merchant_refund_id[:40], payment_id=payment.id)
            if refund is None:
                return "unknown_refund"
            return "" if notice.refund.amount_fen == refund.amount_fen else "amount"
        order = notice.order
        assert order is not None
        if order.amount_fen != payment.amount_fen:
            return "amount"
        if order.currency != payment.currency:
            return "currency"
        if payment.provider_order_id and order.provider_order_id and order.provider_order_id != payment.provider_order_id:
            return "provider_order_id"
        return ""

    async def _log_notice(self, body: bytes, outcome: str, reason: str, notice_id: str | None = None,
                          event_type: str | None = None, payment_id: str | None = None) -> None:
        await ProviderNotice.create(notice_id=notice_id, event_type=event_type, payment_id=payment_id, outcome=outcome,
                                    reason=reason[:64], body_sha256=hashlib.sha256(body).hexdigest(),
                                    received_at=self.platform.clock.now())
        if outcome == "rejected":
            log.warning("payment notice rejected: %s (payment %s)", reason, payment_id or "-")

    # -- asking the provider -------------------------------------------------------------------------
    async def settle_by_query(self, payment_id: str) -> str:
        """Ask the provider how an unsettled payment stands and settle it; returns the state after."""
        payment = await Payment.get(id=payment_id)
        if payment.state not in OPEN:
            return payment.state
        order = await self.connected().query_order(payment.id)
        if order is None:
            if payment.state == "created" and payment.expires_at <= self.platform.clock.now():
                await try_move(self.context, payment.id, "created", "expired", "未提交支付渠道，已过期")
            return (await Payment.get(id=payment_id)).state
        if payment.state == "created":  # the provider has it although our create call did not hear back
            await try_move(self.context, payment.id, "created", "submitted", "支付渠道已有订单")
        await self._apply_order(payment, order)
        return (await Payment.get(id=payment_id)).state

    async def _apply_order(self, payment: Payment, order: ProviderOrder) -> None:
        if (order.amount_fen, order.currency) != (payment.amount_fen, payment.currency):
            log.warning("payment %s: the provider order has another amount; a case for the office", payment.id)
            await self.cases.open_case(self.platform.clock.today(), "query_amount", payment.id,
                                       ours(payment), plain(order))
            return
        if order.status in ("paid", "refunded"):
            await self._settle_success(payment.id, "主动查询支付结果", order)
        elif order.status == "failed":
            await self._fail(payment.id, "主动查询：支付失败")
        elif order.status == "closed":
            await try_move(self.context, payment.id, "submitted", "expired", "支付渠道已关闭订单")
        elif order.status == "unpaid" and payment.expires_at <= self.platform.clock.now():
            await self.expire(payment)

    async def paid_meanwhile(self, payment: Payment) -> bool:
        """Close the order at the provider; True (and settled) when it turns out to be paid already."""
        try:
            await self.connected().close_order(payment.id)
        except ProviderRefused as refused:
            if refused.code == ORDER_PAID:
                await self.settle_by_query(payment.id)
                return True
            if refused.code not in (ORDER_CLOSED, ORDER_NOT_FOUND):
                raise provider_unavailable(refused) from None
        except ProviderError as failure:
            raise provider_unavailable(failure) from None
        return False

    async def expire(self, payment: Payment) -> None:
        """An open payment past its time expires; a submitted one is closed at the provider first."""
        if payment.state == "submitted" and await self.paid_meanwhile(payment):
            return
        await try_move(self.context, payment.id, payment.state, "expired", "超时未支付")

    async def _fail(self, payment_id: str, note: str) -> bool:
        """submitted → failed, and the order closed at the provider so it cannot be paid later on its own; if
        closing finds it paid after all, it is settled."""
        if not await try_move(self.context, payment_id, "submitted", "failed", note):
            return False
        try:
            await self.connected().close_order(payment_id)
            return True
        except ProviderRefused as refused:
            if refused.code != ORDER_PAID:
                return True
        except (ProviderError, Unavailable) as failure:
            log.warning("payment %s failed; its order was not closed: %s", payment_id, failure)
            return True
        try:
            order = await self.connected().query_order(payment_id)
        except ProviderError as failure:
            log.warning("payment %s is paid after all but could not be read: %s", payment_id, failure)
            return True
        if order is not None and order.status in ("paid", "refunded"):
            await self._settle_success(payment_id, "关闭订单时发现已支付", order)
        return True

    # -- settling a payment --------------------------------------------------------------------------
    async def _settle_success(self, payment_id: str, note: str, order: ProviderOrder) -> bool:
        """submitted (or failed, cancelled, expired: the provider took the money after all) → success, the
        reference marked paid and the receipt made, in one transaction; False when it was settled already (by
        a duplicate notice or a racing query). It is settled at the provider's time of payment, which decides
        the day of its trade bill (a payment at 23:59 learnt of after midnight belongs to the day before)."""
        now = provider_time(order.paid_at, self.platform.clock.now())
        provider_order_id = order.provider_order_id
        payment = await Payment.get(id=payment_id)
        if payment.state not in SETTLEABLE:
            return False
        was = payment.state
        payer = await self._payer_name_masked(payment.citizen_id)
        try:
            async with in_transaction() as conn:
                if not await self._mark_success(conn, payment, note, now, provider_order_id):
                    return False
                await PaidReference.create(reference=payment.reference, payment_id=payment_id,
                                           citizen_id=payment.citizen_id, paid_at=now, using_db=conn)
                receipt = await self.context.receipts.issue(payment, payer, now, using_db=conn)
        except IntegrityError:
            # The reference was paid by another payment (two orders paid at once): this money goes back.
            return await self._settle_duplicate(payment, was, note, now, provider_order_id)
        payment = await Payment.get(id=payment_id)
        await audit_move(self.context, payment, was, "success", actor="payment_provider", actor_type="system")
        await audit.record_event(self.platform.clock, actor="payment_provider", actor_type="system",
                                 action="reference_paid", subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference})
        try:
            await self.to_wallet(payment, receipt)
        except Exception:  # the payment and its receipt stand; the settle job puts it in the wallet later
            log.exception("receipt %s not put in the wallet", receipt.number)
        # Told after the provider's notice is answered, never holding it up; the settle job tells it otherwise.
        self.context.telling.start(self.tell_settled(payment, receipt))
        await notify(self.platform, payment.citizen_id, "payment_succeeded",
                     {"description": payment.description, "amount": yuan(payment.amount_fen)})
        return True

    async def _settle_duplicate(self, payment: Payment, was: str, note: str, now: datetime,
                                provider_order_id: str | None) -> bool:
        """A payment of a reference another payment paid meanwhile: settled, a case opened, and refunded in full."""
        async with in_transaction() as conn:
            if not await self._mark_success(conn, payment, f"{note}（重复缴费）", now, provider_order_id):
                return False
        payment = await Payment.get(id=payment.id)
        await audit_move(self.context, payment, was, "success", actor="payment_provider", actor_type="system")
        await self.cases.open_case(china_day(now), "duplicate_payment", payment.id, ours(payment), None)
        try:
            await self.refunds.request(payment, payment.amount_fen, "重复缴费自动退款", "system")
        except AppError as refused:  # the duplicate_payment case stays open: the office refunds it by hand
            log.warning("payment %s: the duplicate could not be refunded at once: %s", payment.id, refused.code)
        return True

    @staticmethod
    async def _mark_success(conn: Any, payment: Payment, note: str, now: datetime,
                            provider_order_id: str | None) -> bool:
        moved = await Payment.filter(id=payment.id, state=payment.state).using_db(conn).update(
            state="success", settled_at=now, updated_at=now, provider_order_id=provider_order_id)
        if moved:
            await PaymentEvent.create(payment_id=payment.id, from_state=payment.state, to_state="success",
                                      actor="payment_provider", actor_type="system", note=note, at=now, using_db=conn)
        return bool(moved)

    async def _payer_name_masked(self, citizen_id: str) -> str:
        citizen = await citizen_record(citizen_id)
        return mask_name(self.platform.pii.decrypt(citizen.name_enc, "name")) if citizen.name_enc else "*"

    async def to_wallet(self, payment: Payment, receipt: Receipt) -> None:
        """The receipt goes into the e-licence wallet as a licence the platform issues: the wallet list,
        detail, purpose-bound shares and their verification by relying parties all work for it as they are."""
        wallet = self.context.wallet
        if wallet is None or receipt.licence_id:
            return
        licence_id = await wallet.issue_own(RECEIPT_LICENCE_TYPE, payment.citizen_id, receipt.number,
                                            wallet_fields(payment, receipt, 0), receipt.issued_at)
        await Receipt.filter(number=receipt.number).update(licence_id=licence_id)

    async def tell_settled(self, payment: Payment, receipt: Receipt) -> None:
        """The department behind a fine or bill hears that this payment settled it; when it cannot be told now,
        the settle job tells it later. One at a time per receipt, so the job and a late notice never tell twice."""
        async with self.one_at_a_time(f"receipt-settled:{payment.id}"):
            if not await Receipt.filter(number=receipt.number, settlement_told_at=None).exists():
                return
            told = await self.context.payables.tell_paid(payment.reference, payment.citizen_id, payment.amount_fen,
                                                         payment.id)
            if told == "told":
                await Receipt.filter(number=receipt.number).update(settlement_told_at=self.platform.clock.now())
            elif told == "refused":
                await self.cases.department_refused(payment, receipt, "settlement_refused")

    # -- scheduled work ------------------------------------------------------------------------------
    async def settle_unnotified(self) -> int:
        """Payments and refunds not settled after `payment_settle_after` seconds are asked of the provider; what
        failed after a settlement or a refund (the wallet, the department) is done again."""
        if self.provider is None:
            return 0
        before = self.platform.clock.now() - timedelta(seconds=self.settings.payments.settle_after)
        settled = await self._settle_open_payments(before)
        await self._finish_receipts(before)
        for state, batch in (("pending", 200), ("abnormal", 50)):  # abnormal ones wait on people: asked after
            for refund in await Refund.filter(state=state, created_at__lte=before).order_by("created_at").limit(batch):
                settled += await self.refunds.settle_by_query(refund)
        return settled

    async def _settle_open_payments(self, before: datetime) -> int:
        settled = 0
        for payment in await Payment.filter(state__in=OPEN, updated_at__lte=before).order_by("updated_at").limit(200):
            try:
                if await self.settle_by_query(payment.id) != payment.state:
                    settled += 1
            except (ProviderError, Unavailable) as failure:
                log.warning("settling %s by query failed: %s", payment.id, failure)
        return settled

    async def _finish_receipts(self, before: datetime) -> None:
        """Receipts whose wallet licence or department failed when paid or refunded."""
        for receipt in await Receipt.filter(licence_id=None, issued_at__lte=before).limit(200):
            await self._one_receipt(receipt, self.to_wallet)  # it failed when paid
        untold_paid = Receipt.filter(settlement_told_at=None, settlement_refused_at=None, issued_at__lte=before,
                                     payment__state__in=("success", "partially_refunded"))
        for receipt in await untold_paid.order_by("issued_at").limit(200):
            await self._one_receipt(receipt, self.tell_settled)  # it failed when paid
        behind = Receipt.filter(wallet_outdated=True, licence_id__not_isnull=True)
        untold = Receipt.filter(payment__state="refunded", reversal_told_at=None, reversal_refused_at=None)
        outstanding: set[str] = set(await column(behind.limit(200), "payment_id"))
        for payment_id in outstanding | set(await column(untold.limit(200), "payment_id")):
            await self.refunds.reaches_receipt(payment_id)  # the wallet or the department failed after a refund

    @staticmethod
    async def _one_receipt(receipt: Receipt, work: Callable[[Payment, Receipt], Awaitable[None]]) -> None:
        """The settle job's work on one receipt; its failure is logged and left for the next run, never stopping
        the work on the others."""
        try:
            await work(await Payment.get(id=receipt.payment_id), receipt)
        except Exception:
            log.exception("receipt %s: left for the next settle run", receipt.number)
