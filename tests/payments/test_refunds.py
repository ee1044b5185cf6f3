"""Refunds (退款) by the payments office: full and partial, never more than was paid, settled by the
provider's refund notification (or by query when it does not come)."""

from __future__ import annotations

import asyncio

from app.audit import AuditEntry
from app.notifications.models import Notification
from app.payments.models import Payment, Refund
from app.services.backends import traffic_violations_sample
from tests.payments.conftest import first_fine, pay_a_fine, provider_order_id, start_payment, wait_for


async def refund(client, admin, payment_id: str, amount_fen, reason: str = "处罚决定撤销（示例）"):
    return await client.post(f"/api/admin/v1/payments/{payment_id}/refunds", headers=admin.headers(),
                             json={"amount_fen": amount_fen, "reason": reason})


async def state_of(payment_id: str) -> str:
    return (await Payment.get(id=payment_id)).state


async def test_a_partial_refund_then_one_exceeding_the_remainder(client, payer, provider, payments_admin):
    payment = await pay_a_fine(client, payer, provider)
    first = await refund(client, payments_admin, payment["id"], 5_000)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "pending" and first.json()["amount_fen"] == 5_000

    async def partly():
        return await state_of(payment["id"]) == "partially_refunded"

    await wait_for(partly)  # the provider's refund notification arrived
    assert (await Refund.get(id=first.json()["id"])).state == "succeeded"

    too_much = await refund(client, payments_admin, payment["id"], 15_001)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "REFUND_EXCEEDS_REMAINDER"
    assert too_much.json()["error"]["refundable_fen"] == 15_000 and "¥150.00" in too_much.json()["error"]["message"]
    assert await Refund.filter(payment_id=payment["id"]).count() == 1

    rest = await refund(client, payments_admin, payment["id"], 15_000)
    assert rest.status_code == 201

    async def refunded():
        return await state_of(payment["id"]) == "refunded"

    await wait_for(refunded)
    mine = (await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)).json()
    assert mine["state_text"] == "已退款" and mine["refunded_fen"] == 20_000
    assert [r["state"] for r in mine["refunds"]] == ["succeeded", "succeeded"]
    nothing_left = await refund(client, payments_admin, payment["id"], 1)
    assert nothing_left.status_code == 409 and nothing_left.json()["error"]["code"] == "PAYMENT_STATE_CONFLICT"

    async def told_twice():  # the citizen is told last, after the receipt and the department
        return await Notification.filter(citizen_id=payer.id, kind="payment_refunded").count() == 2

    await wait_for(told_twice)
    assert await AuditEntry.filter(subject_id=payer.id, action="refund_requested").count() == 2
    moves = await AuditEntry.filter(subject_id=payer.id, action__in=["payment_partially_refunded", "payment_refunded"]).count()
    assert moves == 2


async def test_two_refunds_at_once_never_exceed_what_was_paid(client, payer, provider, payments_admin):
    payment = await pay_a_fine(client, payer, provider)
    replies = await asyncio.gather(*[refund(client, payments_admin, payment["id"], 8_000) for _ in range(4)])
    assert sorted(r.status_code for r in replies) == [201, 201, 409, 409]
    assert sum(await Refund.filter(payment_id=payment["id"]).values_list("amount_fen", flat=True)) == 16_000
    assert (await Payment.get(id=payment["id"])).refunded_fen == 16_000


async def test_refunds_are_for_paid_payments_and_payments_admins_only(app, client, payer, provider, payments_admin, clock):
    from tests.factories import make_department

    fine = await first_fine(client, payer)
    unpaid = (await start_payment(client, payer, fine)).json()
    refused = await refund(client, payments_admin, unpaid["id"], 100)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "PAYMENT_STATE_CONFLICT"
    missing = await refund(client, payments_admin, "PAYNOSUCH", 100)
    assert missing.status_code == 404
    for amount in (0, -5, 1.5, "100"):
        assert (await refund(client, payments_admin, unpaid["id"], amount)).status_code == 422
    clerk = await make_department(clock, "某窗口（示例）", ["clerk"])
    forbidden = await refund(client, clerk, unpaid["id"], 100)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "CLIENT_ROLE_REQUIRED"


async def test_a_refund_whose_notification_is_lost_is_settled_by_query(app, client, payer, provider, payments_admin, clock):
    payment = await pay_a_fine(client, payer, provider)
    await provider.post("/control", json={"drop": True})
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()
    await asyncio.sleep(0.2)  # the provider finished the refund but told nobody
    assert (await Refund.get(id=made["id"])).state == "pending"
    clock.advance(seconds=app.ctx.settings.payment_settle_after + 1)
    await app.ctx.payments.settle_unnotified()
    assert (await Refund.get(id=made["id"])).state == "succeeded"
    assert await state_of(payment["id"]) == "refunded"


