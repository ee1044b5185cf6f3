"""Appointment slots an office publishes, and the citizens' bookings (网上预约).

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AppointmentSlot(Model):
    """A time slot an office publishes for an item, with a capacity that is never overbooked."""

    id = fields.CharField(pk=True, max_length=40)
    office = fields.CharField(max_length=100)
    item: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.ServiceItem", related_name="slots", on_delete=fields.CASCADE
    )
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    capacity = fields.IntField()
    booked = fields.IntField(default=0)

    item_id: str

    class Meta:
        table = "appointment_slots"


class Appointment(Model):
    """A booking of one slot by one citizen (active marker makes one live booking per item and day)."""

    id = fields.CharField(pk=True, max_length=40)
    slot: fields.ForeignKeyRelation[AppointmentSlot] = fields.ForeignKeyField(
        "models.AppointmentSlot", related_name="appointments", on_delete=fields.CASCADE
    )
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="appointments", on_delete=fields.CASCADE
    )
    item_id = fields.CharField(max_length=40)
    day = fields.DateField()
    status = fields.CharField(max_length=16, default="booked")  # booked, cancelled
    active_marker = fields.CharField(max_length=40, default="active")  # the booking id once cancelled
    reminded_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    slot_id: str
    citizen_id: str

    class Meta:
        table = "appointments"
        unique_together = (("citizen_id", "item_id", "day", "active_marker"),)
