"""A citizen pays a traffic fine in WeChat (APP 支付 through the stand-in WeChat Pay API v3 gateway): the fine
shows as paid exactly once, whether the gateway's notice comes twice, late or never, and whichever of the
notice and our own query settles it first."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from app.audit import AuditEntry
from app.clock import CHINA_TZ
from datetime import datetime, timedelta, timezone

from app.integrations.payment_providers import PaymentNotice, ProviderOrder
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.integrations.payment_providers.wechatpay import WeChatPay, order_from
from app.notifications.models import Notification
from app.payments.models import PaidReference, Payment, PaymentEvent, ProviderNotice, Receipt
from app.services.cards.backends import traffic_violations_sample
from tests.payments.conftest import first_fine, hold_notices, pay_a_fine, start_payment, wait_for


def merchant_public_key(wechatpay_gateway) -> v3.PublicKey:
    """What the WeChat open SDK checks our payment signature with: the merchant API key's public half."""
    return v3.load_private_key(wechatpay_gateway.merchant_key_file.read_bytes()).public_key()


def answers(wechatpay, out_trade_no: str) -> list[dict]:
    """What our callback answered to each delivery of the gateway's notices of this order (the last try of each)."""
    return [json.loads(n["attempts"][-1]["answer"]) for n in wechatpay.notices(out_trade_no) if n["delivered"]]


def assert_an_app_order_for_what_is_owed(wechatpay, settings, payment: dict) -> dict:
    """WeChat Pay has an APP order under our payment id, for what is owed, telling its notices to our callback."""
    order = wechatpay.order(payment["id"])
    assert order["trade_type"] == "APP" and order["trade_state"] == "NOTPAY"
    assert order["appid"] == settings.payments.app_appid and order["mchid"] == settings.payments.merchant_id
    assert order["amount"] == {"total": 20_000, "currency": "CNY"}
    assert order["notify_url"].endswith("/api/provider/v1/payment-notifications")
    return order


def assert_signed_for_this_order(step: dict, order: dict, settings, wechatpay_gateway) -> None:
    """The app hands next_step.params to the WeChat open SDK, which checks our merchant signature over them."""
    assert step["type"] == "wechat_app_pay" and step["url"] is None
    params = step["params"]
    assert params["appid"] == settings.payments.app_appid and params["partnerid"] == settings.payments.merchant_id
    assert params["prepayid"] == order["prepay_id"] and params["package"] == "Sign=WXPay"
    signed = v3.signing_message(params["appid"], params["timestamp"], params["noncestr"], params["prepayid"])
    assert v3.rsa_verify(signed, params["sign"], merchant_public_key(wechatpay_gateway))
    another = v3.signing_message(params["appid"], params["timestamp"], params["noncestr"], "wx-another-order")
    assert not v3.rsa_verify(another, params["sign"], merchant_public_key(wechatpay_gateway))  # it pays this order only


async def pay_with_a_doubled_notice(client, payer, wechatpay, payment: dict) -> None:
    """The payer pays; WeChat Pay posts the same notice twice (a retry crossing our first answer): one applies it,
    the other is a duplicate, and the payment shows paid with its receipt."""
    paid = wechatpay.pay(payment["id"], notice="twice")
    assert paid["trade_state"] == "SUCCESS"

    async def both_answered():
        return len(answers(wechatpay, payment["id"])) == 2

    await wait_for(both_answered)
    assert sorted(a["outcome"] for a in answers(wechatpay, payment["id"])) == ["applied", "duplicate"]
    mine = await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)
    assert mine.json()["state"] == "success" and mine.json()["state_text"] == "已支付"
    assert mine.json()["next_step"] is None and mine.json()["receipt_number"].startswith("GDPR")
    assert (await Payment.get(id=payment["id"])).provider_order_id == paid["transaction_id"]


async def assert_paid_once_and_audited(payer, fine: dict, payment: dict) -> None:
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="success").count() == 1
    assert await Receipt.filter(payment_id=payment["id"]).count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1
    notices = await ProviderNotice.filter(payment_id=payment["id"]).values_list("outcome", flat=True)
    assert sorted(notices) == ["applied", "duplicate"]
    # Every move is in the audit log.
    actions = await AuditEntry.filter(subject_id=payer.id, action__startswith="payment_").values_list("action", flat=True)
    assert actions == ["payment_created", "payment_submitted", "payment_success"]
    assert await AuditEntry.filter(subject_id=payer.id, action="reference_paid").count() == 1


