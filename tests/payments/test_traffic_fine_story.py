"""A citizen's traffic fine, end to end against the stand-in 交管 and the stand-in WeChat Pay gateway: they list
their violations (GET /api/v1/traffic/violations), pay the unpaid one by the reference it names, through WeChat
Pay, and afterwards 交管 holds it paid (told through settlements/v1): the violations list says so and names no
reference to pay any more."""

from __future__ import annotations

import httpx
import pytest

from app.departments.exchange_services import TPB_SETTLEMENTS
from app.integrations.exchange.models import ExchangeMessage
from app.payments.models import Payment, Receipt
from standins.departments import tpb
from standins.departments.control import DepartmentsStandIn
from standins.departments.server import beijing_today
from tests.factories import SignedInCitizen, sign_in, valid_id_number, verify_real_name
from tests.payments.conftest import start_payment, wait_for

pytestmark = pytest.mark.departments

VIOLATIONS = "/api/v1/traffic/violations"


def _one_fine() -> str:
    """A sample person 交管 holds exactly one unpaid violation of."""
    for sequence in range(500, 1000):
        number = valid_id_number(sequence=f"{sequence:03d}")
        if tpb.violations(number, beijing_today(), {})["count"] == 1:
            return number
    raise AssertionError("no sample person with one fine")


@pytest.fixture
async def driver(client, sms, live_server: str, departments: DepartmentsStandIn) -> SignedInCitizen:
    """A real-named citizen (实名) with one unpaid fine at 交管, which checks our signatures by the keys our live
    server publishes."""
    departments.client_keys_at(f"{live_server}/.well-known/jwks.json")
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="陈美玲", id_number=_one_fine())
    return citizen


async def violations(client: httpx.AsyncClient, citizen: SignedInCitizen) -> dict:
    reply = await client.get(VIOLATIONS, headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_the_citizen_pays_a_listed_fine_through_wechat_pay_and_then_sees_it_paid(client, driver, wechatpay,
                                                                                      departments):
    before = await violations(client, driver)
    [fine] = before["items"]
    assert (before["count"], fine["status"], fine["payable_reference"]) == \
        (1, "unpaid", f"traffic_fine:{fine['decision_number']}")

    started = await start_payment(client, driver, {"reference": fine["payable_reference"], "amount_fen": fine["fine_fen"],
                                                   "description": f"交通违法罚款 {fine['decision_number']}"})
    assert started.status_code == 201, started.text
    payment = started.json()
    wechatpay.pay(payment["id"])

    async def told() -> bool:
        receipt = await Receipt.get_or_none(payment_id=payment["id"])
        return receipt is not None and receipt.settlement_told_at is not None

    await wait_for(told)
    assert (await Payment.get(id=payment["id"])).state == "success"

    after = await violations(client, driver)
    [paid] = after["items"]
    assert (after["count"], after["fines_fen"], after["points"]) == (0, 0, 0)
    assert (paid["decision_number"], paid["status"], paid["status_name"], paid["payable_reference"]) == \
        (fine["decision_number"], "paid", "已缴款", None)
    one = await client.get(f"{VIOLATIONS}/{fine['decision_number']}", headers=driver.headers)
    assert one.json()["status"] == "paid"

    # 交管 heard of it through settlements/v1, and both logs of that exchange agree.
    [row] = await ExchangeMessage.filter(service=TPB_SETTLEMENTS)
    assert (row.purpose, row.status, row.fault) == ("settlement", 200, None)
    [theirs] = departments.messages(row.message_id)
    assert (theirs["purpose"], theirs["status"], theirs["user"], theirs["request_hash"], theirs["response_sha256"]) == \
        ("settlement", 200, row.user, row.request_hash, row.response_hash)

    again = await start_payment(client, driver, {"reference": fine["payable_reference"], "amount_fen": fine["fine_fen"],
                                                 "description": f"交通违法罚款 {fine['decision_number']}"},
                                key="tap-0002-abcdef")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "REFERENCE_ALREADY_PAID")  # nothing more owed


async def test_a_fine_paid_while_jiaoguan_cannot_be_told_shows_paid_at_once_and_owes_nothing(client, driver, wechatpay,
                                                                                            departments):
    [fine] = (await violations(client, driver))["items"]
    started = await start_payment(client, driver, {"reference": fine["payable_reference"], "amount_fen": fine["fine_fen"],
                                                   "description": f"交通违法罚款 {fine['decision_number']}"})
    departments.behave("fail", department="tpb", count=1)  # 交管's next reply, to our settlement: 500
    wechatpay.pay(started.json()["id"])

    async def tried() -> bool:
        return await ExchangeMessage.filter(service=TPB_SETTLEMENTS).exists()

    await wait_for(tried)
    after = await violations(client, driver)

    [paid] = after["items"]  # 交管 still lists it unpaid; the citizen is told it is paid and being written off
    assert (paid["status"], paid["status_name"], paid["payable_reference"], paid["overdue"]) == \
        ("paid", "已缴款（交管销账中）", None, False)
    assert (after["count"], after["fines_fen"]) == (0, 0)
