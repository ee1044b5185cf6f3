"""The rules of a payment: its states and the only moves between them, and the pure helpers every payments
operation shares (no database, no provider).

    created   → submitted | cancelled | expired      (submitted: the provider has the order, the client can pay)
    submitted → success | failed | cancelled | expired
    failed | cancelled | expired → success           (only when the provider reports the order paid after all)
    success   → partially_refunded | refunded
    partially_refunded → partially_refunded | refunded

Anything else is refused (409 PAYMENT_STATE_CONFLICT, or ignored and logged when a notice asks for it).
Amounts are integer fen everywhere.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from app.clock import CHINA_TZ
from app.errors import Conflict
from app.i18n import N_, translate
from app.money import yuan
from app.payments.models import Payment, Receipt
from app.payments.receipts import PAYEE

CURRENCY = "CNY"
OPEN = ("created", "submitted")
# A receipt's wallet licence when the holder's account was erased (注销): the receipt stays, out of any wallet.
WALLET_COPY_ERASED = "erased"
PAID = ("success", "partially_refunded", "refunded")
SETTLEABLE = ("submitted", "failed", "cancelled", "expired")  # what a payment the provider reports paid can be in
UNSETTLED_REFUNDS = ("pending", "abnormal")  # the amount stays reserved until the provider says how it ended
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "created": ("submitted", "cancelled", "expired"),
    "submitted": ("success", "failed", "cancelled", "expired"),
    "failed": ("success",),
    "cancelled": ("success",),
    "expired": ("success",),
    "success": ("partially_refunded", "refunded"),
    "partially_refunded": ("partially_refunded", "refunded"),
}
STATE_TEXTS: dict[str, str] = {  # zh-Hans msgids
    "created": N_("待支付"),
    "submitted": N_("支付中"),
    "success": N_("已支付"),
    "failed": N_("支付失败"),
    "cancelled": N_("已取消"),
    "expired": N_("已过期"),
    "partially_refunded": N_("部分退款"),
    "refunded": N_("已退款"),
}


def state_text(state: str, language: str) -> str:
    """A state in the caller's language (zh-Hans when there is no text in it)."""
    return translate(STATE_TEXTS[state], language) if state in STATE_TEXTS else state


class StateConflict(Conflict):
    """409 PAYMENT_STATE_CONFLICT: the move asked for is not allowed from the state the payment is in."""

    code = "PAYMENT_STATE_CONFLICT"

    def __init__(self, state: str, to: str) -> None:
        super().__init__(extra={"state": state, "refused": to})
        self.state_now = state

    def message(self, language: str) -> str:
        self.params["state"] = state_text(self.state_now, language)
        return super().message(language)


def fingerprint(reference: str, amount_fen: int, currency: str, description: str, channel: str) -> str:
    """What a creation asked for, so a replay of its Idempotency-Key with another request is told apart."""
    canonical = json.dumps([reference, amount_fen, currency, description, channel], ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()



def provider_time(reported: datetime | None, now: datetime) -> datetime:
    """When the provider says it happened, in UTC as every stored time (SQLite compares them as text); never
    later than our now (its clock may run ahead of ours)."""
    return min(reported, now).astimezone(timezone.utc) if reported is not None else now


def plain(record: Any) -> dict[str, Any] | None:
    """A provider record as JSON for a reconciliation case (times as text)."""
    if record is None:
        return None
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in record.__dict__.items()}


def ours(payment: Payment) -> dict[str, Any]:
    """Our record of a payment as a reconciliation case shows it."""
    return {"payment_id": payment.id, "amount_fen": payment.amount_fen, "currency": payment.currency,
            "state": payment.state}


def wallet_fields(payment: Payment, receipt: Receipt, refunded: int) -> dict[str, Any]:
    """The receipt as the fields of its wallet licence; after a refund, what was refunded and what remains paid."""
    paid_at = (payment.settled_at or receipt.issued_at).astimezone(CHINA_TZ)
    fields = {"payer": receipt.payer_name_masked, "payee": PAYEE, "item": payment.description,
              "amount": yuan(payment.amount_fen), "paid_at": f"{paid_at:%Y-%m-%d %H:%M}（北京时间）",
              "payment_id": payment.id}
    if refunded:
        fields |= {"refunded": yuan(refunded), "net_amount": yuan(payment.amount_fen - refunded)}
    return fields
