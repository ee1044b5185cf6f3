"""The wallet's 驾驶证 take their status from 交管 (证照状态同步), read through the data exchange from the stand-in
交管: when the holder opens the licence (purpose citizen_request) and by the job for licences not pulled within
APP_LICENCE_STATUS_PULL_INTERVAL (purpose licence_status). A change goes the wallet's own status path (audit entry
with 交管 as actor, the holder notified); a department down changes nothing and is asked again at the next run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.audit import AuditEntry
from app.departments.exchange_services import TPB, TPB_DRIVING_LICENCE
from app.departments.models import LicenceStatusPull
from app.departments.traffic import JOB_READER, RECENT_PULL
from app.integrations.exchange.models import ExchangeMessage
from app.notifications.models import Notification
from app.vouchers.models import Licence
from standins.departments import tpb
from standins.departments.server import beijing_today
from tests.factories import SignedInCitizen, valid_id_number
from tests.vouchers.licence_factory import LICENCES, driving_fields, holder, issue
from tests.vouchers.licence_factory import licence_admin, police  # noqa: F401  (fixtures)

pytestmark = pytest.mark.departments


def _licence_holder() -> str:
    """A sample person 交管 holds a driving licence of."""
    for sequence in range(100, 1000):
        number = valid_id_number(sequence=f"{sequence:03d}")
        if tpb.driving_licence(number, beijing_today(), {})["holds_licence"]:
            return number
    raise AssertionError("no sample licence holder")


HOLDER_ID = _licence_holder()


@pytest.fixture
async def driver(client, sms) -> SignedInCitizen:
    return await holder(client, sms, "张三", HOLDER_ID)


@pytest.fixture
async def wallet_licence(client, police, driver, departments_live) -> dict[str, Any]:  # noqa: F811
    """The driver's 驾驶证 in their wallet, issued by the traffic police as valid."""
    return await issue(client, police, holder_id_number=HOLDER_ID, fields=driving_fields())


