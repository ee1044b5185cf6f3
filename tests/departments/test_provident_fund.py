"""住房公积金 through the data exchange, from the stand-in fund centre (standins/departments/hpf.py): the account,
one year's entries and withdrawal eligibility as the centre answers them, and a withdrawal (租房提取) applied for
through 办件 whose 秒批 rules read the centre's answer (purpose eligibility_check): approved at once for an
eligible person, sent to a clerk naming the rule for one who fails it, and stored for the clerk, not lost, when
the centre is down at submission."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from app.departments.exchange_services import HPF_ACCOUNT, HPF_DEPOSITS, HPF_WITHDRAWAL_ELIGIBILITY
from app.integrations.exchange.models import ExchangeMessage
from app.services.applications import approval
from app.services.applications.models import Application
from app.services.catalogue.models import ServiceItem
from standins.departments import hpf
from standins.departments.server import beijing_today
from tests.uploads.upload_factory import scanned_png, uploaded
from tests.factories import make_department, sign_in, valid_id_number, verify_real_name

pytestmark = pytest.mark.departments

FUND = "/api/v1/provident-fund"
APPLICATIONS = "/api/v1/applications"
RENT_ITEM = "gz-gjj-003"  # 租房提取住房公积金 (sample catalogue): 秒批 reads the fund centre's eligibility


_scans: dict[tuple[str, str], str] = {}


async def id_card(client, citizen, key: str = "") -> dict[str, str]:
    """The ID card the citizen scanned and uploaded (sample), named as the material: the same upload for every
    request under one Idempotency-Key, so that a retry is the same request."""
    place = (citizen.access_token, key)
    if not key or place not in _scans:
        _scans[place] = await uploaded(client, citizen, scanned_png())
    return {"name": "居民身份证", "upload_ref": _scans[place]}


def people(fits: Callable[[str], bool]) -> Iterator[str]:
    """Sample ID numbers (示例) whose records at the stand-in fund centre fit."""
    for sequence in range(100, 1000):
        number = valid_id_number(sequence=f"{sequence:03d}")
        if fits(number):
            yield number


def rent(number: str) -> dict[str, Any]:
    return hpf.withdrawal_eligibility(number, beijing_today(), {"reason": "rent"})


def has_account(number: str) -> bool:
    return hpf.account(number, beijing_today(), {})["has_account"]


def eligible(number: str) -> bool:
    answer = rent(number)
    return answer["eligible"] and answer["max_amount_fen"] > 0


def not_paid_3_months(number: str) -> bool:
    return has_account(number) and [r["code"] for r in rent(number)["reasons"] if not r["met"]] == ["paid_3_months"]


async def verified(client, sms, fits: Callable[[str], bool] = has_account) -> tuple[Any, str]:
    citizen = await sign_in(client, sms)
    id_number = next(people(fits))
    await verify_real_name(client, citizen, id_number=id_number)
    return citizen, id_number


async def withdraw(client, citizen, amount_fen: Any, key: str = "withdraw-0001") -> Any:
    return await client.post(APPLICATIONS, headers={**citizen.headers, "Idempotency-Key": key},
                             json={"item_id": RENT_ITEM, "form": {"amount_fen": amount_fen, "联系电话": "13900000000"},
                                   "materials": [await id_card(client, citizen, key)]})


def both_logs_agree(departments, row: ExchangeMessage, purpose: str) -> None:
    [theirs] = departments.messages(row.message_id)
    assert (row.purpose, theirs["purpose"], theirs["service"], theirs["user"]) == \
        (purpose, purpose, row.service, row.user)
    assert (theirs["request_hash"], theirs["response_sha256"], theirs["status"]) == \
        (row.request_hash, row.response_hash, row.status)


# -- reading the account -------------------------------------------------------------------------------------
async def test_the_account_is_the_centres_with_the_number_masked(client, sms, departments_live, departments):
    citizen, id_number = await verified(client, sms)
    theirs = hpf.account(id_number, beijing_today(), {})

    reply = await client.get(FUND, headers=citizen.headers)

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert {k: body[k] for k in ("centre", "balance_fen", "monthly_deposit_fen", "paid_up_to", "employer",
                                 "last_interest_fen", "opened_on", "sample")} == \
        {k: theirs[k] for k in ("centre", "balance_fen", "monthly_deposit_fen", "paid_up_to", "employer",
                                "last_interest_fen", "opened_on", "sample")}
    assert body["status"] == theirs["status"] and body["status_text"] == theirs["status_name"]
    number = theirs["account_no"]
    assert body["account_no_masked"] == number[0] + "*" * (len(number) - 5) + number[-4:]
    assert number not in reply.text
    [row] = await ExchangeMessage.all()
    assert row.service == HPF_ACCOUNT
    both_logs_agree(departments, row, "citizen_request")


async def test_the_account_status_reads_in_english_too(client, sms, departments_live):
    citizen, id_number = await verified(client, sms)
    status = hpf.account(id_number, beijing_today(), {})["status"]

    reply = await client.get(FUND, headers={**citizen.headers, "Accept-Language": "en"})

    assert reply.json()["status_text"] == {"normal": "Active", "sealed": "Sealed (no deposits)"}[status]


async def test_no_account_reads_as_such(client, sms, departments_live):
    citizen, _ = await verified(client, sms, lambda n: not has_account(n))

    body = (await client.get(FUND, headers=citizen.headers)).json()

    assert (body["has_account"], body["status"], body["status_text"], body["balance_fen"]) == (False, "none", "未开户", 0)


async def test_a_years_entries_and_totals_are_the_centres(client, sms, departments_live, departments):
    citizen, id_number = await verified(client, sms)
    year = beijing_today().year - 1
    theirs = hpf.deposits(id_number, beijing_today(), {"year": year})

    reply = await client.get(f"{FUND}/deposits", headers=citizen.headers, params={"year": str(year)})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["items"] == theirs["items"] and body["items"]
    assert {e["type"] for e in body["items"]} <= {"deposit", "interest", "withdrawal"}
    for total in ("opening_balance_fen", "closing_balance_fen", "deposit_total_fen", "withdrawal_total_fen",
                  "interest_fen"):
        assert body[total] == theirs[total], total
    assert body["year"] == year and body["sample"] is True
    [row] = await ExchangeMessage.all()
    assert row.service == HPF_DEPOSITS


@pytest.mark.parametrize("year", ["1989", "2999", "20x5", "１９９５", "2024.0"])
async def test_a_year_that_is_not_one_is_422_and_asks_nobody(client, sms, departments_live, year):
    citizen, _ = await verified(client, sms)

    reply = await client.get(f"{FUND}/deposits", headers=citizen.headers, params={"year": year})

    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"
    assert reply.json()["error"]["fields"][0]["field"] == "year"
    assert not await ExchangeMessage.exists()


async def test_eligibility_names_each_rule_and_the_maximum(client, sms, departments_live):
    citizen, id_number = await verified(client, sms, not_paid_3_months)
    theirs = rent(id_number)

    reply = await client.get(f"{FUND}/withdrawal-eligibility", headers=citizen.headers, params={"reason": "rent"})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["reason"], body["reason_text"], body["eligible"], body["max_amount_fen"]) == \
        ("rent", "租赁住房提取", False, 0)
    assert body["rules"] == [{"code": r["code"], "met": r["met"], "text": r["text"]} for r in theirs["reasons"]]
    assert {"code": "paid_3_months", "met": False, "text": "连续足额缴存满3个月"} in body["rules"]
    english = await client.get(f"{FUND}/withdrawal-eligibility", params={"reason": "rent"},
                               headers={**citizen.headers, "Accept-Language": "en"})
    assert {"code": "paid_3_months", "met": False, "text": "Deposits paid in full for the last 3 months"} in \
        english.json()["rules"]


async def test_an_eligible_person_sees_the_maximum(client, sms, departments_live):
    citizen, id_number = await verified(client, sms, eligible)

    body = (await client.get(f"{FUND}/withdrawal-eligibility", headers=citizen.headers,
                             params={"reason": "rent"})).json()

    assert body["eligible"] is True and body["max_amount_fen"] == rent(id_number)["max_amount_fen"] > 0
    assert all(r["met"] for r in body["rules"])


@pytest.mark.parametrize("reason", ["holiday", "", "RENT"])
async def test_another_reason_is_422_and_asks_nobody(client, sms, departments_live, reason):
    citizen, _ = await verified(client, sms)

    reply = await client.get(f"{FUND}/withdrawal-eligibility", headers=citizen.headers, params={"reason": reason})

    assert reply.status_code == 422 and reply.json()["error"]["fields"][0]["field"] == "reason"
    assert not await ExchangeMessage.exists()


@pytest.mark.parametrize("path", ["", "/deposits?year=2024", "/withdrawal-eligibility?reason=rent"])
async def test_without_real_name_it_is_403_and_nothing_is_sent(client, sms, departments_live, path):
    citizen = await sign_in(client, sms)

    reply = await client.get(f"{FUND}{path}", headers=citizen.headers)

    assert reply.status_code == 403 and reply.json()["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert not await ExchangeMessage.exists()


async def test_the_centre_down_is_503_with_retry_after(client, sms, departments_live, departments):
    citizen, _ = await verified(client, sms)
    departments.behave("fail", department="hpf", count=0)

    reply = await client.get(FUND, headers=citizen.headers)

    assert reply.status_code == 503 and reply.json()["error"]["code"] == "DEPARTMENT_UNAVAILABLE"
    assert int(reply.headers["Retry-After"]) >= 1


# -- a withdrawal through 办件 -------------------------------------------------------------------------------
async def test_an_eligible_withdrawal_is_approved_by_miaopi_from_the_centres_answer(client, sms, departments_live,
                                                                                   departments):
    citizen, id_number = await verified(client, sms, eligible)
    amount = min(rent(id_number)["max_amount_fen"], 300_000)

    reply = await withdraw(client, citizen, amount)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "completed" and body["decision"]["auto_approved"] is True
    assert body["decision"]["reason"] == "all_rules_passed"
    assert [(r["value"], r["passed"]) for r in body["decision"]["rules"][1:]] == [
        ("account_open", True), ("normal", True), ("paid_3_months", True), ("interval", True),
        ("amount_within_limit", True)]
    texts = [r["text"] for r in body["decision"]["rules"]]
    assert texts[:5] == ["已完成实名认证", "已开立住房公积金个人账户", "账户处于正常缴存状态", "连续足额缴存满3个月",
                         "距上次租房提取满3个月"]
    assert texts[5].startswith(f"申请提取金额 ¥{amount / 100:,.2f} 不超过可提取额度")
    # The centre was asked once why: 秒批 (eligibility_check); both logs agree on it.
    [row] = await ExchangeMessage.filter(service=HPF_WITHDRAWAL_ELIGIBILITY)
    both_logs_agree(departments, row, "eligibility_check")
    # The 缴存证明 came from the centre too (免提交), for the application.
    proof = next(m for m in body["materials"] if m["name"] == "住房公积金缴存证明")
    assert (proof["source"], proof["department"], proof["service"], proof["fetched"]) == \
        ("department", "hpf", HPF_ACCOUNT, True)
    [material_row] = await ExchangeMessage.filter(service=HPF_ACCOUNT)
    both_logs_agree(departments, material_row, "material_prefill")


async def test_a_person_failing_a_rule_goes_to_the_clerk_with_that_rule_named(client, sms, departments_live, clock):
    citizen, id_number = await verified(client, sms, not_paid_3_months)

    reply = await withdraw(client, citizen, 100_000)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "under_review" and body["decision"]["auto_approved"] is False
    assert body["decision"]["reason"] == "rule_failed"
    failed = [(r["value"], r["text"]) for r in body["decision"]["rules"] if not r["passed"]]
    assert failed[0] == ("paid_3_months", "连续足额缴存满3个月")
    assert [value for value, _ in failed] == ["paid_3_months", "amount_within_limit"]  # the maximum is 0 now
    clerk = await make_department(clock, "广州住房公积金管理中心办件窗口（示例）", ["clerk"], department_id="gz-gjj")
    queue = await client.get("/api/admin/v1/applications", headers=clerk.headers())
    assert [a["id"] for a in queue.json()["items"]] == [body["id"]]
    # The clerk reads the centre's 缴存证明 that came with it, the account number masked.
    opened = (await client.get(f"/api/admin/v1/applications/{body['id']}", headers=clerk.headers())).json()
    proof = next(m for m in opened["materials"] if m["name"] == "住房公积金缴存证明")
    theirs = hpf.account(id_number, beijing_today(), {})
    assert proof["content"]["balance_fen"] == theirs["balance_fen"]
    assert proof["content"]["account_no"] != theirs["account_no"] and proof["content"]["account_no"].endswith(
        theirs["account_no"][-4:])


async def test_more_than_the_maximum_goes_to_the_clerk_naming_the_amount(client, sms, departments_live):
    citizen, id_number = await verified(client, sms, eligible)
    most = rent(id_number)["max_amount_fen"]

    body = (await withdraw(client, citizen, most + 1)).json()

    assert body["status"] == "under_review"
    [failed] = [r for r in body["decision"]["rules"] if not r["passed"]]
    assert failed["value"] == "amount_within_limit"
    assert failed["text"] == f"申请提取金额 ¥{(most + 1) / 100:,.2f} 不超过可提取额度 ¥{most / 100:,.2f}"


async def test_a_retired_person_withdraws_by_miaopi_on_the_retirement_item(client, sms, departments_live, departments):
    citizen = await sign_in(client, sms)
    id_number = next(n for n in (valid_id_number(birth="19560307", sequence=f"{s:03d}") for s in range(100, 1000))
                     if hpf.withdrawal_eligibility(n, beijing_today(), {"reason": "retirement"})["eligible"])
    await verify_real_name(client, citizen, id_number=id_number)
    balance = hpf.withdrawal_eligibility(id_number, beijing_today(), {"reason": "retirement"})["max_amount_fen"]

    reply = await client.post(APPLICATIONS, headers={**citizen.headers, "Idempotency-Key": "retire-0001"},
                              json={"item_id": "gz-gjj-005", "form": {"amount_fen": balance},
                                    "materials": [await id_card(client, citizen)]})

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "completed" and body["decision"]["auto_approved"] is True
    assert body["decision"]["rules"][2]["text"] in ("已达法定退休年龄（60周岁）", "已达法定退休年龄（55周岁）")
    [row] = await ExchangeMessage.filter(service=HPF_WITHDRAWAL_ELIGIBILITY)
    both_logs_agree(departments, row, "eligibility_check")


@pytest.mark.parametrize("amount", [None, 0, -5, "1000", 12.5, True])
async def test_a_withdrawal_without_a_whole_amount_is_422_and_asks_nobody(client, sms, departments_live, amount):
    citizen, _ = await verified(client, sms)

    reply = await withdraw(client, citizen, amount)

    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["fields"][0]["field"] == "form.amount_fen"
    assert not await ExchangeMessage.exists() and not await Application.exists()


async def test_the_centre_down_at_submission_keeps_the_application_for_the_clerk(client, sms, departments_live,
                                                                               departments, clock):
    """A citizen who submitted a complete application expects it to be kept: it goes to the clerk without 秒批,
    the decision saying the centre could not be asked; nothing is lost and nobody is told to come back."""
    citizen, _ = await verified(client, sms, eligible)
    departments.behave("fail", department="hpf", count=0)

    reply = await withdraw(client, citizen, 100_000)

    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["status"] == "under_review" and body["decision"]["auto_approved"] is False
    assert body["decision"]["reason"] == "department_unavailable"
    gaps = {(g["purpose"], g.get("material")): g["error"] for g in body["decision"]["department_gaps"]}
    assert gaps == {("eligibility_check", None): "DEPARTMENT_UNAVAILABLE",
                    ("material_prefill", "住房公积金缴存证明"): "DEPARTMENT_UNAVAILABLE"}
    assert not any(r["passed"] for r in body["decision"]["rules"][1:])  # the centre's rules could not be checked
    proof = next(m for m in body["materials"] if m["name"] == "住房公积金缴存证明")
    assert (proof["fetched"], proof["error"]) == (False, "DEPARTMENT_UNAVAILABLE")
    assert await Application.filter(id=body["id"], status="under_review").exists()
    clerk = await make_department(clock, "广州住房公积金管理中心办件窗口（示例）", ["clerk"], department_id="gz-gjj")
    opened = await client.get(f"/api/admin/v1/applications/{body['id']}", headers=clerk.headers())
    assert opened.status_code == 200 and opened.json()["decision"]["reason"] == "department_unavailable"

    departments.calm()
    again = await withdraw(client, citizen, 100_000)  # the retry of that request gets the same application back
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"


async def test_the_sample_withdrawal_items_are_seeded_with_rules_that_parse(app):
    for item_id, fact in (("gz-gjj-003", "hpf_withdrawal_rent"), ("gz-gjj-005", "hpf_withdrawal_retirement")):
        item = await ServiceItem.get(id=item_id)
        rules = approval.check_rules(item.approval_rules)
        assert rules is not None and item.rules_version == 1 and item.sample is True
        assert {r["fact"] for r in rules["all"]} == {"identity_level", fact}
        assert all(r.get("text") for r in rules["all"])
        assert any(m.get("from_department") == HPF_ACCOUNT for m in item.materials)


# -- a reply of another shape is never shown as data ---------------------------------------------------------
def answering(app, monkeypatch, service: str, forged: dict[str, Any]) -> None:
    """The centre's `service` answers `forged` (verified, but of another shape); its other services answer as ever."""
    asker = app.ctx.services.departments.provident_fund.asker
    real = asker.ask

    async def ask(asked: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return forged if asked == service else await real(asked, *args, **kwargs)

    monkeypatch.setattr(asker, "ask", ask)


def unavailable(reply) -> bool:
    return reply.status_code == 503 and reply.json()["error"]["code"] == "DEPARTMENT_UNAVAILABLE" \
        and int(reply.headers["Retry-After"]) >= 1


ACCOUNT = {"has_account": True, "status": "normal", "balance_fen": 1200, "monthly_deposit_fen": 300,
           "last_interest_fen": 10, "sample": True}


@pytest.mark.parametrize("forged", [
    {**ACCOUNT, "balance_fen": "1200"},  # an amount as text is not read as 0
    {**ACCOUNT, "balance_fen": 12.5},
    {**ACCOUNT, "monthly_deposit_fen": True},
    {**ACCOUNT, "status": "frozen"},
    {"has_account": True, "status": "normal"},  # an account without its figures
    {"status": "normal"}])
async def test_an_account_reply_of_another_shape_is_503_never_shown(client, sms, app, departments_live, monkeypatch,
                                                                   forged):
    citizen, _ = await verified(client, sms)
    answering(app, monkeypatch, HPF_ACCOUNT, forged)

    assert unavailable(await client.get(FUND, headers=citizen.headers))


@pytest.mark.parametrize("forged", [
    {"year": "this", "has_account": True},
    {"has_account": True, "items": []},  # no year: a KeyError once, a 500
    {"year": 2020, "has_account": True, "items": [], "opening_balance_fen": 0, "closing_balance_fen": 0,
     "deposit_total_fen": 0, "withdrawal_total_fen": 0, "interest_fen": 0},  # another year than asked
    {"year": 0, "has_account": True, "items": [{"date": "2026-01-20", "type": "deposit"}]},
    {"year": 0, "has_account": True, "items": [{"amount_fen": "x"}]}])
async def test_a_deposits_reply_of_another_shape_is_503_never_shown(client, sms, app, departments_live, monkeypatch,
                                                                    forged):
    citizen, _ = await verified(client, sms)
    year = beijing_today().year
    answering(app, monkeypatch, HPF_DEPOSITS, {**forged, "year": year} if forged.get("year") == 0 else forged)

    assert unavailable(await client.get(f"{FUND}/deposits", params={"year": year}, headers=citizen.headers))


ELIGIBILITY = {"reason": "rent", "eligible": True, "max_amount_fen": 5000, "balance_fen": 9000,
               "reasons": [{"code": "account_open", "met": True, "text": "已开立住房公积金个人账户"}]}


@pytest.mark.parametrize("forged", [
    {**ELIGIBILITY, "eligible": "yes"},  # not read as "not eligible"
    {**ELIGIBILITY, "max_amount_fen": "5000"},
    {**ELIGIBILITY, "reasons": [{"code": "normal"}]},
    {**ELIGIBILITY, "reason": "purchase"},  # the answer to another question
    {"eligible": False}])
async def test_an_eligibility_reply_of_another_shape_is_503_never_not_eligible(client, sms, app, departments_live,
                                                                               monkeypatch, forged):
    citizen, _ = await verified(client, sms)
    answering(app, monkeypatch, HPF_WITHDRAWAL_ELIGIBILITY, forged)

    assert unavailable(await client.get(f"{FUND}/withdrawal-eligibility", params={"reason": "rent"},
                                        headers=citizen.headers))


async def test_an_eligibility_reply_of_another_shape_at_submission_goes_to_the_clerk_as_unavailable(
        client, sms, app, departments_live, monkeypatch):
    citizen, _ = await verified(client, sms, eligible)
    answering(app, monkeypatch, HPF_WITHDRAWAL_ELIGIBILITY, {**ELIGIBILITY, "eligible": 1})

    reply = await withdraw(client, citizen, 1_000)

    assert reply.status_code == 201, reply.text
    decision = reply.json()["decision"]
    assert reply.json()["status"] == "under_review" and decision["auto_approved"] is False
    assert {g["purpose"]: g["error"] for g in decision["department_gaps"]} == \
        {"eligibility_check": "DEPARTMENT_UNAVAILABLE"}
