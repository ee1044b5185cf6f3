"""The payment API: what is owed, creating a payment with an Idempotency-Key, what a citizen may see, cancelling,
and what the citizen is told when WeChat Pay (the stand-in API v3 gateway) is down or busy."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.notifications.models import Notification
from app.payments.models import PaidReference, Payment, PaymentEvent, Receipt
from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name
from tests.payments.conftest import first_fine, start_payment
from tests.uploads.upload_factory import scanned_png, small_pdf, uploaded


def paying_refused(wechatpay, out_trade_no: str) -> int:
    """The payer tries to pay the order in WeChat; the HTTP status of the gateway's refusal."""
    with pytest.raises(httpx.HTTPStatusError) as refused:
        wechatpay.pay(out_trade_no)
    return refused.value.response.status_code


async def test_a_double_tapped_pay_button_creates_one_order(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    replies = await asyncio.gather(*[start_payment(client, payer, fine, key="double-tap-0001") for _ in range(5)])
    assert sorted(r.status_code for r in replies) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in replies}) == 1
    # Each reply is signed afresh for the SDK, but all pay the one order WeChat Pay has under our id.
    order = wechatpay.order(replies[0].json()["id"])
    assert {r.json()["next_step"]["params"]["prepayid"] for r in replies} == {order["prepay_id"]}
    assert await Payment.filter(citizen_id=payer.id).count() == 1
    assert await PaymentEvent.filter(payment_id=order["out_trade_no"], to_state="submitted").count() == 1


