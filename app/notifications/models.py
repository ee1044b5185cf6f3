from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Notification(Model):
    """One inbox message: a template kind and its parameters, rendered in the language of the reader."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=64)
    params: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(db_index=True)
    read_at = fields.DatetimeField(null=True)

    citizen_id: str

    class Meta:
        table = "notifications"
        indexes = (("citizen_id", "created_at"),)


class NotificationDelivery(Model):
    """One attempt plan of sending a notification over one channel (in-app, SMS, mini-program), with retries."""

    id = fields.BigIntField(pk=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16, default="pending")  # pending, sent, failed
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True, db_index=True)
    last_error = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    notification_id: str

    class Meta:
        table = "notification_deliveries"
