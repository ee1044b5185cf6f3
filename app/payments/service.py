"""Payments (缴费): one payment API in front of the provider, GOV.UK Pay-style, with a full audit trail.

States and the only moves between them:

    created   → submitted | cancelled | expired      (submitted: the provider has the order, the client can pay)
    submitted → success | failed | cancelled | expired
    failed | cancelled | expired → success           (only when the provider reports the order paid after all)
    success   → partially_refunded | refunded
    partially_refunded → partially_refunded | refunded

Money the provider says it took is never dropped: a payment reported paid after we gave up on it (a failed
order paid on a retry in WeChat, a notice that crossed our close) is settled; if its fine was paid meanwhile by
another payment, it is refunded in full as a duplicate and a case is opened.

A full refund undoes the settlement: the fine, bill or fee is owed again (its paid reference goes in the
same transaction as the move), its department is told, and the receipt's wallet licence becomes refunded.

Anything else is refused (409 PAYMENT_STATE_CONFLICT, or ignored and logged when a notice asks for it).
Each move is one conditional UPDATE (`WHERE state = <from>`) with its event in the same transaction,
so a notification and a query racing to settle a payment make one move, one paid reference (a unique
row per fee, fine or bill), one receipt and one message to the citizen. Every move is audited.

Amounts are integer fen everywhere. What is owed comes from `Payables`, never from the client.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Mapping, Sequence

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app.clock import CHINA_TZ
from app import audit
from app.background import BackgroundTasks
from app.cache import cache_lock
from app.accounts.models import Citizen
from app.errors import AppError, Conflict, NotFound, Unauthorized, Unavailable
from app.ids import new_id
from app.notifications.service import notify
from app.payments.models import (DiscrepancyCase, PaidReference, Payment, PaymentEvent, ProviderNotice,
                                 ReconciliationRun, Receipt, Refund)
from app.payments.payables import Payables, split_reference
from app.integrations import ProviderError, ProviderThrottled
from app.integrations.payment_providers import (INSUFFICIENT_FUNDS, ORDER_CLOSED, ORDER_NOT_FOUND, ORDER_PAID, BillLine,
                                                Channel, NoticeRejected, OrderRequest, PaymentNotice,
                                                PaymentProvider, ProviderOrder, ProviderRefund, ProviderRefused)
from app.money import yuan
from app.payments.receipts import PAYEE, Receipts, receipt_status, refunded_fen
from app.platform import Platform
from app.security.clients import AuthenticatedClient
from app.security.pii import mask_name

log = logging.getLogger("app.payments")
CURRENCY = "CNY"
RECEIPT_LICENCE_TYPE = "payment_receipt"
OPEN = ("created", "submitted")
PAID = ("success", "partially_refunded", "refunded")
SETTLEABLE = ("submitted", "failed", "cancelled", "expired")  # what a payment the provider reports paid can be in
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "created": ("submitted", "cancelled", "expired"),
    "submitted": ("success", "failed", "cancelled", "expired"),
    "failed": ("success",),
    "cancelled": ("success",),
    "expired": ("success",),
    "success": ("partially_refunded", "refunded"),
    "partially_refunded": ("partially_refunded", "refunded"),
}
STATE_TEXTS: dict[str, dict[str, str]] = {
    "created": {"zh-Hans": "待支付", "zh-Hant": "待支付", "en": "Created"},
    "submitted": {"zh-Hans": "支付中", "zh-Hant": "支付中", "en": "Awaiting payment"},
    "success": {"zh-Hans": "已支付", "zh-Hant": "已支付", "en": "Paid"},
    "failed": {"zh-Hans": "支付失败", "zh-Hant": "支付失敗", "en": "Failed"},
    "cancelled": {"zh-Hans": "已取消", "zh-Hant": "已取消", "en": "Cancelled"},
    "expired": {"zh-Hans": "已过期", "zh-Hant": "已過期", "en": "Expired"},
    "partially_refunded": {"zh-Hans": "部分退款", "zh-Hant": "部分退款", "en": "Partly refunded"},
    "refunded": {"zh-Hans": "已退款", "zh-Hant": "已退款", "en": "Refunded"},
}
REFRESH_EVERY = 3  # seconds between provider queries for one payment a citizen is looking at
NOTICE_REPLAY_WINDOW = 900  # seconds a signed delivery is remembered; one older than 300 s is refused anyway
UNSETTLED_REFUNDS = ("pending", "abnormal")  # the amount stays reserved until the provider says how it ended
NO_PROVIDER_CHALLENGE = 'Signature realm="payment-provider"'
PROVIDER_RETRY_AFTER = 30  # seconds a citizen is told to wait when the provider did not answer


def provider_unavailable(failure: ProviderError | None = None, **extra: Any) -> Unavailable:
    """503 PAYMENT_PROVIDER_UNAVAILABLE with Retry-After: the provider's own wait when it throttled us."""
    wait = failure.retry_after if isinstance(failure, ProviderThrottled) else PROVIDER_RETRY_AFTER
    return Unavailable("PAYMENT_PROVIDER_UNAVAILABLE", headers={"Retry-After": str(wait)},
                       extra={**extra, "retry_after": wait})


def state_text(state: str, language: str) -> str:
    texts = STATE_TEXTS.get(state, {})
    return texts.get(language) or texts.get("zh-Hans", state)


class StateConflict(Conflict):
    code = "PAYMENT_STATE_CONFLICT"

    def __init__(self, state: str, to: str) -> None:
        super().__init__(extra={"state": state, "refused": to})
        self.state_now = state

    def message(self, language: str) -> str:
        self.params["state"] = state_text(self.state_now, language)
        return super().message(language)


@dataclass(frozen=True)
class PaymentView:
    id: str
    reference: str
    reference_kind: str
    amount_fen: int
    currency: str
    description: str
    state: str
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
class NoticeAnswer:
    """What a notice came to, and the 200 the provider expects to hear for it."""

    outcome: str  # applied or duplicate
    body: bytes
    content_type: str


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


@dataclass(frozen=True)
class ReconciliationReport:
    statement_date: date
    lines: int
    matched: int
    discrepancies: list[DiscrepancyCase]
    new_cases: int
    refunds: int  # refund lines on the statement
    refunded_fen: int  # and their sum


