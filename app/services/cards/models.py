"""The service cards a citizen pinned to the home screen (服务卡片).

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class CardPin(Model):
    """A service card a citizen pinned to the home screen, at a position."""

    id = fields.BigIntField(pk=True)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="card_pins", on_delete=fields.CASCADE
    )
    card_type = fields.CharField(max_length=40)
    position = fields.IntField()

    citizen_id: str

    class Meta:
        table = "card_pins"
        unique_together = (("citizen_id", "card_type"),)
