"""The payment provider contract: the tests every `PaymentProvider` adapter must pass, whichever provider it speaks.

The payment service (app/payments/service.py) knows providers only through the Protocol in
app/integrations/payment_providers/__init__.py: integer fen, aware datetimes, the small status vocabularies,
`ProviderRefused` with one of its meanings, `ProviderUnavailable`, `ProviderThrottled`, and `NoticeRejected`
with the status the sender is answered. These tests hold an adapter to exactly that, talking over HTTP to the
provider's stand-in process, so an adapter that passes them fits the service unchanged.

The tests use nothing but the Protocol and a `GatewayDriver` (below): the test side of the provider's stand-in,
doing what a payer or the provider would (pay, fail, refunds that end one way or another, faults, changed
bills) and handing over the notices the provider posted to `driver.notify_url`. The driver also makes the
notices a genuine sender would never make: a stale one, one signed by a stranger, one signed but unreadable;
for that it holds the stand-in's own signing key.

Adding a provider, e.g. Alipay (支付宝开放平台, RSA2):

1. The adapter, `app/integrations/payment_providers/alipay.py`: a class with the Protocol's methods, mapping
   Alipay's codes to the meanings here (ACQ.TRADE_HAS_SUCCESS → ORDER_PAID, ACQ.TRADE_HAS_CLOSE → ORDER_CLOSED,
   ACQ.TRADE_NOT_EXIST → not found, ACQ.SELLER_BALANCE_NOT_ENOUGH → INSUFFICIENT_FUNDS, ACQ.SYSTEM_ERROR →
   unavailable…), yuan strings to fen exactly, its asynchronous notices (form-encoded, `sign` over the sorted
   parameters, checked with Alipay's public key; `notify_time` for freshness) to `PaymentNotice` or
   `NoticeRejected` (401 not Alipay's signature or stale, 400 signed but unreadable).
2. Its stand-in, `standins/alipay/`, a process of its own speaking the open platform's gateway
   (`alipay.trade.app.pay`, `.query`, `.close`, `.refund`, `.fastpay.refund.query`,
   `alipay.data.dataservice.bill.downloadurl.query`), with `/_standin/` controls for what the driver does.
3. `tests/integrations/test_alipay_contract.py`:

       class TestAlipay(PaymentProviderContract):
           @pytest.fixture
           async def provider(self, alipay_standin) -> AsyncIterator[PaymentProvider]:
               adapter = Alipay(alipay_standin.url, ...)  # our app key, Alipay's public key from the stand-in
               yield adapter
               await adapter.aclose()

           @pytest.fixture
           def driver(self, alipay_standin, receiver) -> GatewayDriver:
               return AlipayDriver(alipay_standin.control, receiver, alipay_standin.platform_key)

   `TestWeChatPayV3` in test_wechatpay_contract.py is the example to copy. When every test passes, choosing the
   provider by setting is all the service needs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, Protocol

import pytest

from app.clock import CHINA_TZ
from app.integrations.payment_providers import (INSUFFICIENT_FUNDS, INVALID_REQUEST, ORDER_CLOSED, ORDER_NOT_FOUND,
                                                ORDER_PAID, BillLine, Channel, CreatedOrder, NoticeRejected,
                                                OrderRequest, PaymentNotice, PaymentProvider, ProviderOrder,
                                                ProviderRefund, ProviderRefused, ProviderThrottled,
                                                ProviderUnavailable)

Notice = tuple[dict[str, str], bytes]  # what the provider POSTed: its headers and the exact body
RefundOutcome = Literal["succeeded", "failed", "abnormal", "processing"]
SETTLE_TIMEOUT = 10.0  # seconds a refund may take to end at the stand-in


class GatewayDriver(Protocol):
    """The test side of a provider's stand-in: what a payer or the provider itself would do."""

    notify_url: str  # where the stand-in posts notices; orders and refunds name it, `next_notice` reads it
    payer: str  # a payer id the provider knows, for channels that need one (the mini-program's openid)

    def pay(self, merchant_order_id: str) -> None:
        """The payer pays the open order in full; the provider posts its payment notice to `notify_url`."""

    def fail(self, merchant_order_id: str) -> None:
        """The payment of the open order fails."""

    def next_notice(self, timeout: float = 10.0) -> Notice:
        """The next notice the provider posted to `notify_url` (answered as accepted), as it came."""

    def go_down(self, count: int = 1) -> None:
        """The next `count` calls fail as the provider's own fault (a 5xx, a system error)."""

    def throttle(self, count: int = 1) -> None:
        """The next `count` calls are refused for their frequency."""

    def sign_badly(self, count: int = 1) -> None:
        """The next `count` replies come with a signature that does not verify."""

    def insufficient_funds(self, count: int = 1) -> None:
        """The next `count` refund applications are refused: the merchant account cannot fund them now."""

    def refund_outcome(self, outcome: RefundOutcome) -> None:
        """How refunds applied for from now on end: succeeded, failed (closed: the money never left), abnormal
        (the payer's account could not take it; not final), or still processing."""

    def change_bill(self, alter: Mapping[str, int] | None = None, hide: Sequence[str] = ()) -> None:
        """Trade bills from now on differ from what happened: `alter` sets the amount (fen) of the line of
        that order or refund id, `hide` leaves such lines out."""

    def stale(self, notice: Notice, age: float = 600.0) -> Notice:
        """The same notice as the provider would have signed it `age` seconds ago."""

    def signed_by_stranger(self, notice: Notice) -> Notice:
        """The same notice signed with a key that is not the provider's (naming the provider's key)."""

    def unreadable(self, notice: Notice) -> Notice:
        """A notice the provider signed whose content cannot be read (for WeChat Pay: a resource that does
        not decrypt with our key)."""


