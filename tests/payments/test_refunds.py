"""Refunds (退款) by the payments office through WeChat Pay (`POST /v3/refund/domestic/refunds`): full and partial,
never more than was paid, each settled exactly once by its REFUND.* notice or, when that is late or never comes,
by the settle job asking the gateway. A refund id is its out_refund_no at the gateway."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.audit import AuditEntry
from app.notifications.models import Notification
from app.payments.models import Payment, PaymentEvent, ProviderNotice, Refund
from app.services.cards.backends import traffic_violations_sample
from standins.wechatpay.control import WeChatPayStandIn
from tests.payments.conftest import first_fine, hold_notices, pay_a_fine, start_payment, wait_for


async def refund(client, admin, payment_id: str, amount_fen, reason: str = "处罚决定撤销（示例）"):
    return await client.post(f"/api/admin/v1/payments/{payment_id}/refunds", headers=admin.headers(),
                             json={"amount_fen": amount_fen, "reason": reason})


async def state_of(payment_id: str) -> str:
    return (await Payment.get(id=payment_id)).state


async def refund_state(refund_id: str) -> str:
    return (await Refund.get(id=refund_id)).state


def at_gateway(wechatpay: WeChatPayStandIn, out_refund_no: str) -> dict | None:
    """The refund as WeChat Pay holds it, or None when the gateway never received it."""
    try:
        return wechatpay.refund(out_refund_no)
    except httpx.HTTPStatusError as missing:
        assert missing.response.status_code == 404
        return None


async def gateway_says(wechatpay: WeChatPayStandIn, out_refund_no: str, status: str) -> None:
    async def there():
        found = at_gateway(wechatpay, out_refund_no)
        return found is not None and found["status"] == status

    await wait_for(there)


async def all_refund_notices_answered(wechatpay: WeChatPayStandIn, out_refund_no: str, sent: int) -> list[dict]:
    """Waits until the gateway has sent `sent` notices of the refund and our server accepted each."""
    async def answered():
        notices = wechatpay.notices(out_refund_no=out_refund_no)
        return notices if len(notices) == sent and all(n["delivered"] for n in notices) else None

    return await wait_for(answered)


async def told_of_refunds(payer) -> int:
    return await Notification.filter(citizen_id=payer.id, kind="payment_refunded").count()


async def past_the_settle_time(app, clock) -> None:
    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)


# -- the office refunds -----------------------------------------------------------------------------------

async def test_a_partial_refund_then_one_exceeding_the_remainder(client, payer, wechatpay, payments_admin):
    payment = await pay_a_fine(client, payer, wechatpay)
    first = await refund(client, payments_admin, payment["id"], 5_000)
    assert first.status_code == 201, first.text
    assert first.json()["state"] == "pending" and first.json()["amount_fen"] == 5_000  # WeChat Pay: PROCESSING

    async def partly():
        return await state_of(payment["id"]) == "partially_refunded"

    await wait_for(partly)  # REFUND.SUCCESS arrived
    assert await refund_state(first.json()["id"]) == "succeeded"
    sent = at_gateway(wechatpay, first.json()["id"])
    assert (sent["out_trade_no"], sent["amount"]["refund"], sent["amount"]["total"]) == (payment["id"], 5_000, 20_000)
    assert sent["reason"] == "处罚决定撤销（示例）"

    too_much = await refund(client, payments_admin, payment["id"], 15_001)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "REFUND_EXCEEDS_REMAINDER"
    assert too_much.json()["error"]["refundable_fen"] == 15_000 and "¥150.00" in too_much.json()["error"]["message"]
    assert await Refund.filter(payment_id=payment["id"]).count() == 1

    rest = await refund(client, payments_admin, payment["id"], 15_000)
    assert rest.status_code == 201

    async def refunded_in_full():
        return await state_of(payment["id"]) == "refunded"

    await wait_for(refunded_in_full)
    mine = (await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)).json()
    assert mine["state_text"] == "已退款" and mine["refunded_fen"] == 20_000
    assert [r["state"] for r in mine["refunds"]] == ["succeeded", "succeeded"]
    assert wechatpay.order(payment["id"])["trade_state"] == "REFUND"
    nothing_left = await refund(client, payments_admin, payment["id"], 1)
    assert nothing_left.status_code == 409 and nothing_left.json()["error"]["code"] == "PAYMENT_STATE_CONFLICT"

    async def told_twice():  # the citizen is told last, after the receipt and the department
        return await told_of_refunds(payer) == 2

    await wait_for(told_twice)
    assert await AuditEntry.filter(subject_id=payer.id, action="refund_requested").count() == 2
    moves = await AuditEntry.filter(subject_id=payer.id, action__in=["payment_partially_refunded", "payment_refunded"]).count()
    assert moves == 2


async def test_two_refunds_at_once_never_exceed_what_was_paid(client, payer, wechatpay, payments_admin):
    payment = await pay_a_fine(client, payer, wechatpay)
    replies = await asyncio.gather(*[refund(client, payments_admin, payment["id"], 8_000) for _ in range(4)])
    assert sorted(r.status_code for r in replies) == [201, 201, 409, 409]
    assert {r.json()["error"]["code"] for r in replies if r.status_code == 409} == {"REFUND_EXCEEDS_REMAINDER"}
    assert sum(await Refund.filter(payment_id=payment["id"]).values_list("amount_fen", flat=True)) == 16_000
    assert (await Payment.get(id=payment["id"])).refunded_fen == 16_000
    # Only the two accepted refunds went to WeChat Pay.
    made = [r.json()["id"] for r in replies if r.status_code == 201]
    assert [at_gateway(wechatpay, refund_id)["amount"]["refund"] for refund_id in made] == [8_000, 8_000]

    async def both_settled():
        return await told_of_refunds(payer) == 2  # the citizen is told last, once a refund has settled

    await wait_for(both_settled)
    assert await Refund.filter(payment_id=payment["id"], state="succeeded").count() == 2
    assert await state_of(payment["id"]) == "partially_refunded"


async def test_two_refunds_making_up_the_whole_amount_ending_at_once_reopen_the_fine_once(
        app, client, payer, wechatpay, payments_admin):
    """Two halves are refunded and WeChat Pay ends both at the same moment, their notices crossing: the payment
    ends refunded, and the fine is reopened and its department told once."""
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(outcome="processing")
    halves = [(await refund(client, payments_admin, payment["id"], 10_000)).json()["id"] for _ in range(2)]
    for refund_id in halves:
        wechatpay.finish_refund(refund_id, "success", notice="twice")
    for refund_id in halves:
        await all_refund_notices_answered(wechatpay, refund_id, sent=2)

    assert await state_of(payment["id"]) == "refunded"
    assert [r.state for r in await Refund.filter(payment_id=payment["id"])] == ["succeeded", "succeeded"]
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="refunded").count() == 1
    assert await AuditEntry.filter(subject_id=payer.id, action="reference_reopened").count() == 1
    department = app.ctx.services.card_backends["traffic_violations"]
    assert department.reversals == [payment["reference"].split(":", 1)[1]]
    assert await told_of_refunds(payer) == 2
    assert (await payable(client, payer, payment["reference"]))["paid"] is False


async def test_refunds_are_for_paid_payments_and_payments_admins_only(app, client, payer, wechatpay, payments_admin,
                                                                      clock):
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
    assert await Refund.all().count() == 0


async def test_an_admin_reading_a_payment_is_in_the_citizens_access_log(client, payer, wechatpay, payments_admin):
    payment = await pay_a_fine(client, payer, wechatpay)
    no_purpose = await client.get(f"/api/admin/v1/payments/{payment['id']}", headers=payments_admin.headers())
    assert no_purpose.status_code == 422
    read = await client.get(f"/api/admin/v1/payments/{payment['id']}", headers=payments_admin.headers(),
                            params={"purpose": "退款审核"})
    assert read.status_code == 200 and read.json()["state"] == "success"
    log = (await client.get("/api/v1/me/access-log", headers=payer.headers)).json()["items"]
    assert [(e["action"], e["purpose"]) for e in log] == [("payment_read", "退款审核")]


# -- the refund notice: late, twice, never, racing the settle job ---------------------------------------------

async def settled_once(payer, payment: dict, refund_id: str) -> None:
    """What exactly one settlement of a full refund leaves behind."""
    assert await refund_state(refund_id) == "succeeded"
    assert await state_of(payment["id"]) == "refunded"
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="refunded").count() == 1
    assert await AuditEntry.filter(subject_id=payer.id, action="payment_refunded").count() == 1
    assert await AuditEntry.filter(subject_id=payer.id, action="reference_reopened").count() == 1
    assert await told_of_refunds(payer) == 1


async def test_a_refund_notice_sent_twice_settles_the_refund_once(app, client, payer, wechatpay, payments_admin):
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(notice="twice")
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()

    notices = await all_refund_notices_answered(wechatpay, made["id"], sent=2)
    assert {n["event_type"] for n in notices} == {"REFUND.SUCCESS"} and len({n["id"] for n in notices}) == 1
    await settled_once(payer, payment, made["id"])
    outcomes = await ProviderNotice.filter(payment_id=payment["id"], event_type="REFUND.SUCCESS").values_list(
        "outcome", flat=True)
    assert sorted(outcomes) == ["applied", "duplicate"]
    department = app.ctx.services.card_backends["traffic_violations"]
    assert department.reversals == [payment["reference"].split(":", 1)[1]]


async def test_a_refund_whose_notice_never_comes_is_finished_by_the_settle_job(app, client, payer, wechatpay,
                                                                               payments_admin, clock):
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(notice="never")
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()
    await gateway_says(wechatpay, made["id"], "SUCCESS")  # the money went back...
    assert wechatpay.notices(out_refund_no=made["id"]) == []  # ...and nobody told us, nor is a notice on its way
    await app.ctx.services.payments.told()  # nothing of ours still under way either
    assert await refund_state(made["id"]) == "pending" and await state_of(payment["id"]) == "success"

    assert await app.ctx.services.payments.settle_unnotified() == 0  # not yet: the notice may still come
    assert await refund_state(made["id"]) == "pending"
    await past_the_settle_time(app, clock)
    assert await app.ctx.services.payments.settle_unnotified() == 1
    await settled_once(payer, payment, made["id"])
    assert await app.ctx.services.payments.settle_unnotified() == 0  # settled once, not at every run
    await settled_once(payer, payment, made["id"])
    assert wechatpay.notices(out_refund_no=made["id"]) == []


async def test_a_late_refund_notice_after_the_settle_job_finished_it_changes_nothing(
        app, client, payer, wechatpay, payments_admin, clock, monkeypatch):
    payment = await pay_a_fine(client, payer, wechatpay)
    late = hold_notices(app, monkeypatch, "REFUND.SUCCESS")
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()
    await gateway_says(wechatpay, made["id"], "SUCCESS")
    await late.reached_us()  # and is held there
    assert await refund_state(made["id"]) == "pending"

    await past_the_settle_time(app, clock)
    assert await app.ctx.services.payments.settle_unnotified() == 1
    await settled_once(payer, payment, made["id"])

    # REFUND.SUCCESS finally comes: it is answered (so WeChat Pay stops sending it) and changes nothing.
    late.release.set()
    notices = await all_refund_notices_answered(wechatpay, made["id"], sent=1)
    assert notices[0]["attempts"][-1]["status"] == 200
    assert await ProviderNotice.filter(payment_id=payment["id"], event_type="REFUND.SUCCESS").values_list(
        "outcome", flat=True) == ["duplicate"]
    await settled_once(payer, payment, made["id"])


async def test_notices_and_settle_jobs_racing_settle_a_refund_once(app, client, payer, wechatpay, payments_admin,
                                                                   clock):
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(outcome="processing")
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()
    await past_the_settle_time(app, clock)
    assert await app.ctx.services.payments.settle_unnotified() == 0  # still PROCESSING at WeChat Pay
    assert await refund_state(made["id"]) == "pending"

    # The refund ends while two settle jobs ask about it and its notice arrives twice.
    wechatpay.finish_refund(made["id"], "success", notice="twice")
    settled = await asyncio.gather(app.ctx.services.payments.settle_unnotified(), app.ctx.services.payments.settle_unnotified())
    await all_refund_notices_answered(wechatpay, made["id"], sent=2)
    outcomes = await ProviderNotice.filter(payment_id=payment["id"], event_type="REFUND.SUCCESS").values_list(
        "outcome", flat=True)
    assert sum(settled) + outcomes.count("applied") == 1 and len(outcomes) == 2
    await settled_once(payer, payment, made["id"])


# -- refunds that do not go through ----------------------------------------------------------------------

@pytest.mark.parametrize("notice", ["now", "never"])
async def test_a_refund_the_gateway_closes_gives_back_the_reserved_amount(
        app, client, payer, wechatpay, payments_admin, clock, notice):
    """CLOSED: the money never left. Told by REFUND.CLOSED, or found by the settle job when no notice came,
    the amount is refundable again."""
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(outcome="closed", notice=notice)
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()
    assert made["state"] == "pending"
    assert (await refund(client, payments_admin, payment["id"], 1)).json()["error"]["code"] == "REFUND_EXCEEDS_REMAINDER"
    await gateway_says(wechatpay, made["id"], "CLOSED")
    if notice == "never":
        await past_the_settle_time(app, clock)
        assert await app.ctx.services.payments.settle_unnotified() == 0

    async def failure_recorded():  # recorded last, once the refund is failed and its amount given back
        return await AuditEntry.filter(subject_id=payer.id, action="refund_failed").values_list("attributes", flat=True)

    why = await wait_for(failure_recorded)
    assert await refund_state(made["id"]) == "failed"
    assert (await Payment.get(id=payment["id"])).refunded_fen == 0 and await state_of(payment["id"]) == "success"
    assert [(a["refund_id"], a["why"]) for a in why] == [(made["id"], "REFUND.CLOSED" if notice == "now" else "FAILED")]
    mine = (await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)).json()
    assert (mine["state"], mine["refunded_fen"], [r["state"] for r in mine["refunds"]]) == ("success", 0, ["failed"])
    receipt = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    assert (receipt["status"], receipt["refunded_fen"]) == ("paid", 0)
    assert await told_of_refunds(payer) == 0

    # The office tries again, in full: accepted, and this time it goes through.
    wechatpay.next_refunds()
    again = await refund(client, payments_admin, payment["id"], 20_000)
    assert again.status_code == 201, again.text

    async def refunded_in_full():
        return await state_of(payment["id"]) == "refunded"

    await wait_for(refunded_in_full)
    assert (await Payment.get(id=payment["id"])).refunded_fen == 20_000


async def test_an_abnormal_refund_stays_held_for_the_office_until_the_gateway_pays_it_out(
        app, client, payer, wechatpay, payments_admin, clock):
    """ABNORMAL: the payer's card could not take the money, yet the merchant can still have it paid out (发起异常
    退款). Until the gateway says how it ended, the amount stays reserved (refunding it again could pay twice)
    and the office has a case to look at; when it is paid out, it settles like any refund."""
    from app.payments.models import DiscrepancyCase

    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(outcome="abnormal")
    made = (await refund(client, payments_admin, payment["id"], 20_000)).json()
    await gateway_says(wechatpay, made["id"], "ABNORMAL")

    async def held():
        return await refund_state(made["id"]) == "abnormal"

    await wait_for(held)
    again = await refund(client, payments_admin, payment["id"], 20_000)
    assert again.status_code == 409 and again.json()["error"]["code"] == "REFUND_EXCEEDS_REMAINDER"
    assert (await Payment.get(id=payment["id"])).refunded_fen == 20_000 and await state_of(payment["id"]) == "success"
    cases = await DiscrepancyCase.filter(kind="refund_abnormal", reference=made["id"]).values_list("status", flat=True)
    assert cases == ["open"]
    assert await AuditEntry.filter(subject_id=payer.id, action="refund_abnormal").count() == 1
    assert await AuditEntry.filter(subject_id=payer.id, action="refund_failed").count() == 0
    assert await told_of_refunds(payer) == 0
    await past_the_settle_time(app, clock)
    assert await app.ctx.services.payments.settle_unnotified() == 0  # asked again: still abnormal, nothing changes
    assert await refund_state(made["id"]) == "abnormal"

    # The merchant has it paid out another way; the gateway tells us, and it settles once.
    wechatpay.finish_refund(made["id"], "success", notice="twice")

    async def refunded_in_full():
        return await state_of(payment["id"]) == "refunded"

    await wait_for(refunded_in_full)
    assert await refund_state(made["id"]) == "succeeded"
    assert await PaymentEvent.filter(payment_id=payment["id"], to_state="refunded").count() == 1
    await wait_for(lambda: _told_once(payer))


async def _told_once(payer) -> bool:
    return await told_of_refunds(payer) == 1


async def test_a_merchant_account_without_funds_refuses_the_refund_and_reserves_nothing(client, payer, wechatpay,
                                                                                       payments_admin):
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.behave("not_enough")
    refused = await refund(client, payments_admin, payment["id"], 20_000)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "REFUND_INSUFFICIENT_FUNDS"
    assert "余额不足" in refused.json()["error"]["message"]
    stored = await Payment.get(id=payment["id"])
    assert (stored.state, stored.refunded_fen) == ("success", 0)
    tried = await Refund.get(payment_id=payment["id"])
    assert tried.state == "failed" and at_gateway(wechatpay, tried.id) is None
    why = await AuditEntry.filter(subject_id=payer.id, action="refund_failed").values_list("attributes", flat=True)
    assert [a["why"] for a in why] == ["NOT_ENOUGH"]

    # Once the account is funded, the whole amount can be refunded.
    again = await refund(client, payments_admin, payment["id"], 20_000)
    assert again.status_code == 201, again.text

    async def refunded_in_full():
        return await state_of(payment["id"]) == "refunded"

    await wait_for(refunded_in_full)


async def test_a_refund_the_gateway_never_received_is_asked_again_under_the_same_number(
        app, client, payer, wechatpay, payments_admin, clock):
    payment = await pay_a_fine(client, payer, wechatpay)
    wechatpay.next_refunds(outcome="processing")
    wechatpay.behave("down")  # the refund call answers 500 SYSTEM_ERROR
    made = await refund(client, payments_admin, payment["id"], 20_000)
    assert made.status_code == 201 and made.json()["state"] == "pending"
    refund_id = made.json()["id"]
    assert at_gateway(wechatpay, refund_id) is None
    # The amount stays reserved: it may yet be paid out.
    held = await refund(client, payments_admin, payment["id"], 1)
    assert held.status_code == 409 and held.json()["error"]["code"] == "REFUND_EXCEEDS_REMAINDER"

    await past_the_settle_time(app, clock)
    assert await app.ctx.services.payments.settle_unnotified() == 0
    asked = at_gateway(wechatpay, refund_id)
    assert (asked["status"], asked["out_trade_no"], asked["amount"]["refund"]) == ("PROCESSING", payment["id"], 20_000)
    assert await app.ctx.services.payments.settle_unnotified() == 0  # asked how it stands, not for another refund
    assert await refund_state(refund_id) == "pending"

    wechatpay.finish_refund(refund_id, "success")

    async def refunded_in_full():
        return await state_of(payment["id"]) == "refunded"

    await wait_for(refunded_in_full)
    notices = await all_refund_notices_answered(wechatpay, refund_id, sent=1)
    refund_notices = [n for n in wechatpay.notices(out_trade_no=payment["id"]) if n["event_type"].startswith("REFUND.")]
    assert [(n["out_refund_no"], n["event_type"]) for n in refund_notices] == [(refund_id, "REFUND.SUCCESS")]
    assert notices[0]["id"] == refund_notices[0]["id"]
    assert await Refund.filter(payment_id=payment["id"]).count() == 1
    assert (await Payment.get(id=payment["id"])).refunded_fen == 20_000


# -- what a refund undoes -----------------------------------------------------------------------------------

async def refunded(client, admin, payer, payment: dict, amount_fen: int | None = None) -> None:
    """The payments office refunds the payment (in full unless `amount_fen`); waits until the citizen is told,
    which comes last, after the receipt and the department."""
    told_before = await told_of_refunds(payer)
    made = await refund(client, admin, payment["id"], amount_fen or payment["amount_fen"])
    assert made.status_code == 201, made.text

    async def told():
        return await told_of_refunds(payer) > told_before

    await wait_for(told)


async def payable(client, citizen, reference: str) -> dict:
    items = (await client.get("/api/v1/payables", headers=citizen.headers)).json()["items"]
    return next(p for p in items if p["reference"] == reference)


async def test_a_full_refund_reopens_the_fine_tells_the_department_and_it_can_be_paid_again(
        app, client, payer, wechatpay, payments_admin):
    await client.put("/api/v1/home/cards", headers=payer.headers, json={"types": ["traffic_violations"]})
    open_fines = traffic_violations_sample(payer.id)["count"]
    payment = await pay_a_fine(client, payer, wechatpay)
    assert (await payable(client, payer, payment["reference"]))["paid"] is True
    department = app.ctx.services.card_backends["traffic_violations"]
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

    # Paying it again is a new payment (a new out_trade_no) with its own receipt; the department writes it off again.
    again = await start_payment(client, payer, await payable(client, payer, payment["reference"]), key="tap-0002-again")
    assert again.status_code == 201, again.text
    assert again.json()["id"] != payment["id"]
    wechatpay.pay(again.json()["id"])

    async def paid_again():
        return await state_of(again.json()["id"]) == "success"

    await wait_for(paid_again)
    assert (await payable(client, payer, payment["reference"]))["paid"] is True
    first_receipt = (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=payer.headers)).json()
    second_receipt = (await client.get(f"/api/v1/payments/{again.json()['id']}/receipt", headers=payer.headers)).json()
    assert first_receipt["number"] != second_receipt["number"]
    assert first_receipt["status"] == "refunded" and second_receipt["status"] == "paid"


async def test_a_department_down_at_the_refund_hears_of_the_reversal_from_the_settle_job(
        app, client, payer, wechatpay, payments_admin, clock):
    payment = await pay_a_fine(client, payer, wechatpay)
    department = app.ctx.services.card_backends["traffic_violations"]
    department.mode = "fail"
    await refunded(client, payments_admin, payer, payment)
    assert department.reversals == []  # the refund stands; the department is told later

    department.mode = "ok"
    assert (await payable(client, payer, payment["reference"]))["paid"] is False
    await past_the_settle_time(app, clock)
    await app.ctx.services.payments.settle_unnotified()
    await app.ctx.services.payments.settle_unnotified()  # told once, not at every run
    assert department.reversals == [payment["reference"].split(":", 1)[1]]
