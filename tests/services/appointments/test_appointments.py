"""网上预约: a district office opens slots for 港澳通行证 renewals; citizens book, change and cancel;
the last seat goes to exactly one of fifty people pressing "book" at once; reminders go out the day
before, once. Items and offices here are sample data written for these tests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.audit import AuditEntry
from app.clock import CHINA_TZ
from app.jobs import run_exclusively
from app.notifications.models import Notification
from app.services.appointments import service as appointments_module
from app.jobs import add_core_jobs
from app.notifications.jobs import add_notification_jobs
from app.services.appointments.jobs import add_appointment_jobs
from app.notifications.models import NotificationDelivery
from app.services.appointments.models import Appointment, AppointmentSlot
from app.services.catalogue.models import Department, ServiceItem
from tests.miniprogram.mp_factory import in_mini_program, messages_to
from tests.factories import make_department, refresh_tokens, sign_in, valid_id_number, verify_real_name

SLOTS = "/api/admin/v1/appointment-slots"
OFFICE = "天河区政务服务中心 3 号窗口（示例）"


def beijing(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026, Beijing time."""
    return datetime(2026, 12, day, hour, minute, tzinfo=CHINA_TZ)


def utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


async def make_item(clock, item_id: str = "gz-exit-permit-renew", name: str = "往来港澳通行证再次签注（示例）") -> ServiceItem:
    department, _ = await Department.get_or_create(id="gz-exit-entry", defaults={
        "name": "广州市公安局出入境管理支队（示例）", "region_level": "city", "region_code": "440100"})
    return await ServiceItem.create(id=item_id, name=name, department=department, region_level="city",
                                    region_code="440100", category="出入境", status="published",
                                    created_at=clock.now(), updated_at=clock.now())


@pytest.fixture
async def story(client, clock):
    """Monday 1 December 2026, 10:00 Beijing time; an office client with the role `office`; one item."""
    clock.set(beijing(1, 10))
    item = await make_item(clock)
    office = await make_department(clock, "天河区政务服务中心（示例）", ["office"])
    return item, office


async def publish(client, office, item_id: str, starts_at: datetime, capacity: int = 2, minutes: int = 30) -> dict:
    reply = await client.post(SLOTS, headers=office.headers(), json={
        "item_id": item_id, "office": OFFICE, "starts_at": utc(starts_at),
        "ends_at": utc(starts_at + timedelta(minutes=minutes)), "capacity": capacity})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def verified_citizen(client, sms, sequence: int = 1):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence=f"{sequence:03d}"))
    return citizen


async def book(client, citizen, slot_id: str) -> httpx.Response:
    return await client.post("/api/v1/appointments", headers=citizen.headers, json={"slot_id": slot_id})


async def free_seats(client, citizen, item_id: str, day: str) -> dict[str, int]:
    reply = await client.get("/api/v1/appointment-slots", headers=citizen.headers, params={"item_id": item_id, "day": day})
    assert reply.status_code == 200, reply.text
    return {s["id"]: s["free"] for s in reply.json()["items"]}


def error_code(reply: httpx.Response) -> str:
    return reply.json()["error"]["code"]


