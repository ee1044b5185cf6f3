"""The service catalogue: departments, items (事项) with their guides (办事指南), and life-event bundles (一件事).

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from typing import Any

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
    item_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)  # in the order a citizen does them
    # The items one joint application (一件事联办) covers, in order; empty when the bundle is not applied for jointly
    joint_item_ids: fields.JSONField[list[str]] = fields.JSONField(default=list)
    sample = fields.BooleanField(default=True)

    class Meta:
        table = "life_events"


class ServiceItem(Model):
    """One catalogue item (政务服务事项) with its guide (办事指南), auto-approval rules and search text."""

    id = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=200)
    aliases: fields.JSONField[list[str]] = fields.JSONField(default=list)
    department: fields.ForeignKeyRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="items", on_delete=fields.RESTRICT
    )
    region_level = fields.CharField(max_length=16)  # province, city, district
    region_code = fields.CharField(max_length=6)
    category = fields.CharField(max_length=40)
    life_events: fields.JSONField[list[str]] = fields.JSONField(default=list)  # codes of the bundles it belongs to
    # [{name, required, licence_type}] where licence_type satisfies it
    materials: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    legal_basis = fields.TextField(default="")
    time_limit_days = fields.IntField(default=0)  # promised working days, 0 means on the spot
    fee = fields.CharField(max_length=100, default="不收费")
    trips = fields.IntField(default=0)  # visits to an office needed, 0 is 零跑动
    channels: fields.JSONField[list[str]] = fields.JSONField(default=list)  # online, offline, mini_program
    faq: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)  # [{q, a}]
    status = fields.CharField(max_length=16, default="draft")  # draft, published, retired
    popularity = fields.IntField(default=0)
    approval_rules: fields.JSONField[Any] = fields.JSONField(null=True)  # declarative 秒批 rules, null means always reviewed
    # The application form (申请表) as a JSON Schema (draft 2020-12) apps render from; null means any JSON object
    form_schema: fields.JSONField[Any] = fields.JSONField(null=True)
    rules_version = fields.IntField(default=0)
    search_text = fields.TextField(default="")  # name, aliases, FAQ, pinyin and initials, maintained by the service
    sample = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    department_id: str

    class Meta:
        table = "service_items"
        indexes = (("status", "region_code"),)
