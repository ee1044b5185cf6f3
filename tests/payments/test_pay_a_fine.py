"""A citizen pays a traffic fine through the stand-in provider: the fine shows as paid exactly once,
despite duplicated, late and out-of-order notifications, and the receipt verifies."""

from __future__ import annotations

import asyncio

import httpx

from app.notifications.models import Notification
from app.payments.models import PaidReference, Payment, PaymentEvent, ProviderNotice, Receipt
from app.audit import AuditEntry
from app.services.backends import traffic_violations_sample
from tests.payments.conftest import first_fine, pay_a_fine, provider_order_id, start_payment, wait_for


async def test_a_citizen_pays_a_fine_and_it_is_paid_exactly_once(client, payer, provider):
    await provider.post("/control", json={"duplicates": 4, "notify_delay": 0.4})
    fine = await first_fine(client, payer)
    assert fine["amount_fen"] == 20_000 and fine["paid"] is False

    created = await start_payment(client, payer, fine)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["state"] == "submitted" and payment["amount_fen"] == 20_000 and payment["currency"] == "CNY"
    assert payment["next_step"]["type"] == "redirect"
    page = await provider.get(httpx.URL(payment["next_step"]["url"]).path)
    assert page.status_code == 200 and "确认支付" in page.text and "¥200.00" in page.text

    paid = await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    assert paid.status_code == 200 and paid.json()["status"] == "SUCCESS"

    # Four copies of the notice arrive, in any order, within 0.4 s; wait until all were answered.
    async def all_answered():
        sent = (await provider.get("/control/sent")).json()["sent"]
        return len(sent) == 4 and all(s["answers"] and s["answers"][-1] == 200 for s in sent)

    await wait_for(all_answered)
    mine = await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)
    assert mine.json()["state"] == "success" and mine.json()["state_text"] == "已支付"
    assert mine.json()["receipt_number"].startswith("GDPR")

    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="success").count() == 1
    assert await Receipt.filter(payment_id=payment["id"]).count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1
    notices = await ProviderNotice.filter(payment_id=payment["id"]).values_list("outcome", flat=True)
    assert sorted(notices) == ["applied", "duplicate", "duplicate", "duplicate"]
    # Every move is in the audit log.
    actions = await AuditEntry.filter(subject_id=payer.id, action__startswith="payment_").values_list("action", flat=True)
    assert actions == ["payment_created", "payment_submitted", "payment_success"]
    assert await AuditEntry.filter(subject_id=payer.id, action="reference_paid").count() == 1

    payables = (await client.get("/api/v1/payables", headers=payer.headers)).json()["items"]
    assert next(p for p in payables if p["reference"] == fine["reference"])["paid"] is True
    again = await start_payment(client, payer, fine, key="tap-0002-abcdef")
    assert again.status_code == 409 and again.json()["error"]["code"] == "REFERENCE_ALREADY_PAID"


async def test_a_late_notice_after_the_scheduled_query_settled_it_changes_nothing(app, client, payer, provider, clock):
    await provider.post("/control", json={"drop": True})
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    await asyncio.sleep(0.3)
    assert (await Payment.get(id=payment["id"])).state == "submitted"  # no notice came

    clock.advance(seconds=app.ctx.settings.payment_settle_after + 1)
    assert await app.ctx.payments.settle_unnotified() == 1
    assert (await Payment.get(id=payment["id"])).state == "success"

    # The provider finally sends its notice (late): answered, nothing changes.
    clock.advance(seconds=-(app.ctx.settings.payment_settle_after + 1))
    late = await provider.post("/control/send", json={
        "url": app.ctx.payments.notify_url, "event_type": "TRANSACTION.SUCCESS",
        "resource": {"merchant_order_id": payment["id"], "provider_order_id": provider_order_id(payment),
                     "amount_fen": 20_000, "currency": "CNY", "status": "SUCCESS"}})
    assert late.json()["status"] == 200 and late.json()["body"]["outcome"] == "duplicate"
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1


async def test_notice_and_query_racing_mark_the_fine_paid_once(app, client, payer, provider):
    await provider.post("/control", json={"drop": True})
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    service = app.ctx.payments
    body = (b'{"id":"EV-race","event_type":"TRANSACTION.SUCCESS","resource":{"merchant_order_id":"%s",'
            b'"provider_order_id":"%s","amount_fen":20000,"currency":"CNY","status":"SUCCESS"}}'
            % (payment["id"].encode(), provider_order_id(payment).encode()))
    results = await asyncio.gather(*[service.handle_notice(body) for _ in range(4)],
                                   *[service.settle_by_query(payment["id"]) for _ in range(4)])
    assert sorted(results[:4]).count("applied") <= 1
    assert set(results[4:]) == {"success"}
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="success").count() == 1
    assert await Receipt.filter(payment_id=payment["id"]).count() == 1
    assert await Notification.filter(citizen_id=payer.id, kind="payment_succeeded").count() == 1


