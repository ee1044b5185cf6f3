"""交管 for the citizen, read from the stand-in 交管 (standins/departments/tpb.py) through the data exchange:
vehicles with their inspection due, the driving licence and its points, violations in detail with the reference
that pays them; another's decision is not found, a malformed one 422, no 实名 403, a department down 503 with
Retry-After, and both message logs of a read agree."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Callable

import pytest

from app.departments.exchange_services import TPB_DRIVING_LICENCE, TPB_SETTLEMENTS, TPB_VEHICLES, TPB_VIOLATIONS
from app.departments.traffic import DrivingLicence, wallet_status
from app.integrations.exchange.client import DEFAULT_RETRY_AFTER
from app.integrations.exchange.models import ExchangeMessage
from standins.departments import tpb
from standins.departments.server import beijing_today
from tests.factories import SignedInCitizen, sign_in, valid_id_number, verify_real_name

pytestmark = pytest.mark.departments

TRAFFIC = "/api/v1/traffic"


def person(wanted: Callable[[str, date], bool], start: int = 100) -> str:
    """The first sample ID number the stand-in 交管 holds what a test needs of."""
    today = beijing_today()
    for sequence in range(start, 1000):
        number = valid_id_number(sequence=f"{sequence:03d}")
        if wanted(number, today):
            return number
    raise AssertionError("no such sample person")


def with_vehicles(number: str, today: date) -> bool:
    return tpb.vehicles(number, today, {})["count"] > 0


def with_paid_and_unpaid(number: str, today: date) -> bool:
    return len(tpb.violations(number, today, {})["items"]) == 2


def with_licence(number: str, today: date) -> bool:
    return tpb.driving_licence(number, today, {})["holds_licence"]


def without_licence(number: str, today: date) -> bool:
    return tpb.vehicles(number, today, {})["count"] == 0 and not with_licence(number, today)


async def citizen_with(client, sms, id_number: str) -> SignedInCitizen:
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=id_number)
    return citizen


async def get(client, citizen: SignedInCitizen, path: str, expect: int = 200, **headers: str) -> Any:
    reply = await client.get(f"{TRAFFIC}{path}", headers={**citizen.headers, **headers})
    assert reply.status_code == expect, reply.text
    return reply.json()


async def test_vehicles_are_the_departments_with_the_inspection_due_flagged(client, sms, departments_live):
    id_number = person(with_vehicles)
    citizen = await citizen_with(client, sms, id_number)

    body = await get(client, citizen, "/vehicles")

    theirs = tpb.vehicles(id_number, beijing_today(), {})["items"]
    assert body["sample"] is True and body["count"] == len(theirs) == len(body["items"])
    for shown, held in zip(body["items"], theirs):
        assert (shown["plate"], shown["plate_type"], shown["brand"], shown["model"], shown["energy"]) == \
            (held["plate_no"], held["plate_type"], held["brand"], held["model"], held["energy"])
        assert (shown["registered_on"], shown["inspection_valid_until"], shown["status"], shown["status_name"]) == \
            (held["registered_on"], held["inspection_valid_until"], "A", "正常")
        until = date.fromisoformat(held["inspection_valid_until"])
        assert shown["inspection_due"] is (until <= beijing_today() + timedelta(days=90))
        assert shown["inspection_overdue"] is (until < beijing_today())


async def test_the_driving_licence_with_its_points_and_a_masked_file_number(client, sms, departments_live):
    id_number = person(lambda n, t: with_licence(n, t) and tpb.driving_licence(n, t, {})["licence"]["points"] == 9)
    citizen = await citizen_with(client, sms, id_number)

    body = await get(client, citizen, "/driving-licence")

    held = tpb.driving_licence(id_number, beijing_today(), {})["licence"]
    shown = body["licence"]
    assert body["holds_licence"] is True and body["message"] is None and body["sample"] is True
    assert (shown["vehicle_class"], shown["validity"], shown["valid_until"], shown["valid_from"]) == \
        (held["class"], held["validity"], held["valid_until"], held["valid_from"])
    assert (shown["status"], shown["status_name"], shown["wallet_status"]) == ("A", "正常", "valid")
    assert (shown["points"], shown["points_limit"], shown["points_full"]) == (9, 12, False)
    assert shown["points_notice"] == "本记分周期已记 9 分，距满分还剩 3 分。"
    assert shown["points_cycle_ends"] == held["points_cycle_ends"]
    assert shown["issuing_authority"] == held["issuing_authority"]
    assert shown["file_no_masked"] == held["file_no"][:4] + "****" + held["file_no"][-4:]
    assert held["file_no"] not in str(body)

    english = await get(client, citizen, "/driving-licence", **{"Accept-Language": "en"})
    assert english["licence"]["points_notice"] == "9 points this cycle: 3 left before the limit of 12."


def test_twelve_points_are_the_limit_and_the_citizen_is_told_to_study_and_sit_the_exam():
    licence = DrivingLicence("C1", "小型汽车", date(2015, 1, 1), date(2021, 1, 1), "10年", date(2031, 1, 1), "B", "超分",
                             "suspended", 12, date(2027, 1, 1), "广东省广州市公安局交通警察支队", "4401****5678")

    assert licence.points_full is True
    assert "已记满 12 分" in (licence.points_notice("zh-Hans") or "")
    assert "已記滿 12 分" in (licence.points_notice("zh-Hant") or "")


def test_the_departments_status_codes_map_to_the_wallets_statuses():
    assert [wallet_status(code) for code in ("A", "D", "U", "B", "E", "F", "G", "M", "H", "DH", "HE", "Z", "")] == \
        ["valid", "suspended", "suspended", "suspended", "revoked", "revoked", "revoked", "expired", "valid",
         "suspended", "revoked", None, None]


async def test_someone_without_a_licence_is_told_so_not_an_error(client, sms, departments_live):
    citizen = await citizen_with(client, sms, person(without_licence))

    body = await get(client, citizen, "/driving-licence")
    assert body == {"holds_licence": False, "licence": None, "sample": True,
                    "message": "交管部门没有您名下的机动车驾驶证记录。"}
    assert (await get(client, citizen, "/vehicles"))["items"] == []
    assert (await get(client, citizen, "/violations"))["items"] == []


async def test_violations_in_detail_and_the_unpaid_one_is_what_the_payments_api_takes(app, client, sms,
                                                                                      departments_live):
    id_number = person(with_paid_and_unpaid)
    first, second = (i["reference"] for i in tpb.violations(id_number, beijing_today(), {})["items"])
    citizen = await citizen_with(client, sms, id_number)
    second_fine = tpb.violations(id_number, beijing_today(), {})["items"][1]["fine_fen"]
    await paid_at_the_department(app, citizen, id_number, second, second_fine)

    body = await get(client, citizen, "/violations")

    held = {i["reference"]: i for i in tpb.violations(id_number, beijing_today(), {}, {second: {"status": "paid"}})["items"]}
    assert body["sample"] is True
    assert (body["count"], body["fines_fen"], body["points"]) == (1, held[first]["fine_fen"], held[first]["points"])
    shown = {i["decision_number"]: i for i in body["items"]}
    assert set(shown) == {first, second}
    for number, item in shown.items():
        assert (item["plate"], item["place"], item["offence_code"], item["offence"], item["fine_fen"], item["points"],
                item["authority"], item["decided_on"], item["pay_by"]) == \
            tuple(held[number][k] for k in ("plate_no", "place", "offence_code", "offence", "fine_fen", "points",
                                            "authority", "decided_on", "pay_by"))
        assert datetime.fromisoformat(item["occurred_at"]) == datetime.fromisoformat(held[number]["occurred_at"])
    assert (shown[first]["status"], shown[first]["status_name"], shown[first]["payable_reference"]) == \
        ("unpaid", "未缴款", f"traffic_fine:{first}")
    assert (shown[second]["status"], shown[second]["payable_reference"]) == ("paid", None)

    payables = await client.get("/api/v1/payables", headers=citizen.headers)
    fines = [p["reference"] for p in payables.json()["items"] if p["kind"] == "traffic_fine"]
    assert fines == [f"traffic_fine:{first}"]  # the reference shown is the one the payments API pays

    one = await get(client, citizen, f"/violations/{first}")
    assert one == {**shown[first], "sample": True}


async def paid_at_the_department(app, citizen: SignedInCitizen, id_number: str, number: str, fine_fen: int) -> None:
    """交管 writes the fine `number` off as paid, told through settlements/v1 as after a payment."""
    body = {"decision_number": number, "action": "paid", "amount_fen": fine_fen, "payment_id": "pay-elsewhere",
            "subject": {"id_number": id_number}}
    reply = await app.ctx.services.exchange.call(TPB_SETTLEMENTS, citizen.id, "settlement", body, read=False)
    assert reply["status"] == "paid"


async def test_another_citizens_decision_is_not_found_and_a_malformed_number_is_refused(client, sms, departments_live):
    mine = person(lambda n, t: tpb.violations(n, t, {})["count"] > 0)
    theirs = person(lambda n, t: tpb.violations(n, t, {})["count"] > 0 and n != mine)
    their_number = tpb.violations(theirs, beijing_today(), {})["items"][0]["reference"]
    citizen = await citizen_with(client, sms, mine)

    hidden = await get(client, citizen, f"/violations/{their_number}", expect=404)
    assert hidden["error"]["code"] == "TRAFFIC_VIOLATION_NOT_FOUND"
    assert hidden["error"]["message"] == "您名下没有这份交通违法处罚决定书。"
    unknown = await get(client, citizen, "/violations/TV99999999999", expect=404)
    assert unknown["error"] == {**hidden["error"], "request_id": unknown["error"]["request_id"]}  # never told apart

    for malformed in ("TV123", "tv12345678901", "TV1234567890A", "X" * 40):
        refused = await get(client, citizen, f"/violations/{malformed}", expect=422)
        assert refused["error"]["code"] == "VALIDATION_FAILED"
        assert refused["error"]["fields"] == [{"field": "decision_number", "problem": "TV and eleven digits"}]


async def test_without_real_name_nothing_is_asked_of_the_department(client, sms, departments_live, departments):
    citizen = await sign_in(client, sms)

    for path in ("/vehicles", "/driving-licence", "/violations", "/violations/TV12345678901"):
        refused = await get(client, citizen, path, expect=403)
        assert refused["error"]["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert await ExchangeMessage.all().count() == 0
    assert departments.messages() == []


async def test_a_department_down_answers_503_with_retry_after(client, sms, departments_live, departments):
    citizen = await citizen_with(client, sms, person(with_vehicles))
    departments.behave("fail", department="tpb", count=0)

    for path in ("/vehicles", "/driving-licence", "/violations", "/violations/TV12345678901"):
        reply = await client.get(f"{TRAFFIC}{path}", headers=citizen.headers)
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "DEPARTMENT_UNAVAILABLE"
        assert reply.headers["Retry-After"] == str(DEFAULT_RETRY_AFTER)

    departments.calm()
    assert (await client.get(f"{TRAFFIC}/vehicles", headers=citizen.headers)).status_code == 200


async def test_each_read_is_in_both_message_logs_alike(client, sms, departments_live, departments):
    citizen = await citizen_with(client, sms, person(with_vehicles))

    for path in ("/vehicles", "/driving-licence", "/violations"):
        await get(client, citizen, path)

    ours = {row.service: row for row in await ExchangeMessage.all()}
    assert set(ours) == {TPB_VEHICLES, TPB_DRIVING_LICENCE, TPB_VIOLATIONS}
    for row in ours.values():
        [theirs] = departments.messages(row.message_id)
        assert (theirs["service"], theirs["purpose"], theirs["user"], theirs["request_hash"],
                theirs["response_sha256"], theirs["status"]) == \
            (row.service, "citizen_request", row.user, row.request_hash, row.response_hash, row.status)
        assert (row.purpose, row.status, row.fault) == ("citizen_request", 200, None)


class _Answering:
    """A DepartmentAsker whose department answers, verified, with `body`."""

    def __init__(self, platform, body: dict[str, Any]) -> None:
        self.platform, self.body = platform, body

    def connected(self, service: str) -> bool:
        return True

    async def ask(self, service: str, citizen_id: str, body: dict[str, Any] | None = None, **kwargs: Any) -> dict:
        return self.body


@pytest.mark.parametrize("body", [{"items": [{"reference": "TV123"}]}, {"items": "none"}, {"count": 0},
                                  {"items": [{"reference": "TV12345678901", "status": "unpaid", "fine_fen": "200"}]}])
async def test_a_reply_of_another_shape_is_the_department_unavailable_never_half_read(app, body):
    from app.departments.traffic import TrafficPolice
    from app.errors import AppError

    traffic = TrafficPolice(_Answering(app.ctx.services.departments.asker.platform, body))  # type: ignore[arg-type]

    with pytest.raises(AppError) as raised:
        await traffic.violations("cit_x")
    assert (raised.value.code, raised.value.status, raised.value.headers) == \
        ("DEPARTMENT_UNAVAILABLE", 503, {"Retry-After": str(DEFAULT_RETRY_AFTER)})
