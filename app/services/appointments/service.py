"""Appointments (网上预约): offices publish time slots with a capacity, citizens book, change and cancel.

A slot is never overbooked, however many citizens press "book" at once: a seat is taken by one
conditional UPDATE (`booked = booked + 1 WHERE booked < capacity`), which the database runs one
at a time per row, in the same transaction as the booking row. A citizen holds at most one live
booking per item and day: the unique (citizen, item, day, active_marker) constraint says so
(`active_marker` is "active" while booked and the booking id once cancelled), and when it refuses
a booking the transaction rolls back, so the seat taken a moment earlier is given back.

Days are calendar days in Beijing time (`CHINA_TZ`), the time zone of the offices and of the
citizens they serve; times are stored and replied in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from app import audit
from app.clock import CHINA_TZ, Clock, china_day
from app.errors import AppError, Conflict, NotFound, ValidationFailed
from app.ids import new_id
from app.notifications.service import send_stored, store_message
from app.platform import Platform
from app.security.clients import AuthenticatedClient
from app.services.appointments.models import Appointment, AppointmentSlot
from app.services.catalogue.service import ServiceItem

OFFICE_ROLE = "office"
BOOKED, CANCELLED = "booked", "cancelled"
ACTIVE = "active"
MAX_CAPACITY = 500
MAX_SLOT_HOURS = 12
REMIND_FROM = time(9, 0)  # reminders go out from 09:00 Beijing time the day before, not at midnight



def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a Beijing-time calendar day starts and ends."""
    start = datetime.combine(day, time(0), tzinfo=CHINA_TZ)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


@dataclass(frozen=True)
class SlotView:
    id: str
    item_id: str
    item_name: str
    office: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.booked)


@dataclass(frozen=True)
class AppointmentView:
    id: str
    status: str
    slot: SlotView
    day: date
    created_at: datetime