def _fingerprint(reference: str, amount_fen: int, currency: str, description: str, channel: str) -> str:
    canonical = json.dumps([reference, amount_fen, currency, description, channel], ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def beijing_day(moment: datetime) -> date:
    return moment.astimezone(CHINA_TZ).date()


class PaymentService:
    """Payments of citizens, provider notices and queries, refunds by admins, daily reconciliation."""

    def __init__(self, platform: Platform, provider: PaymentProvider | None, payables: Payables,
                 receipts: Receipts, wallet: Any = None) -> None:
        self.p = platform
        self.provider = provider
        self.payables = payables
        self.receipts = receipts
        self.wallet = wallet  # the e-licence wallet (LicenceService), where receipts are put
        self.notify_url = platform.settings.resolved_payment_notify_url
        self._telling = BackgroundTasks("settlement")  # departments told of payments after the notice is answered

    def _provider(self) -> PaymentProvider:
        if self.provider is None:
            raise provider_unavailable()
        return self.provider

    async def told(self) -> None:
        """Wait until the departments this worker is telling of settlements have been told (or not)."""
        await self._telling.drained()

    async def close(self) -> None:
        await self._telling.close()  # a department not told yet is told by the settle job
        if self.provider is not None:
            await self.provider.aclose()

    # -- citizens ------------------------------------------------------------------------------------
    async def create(self, citizen_id: str, key: str, reference: str, amount_fen: int, currency: str,
                     description: str, channel: Channel = "app", payer: str | None = None) -> tuple[PaymentView, bool]:
        """Create (and submit) a payment; (view, replayed). A double tap with the same key makes one order.
        `channel` is where the citizen pays: the phone app, or the mini-program (`payer`: their openid)."""
        fingerprint = _fingerprint(reference, amount_fen, currency, description, channel)
        earlier = await Payment.get_or_none(citizen_id=citizen_id, idempotency_key=key)
        if earlier is not None:
            return await self._replay(earlier, fingerprint, payer), True
        split_reference(reference)
        self._provider()  # without a provider nothing is created: 503 before any row is written
        async with self._one_at_a_time(f"pay:{citizen_id}:{reference}"):
            earlier = await Payment.get_or_none(citizen_id=citizen_id, idempotency_key=key)
            if earlier is not None:  # the same key arrived again while this one waited its turn
                return await self._replay(earlier, fingerprint, payer), True
            if await PaidReference.exists(reference=reference, citizen_id=citizen_id):
                # Paid through us: the department may list it as paid already, so it is no longer theirs to resolve.
                raise Conflict("REFERENCE_ALREADY_PAID")
            payable = await self.payables.resolve(citizen_id, reference)
            if amount_fen != payable.amount_fen:
                raise AppError("PAYMENT_AMOUNT_MISMATCH", status=422, params={"owed": yuan(payable.amount_fen)},
                               extra={"amount_fen_owed": payable.amount_fen})
            if await PaidReference.exists(reference=reference):
                raise Conflict("REFERENCE_ALREADY_PAID")
            open_one = await Payment.filter(reference=reference, state__in=OPEN).first()
            if open_one is not None:
                if open_one.citizen_id != citizen_id or open_one.expires_at > self.p.clock.now():
                    raise Conflict("PAYMENT_IN_PROGRESS", extra={"payment_id": open_one.id}
                                   if open_one.citizen_id == citizen_id else {})
                await self._expire(open_one)  # past its time: closed at the provider before a new one starts
                if await PaidReference.exists(reference=reference):  # closing it found it paid: settled now
                    raise Conflict("REFERENCE_ALREADY_PAID")
            payment = await self._new(citizen_id, key, fingerprint, payable.kind, reference, amount_fen,
                                      description or payable.description, channel)
            fresh = await self._submit(payment, payer)
        return await self.view(payment.id, pay_params=fresh), False

    async def _new(self, citizen_id: str, key: str, fingerprint: str, kind: str, reference: str, amount_fen: int,
                   description: str, channel: str) -> Payment:
        now, payment_id = self.p.clock.now(), f"PAY{secrets.token_hex(12).upper()}"
        try:
            async with in_transaction() as conn:
                payment = await Payment.create(
                    id=payment_id, citizen_id=citizen_id, reference=reference, reference_kind=kind,
                    amount_fen=amount_fen, currency=CURRENCY, description=description[:127], idempotency_key=key,
                    request_hash=fingerprint, state="created", channel=channel, created_at=now, updated_at=now,
                    expires_at=now + timedelta(seconds=self.p.settings.payment_ttl), using_db=conn)
                await PaymentEvent.create(payment_id=payment_id, from_state=None, to_state="created", actor=citizen_id,
                                          actor_type="citizen", at=now, using_db=conn)
        except IntegrityError:
            earlier = await Payment.get(citizen_id=citizen_id, idempotency_key=key)
            raise Conflict("PAYMENT_IN_PROGRESS", extra={"payment_id": earlier.id}) from None
        await self._audit(payment, None, "created", actor=citizen_id, actor_type="citizen")
        return payment

    async def _submit(self, payment: Payment, payer: str | None) -> dict[str, str] | None:
        """Hand the order to the provider; what the client pays with (signed with the order, not again). If it
        does not answer, the payment stays created: a retry with the same Idempotency-Key submits it again
        (the provider keys orders by our id, so never twice)."""
        order = OrderRequest(payment.id, payment.amount_fen, payment.description, self.notify_url, payment.expires_at,
                             "jsapi" if payment.channel == "jsapi" else "app", payer, payment.currency)
        try:
            created = await self._provider().create_order(order)
        except ProviderRefused as refused:
            if refused.code == ORDER_PAID:  # an earlier submit of ours got through and was paid meanwhile
                await self.settle_by_query(payment.id)
                return None
            if refused.code == ORDER_CLOSED:  # an earlier submit got through, and the order was closed since
                await self._try_move(payment.id, "created", "expired", "支付渠道已关闭订单")
                return None
            log.warning("payment %s refused by the provider: %s", payment.id, refused.provider_code)
            raise provider_unavailable(refused, payment_id=payment.id) from None
        except ProviderError as failure:
            log.warning("payment %s not submitted: %s", payment.id, failure.code)
            raise provider_unavailable(failure, payment_id=payment.id) from None
        await self._move(payment.id, "created", "submitted", actor="system", actor_type="system",
                         note="已提交支付渠道", prepay_id=created.prepay_id)
        return created.client_params

    async def _replay(self, earlier: Payment, fingerprint: str, payer: str | None) -> PaymentView:
        if earlier.request_hash != fingerprint:
            raise Conflict("IDEMPOTENCY_KEY_REUSED", message_key="PAYMENT_IDEMPOTENCY_KEY_REUSED",
                           extra={"payment_id": earlier.id})
        if earlier.state == "created":
            async with self._one_at_a_time(f"pay:{earlier.citizen_id}:{earlier.reference}"):
                current = await Payment.get(id=earlier.id)
                if current.state == "created":
                    await self._submit(current, payer)
        return await self.view(earlier.id)

    async def mine(self, citizen_id: str, limit: int = 50) -> list[PaymentView]:
        rows = await Payment.filter(citizen_id=citizen_id).order_by("-created_at").limit(limit)
        return [await self.view(row.id, with_details=False) for row in rows]

    async def one_of_mine(self, citizen_id: str, payment_id: str, refresh: bool = True) -> PaymentView:
        """The citizen's own payment (another's is not found). Back from WeChat, an unsettled payment is
        asked of the provider at once, as GOV.UK Pay does on return, so the citizen sees the result."""
        payment = await self._owned(citizen_id, payment_id)
        # At most one provider query per payment every few seconds, however often the app polls.
        if refresh and payment.state == "submitted" and await self.p.cache.set_if_absent(
                f"payquery:{payment.id}", "1", REFRESH_EVERY):
            try:
                await self.settle_by_query(payment.id)
            except (ProviderError, Unavailable):
                pass  # the notice or the scheduled query will settle it
        return await self.view(payment.id)

    async def cancel(self, citizen_id: str, payment_id: str) -> PaymentView:
        """The citizen gives up an unpaid payment; the order is closed at the provider first."""
        payment = await self._owned(citizen_id, payment_id)
        if payment.state not in OPEN:
            raise StateConflict(payment.state, "cancelled")
        if payment.state == "submitted":
            if await self._paid_meanwhile(payment):
                raise StateConflict("success", "cancelled")
        await self._move(payment.id, payment.state, "cancelled", actor=citizen_id, actor_type="citizen", note="用户取消")
        return await self.view(payment.id)

    async def _paid_meanwhile(self, payment: Payment) -> bool:
        """Close the order at the provider; True (and settled) when it turns out to be paid already."""
        try:
            await self._provider().close_order(payment.id)
        except ProviderRefused as refused:
            if refused.code == ORDER_PAID:
                await self.settle_by_query(payment.id)
                return True
            if refused.code not in (ORDER_CLOSED, ORDER_NOT_FOUND):
                raise provider_unavailable(refused) from None
        except ProviderError as failure:
            raise provider_unavailable(failure) from None
        return False

    async def _owned(self, citizen_id: str, payment_id: str) -> Payment:
        row = await Payment.get_or_none(id=payment_id, citizen_id=citizen_id)
        if row is None:
            raise NotFound("PAYMENT_NOT_FOUND")
        return row

    async def receipt_of(self, citizen_id: str, payment_id: str) -> ReceiptView:
        payment = await self._owned(citizen_id, payment_id)
        receipt = await Receipt.get_or_none(payment_id=payment.id)
        if receipt is None:
            raise NotFound("RECEIPT_NOT_FOUND")
        return ReceiptView(receipt, payment, receipt_status(payment), await refunded_fen(payment.id))

    # -- settling: notices and queries ---------------------------------------------------------------
    async def authenticate_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """The provider's notice, verified and decrypted, each signed delivery used once. Refused with 401 when it
        is not signed by the provider (or replayed, or there is no provider to check it), 400 when signed but
        unreadable; logged, nothing changes."""
        if self.provider is None:
            await self._log_notice(body, "rejected", "no_provider")
            raise Unauthorized("PAYMENT_NOTICE_SIGNATURE_INVALID", headers={"WWW-Authenticate": NO_PROVIDER_CHALLENGE})
        challenge = {"WWW-Authenticate": self.provider.notice_challenge}
        try:
            notice = await self.provider.read_notice(headers, body)
        except NoticeRejected as bad:
            await self._log_notice(body, "rejected", bad.code)
            if bad.status == 401:
                raise Unauthorized("PAYMENT_NOTICE_SIGNATURE_INVALID", headers=challenge) from None
            raise AppError("PAYMENT_NOTICE_UNREADABLE", status=400) from None
        if not await self.p.cache.set_if_absent(f"paynotice:{notice.replay_key}", "1", NOTICE_REPLAY_WINDOW):
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
        changed = False
        if order is not None and order.status in ("paid", "refunded"):
            if payment.state == "created":  # our create call timed out, yet the provider took the order
                await self._try_move(payment.id, "created", "submitted", "支付渠道已有订单")
            changed = await self._settle_success(payment.id, "支付渠道通知", order)
        elif order is not None and order.status == "failed":
            changed = await self._fail(payment.id, "支付渠道通知：支付失败")
        elif refund is not None and refund.status == "succeeded":
            changed = await self._refund_succeeded(refund.merchant_refund_id, payment.id, refund)
        elif refund is not None and refund.status == "failed":
            changed = await self._refund_failed(await Refund.get(id=refund.merchant_refund_id), notice.event_type)
        elif refund is not None and refund.status == "abnormal":
            changed = await self._refund_abnormal(await Refund.get(id=refund.merchant_refund_id), notice.event_type)
        outcome = "applied" if changed else "duplicate"
        await self._log_notice(body, outcome, "", notice.notice_id, notice.event_type, payment.id)
        assert self.provider is not None
        return NoticeAnswer(outcome, *self.provider.acknowledge(outcome))

    async def _notice_mismatch(self, notice: PaymentNotice, body: bytes, payment: Payment | None,
                               merchant_order_id: str, mismatch: str) -> None:
        """Log, audit and open a reconciliation case for a genuine notice that disagrees with our records; 422."""
        payment_id = payment.id if payment else None
        await self._log_notice(body, "rejected", mismatch, notice.notice_id, notice.event_type, payment_id)
        await audit.record_event(self.p.clock, actor="payment_provider", actor_type="system",
                                 action="payment_notice_rejected", subject_id=payment.citizen_id if payment else None,
                                 attributes={"payment_id": payment_id or merchant_order_id[:40], "reason": mismatch})
        theirs = {"notice_id": notice.notice_id, "event_type": notice.event_type,
                  "order": _plain(notice.order), "refund": _plain(notice.refund)}
        await self._open_case(beijing_day(self.p.clock.now()), f"notice_{mismatch}", payment_id or merchant_order_id,
                              self._ours(payment) if payment else None, theirs)
        raise AppError("PAYMENT_NOTICE_MISMATCH", status=422, params={"what": mismatch})

    async def _mismatch(self, payment: Payment, notice: PaymentNotice) -> str:
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
                                    received_at=self.p.clock.now())
        if outcome == "rejected":
            log.warning("payment notice rejected: %s (payment %s)", reason, payment_id or "-")

    async def settle_by_query(self, payment_id: str) -> str:
        """Ask the provider how an unsettled payment stands and settle it; returns the state after."""
        payment = await Payment.get(id=payment_id)
        if payment.state not in OPEN:
            return payment.state
        order = await self._provider().query_order(payment.id)
        if order is None:
            if payment.state == "created" and payment.expires_at <= self.p.clock.now():
                await self._try_move(payment.id, "created", "expired", "未提交支付渠道，已过期")
            return (await Payment.get(id=payment_id)).state
        if payment.state == "created":  # the provider has it although our create call did not hear back
            await self._try_move(payment.id, "created", "submitted", "支付渠道已有订单")
        await self._apply_order(payment, order)
        return (await Payment.get(id=payment_id)).state

    async def _apply_order(self, payment: Payment, order: ProviderOrder) -> None:
        if (order.amount_fen, order.currency) != (payment.amount_fen, payment.currency):
            log.warning("payment %s: the provider order has another amount; a case for the office", payment.id)
            await self._open_case(beijing_day(self.p.clock.now()), "query_amount", payment.id, self._ours(payment),
                                  _plain(order))
            return
        if order.status in ("paid", "refunded"):
            await self._settle_success(payment.id, "主动查询支付结果", order)
        elif order.status == "failed":
            await self._fail(payment.id, "主动查询：支付失败")
        elif order.status == "closed":
            await self._try_move(payment.id, "submitted", "expired", "支付渠道已关闭订单")
        elif order.status == "unpaid" and payment.expires_at <= self.p.clock.now():
            await self._expire(payment)

    async def _fail(self, payment_id: str, note: str) -> bool:
        """submitted → failed, and the order closed at the provider so it cannot be paid later on its own; if
        closing finds it paid after all, it is settled."""
        if not await self._try_move(payment_id, "submitted", "failed", note):
            return False
        try:
            await self._provider().close_order(payment_id)
            return True
        except ProviderRefused as refused:
            if refused.code != ORDER_PAID:
                return True
        except (ProviderError, Unavailable) as failure:
            log.warning("payment %s failed; its order was not closed: %s", payment_id, failure)
            return True
        try:
            order = await self._provider().query_order(payment_id)
        except ProviderError as failure:
            log.warning("payment %s is paid after all but could not be read: %s", payment_id, failure)
            return True
        if order is not None and order.status in ("paid", "refunded"):
            await self._settle_success(payment_id, "关闭订单时发现已支付", order)
        return True

    async def _expire(self, payment: Payment) -> None:
        if payment.state == "submitted" and await self._paid_meanwhile(payment):
            return
        await self._try_move(payment.id, payment.state, "expired", "超时未支付")

    async def _settle_success(self, payment_id: str, note: str, order: ProviderOrder) -> bool:
        """submitted (or failed, cancelled, expired: the provider took the money after all) → success, the
        reference marked paid and the receipt made, in one transaction; False when it was settled already (by
        a duplicate notice or a racing query). It is settled at the provider's time of payment, which decides
        the day of its trade bill (a payment at 23:59 learnt of after midnight belongs to the day before)."""
        now = _provider_time(order.paid_at, self.p.clock.now())
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
                receipt = await self.receipts.issue(payment, payer, now, using_db=conn)
        except IntegrityError:
            # The reference was paid by another payment (two orders paid at once): this money goes back.
            async with in_transaction() as conn:
                if not await self._mark_success(conn, payment, f"{note}（重复缴费）", now, provider_order_id):
                    return False
            payment = await Payment.get(id=payment_id)
            await self._audit(payment, was, "success", actor="payment_provider", actor_type="system")
            await self._open_case(beijing_day(now), "duplicate_payment", payment.id, self._ours(payment), None)
            try:
                await self._refund(payment, payment.amount_fen, "重复缴费自动退款", "system")
            except AppError as refused:  # the duplicate_payment case stays open: the office refunds it by hand
                log.warning("payment %s: the duplicate could not be refunded at once: %s", payment.id, refused.code)
            return True
        payment = await Payment.get(id=payment_id)
        await self._audit(payment, was, "success", actor="payment_provider", actor_type="system")
        await audit.record_event(self.p.clock, actor="payment_provider", actor_type="system", action="reference_paid",
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference})
        try:
            await self._to_wallet(payment, receipt)
        except Exception:  # the payment and its receipt stand; the settle job puts it in the wallet later
            log.exception("receipt %s not put in the wallet", receipt.number)
        # Told after the provider's notice is answered, never holding it up; the settle job tells it otherwise.
        self._telling.start(self._tell_settled(payment, receipt))
        await notify(self.p.clock, payment.citizen_id, "payment_succeeded",
                     {"description": payment.description, "amount": yuan(payment.amount_fen)})
        return True

    async def _mark_success(self, conn: Any, payment: Payment, note: str, now: datetime,
                            provider_order_id: str | None) -> bool:
        moved = await Payment.filter(id=payment.id, state=payment.state).using_db(conn).update(
            state="success", settled_at=now, updated_at=now, provider_order_id=provider_order_id)
        if moved:
            await PaymentEvent.create(payment_id=payment.id, from_state=payment.state, to_state="success",
                                      actor="payment_provider", actor_type="system", note=note, at=now, using_db=conn)
        return bool(moved)

    async def _payer_name_masked(self, citizen_id: str) -> str:
        citizen = await Citizen.get(id=citizen_id)
        return mask_name(self.p.pii.decrypt(citizen.name_enc, "name")) if citizen.name_enc else "*"

    async def _to_wallet(self, payment: Payment, receipt: Receipt) -> None:
        """The receipt goes into the e-licence wallet as a licence the platform issues: the wallet list,
        detail, purpose-bound shares and their verification by relying parties all work for it as they are."""
        if self.wallet is None or receipt.licence_id:
            return
        licence_id = await self.wallet.issue_own(RECEIPT_LICENCE_TYPE, payment.citizen_id, receipt.number,
                                                 _wallet_fields(payment, receipt, 0), receipt.issued_at)
        await Receipt.filter(number=receipt.number).update(licence_id=licence_id)

    async def _tell_settled(self, payment: Payment, receipt: Receipt) -> None:
        """The department behind a fine or bill hears that this payment settled it; when it cannot be told now,
        the settle job tells it later. One at a time per receipt, so the job and a late notice never tell twice."""
        async with self._one_at_a_time(f"receipt-settled:{payment.id}"):
            if not await Receipt.filter(number=receipt.number, settlement_told_at=None).exists():
                return
            told = await self.payables.tell_paid(payment.reference, payment.citizen_id, payment.amount_fen, payment.id)
            if told == "told":
                await Receipt.filter(number=receipt.number).update(settlement_told_at=self.p.clock.now())
            elif told == "refused":
                await self._settlement_refused(payment, receipt, "settlement_refused")

    async def _settlement_refused(self, payment: Payment, receipt: Receipt, kind: str) -> None:
        """The department answered that it will not record this settlement (or its reversal): asking again would
        not change that, so the settle job stops asking and the payments office gets a case to resolve with it."""
        now = self.p.clock.now()
        column = "settlement_refused_at" if kind == "settlement_refused" else "reversal_refused_at"
        await Receipt.filter(number=receipt.number).update(**{column: now})
        await self._open_case(beijing_day(now), kind, payment.reference, self._ours(payment), None)
        await audit.record_event(self.p.clock, actor="system", actor_type="system", action=kind,
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference})

    # -- state moves ---------------------------------------------------------------------------------
    async def _move(self, payment_id: str, from_state: str, to_state: str, *, actor: str, actor_type: str,
                    note: str = "", **changes: Any) -> None:
        if not await self._try_move(payment_id, from_state, to_state, note, actor=actor, actor_type=actor_type,
                                    **changes):
            raise StateConflict((await Payment.get(id=payment_id)).state, to_state)

    async def _try_move(self, payment_id: str, from_state: str, to_state: str, note: str = "", *,
                        actor: str = "payment_provider", actor_type: str = "system",
                        with_move: Callable[[Any], Awaitable[None]] | None = None, **changes: Any) -> bool:
        """One allowed move, written only if nobody moved the payment first; an illegal one is refused.
        `with_move(conn)` writes what must commit together with the move, in its transaction."""
        if to_state not in TRANSITIONS.get(from_state, ()):
            log.info("payment %s: move %s -> %s refused", payment_id, from_state, to_state)
            return False
        now = self.p.clock.now()
        async with in_transaction() as conn:
            moved = await Payment.filter(id=payment_id, state=from_state).using_db(conn).update(
                state=to_state, updated_at=now, **changes)
            if not moved:
                return False
            await PaymentEvent.create(payment_id=payment_id, from_state=from_state, to_state=to_state, actor=actor,
                                      actor_type=actor_type, note=note[:200], at=now, using_db=conn)
            if with_move is not None:
                await with_move(conn)
        payment = await Payment.get(id=payment_id)
        await self._audit(payment, from_state, to_state, actor=actor, actor_type=actor_type)
        if to_state in ("failed", "expired"):
            await notify(self.p.clock, payment.citizen_id, f"payment_{to_state}", {"description": payment.description})
        return True

    async def _audit(self, payment: Payment, from_state: str | None, to_state: str, *, actor: str,
                     actor_type: str) -> None:
        await audit.record_event(self.p.clock, actor=actor, actor_type=actor_type, action=f"payment_{to_state}",
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference,
                                             "amount_fen": payment.amount_fen, "from": from_state, "to": to_state})

    def _one_at_a_time(self, name: str, wait: float = 15.0) -> AbstractAsyncContextManager[None]:
        """A lock in the shared cache (across workers with Redis), waited for up to `wait` seconds; held while
        the provider is called (bounded by its timeout), so a double tap waits and then finds the first one."""
        return cache_lock(self.p.cache, name, ttl=wait, wait=wait)

    # -- refunds (admins) ----------------------------------------------------------------------------
    async def refund(self, admin: AuthenticatedClient, payment_id: str, amount_fen: int, reason: str) -> Refund:
        payment = await Payment.get_or_none(id=payment_id)
        if payment is None:
            raise NotFound("PAYMENT_NOT_FOUND")
        return await self._refund(payment, amount_fen, reason, admin.id)

    async def _refund(self, payment: Payment, amount_fen: int, reason: str, by: str) -> Refund:
        """Reserve the amount (a conditional UPDATE: never more than is left), then ask the provider."""
        if payment.state not in ("success", "partially_refunded"):
            raise StateConflict(payment.state, "refunded")
        reserved = await Payment.filter(id=payment.id, state__in=("success", "partially_refunded"),
                                        refunded_fen__lte=payment.amount_fen - amount_fen).update(
            refunded_fen=F("refunded_fen") + amount_fen, updated_at=self.p.clock.now())
        if not reserved:
            left = (await Payment.get(id=payment.id)).amount_fen - (await Payment.get(id=payment.id)).refunded_fen
            raise Conflict("REFUND_EXCEEDS_REMAINDER", params={"left": yuan(max(0, left))},
                           extra={"refundable_fen": max(0, left)})
        refund = await Refund.create(id=f"RF{secrets.token_hex(12).upper()}", payment_id=payment.id,
                                     amount_fen=amount_fen, reason=reason[:200], state="pending", requested_by=by,
                                     created_at=self.p.clock.now())
        await audit.record_event(self.p.clock, actor=by, actor_type="system" if by == "system" else "admin",
                                 action="refund_requested", subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "refund_id": refund.id, "amount_fen": amount_fen})
        try:
            answer = await self._provider().refund(payment.id, refund.id, amount_fen, payment.amount_fen, reason,
                                                   self.notify_url)
        except ProviderRefused as refused:
            await self._refund_failed(refund, refused.provider_code)
            if refused.code == INSUFFICIENT_FUNDS:
                raise Conflict("REFUND_INSUFFICIENT_FUNDS") from None
            raise Conflict("REFUND_REFUSED", params={"code": refused.provider_code}) from None
        except (ProviderError, Unavailable):
            return refund  # pending: the scheduled query finishes it
        await Refund.filter(id=refund.id).update(provider_refund_id=answer.provider_refund_id)
        if answer.status == "succeeded":
            await self._refund_succeeded(refund.id, payment.id, answer)
        elif answer.status == "failed":
            await self._refund_failed(refund, "FAILED")
        elif answer.status == "abnormal":
            await self._refund_abnormal(refund, "ABNORMAL")
        return await Refund.get(id=refund.id)

    async def _refund_failed(self, refund: Refund, why: str) -> bool:
        """pending → failed once: the reserved amount is refundable again, in the same transaction (a failed
        refund whose amount stayed reserved could never be refunded again)."""
        async with in_transaction() as conn:
            if not await Refund.filter(id=refund.id, state__in=UNSETTLED_REFUNDS).using_db(conn).update(
                    state="failed", settled_at=self.p.clock.now()):
                return False
            await Payment.filter(id=refund.payment_id).using_db(conn).update(
                refunded_fen=F("refunded_fen") - refund.amount_fen)
        payment = await Payment.get(id=refund.payment_id)
        await audit.record_event(self.p.clock, actor="payment_provider", actor_type="system", action="refund_failed",
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "refund_id": refund.id, "why": why[:40]})
        return True

    async def _refund_abnormal(self, refund: Refund, why: str) -> bool:
        """pending → abnormal once: the money did not reach the payer. The amount stays reserved (the provider
        can still pay it out, so refunding it again could pay twice) and a case is opened for the office."""
        if not await Refund.filter(id=refund.id, state="pending").update(state="abnormal"):
            return False
        payment = await Payment.get(id=refund.payment_id)
        await audit.record_event(self.p.clock, actor="payment_provider", actor_type="system", action="refund_abnormal",
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "refund_id": refund.id, "why": why[:40]})
        await self._open_case(beijing_day(self.p.clock.now()), "refund_abnormal", refund.id,
                              {"refund_id": refund.id, "payment_id": payment.id, "amount_fen": refund.amount_fen}, None)
        return True

    async def _refund_succeeded(self, refund_id: str, payment_id: str, answer: ProviderRefund) -> bool:
        """pending (or abnormal) → succeeded once, and the payment partially refunded or refunded in the same
        transaction: a crash leaves neither half. The refund is marked first (on SQLite that takes the write
        lock), then the payment row is locked, so two refunds of one payment ending at once each count the
        other's amount. It is settled at the provider's time, as its trade bill has it."""
        now = self.p.clock.now()
        async with in_transaction() as conn:
            if not await Refund.filter(id=refund_id, payment_id=payment_id, state__in=UNSETTLED_REFUNDS).using_db(
                    conn).update(state="succeeded", settled_at=_provider_time(answer.succeeded_at, now),
                                 provider_refund_id=answer.provider_refund_id):
                return False
            payment = await Payment.filter(id=payment_id).select_for_update().using_db(conn).get()
            done = sum(await Refund.filter(payment_id=payment_id, state="succeeded").using_db(conn).values_list(
                "amount_fen", flat=True))
            target = "refunded" if done >= payment.amount_fen else "partially_refunded"
            moved = await self._write_move(conn, payment, target, f"退款 {yuan(done)}", now,
                                           with_move=_refund_moves_receipt(payment_id, target))
        if moved:
            await self._audit(payment, payment.state, target, actor="payment_provider", actor_type="system")
            if target == "refunded":
                await self._reopened(payment)
        await self._refund_reaches_receipt(payment_id)
        refund = await Refund.get(id=refund_id)
        await notify(self.p.clock, payment.citizen_id, "payment_refunded",
                     {"description": payment.description, "amount": yuan(refund.amount_fen)})
        return True

    async def _write_move(self, conn: Any, payment: Payment, to_state: str, note: str, now: datetime, *,
                          with_move: Callable[[Any], Awaitable[None]] | None = None) -> bool:
        """A move of a payment already read (and locked) in `conn`'s transaction, with its event."""
        if to_state not in TRANSITIONS.get(payment.state, ()):
            log.info("payment %s: move %s -> %s refused", payment.id, payment.state, to_state)
            return False
        if not await Payment.filter(id=payment.id, state=payment.state).using_db(conn).update(
                state=to_state, updated_at=now):
            return False
        await PaymentEvent.create(payment_id=payment.id, from_state=payment.state, to_state=to_state,
                                  actor="payment_provider", actor_type="system", note=note[:200], at=now, using_db=conn)
        if with_move is not None:
            await with_move(conn)
        return True

    async def _reopened(self, payment: Payment) -> None:
        """A full refund reopened what this payment settled (when it settled anything: a duplicate did not)."""
        if await Receipt.exists(payment_id=payment.id):
            await audit.record_event(self.p.clock, actor="payment_provider", actor_type="system",
                                     action="reference_reopened", subject_id=payment.citizen_id,
                                     attributes={"payment_id": payment.id, "reference": payment.reference})

    async def _refund_reaches_receipt(self, payment_id: str) -> None:
        """After a refund: the receipt's wallet licence shows it and, after a full refund, the department hears
        that its fine or bill is due again. Either may fail; the refund stands and the settle job tries again.
        One at a time per receipt, so a late job and a notice never restate or tell twice."""
        async with self._one_at_a_time(f"receipt-refund:{payment_id}"):
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
        if self.wallet is None or not receipt.licence_id or not receipt.wallet_outdated:
            return
        refunded = await refunded_fen(payment.id)
        status = "refunded" if payment.state == "refunded" else "valid"
        await self.wallet.restate_own(receipt.licence_id, _wallet_fields(payment, receipt, refunded), status,
                                      "全额退款" if status == "refunded" else None)
        await Receipt.filter(number=receipt.number).update(wallet_outdated=False)

    async def _tell_department(self, payment: Payment, receipt: Receipt) -> None:
        told = await self.payables.tell_reversed(payment.reference, payment.citizen_id)
        if told == "refused":
            await self._settlement_refused(payment, receipt, "reversal_refused")
        if told != "told":
            return
        await Receipt.filter(number=receipt.number).update(reversal_told_at=self.p.clock.now())
        await audit.record_event(self.p.clock, actor="system", actor_type="system", action="settlement_reversal_sent",
                                 subject_id=payment.citizen_id,
                                 attributes={"payment_id": payment.id, "reference": payment.reference})

    # -- scheduled work ------------------------------------------------------------------------------
    async def settle_unnotified(self) -> int:
        """Payments and refunds not settled after `payment_settle_after` seconds are asked of the provider."""
        if self.provider is None:
            return 0
        before = self.p.clock.now() - timedelta(seconds=self.p.settings.payment_settle_after)
        settled = 0
        for payment in await Payment.filter(state__in=OPEN, updated_at__lte=before).order_by("updated_at").limit(200):
            try:
                if await self.settle_by_query(payment.id) != payment.state:
                    settled += 1
            except (ProviderError, Unavailable) as failure:
                log.warning("settling %s by query failed: %s", payment.id, failure)
        for receipt in await Receipt.filter(licence_id=None, issued_at__lte=before).limit(200):
            await self._one_receipt(receipt, self._to_wallet)  # it failed when paid
        untold_paid = Receipt.filter(settlement_told_at=None, settlement_refused_at=None, issued_at__lte=before,
                                     payment__state__in=("success", "partially_refunded"))
        for receipt in await untold_paid.order_by("issued_at").limit(200):
            await self._one_receipt(receipt, self._tell_settled)  # it failed when paid
        behind = Receipt.filter(wallet_outdated=True, licence_id__not_isnull=True)
        untold = Receipt.filter(payment__state="refunded", reversal_told_at=None, reversal_refused_at=None)
        for payment_id in set(await behind.limit(200).values_list("payment_id", flat=True)) | set(
                await untold.limit(200).values_list("payment_id", flat=True)):
            await self._refund_reaches_receipt(payment_id)  # the wallet or the department failed after a refund
        for state, batch in (("pending", 200), ("abnormal", 50)):  # abnormal ones wait on people: asked after
            for refund in await Refund.filter(state=state, created_at__lte=before).order_by("created_at").limit(batch):
                settled += await self._settle_refund_by_query(refund)
        return settled

    async def _one_receipt(self, receipt: Receipt, work: Callable[[Payment, Receipt], Awaitable[None]]) -> None:
        """The settle job's work on one receipt; its failure is logged and left for the next run, never stopping
        the work on the others."""
        try:
            await work(await Payment.get(id=receipt.payment_id), receipt)
        except Exception:
            log.exception("receipt %s: left for the next settle run", receipt.number)

    async def _settle_refund_by_query(self, refund: Refund) -> int:
        """Ask how an unsettled refund stands; one the provider never received (our call did not reach it) is
        asked for again, under the same id, so it cannot be paid out twice. Only a refused application fails
        it: a refused or unanswered query says nothing about how the refund ended."""
        assert self.provider is not None
        try:
            answer = await self.provider.query_refund(refund.id)
        except ProviderError as failure:
            log.warning("refund %s not settled by query: %s", refund.id, failure.code)
            return 0
        if answer is None:
            payment = await Payment.get(id=refund.payment_id)
            try:
                answer = await self.provider.refund(payment.id, refund.id, refund.amount_fen, payment.amount_fen,
                                                    refund.reason, self.notify_url)
            except ProviderRefused as refused:
                await self._refund_failed(refund, refused.provider_code)
                return 0
            except ProviderError as failure:
                log.warning("refund %s not asked for again: %s", refund.id, failure.code)
                return 0
        if answer.status == "succeeded":
            return int(await self._refund_succeeded(refund.id, refund.payment_id, answer))
        if answer.status == "failed":
            await self._refund_failed(refund, "FAILED")
        elif answer.status == "abnormal":
            await self._refund_abnormal(refund, "ABNORMAL")
        return 0

    async def reconcile(self, day: date, ran_by: str = "scheduler") -> ReconciliationReport:
        """对账: compare the provider's trade bill for `day` (Beijing) with our records; one case per mismatch."""
        try:
            lines = await self._provider().bill(day)
        except ProviderError as failure:
            raise provider_unavailable(failure) from None
        # In UTC: SQLite compares the stored UTC text, so a +08:00 bound would select the wrong rows.
        start = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).astimezone(timezone.utc)
        end = start + timedelta(days=1)
        ours_paid = {p.id: p for p in await Payment.filter(settled_at__gte=start, settled_at__lt=end)}
        ours_refunds = {r.id: r for r in await Refund.filter(state="succeeded", settled_at__gte=start, settled_at__lt=end)}
        found: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = []
        matched, seen_pay, seen_refund = 0, set(), set()
        for line in lines:
            theirs = _plain(line)
            if line.kind == "payment":
                seen_pay.add(line.merchant_order_id)
                payment = ours_paid.get(line.merchant_order_id) or await Payment.get_or_none(id=line.merchant_order_id[:40])
                problem = self._pay_problem(payment, line)
                ours = self._ours(payment) if payment else None
                reference = line.merchant_order_id
            else:
                seen_refund.add(line.merchant_refund_id)
                refund = ours_refunds.get(line.merchant_refund_id) or await Refund.get_or_none(id=line.merchant_refund_id[:40])
                problem = self._refund_problem(refund, line)
                ours = {"refund_id": refund.id, "amount_fen": refund.amount_fen, "state": refund.state} if refund else None
                reference = line.merchant_refund_id
            if problem:
                found.append((problem, reference, ours, theirs))
            else:
                matched += 1
        for payment in ours_paid.values():
            if payment.id not in seen_pay:
                found.append(("missing_in_statement", payment.id, self._ours(payment), None))
        for refund in ours_refunds.values():
            if refund.id not in seen_refund:
                found.append(("refund_missing_in_statement", refund.id,
                              {"refund_id": refund.id, "amount_fen": refund.amount_fen}, None))
        cases, new = [], 0
        for kind, reference, ours, theirs in found:
            case, created = await self._open_case(day, kind, reference, ours, theirs)
            cases.append(case)
            new += created
        refunds = [line.amount_fen for line in lines if line.kind == "refund"]
        await ReconciliationRun.create(statement_date=day, lines=len(lines), matched=matched, discrepancies=len(found),
                                       refunds=len(refunds), refunded_fen=sum(refunds), ran_at=self.p.clock.now(),
                                       ran_by=ran_by)
        await audit.record_event(self.p.clock, actor=ran_by, actor_type="admin" if ran_by != "scheduler" else "system",
                                 action="payments_reconciled",
                                 attributes={"date": day.isoformat(), "lines": len(lines), "matched": matched,
                                             "discrepancies": len(found), "refunds": len(refunds),
                                             "refunded_fen": sum(refunds)})
        return ReconciliationReport(day, len(lines), matched, cases, new, len(refunds), sum(refunds))

    @staticmethod
    def _ours(payment: Payment) -> dict[str, Any]:
        return {"payment_id": payment.id, "amount_fen": payment.amount_fen, "currency": payment.currency,
                "state": payment.state}

    @staticmethod
    def _pay_problem(payment: Payment | None, line: BillLine) -> str:
        if payment is None:
            return "missing_in_ours"
        if line.amount_fen != payment.amount_fen or line.currency != payment.currency:
            return "amount_mismatch"
        if payment.state not in PAID:
            return "status_mismatch"
        return ""

    @staticmethod
    def _refund_problem(refund: Refund | None, line: BillLine) -> str:
        if refund is None or refund.payment_id != line.merchant_order_id:
            return "refund_missing_in_ours"
        if line.amount_fen != refund.amount_fen:
            return "refund_amount_mismatch"
        if refund.state != "succeeded":
            return "refund_status_mismatch"
        return ""

    async def _open_case(self, day: date, kind: str, reference: str, ours: dict[str, Any] | None,
                         theirs: dict[str, Any] | None) -> tuple[DiscrepancyCase, bool]:
        """One case per (day, kind, reference): a re-run finds the same case, it does not open another."""
        existing = await DiscrepancyCase.get_or_none(statement_date=day, kind=kind, reference=reference[:80])
        if existing is not None:
            return existing, False
        try:
            case = await DiscrepancyCase.create(id=new_id("dc"), statement_date=day, kind=kind, reference=reference[:80],
                                                ours=ours, theirs=theirs, status="open", created_at=self.p.clock.now())
        except IntegrityError:
            return await DiscrepancyCase.get(statement_date=day, kind=kind, reference=reference[:80]), False
        log.warning("reconciliation %s: %s for %s", day, kind, reference)
        return case, True

    async def reconcile_yesterday(self) -> int:
        """The daily job: yesterday (Beijing) once, from 10:00 when statements are out, catching up if missed."""
        now = self.p.clock.now().astimezone(CHINA_TZ)
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
        query = DiscrepancyCase.all() if status is None else DiscrepancyCase.filter(status=status)
        return await query.order_by("-created_at").limit(limit)

    async def resolve_case(self, admin: AuthenticatedClient, case_id: str, resolution: str) -> DiscrepancyCase:
        case = await DiscrepancyCase.get_or_none(id=case_id)
        if case is None:
            raise NotFound("DISCREPANCY_NOT_FOUND")
        if not await DiscrepancyCase.filter(id=case_id, status="open").update(
                status="resolved", resolution=resolution[:200], resolved_at=self.p.clock.now()):
            raise Conflict("DISCREPANCY_RESOLVED")
        await audit.record_event(self.p.clock, actor=admin.id, actor_type="admin", action="discrepancy_resolved",
                                 attributes={"case_id": case_id, "kind": case.kind, "reference": case.reference})
        return await DiscrepancyCase.get(id=case_id)

    async def for_admin(self, admin: AuthenticatedClient, payment_id: str, purpose: str) -> PaymentView:
        """An admin reads a citizen's payment: the citizen sees that read in their access log."""
        payment = await Payment.get_or_none(id=payment_id)
        if payment is None:
            raise NotFound("PAYMENT_NOT_FOUND")
        await audit.record_access(self.p.clock, citizen_id=payment.citizen_id, actor=admin.name, actor_type="admin",
                                  action="payment_read", attributes=["payment", "amount", "reference"], purpose=purpose)
        return await self.view(payment_id)

    # -- views ---------------------------------------------------------------------------------------
    def _pay_params(self, row: Payment) -> dict[str, str] | None:
        """Freshly signed parameters for the client's pay call while the order is open at the provider."""
        if row.state != "submitted" or not row.prepay_id or self.provider is None:
            return None
        return self.provider.client_params("jsapi" if row.channel == "jsapi" else "app", row.prepay_id)

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


