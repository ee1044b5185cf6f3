"""Reconciliation (对账): WeChat Pay's trade bill of a day (`GET /v3/bill/tradebill`, then its download) against our
records, one case per mismatch. The stand-in gateway builds the bill of today (Beijing) so far from what it did;
`change_bill` makes it say something else."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.audit import AuditEntry
from app.clock import CHINA_TZ
from app.payments.models import DiscrepancyCase, Payment, ReconciliationRun, Refund
from tests.payments.conftest import start_payment, wait_for
from tests.payments.test_refunds import refund, refunded



def today():
    return datetime.now(CHINA_TZ).date()


async def pay_everything(client, payer, wechatpay) -> list[dict]:
    """The citizen pays every fine and bill they have, in WeChat; returns the payments once all are settled."""
    payables = (await client.get("/api/v1/payables", headers=payer.headers)).json()["items"]
    payments = []
    for n, payable in enumerate(p for p in payables if p["kind"] in ("traffic_fine", "utility_bill")):
        payment = (await start_payment(client, payer, payable, key=f"reconcile-{n:04d}")).json()
        wechatpay.pay(payment["id"])
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


async def test_a_clean_day_matches_every_line(client, payer, wechatpay, payments_admin):
    payments = await pay_everything(client, payer, wechatpay)
    report = await run(client, payments_admin, today())
    assert report["statement_date"] == today().isoformat()
    assert report["lines"] == len(payments) == report["matched"]
    assert report["discrepancies"] == [] and report["new_cases"] == 0
    assert (report["refunds"], report["refunded_fen"]) == (0, 0)
    stored = await ReconciliationRun.get(statement_date=today())
    assert (stored.lines, stored.matched, stored.discrepancies, stored.ran_by) == (
        len(payments), len(payments), 0, payments_admin.id)


async def test_pays_and_refunds_of_a_day_match_and_refunds_are_counted(client, payer, wechatpay, payments_admin):
    payments = await pay_everything(client, payer, wechatpay)
    assert len(payments) >= 2
    whole, part = payments[0], payments[1]
    await refunded(client, payments_admin, payer, whole)
    await refunded(client, payments_admin, payer, part, 1_000)

    report = await run(client, payments_admin, today())
    assert (report["refunds"], report["refunded_fen"]) == (2, whole["amount_fen"] + 1_000)
    assert report["lines"] == len(payments) + 2 == report["matched"] and report["discrepancies"] == []
    stored = await ReconciliationRun.get(statement_date=today())
    assert (stored.refunds, stored.refunded_fen) == (2, whole["amount_fen"] + 1_000)
    logged = await AuditEntry.filter(action="payments_reconciled").values_list("attributes", flat=True)
    assert [(a["lines"], a["matched"], a["refunds"], a["refunded_fen"]) for a in logged] == [
        (len(payments) + 2, len(payments) + 2, 2, whole["amount_fen"] + 1_000)]


def assert_one_case_each(report: dict, payments: list[dict], altered: str, hidden: str) -> dict:
    """One case per mismatch: the altered amount, the hidden line, the stranger's line. Returns the amount case."""
    found = sorted((c["kind"], c["reference"]) for c in report["discrepancies"])
    assert found == sorted([("amount_mismatch", altered), ("missing_in_statement", hidden),
                            ("missing_in_ours", "PAYNOTOURS0001")])
    assert report["new_cases"] == 3 and report["matched"] == len(payments) - 2
    assert report["lines"] == len(payments)  # one left out, one added
    case = next(c for c in report["discrepancies"] if c["kind"] == "amount_mismatch")
    assert (case["ours"]["amount_fen"], case["theirs"]["amount_fen"], case["status"]) == (
        payments[0]["amount_fen"], 19_900, "open")
    stranger = next(c for c in report["discrepancies"] if c["kind"] == "missing_in_ours")
    assert stranger["ours"] is None and stranger["theirs"]["amount_fen"] == 5_000
    return case


async def open_cases(client, admin) -> list[dict]:
    listed = await client.get("/api/admin/v1/payment-discrepancies", headers=admin.headers(), params={"status": "open"})
    return listed.json()["items"]


async def resolve(client, admin, case_id: str, resolution: str):
    return await client.post(f"/api/admin/v1/payment-discrepancies/{case_id}/resolution", headers=admin.headers(),
                             json={"resolution": resolution})


async def test_an_altered_a_hidden_and_a_strangers_line_open_one_case_each(client, payer, wechatpay, payments_admin):
    payments = await pay_everything(client, payer, wechatpay)
    assert len(payments) >= 2
    altered, hidden = payments[0]["id"], payments[1]["id"]
    wechatpay.change_bill(alter={altered: 19_900}, hide=[hidden],
                          add=[{"out_trade_no": "PAYNOTOURS0001", "amount": 5_000, "type": "SUCCESS"}])

    report = await run(client, payments_admin, today())
    case = assert_one_case_each(report, payments, altered, hidden)

    again = await run(client, payments_admin, today())  # a re-run finds the same cases, it opens none
    assert again["new_cases"] == 0 and len(again["discrepancies"]) == 3
    assert await DiscrepancyCase.all().count() == 3
    assert await ReconciliationRun.filter(statement_date=today()).count() == 2

    assert len(await open_cases(client, payments_admin)) == 3
    resolved = await resolve(client, payments_admin, case["id"], "渠道更正对账单（示例）")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution"] == "渠道更正对账单（示例）"
    twice = await resolve(client, payments_admin, case["id"], "再次")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "DISCREPANCY_RESOLVED"
    assert len(await open_cases(client, payments_admin)) == 2
    assert await AuditEntry.filter(action="discrepancy_resolved").count() == 1