async def test_a_citizen_pays_a_fine_in_wechat_and_it_is_paid_exactly_once(client, payer, wechatpay, wechatpay_gateway,
                                                                         settings):
    fine = await first_fine(client, payer)
    assert fine["amount_fen"] == 20_000 and fine["paid"] is False

    created = await start_payment(client, payer, fine)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["state"] == "submitted" and payment["amount_fen"] == 20_000 and payment["currency"] == "CNY"
    order = assert_an_app_order_for_what_is_owed(wechatpay, settings, payment)
    assert_signed_for_this_order(payment["next_step"], order, settings, wechatpay_gateway)

    await pay_with_a_doubled_notice(client, payer, wechatpay, payment)
    await assert_paid_once_and_audited(payer, fine, payment)

    payables = (await client.get("/api/v1/payables", headers=payer.headers)).json()["items"]
    assert next(p for p in payables if p["reference"] == fine["reference"])["paid"] is True
    again = await start_payment(client, payer, fine, key="tap-0002-abcdef")
    assert again.status_code == 409 and again.json()["error"]["code"] == "REFERENCE_ALREADY_PAID"


async def test_a_notice_that_never_comes_is_made_up_for_by_the_settle_job(app, client, payer, wechatpay, clock):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], notice="never")
    assert await app.ctx.services.payments.settle_unnotified() == 0  # too soon to ask: the notice may still come
    assert (await Payment.get(id=payment["id"])).state == "submitted"

    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)
    assert await app.ctx.services.payments.settle_unnotified() == 1
    assert (await Payment.get(id=payment["id"])).state == "success"
    assert wechatpay.notices(payment["id"]) == []  # settled by asking WeChat Pay, with no notice at all
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1
    notes = await PaymentEvent.filter(payment_id=payment["id"], to_state="success").values_list("note", flat=True)
    assert notes == ["主动查询支付结果"]
    assert await app.ctx.services.payments.settle_unnotified() == 0  # nothing left to settle


async def test_a_late_notice_after_the_settle_job_settled_it_changes_nothing(app, client, payer, wechatpay, clock,
                                                                            monkeypatch):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    late = hold_notices(app, monkeypatch, "TRANSACTION.SUCCESS")
    wechatpay.pay(payment["id"])
    await late.reached_us()  # and is held there
    assert (await Payment.get(id=payment["id"])).state == "submitted"  # not heard of yet

    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)
    assert await app.ctx.services.payments.settle_unnotified() == 1
    assert (await Payment.get(id=payment["id"])).state == "success"  # the settle job came first

    # The notice finally gets through: answered 200 (so WeChat Pay stops sending it), nothing changes.
    late.release.set()

    async def late_answered():
        return answers(wechatpay, payment["id"])

    assert [a["outcome"] for a in await wait_for(late_answered)] == ["duplicate"]
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="success").count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1


async def test_notice_and_query_racing_mark_the_fine_paid_once(app, client, payer, wechatpay):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], notice="never")
    service = app.ctx.services.payments
    # The notice as our callback hands it on once verified and decrypted: the transaction WeChat Pay holds.
    notice = PaymentNotice("EV-race", "TRANSACTION.SUCCESS", order=order_from(wechatpay.order(payment["id"])))
    results = await asyncio.gather(*[service.handle_notice(notice, b"{}") for _ in range(4)],
                                   *[service.settle_by_query(payment["id"]) for _ in range(4)])
    assert [answer.outcome for answer in results[:4]].count("applied") <= 1
    assert set(results[4:]) == {"success"}
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="success").count() == 1
    assert await Receipt.filter(payment_id=payment["id"]).count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1


async def test_coming_back_from_wechat_after_a_failed_payment_shows_it_at_once(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], outcome="payerror")  # WeChat Pay sends no notice of a failure
    assert wechatpay.notices(payment["id"]) == []
    back = await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)
    assert back.json()["state"] == "failed" and back.json()["state_text"] == "支付失败"
    assert back.json()["next_step"] is None
    assert await Notification.filter(citizen_id=payer.id, kind="payment_failed").count() == 1
    assert await PaidReference.filter(reference=fine["reference"]).count() == 0
    # A failed payment can be started again, with a new key; it is a new order at WeChat Pay.
    retry = await start_payment(client, payer, fine, key="tap-retry-0001")
    assert retry.status_code == 201 and retry.json()["id"] != payment["id"]
    assert wechatpay.order(retry.json()["id"])["trade_state"] == "NOTPAY"


