"""Online applications (办件) and the history of their state changes.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Application(Model):
    """An online application (办件) for one item, moving through its states, with its 秒批 decision."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="applications", on_delete=fields.CASCADE
    )
    item: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.ServiceItem", related_name="applications", on_delete=fields.RESTRICT
    )
    idempotency_key = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)  # a retry with the same key must carry the same request
    form_enc = fields.TextField(default="")  # form data, encrypted at rest
    # [{name, licence_id}] or [{name, upload_id}]
    materials: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=24, default="submitted")
    # Which auto-approval rules passed or failed, with the rules version
    decision: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
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
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="events", on_delete=fields.CASCADE
    )
    from_status = fields.CharField(max_length=24, null=True)
    to_status = fields.CharField(max_length=24)
    actor = fields.CharField(max_length=64)
    actor_type = fields.CharField(max_length=16)
    note = fields.TextField(default="")
    at = fields.DatetimeField()

    application_id: str

    class Meta:
        table = "application_events"


class JointApplication(Model):
    """A joint application (一件事联办): one submission for the items of a bundle, each part an application."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="joint_applications", on_delete=fields.CASCADE
    )
    bundle_code = fields.CharField(max_length=40)  # the life-event bundle (一件事) applied for
    idempotency_key = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)  # a retry with the same key must carry the same request
    created_at = fields.DatetimeField()

    citizen_id: str

    class Meta:
        table = "joint_applications"
        unique_together = (("citizen_id", "idempotency_key"),)


class JointPart(Model):
    """One part of a joint application: the application for one item of the bundle (a resubmission after a
    rejection is a new attempt of the same part, the earlier one kept)."""

    id = fields.BigIntField(pk=True)
    joint: fields.ForeignKeyRelation[JointApplication] = fields.ForeignKeyField(
        "models.JointApplication", related_name="parts", on_delete=fields.CASCADE
    )
    item_id = fields.CharField(max_length=40)
    position = fields.IntField()  # the item's place in the bundle, from 1
    attempt = fields.IntField(default=1)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="joint_parts", on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()

    joint_id: str
    application_id: str

    class Meta:
        table = "joint_parts"
        unique_together = (("joint_id", "position", "attempt"),)
