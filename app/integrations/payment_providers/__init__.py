"""Payment providers (支付渠道): what the payment service needs from any of them, whichever one collects.

WeChat Pay, Alipay and UnionPay all offer the same operations: create an order for one channel (the
mini-program or the phone app), query and close it, refund, query a refund, the daily trade bill, and
notices of payments and refunds that must be verified before they are believed. `PaymentProvider` is
that contract; `tests/integrations/payment_provider_contract.py` is the suite any adapter must pass.

Everything crossing this boundary is in the service's words, not the provider's: amounts in integer
fen, times as aware datetimes, statuses from the small vocabularies below, and failures as the errors
below (never the provider's message, which may quote personal data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Mapping, Protocol

from app.integrations import ProviderError, ProviderMisconfigured, ProviderThrottled, ProviderUnavailable

__all__ = [
    "Channel", "OrderStatus", "RefundStatus", "OrderRequest", "CreatedOrder", "ProviderOrder", "ProviderRefund",
    "BillLine", "PaymentNotice", "PaymentProvider", "ProviderRefused", "NoticeRejected", "ProviderError",
    "ProviderMisconfigured", "ProviderThrottled", "ProviderUnavailable",
]

Channel = Literal["app", "jsapi"]  # the phone app (APP 支付), or the mini-program (JSAPI 支付)
OrderStatus = Literal["unpaid", "paid", "failed", "closed", "refunded"]
# abnormal: the money could not reach the payer (a closed card, a frozen account). Not final: the merchant
# can still have it paid out, so nothing may be refunded again in its place until someone has looked at it.
RefundStatus = Literal["processing", "succeeded", "failed", "abnormal"]

# What a refusal means to the service, whichever provider's code said it.
ORDER_PAID = "ORDER_PAID"
ORDER_CLOSED = "ORDER_CLOSED"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"  # the merchant account cannot fund a refund now
INVALID_REQUEST = "INVALID_REQUEST"  # the provider found our request wrong (a bug or a race on our side)
NO_BILL = "NO_BILL"  # no trade bill for that day (nothing happened, or it is not made yet)


class ProviderRefused(ProviderError):
    """The provider answered and said no. `code` is one of the meanings above; `provider_code` is its own."""

    def __init__(self, code: str, provider_code: str = "") -> None:
        super().__init__(code)
        self.provider_code = provider_code or code


class NoticeRejected(ProviderError):
    """A notice we do not believe. `status` is what the sender is answered: 401 when it is not signed by the
    provider (signature, serial, timestamp, replay), 400 when it is signed but unreadable (not the
    provider's format, a resource that does not decrypt). `code` is a short reason for the log."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.status = status


@dataclass(frozen=True)
class OrderRequest:
    """An order as the service asks for it. `payer` is the payer's id at the provider where the channel needs
    one (the mini-program openid for JSAPI)."""

    merchant_order_id: str
    amount_fen: int
    description: str
    notify_url: str
    expire_at: datetime
    channel: Channel
    payer: str | None = None
    currency: str = "CNY"


@dataclass(frozen=True)
class CreatedOrder:
    """What the provider gave for a new order: its handle (WeChat Pay's prepay_id; for another provider whatever
    `client_params` needs to sign the client's pay call again, e.g. a signed order string), and what the
    client calls pay with."""

    merchant_order_id: str
    prepay_id: str
    client_params: dict[str, str]


@dataclass(frozen=True)
class ProviderOrder:
    """An order as the provider has it."""

    merchant_order_id: str
    provider_order_id: str | None  # the provider's transaction id, once paid
    amount_fen: int
    currency: str
    status: OrderStatus
    paid_at: datetime | None = None


@dataclass(frozen=True)
class ProviderRefund:
    merchant_refund_id: str
    merchant_order_id: str
    provider_refund_id: str | None
    amount_fen: int
    status: RefundStatus
    succeeded_at: datetime | None = None


@dataclass(frozen=True)
class BillLine:
    """One line of the provider's daily trade bill (交易账单)."""

    kind: Literal["payment", "refund"]
    merchant_order_id: str
    provider_order_id: str
    merchant_refund_id: str  # "" for a payment line
    amount_fen: int  # what was paid, or what was refunded
    currency: str
    at: datetime | None


@dataclass(frozen=True)
class PaymentNotice:
    """A verified, decrypted notice. Exactly one of `order` and `refund` is set. `notice_id` is the provider's
    id of the event (the same on every retry of it)."""

    notice_id: str
    event_type: str
    order: ProviderOrder | None = None
    refund: ProviderRefund | None = None
    replay_key: str = ""  # names this one signed delivery: the same bytes posted again are a replay
    raw_digest: str = field(default="", compare=False)


class PaymentProvider(Protocol):
    name: str
    notice_challenge: str  # the WWW-Authenticate of a 401 to a notice that is not the provider's

    def acknowledge(self, outcome: str) -> tuple[bytes, str]:
        """The body and content type of the 200 that tells the provider a notice was taken (WeChat Pay reads the
        status only; Alipay, for one, wants the text `success`)."""

    async def create_order(self, order: OrderRequest) -> CreatedOrder:
        """Create the order; the same merchant_order_id with the same content gives the same order."""

    def client_params(self, channel: Channel, prepay_id: str) -> dict[str, str]:
        """What the client hands the provider's SDK to pay an open order (fresh, signed where it must be)."""

    async def query_order(self, merchant_order_id: str) -> ProviderOrder | None:
        """The order, or None when the provider never had it."""

    async def close_order(self, merchant_order_id: str) -> None:
        """Close an unpaid order; ProviderRefused(ORDER_PAID) when it was paid meanwhile."""

    async def refund(self, merchant_order_id: str, merchant_refund_id: str, amount_fen: int, total_fen: int,
                     reason: str, notify_url: str) -> ProviderRefund:
        """Ask for a refund (idempotent by merchant_refund_id)."""

    async def query_refund(self, merchant_refund_id: str) -> ProviderRefund | None: ...

    async def bill(self, day: date) -> list[BillLine]:
        """The trade bill of `day` (Beijing), verified as the provider publishes; [] when there is none."""

    async def read_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify and read a notice the provider posted to us; NoticeRejected otherwise."""

    async def aclose(self) -> None: ...