async def test_a_citizen_books_changes_and_cancels(client, sms, story):
    item, office = story
    morning = await publish(client, office, item.id, beijing(3, 9), capacity=2)
    afternoon = await publish(client, office, item.id, beijing(3, 14, 30), capacity=1)
    assert morning["free"] == 2 and morning["office"] == OFFICE and morning["starts_at"] == "2026-12-03T01:00:00Z"
    citizen = await verified_citizen(client, sms)

    assert await free_seats(client, citizen, item.id, "2026-12-03") == {morning["id"]: 2, afternoon["id"]: 1}
    booked = await book(client, citizen, morning["id"])
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    assert appointment["status"] == "booked" and appointment["day"] == "2026-12-03"
    assert appointment["slot"]["item_name"] == "往来港澳通行证再次签注（示例）" and appointment["slot"]["free"] == 1
    assert await free_seats(client, citizen, item.id, "2026-12-03") == {morning["id"]: 1, afternoon["id"]: 1}
    bookings = await client.get(f"{SLOTS}/{morning['id']}/bookings", headers=office.headers())
    assert [b["id"] for b in bookings.json()["items"]] == [appointment["id"]]

    moved = await client.put(f"/api/v1/appointments/{appointment['id']}", headers=citizen.headers,
                             json={"slot_id": afternoon["id"]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == appointment["id"] and moved.json()["slot"]["id"] == afternoon["id"]
    assert await free_seats(client, citizen, item.id, "2026-12-03") == {morning["id"]: 2, afternoon["id"]: 0}

    cancelled = await client.delete(f"/api/v1/appointments/{appointment['id']}", headers=citizen.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert await free_seats(client, citizen, item.id, "2026-12-03") == {morning["id"]: 2, afternoon["id"]: 1}
    assert (await client.get(f"{SLOTS}/{afternoon['id']}/bookings", headers=office.headers())).json() == {"items": []}
    mine = (await client.get("/api/v1/appointments", headers=citizen.headers)).json()["items"]
    assert [(a["id"], a["status"]) for a in mine] == [(appointment["id"], "cancelled")]

    again = await book(client, citizen, afternoon["id"])  # after a cancellation the same day can be booked again
    assert again.status_code == 201
    assert await Appointment.filter(citizen_id=citizen.id).count() == 2
    published = await AuditEntry.filter(action="appointment_slot_published").count()
    assert published == 2


async def test_one_live_booking_per_item_and_day(client, sms, story, clock):
    item, office = story
    early = await publish(client, office, item.id, beijing(3, 9))
    late = await publish(client, office, item.id, beijing(3, 15))
    next_day = await publish(client, office, item.id, beijing(4, 9))
    other_item = await make_item(clock, "gz-hukou-move", "户口迁移（示例）")
    other = await publish(client, office, other_item.id, beijing(3, 9))
    citizen = await verified_citizen(client, sms)
    assert (await book(client, citizen, early["id"])).status_code == 201

    for slot in (early, late):
        twice = await book(client, citizen, slot["id"])
        assert twice.status_code == 409 and error_code(twice) == "ALREADY_BOOKED"
        assert "改约" in twice.json()["error"]["message"]
    assert (await AppointmentSlot.get(id=late["id"])).booked == 0  # the seat went back
    assert (await AppointmentSlot.get(id=early["id"])).booked == 1
    assert (await book(client, citizen, next_day["id"])).status_code == 201
    assert (await book(client, citizen, other["id"])).status_code == 201


async def test_fifty_people_press_book_for_the_last_seat(app, sms, story):
    item, office = story
    transports = [httpx.ASGITransport(app=app, client=(f"203.0.113.{20 + n}", 50000)) for n in range(5)]
    clients = [httpx.AsyncClient(transport=t, base_url="http://gov.test") for t in transports]
    try:
        # Ten sign-ups per address keeps under the per-address OTP limit.
        citizens = [await verified_citizen(clients[n % 5], sms, sequence=n + 1) for n in range(50)]
        slot = await publish(clients[0], office, item.id, beijing(3, 9), capacity=3)
        for early in citizens[:2]:
            assert (await book(clients[0], early, slot["id"])).status_code == 201
        racers = citizens[2:] + [await verified_citizen(clients[0], sms, sequence=51),
                                 await verified_citizen(clients[1], sms, sequence=52)]
        assert len(racers) == 50
        replies = await asyncio.gather(*(book(clients[n % 5], c, slot["id"]) for n, c in enumerate(racers)))
    finally:
        for c in clients:
            await c.aclose()
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [201] + [409] * 49, statuses
    assert {error_code(r) for r in replies if r.status_code == 409} == {"SLOT_FULL"}
    stored = await AppointmentSlot.get(id=slot["id"])
    assert stored.booked == stored.capacity == 3
    assert await Appointment.filter(slot_id=slot["id"], status="booked").count() == 3
    # A confirmation for each seat taken, none for a refused one: the message is stored with the booking.
    assert await Notification.filter(kind="appointment_booked").count() == 3


async def test_a_full_slot_refuses_booking_and_moving_into_it(client, sms, story):
    item, office = story
    full = await publish(client, office, item.id, beijing(3, 9), capacity=1)
    other = await publish(client, office, item.id, beijing(3, 10), capacity=1)
    first, second = await verified_citizen(client, sms, 1), await verified_citizen(client, sms, 2)
    assert (await book(client, first, full["id"])).status_code == 201
    refused = await book(client, second, full["id"])
    assert refused.status_code == 409 and error_code(refused) == "SLOT_FULL"
    assert refused.json()["error"]["message"] == "该时段已约满，请选择其他时段。"

    mine = (await book(client, second, other["id"])).json()
    moved = await client.put(f"/api/v1/appointments/{mine['id']}", headers=second.headers, json={"slot_id": full["id"]})
    assert moved.status_code == 409 and error_code(moved) == "SLOT_FULL"
    kept = (await client.get("/api/v1/appointments", headers=second.headers)).json()["items"]
    assert [(a["slot"]["id"], a["status"]) for a in kept] == [(other["id"], "booked")]  # the old booking stays
    assert await free_seats(client, second, item.id, "2026-12-03") == {full["id"]: 0, other["id"]: 0}


async def test_slots_of_another_item_past_slots_and_unknown_slots(client, sms, story, clock):
    item, office = story
    mine_slot = await publish(client, office, item.id, beijing(3, 9))
    soon = await publish(client, office, item.id, beijing(1, 11))
    other_item = await make_item(clock, "gz-hukou-move", "户口迁移（示例）")
    foreign = await publish(client, office, other_item.id, beijing(3, 10))
    citizen = await verified_citizen(client, sms)
    appointment = (await book(client, citizen, mine_slot["id"])).json()

    wrong_item = await client.put(f"/api/v1/appointments/{appointment['id']}", headers=citizen.headers,
                                  json={"slot_id": foreign["id"]})
    assert wrong_item.status_code == 422 and error_code(wrong_item) == "SLOT_OTHER_ITEM"
    unknown = await book(client, citizen, "slot_nope")
    assert unknown.status_code == 404 and error_code(unknown) == "SLOT_NOT_FOUND"

    clock.set(beijing(1, 11, 5))
    citizen = await refresh_tokens(client, citizen)
    started = await book(client, citizen, soon["id"])
    assert started.status_code == 409 and error_code(started) == "SLOT_STARTED"
    assert soon["id"] not in await free_seats(client, citizen, item.id, "2026-12-01")  # no longer offered
    no_slot = await client.post("/api/v1/appointments", headers=citizen.headers, json={})
    assert no_slot.status_code == 422 and error_code(no_slot) == "VALIDATION_FAILED"


async def test_cancel_errors_and_other_peoples_bookings(client, sms, story, clock):
    item, office = story
    slot = await publish(client, office, item.id, beijing(3, 9))
    owner, stranger = await verified_citizen(client, sms, 1), await verified_citizen(client, sms, 2)
    appointment = (await book(client, owner, slot["id"])).json()
    path = f"/api/v1/appointments/{appointment['id']}"

    for request in (client.delete(path, headers=stranger.headers),
                    client.put(path, headers=stranger.headers, json={"slot_id": slot["id"]})):
        reply = await request
        assert reply.status_code == 404 and error_code(reply) == "APPOINTMENT_NOT_FOUND"
    assert (await client.get("/api/v1/appointments", headers=stranger.headers)).json() == {"items": []}

    assert (await client.delete(path, headers=owner.headers)).status_code == 200
    twice = await client.delete(path, headers=owner.headers)
    assert twice.status_code == 409 and error_code(twice) == "APPOINTMENT_NOT_ACTIVE"
    assert (await AppointmentSlot.get(id=slot["id"])).booked == 0  # freed once, not twice

    rebooked = (await book(client, owner, slot["id"])).json()
    clock.set(beijing(3, 9, 1))
    owner = await refresh_tokens(client, owner)
    late = await client.delete(f"/api/v1/appointments/{rebooked['id']}", headers=owner.headers)
    assert late.status_code == 409 and error_code(late) == "APPOINTMENT_STARTED"


async def test_booking_needs_real_name_and_sign_in(client, sms, story):
    item, office = story
    slot = await publish(client, office, item.id, beijing(3, 9))
    phone_only = await sign_in(client, sms)
    refused = await book(client, phone_only, slot["id"])
    assert refused.status_code == 403 and error_code(refused) == "IDENTITY_LEVEL_REQUIRED"
    anonymous = await client.post("/api/v1/appointments", json={"slot_id": slot["id"]})
    assert anonymous.status_code == 401
    for params in ({"day": "2026-12-03"}, {"item_id": item.id, "day": "3 Dec"}, {"item_id": item.id}):
        bad = await client.get("/api/v1/appointment-slots", headers=phone_only.headers, params=params)
        assert bad.status_code == 422 and error_code(bad) == "VALIDATION_FAILED"


async def test_only_offices_publish_and_slots_must_make_sense(client, story, clock):
    item, office = story
    lab = await make_department(clock, "检测机构（示例）", ["lab"])
    good = {"item_id": item.id, "office": OFFICE, "starts_at": utc(beijing(3, 9)), "ends_at": utc(beijing(3, 9, 30)),
            "capacity": 5}
    refused = await client.post(SLOTS, headers=lab.headers(), json=good)
    assert refused.status_code == 403 and error_code(refused) == "CLIENT_ROLE_REQUIRED"
    assert (await client.get(SLOTS, headers=lab.headers())).status_code == 403
    assert (await client.post(SLOTS, json=good)).status_code == 401

    for change, field in (({"ends_at": utc(beijing(3, 8))}, "ends_at"), ({"capacity": 0}, "capacity"),
                          ({"starts_at": utc(beijing(1, 9)), "ends_at": utc(beijing(1, 9, 30))}, "starts_at"),
                          ({"starts_at": "2026-12-03T09:00:00"}, "starts_at")):
        bad = await client.post(SLOTS, headers=office.headers(), json={**good, **change})
        assert bad.status_code == 422 and error_code(bad) == "VALIDATION_FAILED", (change, bad.text)
        assert field in [f["field"] for f in bad.json()["error"]["fields"]]
    unknown = await client.post(SLOTS, headers=office.headers(), json={**good, "item_id": "no-such-item"})
    assert unknown.status_code == 404 and error_code(unknown) == "SERVICE_ITEM_NOT_FOUND"
    assert (await client.get(f"{SLOTS}/slot_nope/bookings", headers=office.headers())).status_code == 404
    assert await AppointmentSlot.all().count() == 0

    await publish(client, office, item.id, beijing(3, 9))
    await publish(client, office, item.id, beijing(4, 9))
    listed = await client.get(SLOTS, headers=office.headers(), params={"item_id": item.id, "day": "2026-12-04"})
    assert [s["starts_at"] for s in listed.json()["items"]] == ["2026-12-04T01:00:00Z"]


async def test_a_reminder_goes_out_the_day_before_once(app, client, sms, story, clock, platform_api):
    item, office = story
    slot = await publish(client, office, item.id, beijing(3, 9, 30))
    kept_by, cancelled_by = await verified_citizen(client, sms, 1), await verified_citizen(client, sms, 2)
    in_wechat = await in_mini_program(client, platform_api, kept_by.phone, "appointment", clock=clock)
    kept = (await book(client, kept_by, slot["id"])).json()
    dropped = (await book(client, cancelled_by, slot["id"])).json()
    await client.delete(f"/api/v1/appointments/{dropped['id']}", headers=cancelled_by.headers)
    reminders = app.ctx.services.appointments

    assert await reminders.send_reminders() == 0  # two days ahead: not yet
    clock.set(beijing(2, 8, 30))
    assert await reminders.send_reminders() == 0  # the day before, but not before 09:00
    clock.set(beijing(2, 9, 10))
    assert await asyncio.gather(reminders.send_reminders(), reminders.send_reminders()) in ([1, 0], [0, 1])
    assert await reminders.send_reminders() == 0

    kept_by = await refresh_tokens(client, kept_by)
    box = (await client.get("/api/v1/notifications", headers=kept_by.headers)).json()["items"]
    reminder = next(m for m in box if m["kind"] == "appointment_reminder")
    assert reminder["title"] == "预约办事提醒"
    assert "09:30" in reminder["body"] and OFFICE in reminder["body"] and "往来港澳通行证再次签注" in reminder["body"]
    assert [m.text for m in sms.outbox(kept_by.phone) if "预约" in m.text] == \
        [f"【粤省事示例】预约办事提醒：{reminder['body']}"]
    assert [m["data"]["thing1"]["value"] for m in await messages_to(platform_api, in_wechat)] == ["预约办事提醒"]
    assert await Notification.filter(citizen_id=cancelled_by.id, kind="appointment_reminder").count() == 0
    assert (await Appointment.get(id=kept["id"])).reminded_at is not None
    deliveries = await NotificationDelivery.filter(notification__kind="appointment_reminder").order_by("channel")
    assert [(d.channel, d.status, d.attempts) for d in deliveries] == \
        [("in_app", "sent", 1), ("mini_program", "sent", 1), ("sms", "sent", 1)]


async def test_a_reminder_whose_message_was_not_stored_is_not_counted_as_sent(app, client, sms, story, clock,
                                                                              monkeypatch):
    item, office = story
    slot = await publish(client, office, item.id, beijing(2, 15))
    citizen = await verified_citizen(client, sms)
    appointment = (await book(client, citizen, slot["id"])).json()

    async def fails(*args, **kwargs):
        raise ConnectionError("database connection lost")  # after the claim, before the commit

    monkeypatch.setattr(appointments_module, "store_message", fails)
    with pytest.raises(ConnectionError):
        await app.ctx.services.appointments.send_reminders()
    monkeypatch.undo()
    assert (await Appointment.get(id=appointment["id"])).reminded_at is None  # the claim went back with it
    assert await app.ctx.services.appointments.send_reminders() == 1  # the next run sends it, once
    assert await app.ctx.services.appointments.send_reminders() == 0
    assert await Notification.filter(citizen_id=citizen.id, kind="appointment_reminder").count() == 1


async def test_a_moved_booking_is_reminded_for_its_new_day(app, client, sms, story, clock):
    item, office = story
    first = await publish(client, office, item.id, beijing(2, 15))
    later = await publish(client, office, item.id, beijing(4, 15))
    citizen = await verified_citizen(client, sms)
    appointment = (await book(client, citizen, first["id"])).json()
    assert await app.ctx.services.appointments.send_reminders() == 1  # 10:00 on the 1st: tomorrow is the 2nd
    await client.put(f"/api/v1/appointments/{appointment['id']}", headers=citizen.headers, json={"slot_id": later["id"]})
    clock.set(beijing(3, 10))
    assert await app.ctx.services.appointments.send_reminders() == 1
    assert await Notification.filter(citizen_id=citizen.id, kind="appointment_reminder").count() == 2


async def test_the_jobs_join_the_running_scheduler_and_run_on_one_worker(app, platform, sms, client, story):
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_core_jobs(scheduler, platform.cache, platform.clock)
    add_notification_jobs(scheduler, platform)
    add_appointment_jobs(scheduler, platform.cache, app.ctx.services.appointments)
    assert sorted(job.id for job in scheduler.get_jobs()) == ["appointment-reminders", "audit-pending-sweep",
                                                              "audit-root-anchor", "notification-retries"]

    item, office = story
    slot = await publish(client, office, item.id, beijing(2, 15))
    citizen = await verified_citizen(client, sms)
    await book(client, citizen, slot["id"])
    ran = await asyncio.gather(*(run_exclusively(platform.cache, "appointment-reminders", app.ctx.services.appointments.send_reminders)
                                 for _ in range(3)))
    assert ran.count(True) >= 1
    assert await Notification.filter(citizen_id=citizen.id, kind="appointment_reminder").count() == 1


async def test_booking_and_cancelling_are_confirmed_in_the_inbox(client, sms, story, clock):
    item, office = story
    slot = await publish(client, office, item.id, beijing(3, 9, 30))
    citizen = await verified_citizen(client, sms, sequence=77)
    booked = await book(client, citizen, slot["id"])
    assert booked.status_code == 201, booked.text
    cancelled = await client.delete(f"/api/v1/appointments/{booked.json()['id']}", headers=citizen.headers)
    assert cancelled.status_code == 200
    kinds = [n.kind for n in await Notification.filter(citizen_id=citizen.id).order_by("created_at", "id")]
    assert kinds[-2:] == ["appointment_booked", "appointment_cancelled"]
    box = (await client.get("/api/v1/notifications", headers=citizen.headers)).json()["items"]
    confirmation = next(m for m in box if m["kind"] == "appointment_booked")
    assert "2026-12-03 09:30" in confirmation["body"] and OFFICE in confirmation["body"]


async def test_slots_and_bookings_name_a_catalogue_item_in_the_readers_language(client, sms, story, clock):
    """The clerk publishes in the catalogue's zh-Hans; a reader of English or Traditional Chinese sees their own."""
    item = await make_item(clock, item_id="gd-hrss-001-sample", name="社会保障卡申领")
    slot = await publish(client, story[1], item.id, beijing(3, 9))
    assert slot["item_name"] == "社会保障卡申领"  # the clerk's reply
    citizen = await verified_citizen(client, sms)
    english = {**citizen.headers, "Accept-Language": "en"}
    listed = await client.get("/api/v1/appointment-slots", headers=english, params={"item_id": item.id, "day": "2026-12-03"})
    assert [s["item_name"] for s in listed.json()["items"]] == ["Apply for a social security card"]
    booked = await client.post("/api/v1/appointments", headers=english, json={"slot_id": slot["id"]})
    assert booked.status_code == 201 and booked.json()["slot"]["item_name"] == "Apply for a social security card"
    mine = await client.get("/api/v1/appointments", headers={**citizen.headers, "Accept-Language": "zh-TW"})
    assert [a["slot"]["item_name"] for a in mine.json()["items"]] == ["社會保障卡申領"]