def paid_after_all(payment_id: str, total: int = 20_000) -> PaymentNotice:
    """WeChat Pay's word (a notice as our callback hands it on, verified) that the order was paid after all."""
    paid = ProviderOrder(payment_id, "4200000985202612069876543210", total, "CNY", "paid", datetime.now(timezone.utc))
    return PaymentNotice("EV-paid-after-all", "TRANSACTION.SUCCESS", order=paid)


async def test_a_failed_payment_s_order_is_closed_and_money_taken_after_all_is_not_dropped(app, client, payer, wechatpay):
    """WeChat Pay said the payment failed, so we closed its order. A notice that crossed the close says the payer
    was charged after all: the fine is paid, once, with its receipt; nothing is kept without a trace."""
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], outcome="payerror")
    assert (await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)).json()["state"] == "failed"
    assert wechatpay.order(payment["id"])["trade_state"] == "CLOSED"  # it cannot be paid later on its own

    answer = await app.ctx.services.payments.handle_notice(paid_after_all(payment["id"]), b"{}")
    assert answer.outcome == "applied"
    mine = (await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)).json()
    assert mine["state"] == "success" and mine["receipt_number"]
    assert [e["to_state"] for e in mine["events"]] == ["created", "submitted", "failed", "success"]
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert (await app.ctx.services.payments.handle_notice(paid_after_all(payment["id"]), b"{}")).outcome == "duplicate"
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1


async def test_money_taken_after_all_for_a_fine_paid_since_is_a_case_for_the_office(app, client, payer, wechatpay):
    """The fine was paid since by a second payment. The first one, charged after all, is a duplicate: its refund
    is asked for at once, and when the gateway refuses it (here: the order it holds is closed) WeChat Pay is
    still told the notice was taken, and the case stays open for the office. The fine stays paid exactly once."""
    from app.payments.models import DiscrepancyCase, Refund

    fine = await first_fine(client, payer)
    first = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(first["id"], outcome="payerror")
    await client.get(f"/api/v1/payments/{first['id']}", headers=payer.headers)
    second = (await start_payment(client, payer, fine, key="tap-retry-0002")).json()
    wechatpay.pay(second["id"])

    async def second_settled():
        return (await Payment.get(id=second["id"])).state == "success"

    await wait_for(second_settled)
    answer = await app.ctx.services.payments.handle_notice(paid_after_all(first["id"]), b"{}")
    assert answer.outcome == "applied"
    assert await PaidReference.filter(reference=fine["reference"]).values_list("payment_id", flat=True) == [second["id"]]
    assert await Refund.filter(payment_id=first["id"]).values_list("amount_fen", "state") == [(20_000, "failed")]
    assert await DiscrepancyCase.filter(kind="duplicate_payment", reference=first["id"], status="open").count() == 1


async def test_a_payment_counts_from_when_wechat_pay_took_the_money(app, client, payer, wechatpay, clock):
    """A notice that came late (23:59:50 paid, heard after midnight) settles the payment at WeChat Pay's time of
    payment: the day of its trade bill, and the time on its receipt."""
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    took = (clock.now() - timedelta(minutes=3)).replace(microsecond=0)
    paid = ProviderOrder(payment["id"], "4200000985202612061111111111", 20_000, "CNY", "paid",
                         took.astimezone(CHINA_TZ))
    await app.ctx.services.payments.handle_notice(PaymentNotice("EV-took", "TRANSACTION.SUCCESS", order=paid), b"{}")
    stored = await Payment.get(id=payment["id"])
    assert stored.state == "success" and stored.settled_at == took
    assert (await PaidReference.get(reference=fine["reference"])).paid_at == took


async def test_without_a_provider_paying_answers_503_and_nothing_is_created(app, client, payer, wechatpay):
    app.ctx.services.payments.provider = None
    fine = await first_fine(client, payer)
    reply = await start_payment(client, payer, fine)
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert int(reply.headers["Retry-After"]) > 0 and "不会重复扣款" in reply.json()["error"]["message"]
    again = await start_payment(client, payer, fine)  # the app retries with the same key: the same answer
    assert again.status_code == 503
    assert await Payment.filter(citizen_id=payer.id).count() == 0
    assert await app.ctx.services.payments.settle_unnotified() == 0
    assert await PaidReference.filter(reference=fine["reference"]).count() == 0