async def test_a_second_key_while_one_payment_is_open_is_refused(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    first = (await start_payment(client, payer, fine, key="first-key-0001")).json()
    second = await start_payment(client, payer, fine, key="second-key-0001")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "PAYMENT_IN_PROGRESS" and second.json()["error"]["payment_id"] == first["id"]


async def test_the_same_key_with_another_body_is_refused(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    await start_payment(client, payer, fine, key="same-key-0001")
    other = await client.post("/api/v1/payments", headers={**payer.headers, "Idempotency-Key": "same-key-0001"},
                              json={"reference": fine["reference"], "amount_fen": fine["amount_fen"], "description": "别的"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "缴费" in other.json()["error"]["message"]


async def test_amounts_are_integer_fen_and_must_be_what_is_owed(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    headers = {**payer.headers, "Idempotency-Key": "amounts-0001"}
    for wrong in (200.0, "20000", 20000.5, True):
        reply = await client.post("/api/v1/payments", headers=headers, json={"reference": fine["reference"], "amount_fen": wrong})
        assert reply.status_code == 422, (wrong, reply.text)
        assert reply.json()["error"]["code"] == "VALIDATION_FAILED"
    less = await client.post("/api/v1/payments", headers=headers, json={"reference": fine["reference"], "amount_fen": 100})
    assert less.status_code == 422 and less.json()["error"]["code"] == "PAYMENT_AMOUNT_MISMATCH"
    assert less.json()["error"]["amount_fen_owed"] == 20_000 and "¥200.00" in less.json()["error"]["message"]
    usd = await client.post("/api/v1/payments", headers=headers,
                            json={"reference": fine["reference"], "amount_fen": 20_000, "currency": "USD"})
    assert usd.status_code == 422
    assert await Payment.filter(citizen_id=payer.id).count() == 0


async def test_a_key_is_required_and_checked(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    body = {"reference": fine["reference"], "amount_fen": fine["amount_fen"]}
    missing = await client.post("/api/v1/payments", headers=payer.headers, json=body)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"
    bad = await client.post("/api/v1/payments", headers={**payer.headers, "Idempotency-Key": "x y"}, json=body)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "IDEMPOTENCY_KEY_INVALID"


async def test_unknown_and_other_citizens_references_are_not_found(client, payer, sms, wechatpay):
    headers = {**payer.headers, "Idempotency-Key": "unknown-ref-0001"}
    for reference in ("traffic_fine:TV0000000000", "nonsense:1", "utility_bill:UBEL0000000000"):
        reply = await client.post("/api/v1/payments", headers=headers, json={"reference": reference, "amount_fen": 100})
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "PAYABLE_NOT_FOUND"
    fine = await first_fine(client, payer)
    other = await sign_in(client, sms)
    await verify_real_name(client, other, name="周杰", id_number=valid_id_number(birth="19850615", sequence="124"))
    theirs = await start_payment(client, other, fine, key="not-mine-0001")
    assert theirs.status_code == 404


async def test_a_citizen_sees_only_their_own_payments(client, payer, sms, wechatpay):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    other = await sign_in(client, sms)
    assert (await client.get(f"/api/v1/payments/{payment['id']}", headers=other.headers)).status_code == 404
    assert (await client.post(f"/api/v1/payments/{payment['id']}/cancellation", headers=other.headers)).status_code == 404
    assert (await client.get(f"/api/v1/payments/{payment['id']}/receipt", headers=other.headers)).status_code == 404
    assert (await client.get("/api/v1/payments", headers=other.headers)).json()["items"] == []
    listed = (await client.get("/api/v1/payments", headers=payer.headers)).json()["items"]
    assert [p["id"] for p in listed] == [payment["id"]]


async def test_paying_needs_real_name_verification(client, sms, live_server):
    citizen = await sign_in(client, sms)
    reply = await client.get("/api/v1/payables", headers=citizen.headers)
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"


async def test_cancelling_closes_the_order_and_a_paid_one_cannot_be_cancelled(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    cancelled = await client.post(f"/api/v1/payments/{payment['id']}/cancellation", headers=payer.headers)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["next_step"] is None
    assert wechatpay.order(payment["id"])["trade_state"] == "CLOSED"
    assert paying_refused(wechatpay, payment["id"]) == 409  # closed in WeChat: the payer cannot pay it any more
    again = await client.post(f"/api/v1/payments/{payment['id']}/cancellation", headers=payer.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "PAYMENT_STATE_CONFLICT"
    assert "已取消" in again.json()["error"]["message"]

    # Paid in WeChat a moment before the citizen cancels (the notice not in yet): settled, not cancelled.
    second = (await start_payment(client, payer, fine, key="after-cancel-0001")).json()
    wechatpay.pay(second["id"], notice="never")
    too_late = await client.post(f"/api/v1/payments/{second['id']}/cancellation", headers=payer.headers)
    assert too_late.status_code == 409 and too_late.json()["error"]["code"] == "PAYMENT_STATE_CONFLICT"
    assert "已支付" in too_late.json()["error"]["message"]
    assert (await Payment.get(id=second["id"])).state == "success"
    assert wechatpay.order(second["id"])["trade_state"] == "SUCCESS"
    assert await Receipt.filter(payment_id=second["id"]).count() == 1


async def test_when_wechat_pay_is_down_the_payment_waits_and_a_retry_submits_it(app, client, payer, wechatpay, clock):
    fine = await first_fine(client, payer)
    wechatpay.behave("down")  # the next call answers 500 SYSTEM_ERROR
    down = await start_payment(client, payer, fine, key="provider-down-01")
    assert down.status_code == 503 and down.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert "不会重复扣款" in down.json()["error"]["message"]
    assert int(down.headers["Retry-After"]) == down.json()["error"]["retry_after"] > 0
    payment_id = down.json()["error"]["payment_id"]
    # The citizen can look at it meanwhile: waiting, with nothing to pay yet.
    shown = await client.get(f"/api/v1/payments/{payment_id}", headers=payer.headers)
    assert shown.status_code == 200 and shown.json()["state"] == "created" and shown.json()["next_step"] is None
    # WeChat Pay never had it: the settle job neither settles nor gives it up before its time.
    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)
    assert await app.ctx.services.payments.settle_unnotified() == 0
    assert (await Payment.get(id=payment_id)).state == "created"

    retried = await start_payment(client, payer, fine, key="provider-down-01")
    assert retried.status_code == 200 and retried.json()["state"] == "submitted"
    assert retried.json()["id"] == payment_id
    assert retried.json()["next_step"]["params"]["prepayid"] == wechatpay.order(payment_id)["prepay_id"]
    assert await Payment.filter(citizen_id=payer.id).count() == 1


async def test_when_wechat_pay_is_busy_the_citizen_is_told_when_to_try_again(client, payer, wechatpay):
    fine = await first_fine(client, payer)
    wechatpay.behave("frequency_limited")  # the next call answers 429 FREQUENCY_LIMITED
    busy = await start_payment(client, payer, fine, key="provider-busy-01")
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "PAYMENT_PROVIDER_UNAVAILABLE"
    assert int(busy.headers["Retry-After"]) == busy.json()["error"]["retry_after"] > 0
    assert (await Payment.get(id=busy.json()["error"]["payment_id"])).state == "created"
    retried = await start_payment(client, payer, fine, key="provider-busy-01")
    assert retried.status_code == 200 and retried.json()["state"] == "submitted"
    assert wechatpay.order(retried.json()["id"])["trade_state"] == "NOTPAY"


async def test_an_old_unpaid_payment_expires_and_its_order_is_closed(app, client, payer, wechatpay, clock):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    clock.advance(seconds=app.ctx.services.settings.payments.ttl + 1)
    await app.ctx.services.payments.settle_unnotified()
    assert (await Payment.get(id=payment["id"])).state == "expired"
    assert wechatpay.order(payment["id"])["trade_state"] == "CLOSED"
    assert paying_refused(wechatpay, payment["id"]) == 409
    assert await Notification.filter(citizen_id=payer.id, kind="payment_expired").count() == 1
    await refresh_tokens(client, payer)  # a quarter of an hour later the app has a new access token
    assert (await client.get(f"/api/v1/payments/{payment['id']}", headers=payer.headers)).json()["state_text"] == "已过期"
    fresh = await start_payment(client, payer, fine, key="after-expiry-01")
    assert fresh.status_code == 201


async def test_a_payment_paid_just_before_it_expired_is_paid_not_expired(app, client, payer, wechatpay, clock):
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], notice="never")
    clock.advance(seconds=app.ctx.services.settings.payments.ttl + 1)
    await app.ctx.services.payments.settle_unnotified()
    assert (await Payment.get(id=payment["id"])).state == "success"
    assert await Notification.filter(citizen_id=payer.id, kind="payment_expired").count() == 0


async def test_starting_again_after_an_expiry_time_finds_the_old_payment_paid_meanwhile(app, client, payer, wechatpay,
                                                                                      clock):
    """The citizen paid in WeChat but the notice never came; past its expiry time they tap pay again. The old
    order is closed first: WeChat Pay says it was paid, so it is settled, and no second order is made."""
    fine = await first_fine(client, payer)
    payment = (await start_payment(client, payer, fine)).json()
    wechatpay.pay(payment["id"], notice="never")
    clock.advance(seconds=app.ctx.services.settings.payments.ttl + 1)
    await refresh_tokens(client, payer)
    again = await start_payment(client, payer, fine, key="after-expiry-02")
    assert again.status_code == 409 and again.json()["error"]["code"] == "REFERENCE_ALREADY_PAID"
    assert (await Payment.get(id=payment["id"])).state == "success"
    assert await Payment.filter(citizen_id=payer.id).count() == 1
    assert await PaidReference.filter(reference=fine["reference"]).count() == 1


async def test_the_payables_list_fines_bills_and_application_fees(client, payer, wechatpay):
    applied = await client.post("/api/v1/applications", headers={**payer.headers, "Idempotency-Key": "apply-fee-0001"},
                                json={"item_id": "gd-gat-001", "form": {"reason": "有效期满换领"},
                                      "materials": [{"name": "居民身份证",
                                                     "upload_ref": await uploaded(client, payer, scanned_png())},
                                                    {"name": "居民户口簿",
                                                     "upload_ref": await uploaded(client, payer, small_pdf())}]})
    assert applied.status_code == 201, applied.text
    payables = (await client.get("/api/v1/payables", headers=payer.headers)).json()["items"]
    kinds = {p["kind"] for p in payables}
    assert {"traffic_fine", "utility_bill"} <= kinds
    assert all(type(p["amount_fen"]) is int for p in payables)
    fee = next(p for p in payables if p["kind"] == "application_fee")
    assert fee["amount_fen"] == 2000 and fee["reference"] == f"application_fee:{applied.json()['id']}"
    assert "居民身份证换领" in fee["description"] and fee["paid"] is False
    paid = await start_payment(client, payer, fee, key="fee-payment-0001")
    assert paid.status_code == 201 and paid.json()["reference_kind"] == "application_fee"
