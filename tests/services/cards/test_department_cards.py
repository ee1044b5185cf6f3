"""The home cards of 住房公积金, 社会保险 and 交通违法 read through the department data exchange, from the stand-in
departments' process (standins/departments/) registered in APP_EXCHANGE_REGISTRY: the figures are the
department's for the citizen's verified ID number, both message logs agree, a reply that does not verify is
never shown, and a citizen without 实名 sends nothing to any department."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from app.audit import AuditEntry
from app.integrations.exchange.models import ExchangeMessage
from app.services.cards.backends import BackendError
from app.departments.exchange_services import (HPF_ACCOUNT, HRSS_PENSION_CERTIFICATION, HRSS_RIGHTS_RECORD,
                                               NHSA_MEDICAL_ACCOUNT, TPB_VIOLATIONS)
from app.services.cards.department_cards import exchange_backends
from standins.departments import hpf, hrss, nhsa, tpb
from standins.departments.server import beijing_today
from tests.factories import sign_in, valid_id_number, verify_real_name

pytestmark = pytest.mark.departments

HOME = "/api/v1/home"
CARDS = "/api/v1/home/cards"
THREE = ["provident_fund", "social_security", "traffic_violations"]
SERVICES = {"provident_fund": HPF_ACCOUNT, "social_security": HRSS_RIGHTS_RECORD, "traffic_violations": TPB_VIOLATIONS}


def _people() -> Iterator[str]:
    """ID numbers of adults with a provident fund account and unpaid traffic fines at the stand-ins, so that
    every figure of the three cards is a department's, not a zero."""
    today = beijing_today()
    for sequence in range(100, 1000):
        number = valid_id_number(sequence=f"{sequence:03d}")
        if hpf.account(number, today, {})["has_account"] and tpb.violations(number, today, {})["count"]:
            yield number


_person = _people()


async def verified(client, sms) -> tuple[Any, str]:
    citizen = await sign_in(client, sms)
    id_number = next(_person)
    await verify_real_name(client, citizen, id_number=id_number)
    reply = await client.put(CARDS, headers=citizen.headers, json={"types": THREE})
    assert reply.status_code == 200, reply.text
    return citizen, id_number