async def opened(client, citizen: SignedInCitizen, licence_id: str) -> dict[str, Any]:
    reply = await client.get(f"{LICENCES}/{licence_id}", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def status_changes() -> list[AuditEntry]:
    return list(await AuditEntry.filter(action="licence_status_changed").order_by("seq"))


async def notices(citizen: SignedInCitizen) -> list[Notification]:
    return list(await Notification.filter(citizen_id=citizen.id, kind="licence_status_changed").order_by("created_at"))


async def pulled_long_ago(clock, licence_id: str) -> None:
    """The licence's last pull moved back past RECENT_PULL: the next open asks 交管 again."""
    await LicenceStatusPull.filter(licence_id=licence_id).update(
        pulled_at=clock.now() - timedelta(seconds=RECENT_PULL + 1))


def interval(app) -> int:
    return app.ctx.services.platform.settings.vouchers.licence_status_pull_interval


async def pulls(purpose: str) -> list[ExchangeMessage]:
    return list(await ExchangeMessage.filter(service=TPB_DRIVING_LICENCE, purpose=purpose).order_by("at"))


async def test_opening_the_licence_shows_it_suspended_once_the_department_holds_it_so(
        client, clock, driver, wallet_licence, departments):
    assert (await opened(client, driver, wallet_licence["id"]))["validity"] == "valid"
    assert await status_changes() == []  # 交管 says A 正常: nothing to change

    departments.set_driving_licence_status(HOLDER_ID, "D")
    clock.advance(seconds=RECENT_PULL + 1)
    licence = await opened(client, driver, wallet_licence["id"])

    assert (licence["validity"], licence["validity_text"], licence["status_reason"]) == ("suspended", "已暂停使用", "交管：暂扣")
    [entry] = await status_changes()
    assert (entry.actor, entry.actor_type, entry.subject_id) == (TPB, "department", driver.id)
    assert entry.attributes == {"licence_id": wallet_licence["id"], "from": "valid", "to": "suspended", "via": "exchange"}
    [notice] = await notices(driver)
    assert notice.params == {"licence": "机动车驾驶证", "status": "已暂停使用"}
    row = await LicenceStatusPull.get(licence_id=wallet_licence["id"])
    assert (row.outcome, row.department_status, row.citizen_id) == ("changed", "D", driver.id)

    # Both logs of the pull agree, and it was the citizen's own request.
    ours = await pulls("citizen_request")
    assert len(ours) == 2
    [theirs] = departments.messages(ours[-1].message_id)
    assert (theirs["purpose"], theirs["status"], theirs["user"], theirs["request_hash"], theirs["response_sha256"]) == \
        ("citizen_request", 200, ours[-1].user, ours[-1].request_hash, ours[-1].response_hash)

    departments.set_driving_licence_status(HOLDER_ID, "A")  # 交管 lifts the 暂扣
    await pulled_long_ago(clock, wallet_licence["id"])  # (the sign-in would expire with the clock moved on again)
    licence = await opened(client, driver, wallet_licence["id"])
    assert (licence["validity"], licence["status_reason"]) == ("valid", None)
    assert [(e.attributes["from"], e.attributes["to"]) for e in await status_changes()] == \
        [("valid", "suspended"), ("suspended", "valid")]
    assert [n.params["status"] for n in await notices(driver)] == ["已暂停使用", "有效"]


async def test_a_department_down_when_the_licence_is_opened_changes_nothing(client, driver, wallet_licence,
                                                                            departments):
    departments.set_driving_licence_status(HOLDER_ID, "E")
    departments.behave("fail", department="tpb", count=0)

    licence = await opened(client, driver, wallet_licence["id"])

    assert (licence["validity"], licence["status_reason"]) == ("valid", None)  # never marked invalid for that
    assert await status_changes() == [] and await notices(driver) == []
    row = await LicenceStatusPull.get(licence_id=wallet_licence["id"])
    assert (row.outcome, row.pulled_at) == ("unavailable", None)
    assert [m.status for m in await pulls("citizen_request")] == [500, 500]  # a read, sent again once


async def test_the_job_pulls_licences_not_pulled_recently_with_its_own_purpose(app, client, clock, driver,
                                                                             wallet_licence, departments):
    traffic = app.ctx.services.departments.traffic
    departments.set_driving_licence_status(HOLDER_ID, "E")  # 吊销

    assert await traffic.pull_due_licence_statuses() == {"changed": 1}

    row = await Licence.get(id=wallet_licence["id"])
    assert (row.status, row.status_reason) == ("revoked", "交管：吊销")
    [entry] = await status_changes()
    assert (entry.actor, entry.actor_type, entry.attributes["to"]) == (TPB, "department", "revoked")
    assert [n.params["status"] for n in await notices(driver)] == ["已吊销"]
    [ours] = await pulls("licence_status")
    [theirs] = departments.messages(ours.message_id)
    assert (theirs["purpose"], theirs["status"], theirs["user"], theirs["request_hash"], theirs["response_sha256"]) == \
        ("licence_status", 200, ours.user, ours.request_hash, ours.response_hash)
    # The holder sees the job's read in their access log, named as the sync, a system reader.
    [read] = await AuditEntry.filter(category="access", subject_id=driver.id)
    assert (read.actor, read.actor_type, read.action) == (JOB_READER.actor, "system", "department_data_read")
    assert "licence_status" in read.purpose

    # Revoked is final; and a revoked licence is not asked for again.
    departments.set_driving_licence_status(HOLDER_ID, "A")
    clock.advance(seconds=interval(app) + 1)  # past APP_LICENCE_STATUS_PULL_INTERVAL
    assert await traffic.pull_due_licence_statuses() == {}
    assert (await Licence.get(id=wallet_licence["id"])).status == "revoked"


async def test_a_licence_pulled_recently_waits_for_the_interval(app, clock, driver, wallet_licence, departments):
    traffic = app.ctx.services.departments.traffic
    assert await traffic.pull_due_licence_statuses() == {"unchanged": 1}
    assert await traffic.pull_due_licence_statuses() == {}  # pulled just now

    clock.advance(seconds=interval(app) - 60)
    assert await traffic.pull_due_licence_statuses() == {}
    departments.set_driving_licence_status(HOLDER_ID, "D")
    clock.advance(seconds=120)
    assert await traffic.pull_due_licence_statuses() == {"changed": 1}
    assert (await Licence.get(id=wallet_licence["id"])).status == "suspended"
    assert len(await pulls("licence_status")) == 2


async def test_a_department_down_during_the_job_leaves_the_licence_and_the_next_run_asks_again(
        app, driver, wallet_licence, departments):
    traffic = app.ctx.services.departments.traffic
    departments.set_driving_licence_status(HOLDER_ID, "D")
    departments.behave("fail", department="tpb", count=0)

    assert await traffic.pull_due_licence_statuses() == {"unavailable": 1}

    assert (await Licence.get(id=wallet_licence["id"])).status == "valid"
    assert await status_changes() == [] and await notices(driver) == []
    row = await LicenceStatusPull.get(licence_id=wallet_licence["id"])
    assert (row.outcome, row.pulled_at, row.department_status) == ("unavailable", None, None)

    departments.calm()
    assert await traffic.pull_due_licence_statuses() == {"changed": 1}  # the next run, not the interval later
    assert (await Licence.get(id=wallet_licence["id"])).status == "suspended"
    assert len(await notices(driver)) == 1


async def test_nothing_is_pulled_when_the_exchange_does_not_register_the_licence_service(
        app, driver, wallet_licence, departments, monkeypatch):
    registration = app.ctx.services.exchange.registration
    monkeypatch.setattr(app.ctx.services.exchange, "registration",
                        lambda service: None if service == TPB_DRIVING_LICENCE else registration(service))
    departments.set_driving_licence_status(HOLDER_ID, "D")

    assert await app.ctx.services.departments.traffic.pull_due_licence_statuses() == {}
    assert await ExchangeMessage.all().count() == 0
    assert (await Licence.get(id=wallet_licence["id"])).status == "valid"


async def test_the_department_authorised_the_sync_purpose_on_the_driving_licence_only(departments):
    purposes = {entry["service"]: set(entry["purposes"]) for entry in departments.registry()["services"]}
    assert "licence_status" in purposes[TPB_DRIVING_LICENCE]
    assert [s for s, p in purposes.items() if "licence_status" in p] == [TPB_DRIVING_LICENCE]


async def test_a_run_pulls_at_most_its_limit_and_the_next_run_goes_on_from_there(app, client, sms, police,  # noqa: F811
                                                                                 driver, wallet_licence, departments):
    other_id = next(valid_id_number(sequence=f"{s:03d}") for s in range(100, 1000)
                    if valid_id_number(sequence=f"{s:03d}") != HOLDER_ID
                    and tpb.driving_licence(valid_id_number(sequence=f"{s:03d}"), beijing_today(), {})["holds_licence"])
    await holder(client, sms, "李四", other_id)
    other = await issue(client, police, holder_id_number=other_id, fields=driving_fields(name="李四"))
    traffic = app.ctx.services.departments.traffic

    assert await traffic.pull_due_licence_statuses(limit=1) == {"unchanged": 1}
    assert await traffic.pull_due_licence_statuses(limit=1) == {"unchanged": 1}
    assert await traffic.pull_due_licence_statuses(limit=1) == {}

    pulled = set(await LicenceStatusPull.all().values_list("licence_id", flat=True))
    assert pulled == {wallet_licence["id"], other["id"]}
    assert len(await pulls("licence_status")) == 2


def test_the_stand_ins_control_refuses_an_unknown_code_and_a_person_without_a_licence(departments):
    without = next(valid_id_number(sequence=f"{s:03d}") for s in range(100, 1000)
                   if not tpb.driving_licence(valid_id_number(sequence=f"{s:03d}"), beijing_today(), {})["holds_licence"])
    for id_number, status, expected in ((HOLDER_ID, "Z", 400), (HOLDER_ID, "", 400), (HOLDER_ID, "DD", 400),
                                        (without, "D", 404), ("not-an-id-number", "D", 400)):
        with pytest.raises(httpx.HTTPStatusError) as refused:
            departments.set_driving_licence_status(id_number, status)
        assert refused.value.response.status_code == expected
    assert departments.set_driving_licence_status(HOLDER_ID, "DH") == {"status": "DH", "status_name": "暂扣、违法未处理"}
    assert tpb.licence_status_name("DH") == "暂扣、违法未处理"


def test_the_job_asks_once_a_day_by_default():
    from app.config import Settings

    assert Settings().vouchers.licence_status_pull_interval == 24 * 3600  # each job read is in the holder's access log


async def test_opening_a_licence_pulled_within_ten_minutes_does_not_ask_again(client, clock, driver, wallet_licence,
                                                                            departments):
    await opened(client, driver, wallet_licence["id"])
    departments.set_driving_licence_status(HOLDER_ID, "D")
    clock.advance(seconds=RECENT_PULL - 1)

    assert (await opened(client, driver, wallet_licence["id"]))["validity"] == "valid"  # as pulled a moment ago
    assert len(await pulls("citizen_request")) == 1

    clock.advance(seconds=2)
    assert (await opened(client, driver, wallet_licence["id"]))["validity"] == "suspended"
    assert len(await pulls("citizen_request")) == 2


def forged_licence_reply(app, monkeypatch, status: Any) -> None:
    """交管 answers a verified driving-licence reply whose status code is `status`."""
    asker = app.ctx.services.departments.traffic.asker
    real = asker.ask

    async def ask(service: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        reply = await real(service, *args, **kwargs)
        if service == TPB_DRIVING_LICENCE and reply.get("licence"):
            reply = {**reply, "licence": {**reply["licence"], "status": status}}
        return reply

    monkeypatch.setattr(asker, "ask", ask)


@pytest.mark.parametrize("status", ["A" * 40, "d", "", 7, None, "A B"])
async def test_a_status_code_of_another_form_is_a_reply_of_another_shape(app, client, driver, wallet_licence,
                                                                         monkeypatch, status):
    forged_licence_reply(app, monkeypatch, status)
    traffic = app.ctx.services.departments.traffic

    assert await traffic.pull_due_licence_statuses() == {"unreadable": 1}

    row = await LicenceStatusPull.get(licence_id=wallet_licence["id"])
    assert (row.outcome, row.department_status, row.pulled_at is not None) == ("unreadable", None, True)
    assert (await Licence.get(id=wallet_licence["id"])).status == "valid" and await status_changes() == []
    assert await traffic.pull_due_licence_statuses() == {}  # asked again after the interval, not every run
    reply = await client.get("/api/v1/traffic/driving-licence", headers=driver.headers)
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "DEPARTMENT_UNAVAILABLE"
    assert int(reply.headers["Retry-After"]) >= 1


async def test_a_failure_of_our_own_in_one_pull_never_stops_the_job_nor_the_open(
        app, client, sms, clock, police, driver, wallet_licence, departments, monkeypatch):  # noqa: F811
    other_id = next(valid_id_number(sequence=f"{s:03d}") for s in range(100, 1000)
                    if valid_id_number(sequence=f"{s:03d}") != HOLDER_ID
                    and tpb.driving_licence(valid_id_number(sequence=f"{s:03d}"), beijing_today(), {})["holds_licence"])
    await holder(client, sms, "李四", other_id)
    other = await issue(client, police, holder_id_number=other_id, fields=driving_fields(name="李四"))
    departments.set_driving_licence_status(HOLDER_ID, "D")
    departments.set_driving_licence_status(other_id, "D")
    licences = app.ctx.services.departments.traffic.licences
    apply = licences.apply_pulled_status

    async def failing_for_one(licence_id: str, pulled: Any) -> bool:
        if licence_id == wallet_licence["id"]:
            raise RuntimeError("a bug of ours")
        return await apply(licence_id, pulled)

    monkeypatch.setattr(licences, "apply_pulled_status", failing_for_one)

    assert await app.ctx.services.departments.traffic.pull_due_licence_statuses() == {"error": 1, "changed": 1}
    assert (await Licence.get(id=other["id"])).status == "suspended"
    row = await LicenceStatusPull.get(licence_id=wallet_licence["id"])
    assert (row.outcome, row.pulled_at is not None) == ("error", True)  # the next run does not start with it again
    assert await app.ctx.services.departments.traffic.pull_due_licence_statuses() == {}

    clock.advance(seconds=RECENT_PULL + 1)
    assert (await opened(client, driver, wallet_licence["id"]))["validity"] == "valid"  # shown as it was
    assert (await LicenceStatusPull.get(licence_id=wallet_licence["id"])).outcome == "error"
