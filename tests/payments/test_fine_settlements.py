"""A traffic fine read from 交管 through the department data exchange (the stand-in departments' process) and paid
through us: 交管 is told it is paid (settlements/v1, purpose settlement) and, after a full refund, that it is due
again; a department down at that moment hears of it from the settle job, once."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

import pytest

from app.accounts.service import verified_id_number
from app.integrations.exchange.client import DEFAULT_RETRY_AFTER
from app.integrations.exchange.models import ExchangeMessage
from app.audit import AuditEntry
from app.payments.models import DiscrepancyCase, Payment, Receipt
from app.departments.exchange_services import TPB_SETTLEMENTS, TPB_VIOLATIONS
from standins.departments import tpb
from standins.departments.control import DepartmentsStandIn
from standins.departments.server import beijing_today
from tests.factories import SignedInCitizen, sign_in, valid_id_number, verify_real_name
from tests.payments.conftest import first_fine, pay_a_fine, start_payment, wait_for
from tests.payments.test_refunds import past_the_settle_time, payable, refunded


def _fined() -> Iterator[str]:
    """ID numbers of people with an unpaid traffic fine at the stand-in 交管."""
    for sequence in range(300, 1000):
        number = valid_id_number(sequence=f"{sequence:03d}")
        if tpb.violations(number, beijing_today(), {})["count"]:
            yield number


_next_fined = _fined()
pytestmark = pytest.mark.departments


@pytest.fixture
async def payer(client, sms, live_server: str, departments: DepartmentsStandIn) -> SignedInCitizen:
    """A real-named citizen (实名) whose ID number has an unpaid fine at 交管, which checks our signatures by the
    keys our live server publishes."""
    departments.client_keys_at(f"{live_server}/.well-known/jwks.json")
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="陈美玲", id_number=next(_next_fined))
    return citizen


async def at_department(app, citizen: SignedInCitizen, number: str) -> str:
    """The fine's status as 交管's violations/v1 answers it now."""
    id_number = await verified_id_number(app.ctx.services.exchange.platform, citizen.id)
    reply = await app.ctx.services.exchange.call(TPB_VIOLATIONS, citizen.id, "citizen_request", {"subject": {"id_number": id_number}})
    return next(i["status"] for i in reply["items"] if i["reference"] == number)


async def settlement_messages() -> list[ExchangeMessage]:
    return list(await ExchangeMessage.filter(service=TPB_SETTLEMENTS).order_by("at"))


async def told_paid(payment_id: str) -> bool:
    receipt = await Receipt.get_or_none(payment_id=payment_id)
    return receipt is not None and receipt.settlement_told_at is not None


async def test_a_fine_paid_through_us_is_paid_at_the_department_and_a_full_refund_makes_it_due_there_again(
        app, client, payer, wechatpay, payments_admin, departments):
    payment = await pay_a_fine(client, payer, wechatpay)
    number = payment["reference"].split(":", 1)[1]
    await wait_for(lambda: told_paid(payment["id"]))

    assert await at_department(app, payer, number) == "paid"
    [row] = await settlement_messages()
    assert (row.purpose, row.status, row.fault, row.attempt) == ("settlement", 200, None, 1)
    [theirs] = departments.messages(row.message_id)
    assert (theirs["purpose"], theirs["status"], theirs["user"], theirs["request_hash"], theirs["response_sha256"]) == \
        ("settlement", 200, row.user, row.request_hash, row.response_hash)
    # 交管 lists it as paid now, and the citizen trying to pay it again is told so, not that it does not exist.
    again = await start_payment(client, payer, payment, key="tap-0002-abcdef")
    assert again.status_code == 409 and again.json()["error"]["code"] == "REFERENCE_ALREADY_PAID", again.text

    await refunded(client, payments_admin, payer, payment)

    assert await at_department(app, payer, number) == "unpaid"
    assert [(m.purpose, m.status) for m in await settlement_messages()] == [("settlement", 200)] * 2
    assert (await Receipt.get(payment_id=payment["id"])).reversal_told_at is not None
    assert (await payable(client, payer, payment["reference"]))["paid"] is False  # owed again, as 交管 says


async def test_a_department_down_when_the_fine_is_paid_is_told_by_the_settle_job_once(
        app, client, payer, wechatpay, departments, clock):
    payment = (await start_payment(client, payer, await first_fine(client, payer))).json()
    number = payment["reference"].split(":", 1)[1]
    departments.behave("fail", department="tpb", count=1)  # 交管's next reply, to our settlement: 500
    wechatpay.pay(payment["id"])

    async def tried() -> bool:
        return bool(await settlement_messages())

    await wait_for(tried)
    assert (await Payment.get(id=payment["id"])).state == "success"  # the payment stands
    [failed] = await settlement_messages()
    assert (failed.status, failed.fault) == (500, "Server.ServerProxy.InternalError")  # a write: not sent twice
    assert not await told_paid(payment["id"])
    assert await at_department(app, payer, number) == "unpaid"

    await past_the_settle_time(app, clock)
    await app.ctx.services.payments.settle_unnotified()
    await app.ctx.services.payments.settle_unnotified()  # told once, not at every run

    assert await told_paid(payment["id"])
    assert await at_department(app, payer, number) == "paid"
    assert [(m.status, m.fault) for m in await settlement_messages()] == [(500, "Server.ServerProxy.InternalError"),
                                                                         (200, None)]
    theirs = [m["status"] for m in departments.messages() if m["service"] == TPB_SETTLEMENTS]
    assert theirs == [200, 500]  # newest first


async def test_a_settlement_the_department_refuses_is_not_sent_again_and_opens_a_case(
        app, client, payer, wechatpay, departments, clock):
    payment = (await start_payment(client, payer, await first_fine(client, payer))).json()
    departments.authorise(TPB_SETTLEMENTS, [])  # 交管 withdrew our authorisation to settle its fines

    wechatpay.pay(payment["id"])
    await wait_for(lambda: Receipt.exists(payment_id=payment["id"], licence_id__not_isnull=True))  # notice handled
    await app.ctx.services.payments.told()

    assert (await Payment.get(id=payment["id"])).state == "success"  # the payment stands
    [refused] = await settlement_messages()
    assert (refused.status, refused.fault) == (403, "Client.PurposeNotAuthorised")
    receipt = await Receipt.get(payment_id=payment["id"])
    assert receipt.settlement_told_at is None and receipt.settlement_refused_at is not None
    [case] = await DiscrepancyCase.filter(kind="settlement_refused")
    assert (case.reference, case.status) == (payment["reference"], "open")  # the payments office takes it up
    assert await AuditEntry.filter(action="settlement_refused", subject_id=payer.id).exists()

    await past_the_settle_time(app, clock)
    await app.ctx.services.payments.settle_unnotified()

    assert len(await settlement_messages()) == 1  # asking again would be refused again: not asked


async def test_a_settlement_our_own_registry_refuses_is_told_once_the_registry_is_put_right(
        app, client, payer, wechatpay, departments, clock):
    payment = (await start_payment(client, payer, await first_fine(client, payer))).json()
    registered = app.ctx.services.exchange.registrations[TPB_SETTLEMENTS]
    app.ctx.services.exchange.registrations[TPB_SETTLEMENTS] = replace(registered, purposes=frozenset())  # an operator's slip

    wechatpay.pay(payment["id"])
    await wait_for(lambda: Receipt.exists(payment_id=payment["id"], licence_id__not_isnull=True))  # notice handled
    await app.ctx.services.payments.told()

    receipt = await Receipt.get(payment_id=payment["id"])
    assert receipt.settlement_told_at is None and receipt.settlement_refused_at is None  # not 交管's refusal
    assert await settlement_messages() == [] and not await DiscrepancyCase.exists()

    app.ctx.services.exchange.registrations[TPB_SETTLEMENTS] = registered  # put right
    await past_the_settle_time(app, clock)
    await app.ctx.services.payments.settle_unnotified()

    assert await told_paid(payment["id"])
    assert [(m.status, m.fault) for m in await settlement_messages()] == [(200, None)]


async def test_a_department_down_while_the_citizen_pays_a_fine_answers_503_with_retry_after(
        app, client, payer, wechatpay, departments):
    fine = await first_fine(client, payer)
    departments.behave("fail", department="tpb", count=0)  # 交管 answers 500 until calmed

    reply = await start_payment(client, payer, fine)

    assert reply.status_code == 503, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["retry_after"]) == ("DEPARTMENT_UNAVAILABLE", DEFAULT_RETRY_AFTER)
    assert reply.headers["Retry-After"] == str(DEFAULT_RETRY_AFTER)
    assert f"{DEFAULT_RETRY_AFTER} 秒后再试" in error["message"]
    assert await Payment.all().count() == 0  # nothing is created while what is owed cannot be read
    read = await ExchangeMessage.filter(service=TPB_VIOLATIONS).order_by("at").values_list("attempt", "status")
    assert read[-2:] == [(1, 500), (2, 500)]  # a read, sent again once, then given up

    departments.calm()
    again = await start_payment(client, payer, fine)
    assert again.status_code == 201, again.text