class AppointmentService:
    """Publishing slots (offices), booking, changing and cancelling them (citizens), reminders."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    @property
    def clock(self) -> Clock:
        return self.platform.clock

    # -- offices ----------------------------------------------------------------------------------
    async def publish_slot(self, office_client: AuthenticatedClient, item_id: str, office: str,
                           starts_at: datetime, ends_at: datetime, capacity: int) -> SlotView:
        """An office (办事窗口) opens a slot for one item; the item must be in the catalogue and not retired."""
        item = await ServiceItem.get_or_none(id=item_id)
        if item is None or item.status == "retired":
            raise NotFound("SERVICE_ITEM_NOT_FOUND")  # the code the catalogue answers with
        problems = []
        if starts_at <= self.clock.now():
            problems.append({"field": "starts_at", "problem": "must be in the future"})
        if not starts_at < ends_at <= starts_at + timedelta(hours=MAX_SLOT_HOURS):
            problems.append({"field": "ends_at", "problem": f"after starts_at, at most {MAX_SLOT_HOURS} h later"})
        if not 1 <= capacity <= MAX_CAPACITY:
            problems.append({"field": "capacity", "problem": f"1..{MAX_CAPACITY}"})
        if problems:
            raise ValidationFailed(problems)
        slot = await AppointmentSlot.create(id=new_id("slot"), office=office, item_id=item.id, starts_at=starts_at,
                                            ends_at=ends_at, capacity=capacity)
        await audit.record_event(self.clock, actor=office_client.id, actor_type="department", action="appointment_slot_published",
                                 attributes={"slot": slot.id, "item": item.id, "capacity": capacity})
        return _slot_view(slot, item.name)

    async def seed_sample_slots(self, item_id: str, office: str, days: int = 14) -> int:
        """Dev only (sample data): two slots a day, 09:30 and 14:30 Beijing time, for the next `days` days
        of one sample item, so a demo has something to book; days that already have slots are left alone."""
        if not await ServiceItem.exists(id=item_id):
            return 0
        today = self.clock.today()
        made = 0
        for offset in range(1, days + 1):
            day = today + timedelta(days=offset)
            start, end = day_bounds(day)
            if await AppointmentSlot.filter(item_id=item_id, starts_at__gte=start, starts_at__lt=end).exists():
                continue
            for hour, minute in ((9, 30), (14, 30)):
                starts = datetime.combine(day, time(hour, minute), CHINA_TZ).astimezone(timezone.utc)
                try:  # named by item and time, so the workers of one start cannot both add it
                    await AppointmentSlot.create(id=f"slot_{day:%y%m%d}{hour:02d}{minute:02d}_{item_id}"[:40], office=office,
                                                 item_id=item_id, starts_at=starts,
                                                 ends_at=starts + timedelta(minutes=30), capacity=20)
                except IntegrityError:
                    continue
                made += 1
        return made

    async def office_slots(self, item_id: str | None, day: date | None) -> list[SlotView]:
        query = AppointmentSlot.all()
        if item_id:
            query = query.filter(item_id=item_id)
        if day:
            start, end = day_bounds(day)
            query = query.filter(starts_at__gte=start, starts_at__lt=end)
        return await _views(await query.order_by("starts_at", "id").limit(500))

    async def bookings(self, slot_id: str) -> list[Appointment]:
        """The live bookings of a slot, for the office counter (ids only: no personal data)."""
        if not await AppointmentSlot.exists(id=slot_id):
            raise NotFound("SLOT_NOT_FOUND")
        return await Appointment.filter(slot_id=slot_id, status=BOOKED).order_by("created_at", "id")

    # -- citizens ---------------------------------------------------------------------------------
    async def open_slots(self, item_id: str, day: date) -> list[SlotView]:
        """The slots of an item on a day that have not started yet, with their free seats (full ones too)."""
        start, end = day_bounds(day)
        start = max(start, self.clock.now())
        rows = await AppointmentSlot.filter(item_id=item_id, starts_at__gte=start, starts_at__lt=end) \
            .order_by("starts_at", "id")
        return await _views(rows)

    async def book(self, citizen_id: str, slot_id: str) -> AppointmentView:
        """Take one seat of a slot: 409 SLOT_FULL when none is left, 409 ALREADY_BOOKED when the
        citizen already holds a booking for the same item that day."""
        slot = await self._bookable_slot(slot_id)
        day = china_day(slot.starts_at)
        appointment_id = new_id("apt")
        about = await _message_params(slot)
        async with in_transaction() as conn:
            await self._take_seat(slot.id, conn)
            try:
                appointment = await Appointment.create(
                    id=appointment_id, slot_id=slot.id, citizen_id=citizen_id, item_id=slot.item_id, day=day,
                    status=BOOKED, active_marker=ACTIVE, created_at=self.clock.now(), using_db=conn)
            except IntegrityError:
                # Raising rolls the transaction back, and with it the seat just taken.
                raise Conflict("ALREADY_BOOKED") from None
            stored = await store_message(conn, self.platform, citizen_id, "appointment_booked", about)
        await send_stored(self.platform, stored)
        return await self._view(appointment)  # the slot as it is now, other bookings included

    async def change(self, citizen_id: str, appointment_id: str, new_slot_id: str) -> AppointmentView:
        """Move a booking to another slot of the same item, at once: the new seat is taken and the
        old one freed in one transaction, so a full new slot leaves the old booking as it was."""
        appointment, _ = await self._live(citizen_id, appointment_id)
        if new_slot_id == appointment.slot_id:
            return await self._view(appointment)
        slot = await self._bookable_slot(new_slot_id)
        if slot.item_id != appointment.item_id:
            raise AppError("SLOT_OTHER_ITEM", status=422)
        day = china_day(slot.starts_at)
        async with in_transaction() as conn:
            await self._take_seat(slot.id, conn)
            try:
                moved = await Appointment.filter(id=appointment.id, status=BOOKED, slot_id=appointment.slot_id) \
                    .using_db(conn).update(slot_id=slot.id, day=day, reminded_at=None)
            except IntegrityError:
                raise Conflict("ALREADY_BOOKED") from None  # another booking for the item on the new day
            if not moved:
                raise Conflict("APPOINTMENT_CHANGED")  # cancelled or moved meanwhile; the seat goes back
            await _free_seat(appointment.slot_id, conn)
        appointment.slot_id, appointment.day, appointment.reminded_at = slot.id, day, None
        return await self._view(appointment)

    async def cancel(self, citizen_id: str, appointment_id: str) -> AppointmentView:
        """Cancel a booking that has not started; its seat is free for someone else at once."""
        appointment, slot = await self._live(citizen_id, appointment_id)
        about = await _message_params(slot)
        async with in_transaction() as conn:
            cancelled = await Appointment.filter(id=appointment.id, status=BOOKED).using_db(conn) \
                .update(status=CANCELLED, active_marker=appointment.id)
            if not cancelled:
                raise Conflict("APPOINTMENT_NOT_ACTIVE")
            await _free_seat(appointment.slot_id, conn)
            stored = await store_message(conn, self.platform, citizen_id, "appointment_cancelled", about)
        await send_stored(self.platform, stored)
        appointment.status = CANCELLED
        return await self._view(appointment)

    # -- account deletion (注销) ----------------------------------------------------------------------
    async def erase_citizen(self, citizen_id: str) -> None:
        """The account is erased: its bookings go, and the seat of each one still to come is free again."""
        now = self.clock.now()
        async with in_transaction() as conn:
            upcoming = await Appointment.filter(citizen_id=citizen_id, status=BOOKED, slot__starts_at__gt=now).using_db(conn)
            for appointment in upcoming:
                await _free_seat(appointment.slot_id, conn)
            await Appointment.filter(citizen_id=citizen_id).using_db(conn).delete()

    async def mine(self, citizen_id: str) -> list[AppointmentView]:
        rows = await Appointment.filter(citizen_id=citizen_id).order_by("-created_at", "-id").limit(100)
        slots = {s.id: s for s in await _views(await AppointmentSlot.filter(id__in={r.slot_id for r in rows}))}
        return [AppointmentView(r.id, r.status, slots[r.slot_id], r.day, r.created_at) for r in rows]

    # -- reminders --------------------------------------------------------------------------------
    async def send_reminders(self, batch: int = 200) -> int:
        """Remind everyone booked for tomorrow (Beijing time), once: each booking is claimed by a
        conditional update of `reminded_at` before its message goes out, so running twice, or on two
        workers at once, never sends a second reminder; the claim and the message are one transaction,
        so a worker stopped between them loses no reminder either. Returns how many were sent."""
        now = self.clock.now()
        local_now = now.astimezone(CHINA_TZ)
        if local_now.time() < REMIND_FROM:
            return 0
        tomorrow = local_now.date() + timedelta(days=1)
        sent = 0
        while True:
            due = await Appointment.filter(day=tomorrow, status=BOOKED, reminded_at=None).order_by("id").limit(batch)
            for appointment in due:
                about = await _message_params(await AppointmentSlot.get(id=appointment.slot_id))
                async with in_transaction() as conn:
                    if not await Appointment.filter(id=appointment.id, status=BOOKED, reminded_at=None) \
                            .using_db(conn).update(reminded_at=now):
                        continue
                    stored = await store_message(conn, self.platform, appointment.citizen_id, "appointment_reminder", about)
                await send_stored(self.platform, stored)
                sent += 1
            if len(due) < batch:
                return sent

    # -- inside -----------------------------------------------------------------------------------
    async def _bookable_slot(self, slot_id: str) -> AppointmentSlot:
        slot = await AppointmentSlot.get_or_none(id=slot_id)
        if slot is None:
            raise NotFound("SLOT_NOT_FOUND")
        if slot.starts_at <= self.clock.now():
            raise Conflict("SLOT_STARTED")
        return slot

    async def _take_seat(self, slot_id: str, conn: BaseDBAsyncClient) -> None:
        # One statement, checked and written by the database under its row lock: never overbooks.
        taken = await AppointmentSlot.filter(id=slot_id, booked__lt=F("capacity")).using_db(conn) \
            .update(booked=F("booked") + 1)
        if not taken:
            raise Conflict("SLOT_FULL")

    async def _live(self, citizen_id: str, appointment_id: str) -> tuple[Appointment, AppointmentSlot]:
        """One of the citizen's bookings that is still on and not started, with its slot."""
        appointment = await Appointment.get_or_none(id=appointment_id, citizen_id=citizen_id)
        if appointment is None:
            raise NotFound("APPOINTMENT_NOT_FOUND")
        if appointment.status != BOOKED:
            raise Conflict("APPOINTMENT_NOT_ACTIVE")
        slot = await AppointmentSlot.get(id=appointment.slot_id)
        if slot.starts_at <= self.clock.now():
            raise Conflict("APPOINTMENT_STARTED")
        return appointment, slot

    async def _view(self, appointment: Appointment) -> AppointmentView:
        (view,) = await _views([await AppointmentSlot.get(id=appointment.slot_id)])
        return AppointmentView(appointment.id, appointment.status, view, appointment.day, appointment.created_at)


