from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Notification(Model):
    """One inbox message: a template kind and its parameters, rendered in the language of the reader."""

    id = fields.CharField(pk=True, max_length=40)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="notifications", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=64)
    params = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(db_index=True)
    read_at = fields.DatetimeField(null=True)

    citizen_id: str

    class Meta:
        table = "notifications"
        indexes = (("citizen_id", "created_at"),)
