"""Reconciliation (对账): the provider's daily statement against our records, one case per mismatch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.audit import AuditEntry
from app.payments.models import DiscrepancyCase, Payment, ReconciliationRun
from tests.payments.conftest import provider_order_id, start_payment, wait_for
from tests.payments.test_refunds import refunded

CHINA = timezone(timedelta(hours=8))


async def pay_everything(client, payer, provider) -> list[dict]:
    """Pay every fine and bill of the citizen through the pay page; returns the payments."""
    payables = (await client.get("/api/v1/payables", headers=payer.headers)).json()["items"]
    payments = []
    for n, payable in enumerate(p for p in payables if p["kind"] in ("traffic_fine", "utility_bill")):
        payment = (await start_payment(client, payer, payable, key=f"reconcile-{n:04d}")).json()
        await provider.post(f"/pay/{provider_order_id(payment)}/pay")
        payments.append(payment)

    async def all_paid():
        return await Payment.filter(state="success").count() == len(payments)

    await wait_for(all_paid)
    return payments


async def run(client, admin, day) -> dict:
    reply = await client.post("/api/admin/v1/payment-reconciliations", headers=admin.headers(),
                              json={"date": day.isoformat()})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_a_clean_day_matches_every_line(client, payer, provider, payments_admin):
    payments = await pay_everything(client, payer, provider)
    report = await run(client, payments_admin, datetime.now(CHINA).date())
    assert report["lines"] == len(payments) == report["matched"]
    assert report["discrepancies"] == [] and report["new_cases"] == 0


async def test_reconciliation_finds_planted_mismatches_and_opens_one_case_each(client, payer, provider, payments_admin):
    payments = await pay_everything(client, payer, provider)
    assert len(payments) >= 2
    altered, hidden = payments[0]["id"], payments[1]["id"]
    today = datetime.now(CHINA).date()
    stranger = {"trade_time": f"{today.isoformat()}T02:00:00Z", "type": "PAY", "merchant_order_id": "PAYNOTOURS0001",
                "provider_order_id": "4200000000000000001", "merchant_refund_id": "", "amount_fen": 5_000,
                "currency": "CNY", "status": "SUCCESS"}
    await provider.post("/control/statement", json={"alter": {altered: 19_900}, "hide": [hidden], "add": [stranger]})

    report = await run(client, payments_admin, today)
    found = sorted((c["kind"], c["reference"]) for c in report["discrepancies"])
    assert found == sorted([("amount_mismatch", altered), ("missing_in_statement", hidden),
                            ("missing_in_ours", "PAYNOTOURS0001")])
    assert report["new_cases"] == 3 and report["matched"] == len(payments) - 2
    case = next(c for c in report["discrepancies"] if c["kind"] == "amount_mismatch")
    assert case["ours"]["amount_fen"] != case["theirs"]["amount_fen"] == 19_900 and case["status"] == "open"

    again = await run(client, payments_admin, today)  # a re-run finds the same cases, it opens none
    assert again["new_cases"] == 0 and await DiscrepancyCase.all().count() == 3
    assert await ReconciliationRun.filter(statement_date=today).count() == 2

    listed = await client.get("/api/admin/v1/payment-discrepancies", headers=payments_admin.headers(),
                              params={"status": "open"})
    assert len(listed.json()["items"]) == 3
    resolved = await client.post(f"/api/admin/v1/payment-discrepancies/{case['id']}/resolution",
                                 headers=payments_admin.headers(), json={"resolution": "渠道更正对账单（示例）"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    twice = await client.post(f"/api/admin/v1/payment-discrepancies/{case['id']}/resolution",
                              headers=payments_admin.headers(), json={"resolution": "再次"})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "DISCREPANCY_RESOLVED"
    open_now = await client.get("/api/admin/v1/payment-discrepancies", headers=payments_admin.headers(),
                                params={"status": "open"})
    assert len(open_now.json()["items"]) == 2
    bad = await client.get("/api/admin/v1/payment-discrepancies", headers=payments_admin.headers(), params={"status": "x"})
    assert bad.status_code == 422
    missing = await client.post("/api/admin/v1/payment-discrepancies/dc_nosuch/resolution",
                                headers=payments_admin.headers(), json={"resolution": "x"})
    assert missing.status_code == 404


async def test_the_daily_job_reconciles_yesterday_once_from_ten_oclock(app, client, payer, provider, clock):
    await pay_everything(client, payer, provider)
    today = datetime.now(CHINA).date()
    clock.set(datetime(today.year, today.month, today.day, 9, 30, tzinfo=CHINA) + timedelta(days=1))
    assert await app.ctx.payments.reconcile_yesterday() == 0 and await ReconciliationRun.all().count() == 0
    clock.advance(hours=1)
    await provider.post("/control/statement", json={"add": [{
        "trade_time": f"{today.isoformat()}T03:00:00Z", "type": "REFUND", "merchant_order_id": "PAYX",
        "provider_order_id": "1", "merchant_refund_id": "RFNOTOURS", "amount_fen": 100, "currency": "CNY",
        "status": "SUCCESS"}]})
    assert await app.ctx.payments.reconcile_yesterday() == 1
    assert await app.ctx.payments.reconcile_yesterday() == 0  # ran already for that day
    assert [c.kind for c in await DiscrepancyCase.all()] == ["refund_missing_in_ours"]


async def test_only_payments_admins_reconcile(client, clock, app, provider):
    from tests.factories import make_department

    clerk = await make_department(clock, "某窗口（示例）", ["clerk"])
    reply = await client.post("/api/admin/v1/payment-reconciliations", headers=clerk.headers(), json={"date": "2026-12-01"})
    assert reply.status_code == 403


async def test_refunds_are_counted_in_number_and_amount(client, payer, provider, payments_admin):
    payments = await pay_everything(client, payer, provider)
    assert len(payments) >= 2
    whole, part = payments[0], payments[1]
    await refunded(client, payments_admin, payer, whole)
    await refunded(client, payments_admin, payer, part, 1_000)

    report = await run(client, payments_admin, datetime.now(CHINA).date())
    assert (report["refunds"], report["refunded_fen"]) == (2, whole["amount_fen"] + 1_000)
    assert report["lines"] == len(payments) + 2 == report["matched"] and report["discrepancies"] == []
    stored = await ReconciliationRun.get(statement_date=datetime.now(CHINA).date())
    assert (stored.refunds, stored.refunded_fen) == (2, whole["amount_fen"] + 1_000)
    logged = await AuditEntry.filter(action="payments_reconciled").values_list("attributes", flat=True)
    assert [(a["refunds"], a["refunded_fen"]) for a in logged] == [(2, whole["amount_fen"] + 1_000)]