async def _message_params(slot: AppointmentSlot) -> dict[str, str]:
    """What a booking's messages (booked, cancelled, reminder) say about its slot, in Beijing time."""
    starts = slot.starts_at.astimezone(CHINA_TZ)
    item = await ServiceItem.filter(id=slot.item_id).only("id", "name").get()  # a foreign key: it is there
    return {"item": item.name, "office": slot.office, "day": starts.strftime("%Y-%m-%d"), "time": starts.strftime("%H:%M")}


async def _free_seat(slot_id: str, conn: BaseDBAsyncClient) -> None:
    await AppointmentSlot.filter(id=slot_id, booked__gt=0).using_db(conn).update(booked=F("booked") - 1)


def _slot_view(slot: AppointmentSlot, item_name: str) -> SlotView:
    return SlotView(slot.id, slot.item_id, item_name, slot.office, slot.starts_at, slot.ends_at, slot.capacity,
                    slot.booked)


async def _views(slots: list[AppointmentSlot]) -> list[SlotView]:
    names = dict(await ServiceItem.filter(id__in={s.item_id for s in slots}).values_list("id", "name")) if slots else {}
    return [_slot_view(s, names.get(s.item_id, "")) for s in slots]


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Appointments' part of the citizen's copy of their data: every booking (预约), cancelled ones too,
    with the office and time of its slot."""
    rows = await Appointment.filter(citizen_id=citizen_id).order_by("created_at").prefetch_related("slot")
    return {"appointments": [record_of(row, pii, office=row.slot.office, starts_at=row.slot.starts_at,
                                       ends_at=row.slot.ends_at) for row in rows]}