async def test_a_discrepancy_list_needs_a_known_status_and_an_unknown_case_is_not_found(client, payments_admin):
    bad = await client.get("/api/admin/v1/payment-discrepancies", headers=payments_admin.headers(), params={"status": "x"})
    assert bad.status_code == 422
    missing = await resolve(client, payments_admin, "dc_nosuch", "x")
    assert missing.status_code == 404


async def test_refunds_the_bill_leaves_out_states_otherwise_or_we_have_not_settled_open_cases(
        app, client, payer, wechatpay, payments_admin, clock):
    payments = await pay_everything(client, payer, wechatpay)
    assert len(payments) >= 2
    await refunded(client, payments_admin, payer, payments[0], 1_000)
    await refunded(client, payments_admin, payer, payments[1], 1_000)
    hidden, altered = await Refund.filter(state="succeeded").order_by("created_at").values_list("id", flat=True)
    wechatpay.next_refunds(notice="never")  # WeChat Pay refunds this one, and we do not hear of it
    unheard = (await refund(client, payments_admin, payments[0]["id"], 2_000)).json()["id"]

    async def refunded_at_wechatpay():
        return wechatpay.refund(unheard)["status"] == "SUCCESS"

    await wait_for(refunded_at_wechatpay)
    wechatpay.change_bill(alter={altered: 900}, hide=[hidden])

    report = await run(client, payments_admin, today())
    found = sorted((c["kind"], c["reference"]) for c in report["discrepancies"])
    assert found == sorted([("refund_missing_in_statement", hidden), ("refund_amount_mismatch", altered),
                            ("refund_status_mismatch", unheard)])
    assert (report["refunds"], report["refunded_fen"]) == (2, 900 + 2_000)  # as the bill states them
    assert report["matched"] == len(payments) and report["new_cases"] == 3

    # The settle job finishes the unheard refund: the next run matches it, and opens no case.
    clock.advance(seconds=app.ctx.services.settings.payments.settle_after + 1)
    assert await app.ctx.services.payments.settle_unnotified() == 1
    again = await run(client, payments_admin, today())
    assert again["new_cases"] == 0 and again["matched"] == len(payments) + 1
    assert sorted(c["kind"] for c in again["discrepancies"]) == ["refund_amount_mismatch", "refund_missing_in_statement"]


async def test_a_day_without_a_bill_is_a_run_of_no_lines(client, payer, wechatpay, payments_admin):
    await pay_everything(client, payer, wechatpay)  # today: yesterday's bill stays empty
    yesterday = today() - timedelta(days=1)
    report = await run(client, payments_admin, yesterday)
    assert (report["lines"], report["matched"], report["discrepancies"], report["new_cases"]) == (0, 0, [], 0)
    stored = await ReconciliationRun.get(statement_date=yesterday)
    assert (stored.lines, stored.matched, stored.discrepancies, stored.refunds) == (0, 0, 0, 0)
    assert await DiscrepancyCase.all().count() == 0


async def test_the_daily_job_reconciles_yesterday_once_from_ten_oclock(app, client, payer, wechatpay, clock):
    await pay_everything(client, payer, wechatpay)
    day = today()
    clock.set(datetime(day.year, day.month, day.day, 9, 30, tzinfo=CHINA_TZ) + timedelta(days=1))
    assert await app.ctx.services.payments.reconcile_yesterday() == 0 and await ReconciliationRun.all().count() == 0
    clock.advance(hours=1)
    wechatpay.change_bill(add=[{"type": "REFUND", "out_trade_no": "PAYX00000001", "out_refund_no": "RFNOTOURS",
                                "amount": 100}])
    assert await app.ctx.services.payments.reconcile_yesterday() == 1
    assert await app.ctx.services.payments.reconcile_yesterday() == 0  # ran already for that day
    assert [(c.kind, c.reference, c.statement_date) for c in await DiscrepancyCase.all()] == [
        ("refund_missing_in_ours", "RFNOTOURS", day)]
    assert [(r.statement_date, r.ran_by) for r in await ReconciliationRun.all()] == [(day, "scheduler")]


async def test_only_payments_admins_reconcile(client, clock, app, wechatpay):
    from tests.factories import make_department

    clerk = await make_department(clock, "某窗口（示例）", ["clerk"])
    reply = await client.post("/api/admin/v1/payment-reconciliations", headers=clerk.headers(), json={"date": "2026-12-01"})
    assert reply.status_code == 403
    assert await ReconciliationRun.all().count() == 0
