"""Family proxy links (亲情账号) and the undo windows of elderly-mode submissions.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class FamilyLink(Model):
    """A family proxy link (亲友代办): the proxy may act for the principal while it is active and unexpired."""

    id = fields.CharField(pk=True, max_length=40)
    principal: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="proxied_by", on_delete=fields.CASCADE
    )
    proxy: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="proxy_for", on_delete=fields.CASCADE
    )
    relation = fields.CharField(max_length=16)  # child, spouse, parent, grandchild, sibling, relative, guardian
    basis = fields.CharField(max_length=16)  # sms, hall, guardian
    status = fields.CharField(max_length=16, default="pending")  # pending, active, revoked
    evidence_licence_id = fields.CharField(max_length=40, null=True)  # the household register for a guardian
    issued_by = fields.CharField(max_length=40, null=True)  # the service-hall client that issued an in-person code
    created_at = fields.DatetimeField()
    confirmed_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    revoked_by = fields.CharField(max_length=64, null=True)

    principal_id: str
    proxy_id: str

    class Meta:
        table = "family_links"
        indexes = (("proxy_id", "principal_id"),)


class UndoWindow(Model):
    """An application submitted in elderly mode, withdrawable without penalty until undo_until."""

    application_id = fields.CharField(pk=True, max_length=40)
    citizen_id = fields.CharField(max_length=40, db_index=True)
    submitted_at = fields.DatetimeField()
    undo_until = fields.DatetimeField()
    withdrawn_at = fields.DatetimeField(null=True)

    class Meta:
        table = "elderly_undo_windows"