async def test_an_admin_reading_a_payment_is_in_the_citizens_access_log(client, payer, provider, payments_admin):
    payment = await pay_a_fine(client, payer, provider)
    no_purpose = await client.get(f"/api/admin/v1/payments/{payment['id']}", headers=payments_admin.headers())
    assert no_purpose.status_code == 422
    read = await client.get(f"/api/admin/v1/payments/{payment['id']}", headers=payments_admin.headers(),
                            params={"purpose": "退款审核"})
    assert read.status_code == 200 and read.json()["state"] == "success"
    log = (await client.get("/api/v1/me/access-log", headers=payer.headers)).json()["items"]
    assert [(e["action"], e["purpose"]) for e in log] == [("payment_read", "退款审核")]


async def refunded(client, admin, payer, payment: dict, amount_fen: int | None = None) -> None:
    """The payments office refunds the payment (in full unless `amount_fen`); waits until the citizen is told,
    which comes last, after the receipt and the department."""
    told_before = await Notification.filter(citizen_id=payer.id, kind="payment_refunded").count()
    made = await refund(client, admin, payment["id"], amount_fen or payment["amount_fen"])
    assert made.status_code == 201, made.text

    async def told():
        return await Notification.filter(citizen_id=payer.id, kind="payment_refunded").count() > told_before

    await wait_for(told)


async def payable(client, citizen, reference: str) -> dict:
    items = (await client.get("/api/v1/payables", headers=citizen.headers)).json()["items"]
    return next(p for p in items if p["reference"] == reference)


async def test_a_full_refund_reopens_the_fine_tells_the_department_and_it_can_be_paid_again(
        app, client, payer, provider, payments_admin):
    await client.put("/api/v1/home/cards", headers=payer.headers, json={"types": ["traffic_violations"]})
    open_fines = traffic_violations_sample(payer.id)["count"]
    payment = await pay_a_fine(client, payer, provider)
    assert (await payable(client, payer, payment["reference"]))["paid"] is True
    department = app.ctx.card_backends["traffic_violations"]
    assert department.reversals == []

    await refunded(client, payments_admin, payer, payment)

    # The fine is owed again: the citizen sees it unpaid, on the list and on the home card.
    assert (await payable(client, payer, payment["reference"]))["paid"] is False
    card = (await client.get("/api/v1/home", headers=payer.headers)).json()["cards"][0]
    assert f"未处理违法 {open_fines} 条" in card["summary"]
    # The traffic police were told the settlement is reversed, once.
    number = payment["reference"].split(":", 1)[1]
    assert department.reversals == [number]
    reopened = await AuditEntry.filter(subject_id=payer.id, action="reference_reopened").values_list("attributes", flat=True)
    assert [a["reference"] for a in reopened] == [payment["reference"]]
    told = await AuditEntry.filter(subject_id=payer.id, action="settlement_reversal_sent").values_list("attributes", flat=True)
    assert [a["reference"] for a in told] == [payment["reference"]]

    # Paying it again is a new payment with its own receipt; the department writes it off again.
    again = await start_payment(client, payer, await payable(client, payer, payment["reference"]), key="tap-0002-again")
    assert again.status_code == 201, again.text
    await provider.post(f"/pay/{provider_order_id(again.json())}/pay")

    async def paid_again():
        return await state_of(again.json()["id"]) == "success"

    await wait_for(paid_again)
    assert (await payable(client, payer, payment["reference"]))["paid"] is True
    first_receipt = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    second_receipt = (await client.get(f"/api/v1/payments/{again.json()['id']}/receipt", headers=payer.headers)).json()
    assert first_receipt["number"] != second_receipt["number"]
    assert first_receipt["status"] == "refunded" and second_receipt["status"] == "paid"


async def test_a_department_down_at_the_refund_hears_of_the_reversal_from_the_settle_job(
        app, client, payer, provider, payments_admin, clock):
    payment = await pay_a_fine(client, payer, provider)
    department = app.ctx.card_backends["traffic_violations"]
    department.mode = "fail"
    await refunded(client, payments_admin, payer, payment)
    assert department.reversals == []  # the refund stands; the department is told later

    department.mode = "ok"
    assert (await payable(client, payer, payment["reference"]))["paid"] is False
    clock.advance(seconds=app.ctx.settings.payment_settle_after + 1)
    await app.ctx.payments.settle_unnotified()
    await app.ctx.payments.settle_unnotified()  # told once, not at every run
    assert department.reversals == [payment["reference"].split(":", 1)[1]]