async def test_coming_back_from_the_pay_page_shows_the_result_at_once(client, payer, provider):
    await provider.post("/control", json={"drop": True})
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    await provider.post(f"/pay/{provider_order_id(payment)}/fail")
    back = await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)
    assert back.json()["state"] == "failed" and back.json()["next_step"] is None
    assert await Notification.filter(citizen_id=payer.id, kind="payment_failed").count() == 1
    # A failed payment can be started again, with a new key.
    retry = await start_payment(client, payer, fine, key="tap-retry-0001")
    assert retry.status_code == 201 and retry.json()["id"] != payment["id"]


async def test_without_a_provider_paying_answers_503_and_changes_nothing(app, client, payer, provider):
    app.ctx.payments.provider = None
    fine = await first_fine(client, payer)
    reply = await start_payment(client, payer, fine)
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"


async def test_a_reference_paid_twice_at_once_is_refunded_and_a_case_opened(app, client, payer, provider, clock):
    """If two orders for one fine were both paid (e.g. on two phones before either settled), the second
    payment is refunded in full at once and a case is opened; the fine is still paid exactly once, and that
    refund reopens nothing: the first payment still pays the fine."""
    from app.payments.models import DiscrepancyCase, Refund

    await provider.post("/control", json={"drop": True})
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")
    await PaidReference.create(reference=fine["reference"], payment_id="PAYPAIDELSEWHERE", citizen_id=payer.id,
                               paid_at=(await Payment.get(id=payment["id"])).created_at)
    assert await app.ctx.payments.settle_by_query(payment["id"]) in ("success", "refunded")
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    assert [c.kind for c in await DiscrepancyCase.all()] == ["duplicate_payment"]
    made = await Refund.get(payment_id=payment["id"])
    assert made.amount_fen == 20_000 and made.reason == "重复缴费自动退款"
    assert await Receipt.filter(payment_id=payment["id"]).count() == 0

    clock.advance(seconds=app.ctx.settings.payment_settle_after + 1)

    async def refunded_by_query():  # the provider finishes the refund a moment later and tells nobody
        await app.ctx.payments.settle_unnotified()
        return (await Payment.get(id=payment["id"])).state == "refunded"

    await wait_for(refunded_by_query)
    assert (await first_fine(client, payer))["paid"] is True
    assert app.ctx.card_backends["traffic_violations"].reversals == []
    assert not await AuditEntry.filter(subject_id=payer.id, action="reference_reopened").exists()


async def test_a_payment_whose_create_call_timed_out_is_still_settled_by_its_notice(app, client, payer, provider):
    """The provider took the order but our call timed out: the payment is `created` on our side; when the
    payer pays anyway (the order is known to the provider under our id), the notice settles it."""
    fine = await first_fine(client, payer)
    real_create = app.ctx.payments.provider.create_order

    async def timed_out(*args, **kwargs):
        await real_create(*args, **kwargs)
        from app.payments.provider import ProviderUnavailable

        raise ProviderUnavailable("ReadTimeout")

    app.ctx.payments.provider.create_order = timed_out
    failed = await start_payment(client, payer, fine)
    assert failed.status_code == 503
    payment_id = failed.json()["error"]["payment_id"]
    assert (await Payment.get(id=payment_id)).state == "created"
    order = await app.ctx.payments.provider.query_order(payment_id)
    await provider.post(f"/pay/{order.provider_order_id}/pay")

    async def settled():
        return (await Payment.get(id=payment_id)).state == "success"

    await wait_for(settled)
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1
    states = await PaymentEvent.filter(payment_id=payment_id).order_by("id").values_list("to_state", flat=True)
    assert states == ["created", "submitted", "success"]


async def test_the_home_card_no_longer_shows_a_paid_fine_as_due(client, payer, provider):
    await client.put("/api/v1/home/cards", headers=payer.headers, json={"types": ["traffic_violations"]})
    open_fines = traffic_violations_sample(payer.id)["count"]
    before = (await client.get("/api/v1/home", headers=payer.headers)).json()["cards"][0]
    assert f"未处理违法 {open_fines} 条" in before["summary"]

    await pay_a_fine(client, payer, provider)

    # The department writes the fine off on its next settlement run; the card (kept 5 minutes) already
    # shows one fine fewer, and the points and amount with it.
    after = (await client.get("/api/v1/home", headers=payer.headers)).json()["cards"][0]
    if open_fines == 1:
        assert after["summary"] == "暂无未处理的交通违法"
    else:
        assert f"未处理违法 {open_fines - 1} 条" in after["summary"] and f"记 {3 * (open_fines - 1)} 分" in after["summary"]
    assert after["status"] == "ok"