async def home(client, citizen) -> dict[str, dict[str, Any]]:
    reply = await client.get(HOME, headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return {c["type"]: c for c in reply.json()["cards"]}


def expected(id_number: str) -> dict[str, Any]:
    """What the departments answer for this ID number, worded as the cards word it."""
    today = beijing_today()
    account = hpf.account(id_number, today, {})
    record = hrss.rights_record(id_number, today, {})
    fines = tpb.violations(id_number, today, {})
    return {
        "provident_fund": f"账户余额 ¥{account['balance_fen'] / 100:,.2f} · 月缴存 ¥{account['monthly_deposit_fen'] / 100:,.2f}",
        "social_security": f"养老保险累计缴费 {record['pension']['months_total']} 个月 · "
                           f"个人账户 ¥{record['pension']['personal_account_fen'] / 100:,.2f}",
        "traffic_violations": f"未处理违法 {fines['count']} 条 · 罚款 ¥{fines['fines_fen'] / 100:,.2f} · "
                              f"记 {fines['points']} 分",
    }


async def test_the_cards_show_the_departments_figures_and_both_message_logs_agree(client, sms, app, departments_live, departments):
    citizen, id_number = await verified(client, sms)

    cards = await home(client, citizen)

    assert {name: cards[name]["status"] for name in THREE} == {name: "ok" for name in THREE}
    assert {name: cards[name]["summary"] for name in THREE} == expected(id_number)
    ours = {row.service: row for row in await ExchangeMessage.all()}
    assert set(ours) == set(SERVICES.values())
    for row in ours.values():
        [theirs] = departments.messages(row.message_id)
        assert (row.purpose, row.status, row.fault, row.represented_party) == ("home_card", 200, None, "")
        assert (theirs["service"], theirs["purpose"], theirs["user"]) == (row.service, "home_card", row.user)
        assert (theirs["request_hash"], theirs["response_sha256"], theirs["status"]) == \
            (row.request_hash, row.response_hash, row.status)
    # The citizen's own cards: nobody else read their data, so their access log has nothing of it.
    assert not await AuditEntry.filter(category="access", subject_id=citizen.id).exists()

    again = await home(client, citizen)  # fresh for their TTL: the departments are not asked again
    assert {name: again[name]["summary"] for name in THREE} == expected(id_number)
    assert await ExchangeMessage.all().count() == 3


async def test_a_fine_to_pay_is_the_departments_and_read_because_the_citizen_asked(client, sms, app, departments_live, departments):
    citizen, id_number = await verified(client, sms)
    unpaid = [i["reference"] for i in tpb.violations(id_number, beijing_today(), {})["items"] if i["status"] == "unpaid"]

    payables = await app.ctx.services.payments.payables.of(citizen.id)

    assert [p.reference for p in payables if p.kind == "traffic_fine"] == [f"traffic_fine:{n}" for n in unpaid]
    [row] = await ExchangeMessage.filter(service=TPB_VIOLATIONS)
    assert row.purpose == "citizen_request" == departments.messages(row.message_id)[0]["purpose"]


async def test_a_reply_with_a_bad_signature_is_never_shown(client, sms, app, departments_live, departments, clock):
    citizen, id_number = await verified(client, sms)
    departments.behave("bad_signature", department="hpf", count=0)

    cards = await home(client, citizen)

    assert cards["provident_fund"]["status"] == "unavailable"
    assert cards["provident_fund"]["summary"] == "暂时无法获取，请稍后再试"
    assert cards["social_security"]["status"] == "ok"  # the other departments still answer
    [row] = await ExchangeMessage.filter(service=HPF_ACCOUNT)
    assert (row.status, row.fault) == (200, "Server.ClientProxy.InvalidSignature")

    departments.calm()
    clock.advance(31)  # past the exchange's and the card's breaker, were either open
    good = await home(client, citizen)
    assert good["provident_fund"]["summary"] == expected(id_number)["provident_fund"]
    departments.behave("bad_signature", department="hpf", count=0)
    clock.advance(601)  # past the card's freshness: shown at once while asked again, and the reply does not verify
    refreshing = await home(client, citizen)
    assert refreshing["provident_fund"]["notice"] == "正在更新，显示的是此前的数据"
    await app.ctx.services.cards.refreshed()

    stale = await home(client, citizen)

    assert stale["provident_fund"]["status"] == "stale"
    assert stale["provident_fund"]["summary"] == expected(id_number)["provident_fund"]  # the last good value
    assert stale["provident_fund"]["notice"] == "暂时无法刷新，显示的是此前的数据"
    faults = await ExchangeMessage.filter(service=HPF_ACCOUNT).order_by("at").values_list("fault", flat=True)
    assert faults == ["Server.ClientProxy.InvalidSignature", None, "Server.ClientProxy.InvalidSignature"]


async def test_a_hanging_department_never_holds_the_home_screen_past_the_card_timeout(
        client, sms, app, departments_live, departments):
    citizen, id_number = await verified(client, sms)
    departments.behave("hang", department="hpf", count=0)  # 公积金 takes the request and never answers

    started = time.perf_counter()
    cards = await home(client, citizen)
    elapsed = time.perf_counter() - started

    timeout = app.ctx.services.settings.cards.timeout
    assert elapsed < timeout + 1.0  # one card's timeout, not the department's ten minutes
    assert cards["provident_fund"]["status"] == "unavailable"
    assert {cards[name]["status"] for name in ("social_security", "traffic_violations")} == {"ok"}
    [row] = await ExchangeMessage.filter(service=HPF_ACCOUNT)
    assert row.fault in ("Server.ClientProxy.Timeout", "Server.ClientProxy.Cancelled")  # logged, whoever cut it


async def test_a_purpose_the_department_withdrew_is_refused_there_and_logged_at_both_ends(
        client, sms, app, departments_live, departments):
    citizen, id_number = await verified(client, sms)
    departments.authorise(HPF_ACCOUNT, ["citizen_request"])  # 公积金 no longer lets us read it for home cards

    cards = await home(client, citizen)

    assert cards["provident_fund"]["status"] == "unavailable"  # never shown as data
    [row] = await ExchangeMessage.filter(service=HPF_ACCOUNT)
    assert (row.purpose, row.status, row.fault) == ("home_card", 403, "Client.PurposeNotAuthorised")
    [theirs] = departments.messages(row.message_id)
    assert (theirs["purpose"], theirs["status"], theirs["fault"], theirs["request_hash"]) == \
        ("home_card", 403, "Client.PurposeNotAuthorised", row.request_hash)


async def test_a_citizen_without_real_name_sends_nothing_to_the_departments(client, sms, app, departments_live, departments):
    citizen = await sign_in(client, sms)
    reply = await client.put(CARDS, headers=citizen.headers, json={"types": THREE})
    assert reply.status_code == 200, reply.text

    cards = await home(client, citizen)

    assert {name: cards[name]["status"] for name in THREE} == {name: "locked" for name in THREE}
    assert all("¥" not in cards[name]["summary"] for name in THREE)
    for name in THREE:  # asked all the same (a payment list, a card after a lost verification): nothing to ask by
        with pytest.raises(BackendError):
            await app.ctx.services.card_backends[name].fetch(citizen.id)
    assert await ExchangeMessage.all().count() == 0
    assert departments.messages() == []


def _pensioner() -> str:
    """A retired person with a personal medical account whose pension check for this year is not done yet."""
    today = beijing_today()
    for sequence in range(100, 1000):
        number = valid_id_number(birth="19550612", sequence=f"{sequence:03d}")
        if nhsa.medical_account(number, today, {})["personal_account_fen"] and \
                not hrss.pension_certification(number, today, {})["certified_this_year"]:
            return number
    raise AssertionError("no such sample pensioner")


async def test_the_medical_account_and_the_pension_check_are_the_departments(client, sms, app, departments_live,
                                                                             departments):
    citizen = await sign_in(client, sms)
    id_number = _pensioner()
    await verify_real_name(client, citizen, id_number=id_number)
    both = ["medical_insurance", "pension_certification"]
    assert (await client.put(CARDS, headers=citizen.headers, json={"types": both})).status_code == 200

    cards = await home(client, citizen)

    balance = nhsa.medical_account(id_number, beijing_today(), {})["personal_account_fen"] / 100
    assert cards["medical_insurance"]["summary"] == f"医保个人账户余额 ¥{balance:,.2f}"
    assert cards["pension_certification"]["summary"] == "本年度尚未认证，请在 12月31日 前完成刷脸认证"
    rows = {row.service: row for row in await ExchangeMessage.all()}
    assert set(rows) == {NHSA_MEDICAL_ACCOUNT, HRSS_PENSION_CERTIFICATION}
    for row in rows.values():
        assert departments.messages(row.message_id)[0]["purpose"] == row.purpose == "home_card"


async def test_someone_drawing_no_pension_is_told_no_check_is_needed(client, sms, app, departments_live, departments):
    citizen, _ = await verified(client, sms)  # born 1990: working, no pension
    assert (await client.put(CARDS, headers=citizen.headers, json={"types": ["pension_certification"]})).status_code == 200

    cards = await home(client, citizen)

    assert cards["pension_certification"]["summary"] == "您未领取养老金，无需资格认证"


def test_without_an_exchange_no_card_is_read_through_it() -> None:
    assert exchange_backends(None) == {}  # the composition root keeps the in-process samples
