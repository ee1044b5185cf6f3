"""The service catalogue (事项, 办事指南, 一件事), applications (办件), appointments, ratings, home cards.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Department(Model):
    """A government department that owns catalogue items (e.g. 省人力资源社会保障厅)."""

    id = fields.CharField(pk=True, max_length=40)  # a stable code, e.g. gd-hrss
    name = fields.CharField(max_length=100)
    name_en = fields.CharField(max_length=150, null=True)
    region_level = fields.CharField(max_length=16)  # province, city, district
    region_code = fields.CharField(max_length=6)  # GB/T 2260
    sample = fields.BooleanField(default=True)

    class Meta:
        table = "departments"


class LifeEvent(Model):
    """A life-event bundle (一件事): several items a citizen does together, e.g. 新生儿出生一件事."""

    code = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=100)
    description = fields.TextField(default="")
    item_ids = fields.JSONField(default=list)  # in the order a citizen does them
    sample = fields.BooleanField(default=True)

    class Meta:
        table = "life_events"


class ServiceItem(Model):
    """One catalogue item (政务服务事项) with its guide (办事指南), auto-approval rules and search text."""

    id = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=200)
    aliases = fields.JSONField(default=list)
    department = fields.ForeignKeyField("models.Department", related_name="items", on_delete=fields.RESTRICT)
    region_level = fields.CharField(max_length=16)  # province, city, district
    region_code = fields.CharField(max_length=6)
    category = fields.CharField(max_length=40)
    life_events = fields.JSONField(default=list)  # codes of the bundles it belongs to
    materials = fields.JSONField(default=list)  # [{name, required, licence_type}] where licence_type satisfies it
    legal_basis = fields.TextField(default="")
    time_limit_days = fields.IntField(default=0)  # promised working days, 0 means on the spot
    fee = fields.CharField(max_length=100, default="不收费")
    trips = fields.IntField(default=0)  # visits to an office needed, 0 is 零跑动
    channels = fields.JSONField(default=list)  # online, offline, mini_program
    faq = fields.JSONField(default=list)  # [{q, a}]
    status = fields.CharField(max_length=16, default="draft")  # draft, published, retired
    popularity = fields.IntField(default=0)
    approval_rules = fields.JSONField(null=True)  # declarative 秒批 rules, null means always reviewed
    rules_version = fields.IntField(default=0)
    search_text = fields.TextField(default="")  # name, aliases, FAQ, pinyin and initials, maintained by the service
    sample = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    department_id: str

    class Meta:
        table = "service_items"
        indexes = (("status", "region_code"),)


class Application(Model):
    """An online application (办件) for one item, moving through its states, with its 秒批 decision."""

    id = fields.CharField(pk=True, max_length=40)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="applications", on_delete=fields.CASCADE)
    item = fields.ForeignKeyField("models.ServiceItem", related_name="applications", on_delete=fields.RESTRICT)
    idempotency_key = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)  # a retry with the same key must carry the same request
    form_enc = fields.TextField(default="")  # form data, encrypted at rest
    materials = fields.JSONField(default=list)  # [{name, licence_id}] or [{name, upload_id}]
    status = fields.CharField(max_length=24, default="submitted")
    decision = fields.JSONField(null=True)  # which auto-approval rules passed or failed, with the rules version
    assigned_to = fields.CharField(max_length=40, null=True)  # the clerk working it
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    citizen_id: str
    item_id: str

    class Meta:
        table = "applications"
        unique_together = (("citizen_id", "idempotency_key"),)
        indexes = (("status", "updated_at"),)


class ApplicationEvent(Model):
    """One state change of an application, who made it and why."""

    id = fields.BigIntField(pk=True)
    application = fields.ForeignKeyField("models.Application", related_name="events", on_delete=fields.CASCADE)
    from_status = fields.CharField(max_length=24, null=True)
    to_status = fields.CharField(max_length=24)
    actor = fields.CharField(max_length=64)
    actor_type = fields.CharField(max_length=16)
    note = fields.TextField(default="")
    at = fields.DatetimeField()

    application_id: str

    class Meta:
        table = "application_events"


class AppointmentSlot(Model):
    """A time slot an office publishes for an item, with a capacity that is never overbooked."""

    id = fields.CharField(pk=True, max_length=40)
    office = fields.CharField(max_length=100)
    item = fields.ForeignKeyField("models.ServiceItem", related_name="slots", on_delete=fields.CASCADE)
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
    slot = fields.ForeignKeyField("models.AppointmentSlot", related_name="appointments", on_delete=fields.CASCADE)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="appointments", on_delete=fields.CASCADE)
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


class Rating(Model):
    """A 好差评 rating of one completed application, once."""

    id = fields.CharField(pk=True, max_length=40)
    application = fields.OneToOneField("models.Application", related_name="rating", on_delete=fields.CASCADE)
    citizen_id = fields.CharField(max_length=40)
    item_id = fields.CharField(max_length=40, db_index=True)
    department_id = fields.CharField(max_length=40, db_index=True)
    score = fields.IntField()
    tags = fields.JSONField(default=list)
    text = fields.TextField(default="")
    created_at = fields.DatetimeField()

    application_id: str

    class Meta:
        table = "ratings"


class FollowUpCase(Model):
    """A bad rating (2 or less) opens a case the department must answer before its deadline."""

    id = fields.CharField(pk=True, max_length=40)
    rating = fields.OneToOneField("models.Rating", related_name="follow_up", on_delete=fields.CASCADE)
    department_id = fields.CharField(max_length=40, db_index=True)
    deadline = fields.DatetimeField()
    status = fields.CharField(max_length=16, default="open")  # open, answered, overdue
    answer = fields.TextField(default="")
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    rating_id: str

    class Meta:
        table = "follow_up_cases"


class CardPin(Model):
    """A service card a citizen pinned to the home screen, at a position."""

    id = fields.BigIntField(pk=True)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="card_pins", on_delete=fields.CASCADE)
    card_type = fields.CharField(max_length=40)
    position = fields.IntField()

    citizen_id: str

    class Meta:
        table = "card_pins"
        unique_together = (("citizen_id", "card_type"),)