def _provider_time(reported: datetime | None, now: datetime) -> datetime:
    """When the provider says it happened, in UTC as every stored time (SQLite compares them as text); never
    later than our now (its clock may run ahead of ours)."""
    return min(reported, now).astimezone(timezone.utc) if reported is not None else now


def _plain(record: Any) -> dict[str, Any] | None:
    """A provider record as JSON for a reconciliation case (times as text)."""
    if record is None:
        return None
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in record.__dict__.items()}


def _wallet_fields(payment: Payment, receipt: Receipt, refunded: int) -> dict[str, Any]:
    """The receipt as the fields of its wallet licence; after a refund, what was refunded and what remains paid."""
    paid_at = (payment.settled_at or receipt.issued_at).astimezone(CHINA_TZ)
    fields = {"payer": receipt.payer_name_masked, "payee": PAYEE, "item": payment.description,
              "amount": yuan(payment.amount_fen), "paid_at": f"{paid_at:%Y-%m-%d %H:%M}（北京时间）",
              "payment_id": payment.id}
    if refunded:
        fields |= {"refunded": yuan(refunded), "net_amount": yuan(payment.amount_fen - refunded)}
    return fields


def _refund_moves_receipt(payment_id: str, target: str) -> Callable[[Any], Awaitable[None]]:
    """What commits with a refund's move: the receipt is marked for its wallet licence and, refunded in full,
    the fine, bill or fee this payment settled is owed again (a duplicate payment settled none)."""

    async def write(conn: Any) -> None:
        await Receipt.filter(payment_id=payment_id).using_db(conn).update(wallet_outdated=True)
        if target == "refunded":
            await PaidReference.filter(payment_id=payment_id).using_db(conn).delete()

    return write