async def test_a_reference_paid_twice_at_once_is_refunded_and_a_case_opened(app, client, payer, wechatpay, clock):
    """If two orders for one fine were both paid (e.g. on two phones before either settled), the second
    payment is refunded in full at once and a case is opened; the fine is still paid exactly once, and that
    refund reopens nothing: the first payment still pays the fine."""
    from app.payments.models import DiscrepancyCase, Refund

    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], notice="never")
    await PaidReference.create(reference=fine["reference"], payment_id="PAYPAIDELSEWHERE", citizen_id=payer.id,
                               paid_at=(await Payment.get(id=payment["id"])).created_at)
    assert await app.ctx.services.payments.settle_by_query(payment["id"]) in ("success", "refunded")
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert [c.kind for c in await DiscrepancyCase.all()] == ["duplicate_payment"]
    made = await Refund.get(payment_id=payment["id"])
    assert made.amount_fen == 20_000 and made.reason == "重复缴费自动退款"
    assert await Receipt.filter(payment_id=payment["id"]).count() == 0

    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)

    async def refunded():  # by WeChat Pay's refund notice, or else by the settle job's query
        await app.ctx.services.payments.settle_unnotified()
        return (await Payment.get(id=payment["id"])).state == "refunded"

    await wait_for(refunded)
    assert (await first_fine(client, payer))["paid"] is True
    assert app.ctx.services.card_backends["traffic_violations"].reversals == []
    assert not await AuditEntry.filter(subject_id=payer.id, action="reference_reopened").exists()


class ReplyLost(httpx.AsyncBaseTransport):
    """Our connection to WeChat Pay, where the reply to the first order we place is lost on its way back (a read
    timeout after the gateway took the order)."""

    def __init__(self) -> None:
        self.inner, self.lost = httpx.AsyncHTTPTransport(), 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.startswith("/v3/pay/transactions/") and not self.lost:
            self.lost += 1
            await response.aclose()
            raise httpx.ReadTimeout("the reply did not come back", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("notice", ["now", "never"])
async def test_a_payment_whose_create_call_timed_out_is_still_settled(app, client, payer, wechatpay, clock, notice):
    """WeChat Pay took the order but its answer never reached us: the payment is `created` on our side (the app
    was told 503). When the payer pays anyway (the order is known to WeChat Pay under our id), its notice, or
    else the settle job's query, settles it."""
    connected = app.ctx.services.payments.provider
    app.ctx.services.payments.provider = WeChatPay(connected.base_url, connected.account, transport=ReplyLost())
    await connected.aclose()
    fine = await first_fine(client, payer)
    failed = await start_payment(client, payer, fine)
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert int(failed.headers["Retry-After"]) > 0
    payment_id = failed.json()["error"]["payment_id"]
    assert (await Payment.get(id=payment_id)).state == "created"
    assert wechatpay.order(payment_id)["trade_state"] == "NOTPAY"  # yet WeChat Pay has the order

    wechatpay.pay(payment_id, notice=notice)
    if notice == "never":
        clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)
        assert await app.ctx.services.payments.settle_unnotified() == 1

    async def settled():
        return (await Payment.get(id=payment_id)).state == "success"

    await wait_for(settled)
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    states = await PaymentEvent.filter(payment_id=payment_id).order_by("id").values_list("to_state", flat=True)
    assert states == ["created", "submitted", "success"]


async def test_the_home_card_no_longer_shows_a_paid_fine_as_due(client, payer, wechatpay):
    await client.put("/api/v1/home/cards", headers=payer.headers, json={"types": ["traffic_violations"]})
    open_fines = traffic_violations_sample(payer.id)["count"]
    before = (await client.get("/api/v1/home", headers=payer.headers)).json()["cards"][0]
    assert f"未处理违法 {open_fines} 条" in before["summary"]

    await pay_a_fine(client, payer, wechatpay)

    # The department writes the fine off on its next settlement run; the card (kept 5 minutes) already
    # shows one fine fewer, and the points and amount with it.
    after = (await client.get("/api/v1/home", headers=payer.headers)).json()["cards"][0]
    if open_fines == 1:
        assert after["summary"] == "暂无未处理的交通违法"
    else:
        assert f"未处理违法 {open_fines - 1} 条" in after["summary"] and f"记 {3 * (open_fines - 1)} 分" in after["summary"]
    assert after["status"] == "ok"