def order_id(prefix: str = "CT") -> str:
    """A merchant order id every provider takes: 22 letters and digits."""
    return f"{prefix}{secrets.token_hex(10).upper()}"


def refund_id(prefix: str = "RF") -> str:
    return order_id(prefix)


def is_fen(value: Any) -> bool:
    """An amount as the contract has it: an int (never a float, a Decimal or a bool)."""
    return type(value) is int and value >= 0


def assert_order(order: ProviderOrder, merchant_order_id: str, amount_fen: int) -> None:
    assert order.merchant_order_id == merchant_order_id
    assert is_fen(order.amount_fen) and order.amount_fen == amount_fen
    assert order.currency == "CNY"


def assert_refund(refund: ProviderRefund, merchant_refund_id: str, merchant_order_id: str, amount_fen: int) -> None:
    assert refund.merchant_refund_id == merchant_refund_id
    assert refund.merchant_order_id == merchant_order_id
    assert is_fen(refund.amount_fen) and refund.amount_fen == amount_fen
    assert refund.status in ("processing", "succeeded", "failed", "abnormal")


def tampered(body: bytes) -> bytes:
    """The body with one letter or digit near its middle changed to another of its kind (still well formed)."""
    text = bytearray(body)
    for i in range(len(text) // 2, len(text)):
        byte = text[i]
        if 0x30 <= byte <= 0x39:
            text[i] = 0x30 + (byte - 0x30 + 1) % 10
            return bytes(text)
        if 0x61 <= byte <= 0x7A or 0x41 <= byte <= 0x5A:
            base = byte & 0xE0 | 0x01
            text[i] = base + (byte - base + 1) % 26
            return bytes(text)
    raise AssertionError("no letter or digit in the second half of the notice")


class PaymentProviderContract:
    """Subclass it as `Test<Provider>` with two fixtures: `provider` (the adapter, closed after the test) and
    `driver` (a `GatewayDriver` over its stand-in, emptied for each test)."""

    AMOUNT = 2500  # fen
    CURRENCY = "CNY"

    # -- helpers ---------------------------------------------------------------------------------------------

    def request(self, driver: GatewayDriver, merchant_order_id: str | None = None, *, channel: Channel = "app",
                amount_fen: int | None = None, description: str = "交通违法罚款（合约测试）",
                payer: str | None = None) -> OrderRequest:
        return OrderRequest(merchant_order_id or order_id(), self.AMOUNT if amount_fen is None else amount_fen,
                            description, driver.notify_url,
                            datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=15), channel,
                            payer if payer is not None else (driver.payer if channel == "jsapi" else None))

    async def paid_order(self, provider: PaymentProvider, driver: GatewayDriver,
                         amount_fen: int | None = None) -> OrderRequest:
        """An order created and paid; its payment notice taken (so the next notice is a later one)."""
        order = self.request(driver, amount_fen=amount_fen)
        await provider.create_order(order)
        driver.pay(order.merchant_order_id)
        driver.next_notice()
        return order

    async def ended(self, provider: PaymentProvider, merchant_refund_id: str) -> ProviderRefund:
        """The refund once it is no longer processing."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            refund = await provider.query_refund(merchant_refund_id)
            assert refund is not None
            if refund.status != "processing":
                return refund
            assert time.monotonic() < deadline, f"refund {merchant_refund_id} still processing"
            await asyncio.sleep(0.05)

    async def notice(self, provider: PaymentProvider, driver: GatewayDriver) -> PaymentNotice:
        headers, body = driver.next_notice()
        return await provider.read_notice(headers, body)

    # -- orders ----------------------------------------------------------------------------------------------

    async def test_create_is_idempotent_by_id_and_content(self, provider: PaymentProvider,
                                                          driver: GatewayDriver) -> None:
        order = self.request(driver)
        first = await provider.create_order(order)
        again = await provider.create_order(order)
        assert isinstance(first, CreatedOrder) and first.merchant_order_id == order.merchant_order_id
        assert first.prepay_id and again.prepay_id == first.prepay_id

    async def test_the_same_id_with_other_content_is_refused(self, provider: PaymentProvider,
                                                            driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        with pytest.raises(ProviderRefused) as refused:
            await provider.create_order(self.request(driver, order.merchant_order_id, amount_fen=self.AMOUNT + 1))
        assert refused.value.code == INVALID_REQUEST

    @pytest.mark.parametrize("channel", ["app", "jsapi"])
    async def test_client_params_for_each_channel(self, provider: PaymentProvider, driver: GatewayDriver,
                                                  channel: Channel) -> None:
        created = await provider.create_order(self.request(driver, channel=channel))
        for params in (created.client_params, provider.client_params(channel, created.prepay_id)):
            assert params and all(isinstance(k, str) and isinstance(v, str) and v for k, v in params.items())

    async def test_a_jsapi_order_without_payer_is_refused_before_any_call(self, provider: PaymentProvider,
                                                                         driver: GatewayDriver) -> None:
        order = self.request(driver, channel="jsapi", payer="")
        with pytest.raises(ValueError):
            await provider.create_order(order)
        assert await provider.query_order(order.merchant_order_id) is None  # the provider never heard of it

    async def test_an_unknown_order_queries_as_none(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        assert await provider.query_order(order_id("NX")) is None

    async def test_an_open_order_queries_unpaid(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        found = await provider.query_order(order.merchant_order_id)
        assert found is not None
        assert_order(found, order.merchant_order_id, self.AMOUNT)
        assert found.status == "unpaid" and found.paid_at is None

    async def test_a_paid_order_queries_paid_with_its_transaction_and_time(self, provider: PaymentProvider,
                                                                           driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        before = datetime.now(timezone.utc) - timedelta(seconds=2)
        driver.pay(order.merchant_order_id)
        found = await provider.query_order(order.merchant_order_id)
        assert found is not None
        assert_order(found, order.merchant_order_id, self.AMOUNT)
        assert found.status == "paid" and found.provider_order_id
        assert found.paid_at is not None and found.paid_at.tzinfo is not None
        assert before <= found.paid_at <= datetime.now(timezone.utc) + timedelta(seconds=2)

    async def test_a_failed_payment_queries_failed(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        driver.fail(order.merchant_order_id)
        found = await provider.query_order(order.merchant_order_id)
        assert found is not None and found.status == "failed"

    async def test_an_unpaid_order_closes_and_cannot_be_created_again(self, provider: PaymentProvider,
                                                                      driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        await provider.close_order(order.merchant_order_id)
        found = await provider.query_order(order.merchant_order_id)
        assert found is not None and found.status == "closed"
        with pytest.raises(ProviderRefused) as refused:
            await provider.create_order(order)
        assert refused.value.code == ORDER_CLOSED

    async def test_closing_an_unknown_order_is_not_found(self, provider: PaymentProvider,
                                                         driver: GatewayDriver) -> None:
        with pytest.raises(ProviderRefused) as refused:
            await provider.close_order(order_id("NX"))
        assert refused.value.code == ORDER_NOT_FOUND

    async def test_a_paid_order_is_neither_closed_nor_created_again(self, provider: PaymentProvider,
                                                                     driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        with pytest.raises(ProviderRefused) as closing:
            await provider.close_order(order.merchant_order_id)
        with pytest.raises(ProviderRefused) as creating:
            await provider.create_order(order)
        assert closing.value.code == creating.value.code == ORDER_PAID

    # -- refunds ---------------------------------------------------------------------------------------------

    async def test_a_partial_refund_then_the_rest(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        first, rest = refund_id(), refund_id()
        asked = await provider.refund(order.merchant_order_id, first, 1000, self.AMOUNT, "部分退款", driver.notify_url)
        assert_refund(asked, first, order.merchant_order_id, 1000)
        done = await self.ended(provider, first)
        assert_refund(done, first, order.merchant_order_id, 1000)
        assert done.status == "succeeded" and done.provider_refund_id
        assert done.succeeded_at is not None and done.succeeded_at.tzinfo is not None
        partly = await provider.query_order(order.merchant_order_id)
        assert partly is not None and partly.status in ("paid", "refunded")

        await provider.refund(order.merchant_order_id, rest, self.AMOUNT - 1000, self.AMOUNT, "余额退款",
                              driver.notify_url)
        done = await self.ended(provider, rest)
        assert_refund(done, rest, order.merchant_order_id, self.AMOUNT - 1000)
        assert done.status == "succeeded"
        whole = await provider.query_order(order.merchant_order_id)
        assert whole is not None and whole.status == "refunded"
        assert_order(whole, order.merchant_order_id, self.AMOUNT)

        with pytest.raises(ProviderRefused) as refused:
            await provider.refund(order.merchant_order_id, refund_id(), 1, self.AMOUNT, "超额", driver.notify_url)
        assert refused.value.code == INVALID_REQUEST

    async def test_a_refund_is_idempotent_by_its_id(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        number = refund_id()
        await provider.refund(order.merchant_order_id, number, 600, self.AMOUNT, "退款", driver.notify_url)
        first = await self.ended(provider, number)
        again = await provider.refund(order.merchant_order_id, number, 600, self.AMOUNT, "退款", driver.notify_url)
        assert again.merchant_refund_id == number and again.provider_refund_id == first.provider_refund_id
        # one refund was taken, not two: the rest of the order can still be refunded, and no more
        await provider.refund(order.merchant_order_id, refund_id(), self.AMOUNT - 600, self.AMOUNT, "余额",
                              driver.notify_url)
        with pytest.raises(ProviderRefused) as refused:
            await provider.refund(order.merchant_order_id, refund_id(), 1, self.AMOUNT, "超额", driver.notify_url)
        assert refused.value.code == INVALID_REQUEST

    async def test_refunding_more_than_was_paid_is_refused(self, provider: PaymentProvider,
                                                           driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        with pytest.raises(ProviderRefused) as refused:
            await provider.refund(order.merchant_order_id, refund_id(), self.AMOUNT + 1, self.AMOUNT, "超额",
                                  driver.notify_url)
        assert refused.value.code == INVALID_REQUEST

    async def test_refunding_an_unknown_order_is_not_found(self, provider: PaymentProvider,
                                                           driver: GatewayDriver) -> None:
        with pytest.raises(ProviderRefused) as refused:
            await provider.refund(order_id("NX"), refund_id(), 100, 100, "退款", driver.notify_url)
        assert refused.value.code == ORDER_NOT_FOUND

    async def test_an_unknown_refund_queries_as_none(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        assert await provider.query_refund(refund_id("NX")) is None

    async def test_insufficient_funds_refuse_a_refund(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        driver.insufficient_funds()
        with pytest.raises(ProviderRefused) as refused:
            await provider.refund(order.merchant_order_id, refund_id(), 100, self.AMOUNT, "退款", driver.notify_url)
        assert refused.value.code == INSUFFICIENT_FUNDS

    async def test_a_refund_the_provider_fails_queries_failed(self, provider: PaymentProvider,
                                                              driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        driver.refund_outcome("failed")
        number = refund_id()
        await provider.refund(order.merchant_order_id, number, 100, self.AMOUNT, "退款", driver.notify_url)
        done = await self.ended(provider, number)
        assert_refund(done, number, order.merchant_order_id, 100)
        assert done.status == "failed" and done.succeeded_at is None

    async def test_an_abnormal_refund_is_told_apart_from_a_failed_one(self, provider: PaymentProvider,
                                                                     driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        driver.refund_outcome("abnormal")
        number = refund_id()
        await provider.refund(order.merchant_order_id, number, 100, self.AMOUNT, "退款", driver.notify_url)
        done = await self.ended(provider, number)
        assert_refund(done, number, order.merchant_order_id, 100)
        assert done.status == "abnormal" and done.succeeded_at is None
        notice = await self.notice(provider, driver)
        assert notice.refund is not None and notice.refund.status == "abnormal"

    async def test_a_refund_still_processing_queries_processing(self, provider: PaymentProvider,
                                                                driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        driver.refund_outcome("processing")
        number = refund_id()
        asked = await provider.refund(order.merchant_order_id, number, 100, self.AMOUNT, "退款", driver.notify_url)
        found = await provider.query_refund(number)
        assert asked.status == "processing" and found is not None
        assert_refund(found, number, order.merchant_order_id, 100)
        assert found.status == "processing"

    # -- notices ---------------------------------------------------------------------------------------------

    async def test_a_payment_notice_reads_to_the_paid_order(self, provider: PaymentProvider,
                                                            driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        driver.pay(order.merchant_order_id)
        headers, body = driver.next_notice()
        notice = await provider.read_notice(headers, body)
        assert isinstance(notice, PaymentNotice) and notice.refund is None and notice.order is not None
        assert notice.notice_id and notice.event_type and notice.replay_key
        assert_order(notice.order, order.merchant_order_id, self.AMOUNT)
        assert notice.order.status == "paid" and notice.order.provider_order_id
        queried = await provider.query_order(order.merchant_order_id)
        assert queried is not None and notice.order.provider_order_id == queried.provider_order_id
        # the same delivery read again names itself the same way: the service refuses it as a replay
        assert (await provider.read_notice(headers, body)).replay_key == notice.replay_key

    async def test_a_refund_notice_reads_to_the_refund(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        number = refund_id()
        await provider.refund(order.merchant_order_id, number, 700, self.AMOUNT, "退款", driver.notify_url)
        notice = await self.notice(provider, driver)
        assert notice.order is None and notice.refund is not None and notice.notice_id
        assert_refund(notice.refund, number, order.merchant_order_id, 700)
        assert notice.refund.status == "succeeded" and notice.refund.provider_refund_id

    async def test_a_failed_refund_notice_reads_failed(self, provider: PaymentProvider,
                                                       driver: GatewayDriver) -> None:
        order = await self.paid_order(provider, driver)
        driver.refund_outcome("failed")
        number = refund_id()
        await provider.refund(order.merchant_order_id, number, 300, self.AMOUNT, "退款", driver.notify_url)
        notice = await self.notice(provider, driver)
        assert notice.refund is not None
        assert_refund(notice.refund, number, order.merchant_order_id, 300)
        assert notice.refund.status == "failed"

    async def genuine_notice(self, provider: PaymentProvider, driver: GatewayDriver) -> Notice:
        order = self.request(driver)
        await provider.create_order(order)
        driver.pay(order.merchant_order_id)
        return driver.next_notice()

    async def test_a_tampered_notice_is_401(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        headers, body = await self.genuine_notice(provider, driver)
        with pytest.raises(NoticeRejected) as rejected:
            await provider.read_notice(headers, tampered(body))
        assert rejected.value.status == 401

    async def test_a_notice_signed_by_someone_else_is_401(self, provider: PaymentProvider,
                                                          driver: GatewayDriver) -> None:
        forged = driver.signed_by_stranger(await self.genuine_notice(provider, driver))
        with pytest.raises(NoticeRejected) as rejected:
            await provider.read_notice(*forged)
        assert rejected.value.status == 401

    async def test_a_stale_notice_is_401(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        old = driver.stale(await self.genuine_notice(provider, driver))
        with pytest.raises(NoticeRejected) as rejected:
            await provider.read_notice(*old)
        assert rejected.value.status == 401

    async def test_a_signed_notice_that_does_not_read_is_400(self, provider: PaymentProvider,
                                                             driver: GatewayDriver) -> None:
        garbled = driver.unreadable(await self.genuine_notice(provider, driver))
        with pytest.raises(NoticeRejected) as rejected:
            await provider.read_notice(*garbled)
        assert rejected.value.status == 400

    # -- faults ----------------------------------------------------------------------------------------------

    async def test_the_gateway_down_is_unavailable_and_passes(self, provider: PaymentProvider,
                                                              driver: GatewayDriver) -> None:
        order = self.request(driver)
        driver.go_down()
        with pytest.raises(ProviderUnavailable):
            await provider.create_order(order)
        assert (await provider.create_order(order)).prepay_id  # the next call is answered

    async def test_throttled_says_how_long_to_wait(self, provider: PaymentProvider, driver: GatewayDriver) -> None:
        driver.throttle()
        with pytest.raises(ProviderThrottled) as throttled:
            await provider.query_order(order_id())
        assert type(throttled.value.retry_after) is int and throttled.value.retry_after >= 1
        assert await provider.query_order(order_id("NX")) is None

    async def test_a_reply_that_does_not_verify_is_no_answer(self, provider: PaymentProvider,
                                                             driver: GatewayDriver) -> None:
        order = self.request(driver)
        await provider.create_order(order)
        driver.sign_badly()
        with pytest.raises(ProviderUnavailable):
            await provider.query_order(order.merchant_order_id)
        found = await provider.query_order(order.merchant_order_id)
        assert found is not None and found.status == "unpaid"

    async def test_a_badly_signed_refusal_is_no_answer_either(self, provider: PaymentProvider,
                                                              driver: GatewayDriver) -> None:
        driver.sign_badly()
        with pytest.raises(ProviderUnavailable):  # not None: an unverified "not found" proves nothing
            await provider.query_order(order_id("NX"))

    # -- the trade bill --------------------------------------------------------------------------------------

    async def bill_lines(self, provider: PaymentProvider, *moments: datetime | None) -> list[BillLine]:
        """The lines of the bills of every Beijing day among `moments` (a payment and its refund may straddle
        midnight)."""
        days = sorted({moment.astimezone(CHINA_TZ).date() for moment in moments if moment is not None})
        lines: list[BillLine] = []
        for day in days:
            lines += await provider.bill(day)
        return lines

    async def test_the_bill_lists_each_payment_and_refund_in_fen(self, provider: PaymentProvider,
                                                                  driver: GatewayDriver) -> None:
        first = await self.paid_order(provider, driver)
        second = await self.paid_order(provider, driver, amount_fen=1800)
        number = refund_id()
        await provider.refund(first.merchant_order_id, number, 1000, self.AMOUNT, "退款", driver.notify_url)
        refund = await self.ended(provider, number)
        paid = [await provider.query_order(o.merchant_order_id) for o in (first, second)]
        lines = await self.bill_lines(provider, *(o.paid_at for o in paid if o), refund.succeeded_at)
        assert all(is_fen(line.amount_fen) and line.currency == "CNY" for line in lines)
        assert {(line.kind, line.merchant_order_id, line.merchant_refund_id, line.amount_fen) for line in lines} == {
            ("payment", first.merchant_order_id, "", self.AMOUNT), ("payment", second.merchant_order_id, "", 1800),
            ("refund", first.merchant_order_id, number, 1000)}
        by_order = {o.merchant_order_id: o.provider_order_id for o in paid if o}
        assert all(line.provider_order_id == by_order[line.merchant_order_id] for line in lines)
        assert all(line.at is None or line.at.tzinfo is not None for line in lines)

    async def test_the_bill_says_what_the_provider_says(self, provider: PaymentProvider,
                                                        driver: GatewayDriver) -> None:
        kept, changed, hidden = [await self.paid_order(provider, driver) for _ in range(3)]
        driver.change_bill(alter={changed.merchant_order_id: self.AMOUNT - 1}, hide=[hidden.merchant_order_id])
        paid = [await provider.query_order(o.merchant_order_id) for o in (kept, changed, hidden)]
        lines = await self.bill_lines(provider, *(o.paid_at for o in paid if o))
        assert {(line.merchant_order_id, line.amount_fen) for line in lines} == {
            (kept.merchant_order_id, self.AMOUNT), (changed.merchant_order_id, self.AMOUNT - 1)}

    async def test_a_day_with_nothing_has_an_empty_bill(self, provider: PaymentProvider,
                                                        driver: GatewayDriver) -> None:
        assert await provider.bill(date.today() - timedelta(days=40)) == []
