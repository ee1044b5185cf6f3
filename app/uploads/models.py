"""Uploaded files (材料上传): who uploaded each, what it is, where it is kept, and what uses it.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from datetime import datetime

from tortoise import fields
from tortoise.models import Model


class Upload(Model):
    """A file a citizen uploaded (材料上传), kept encrypted in object storage, unused until attached to what uses it."""

    id = fields.CharField(pk=True, max_length=40)  # 128 random bits: unguessable
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="uploads", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=8)  # sniffed from the bytes: jpeg, png or pdf
    content_type = fields.CharField(max_length=40)
    size = fields.IntField()  # bytes as stored (after images were re-encoded), before encryption
    storage_key = fields.CharField(max_length=200)
    owner_kind = fields.CharField(max_length=16, null=True)  # what uses it (application, ticket, joint), once attached
    owner_id = fields.CharField(max_length=40, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)  # unused uploads are deleted after this; none once attached
    attached_at = fields.DatetimeField(null=True)

    citizen_id: str

    class Meta:
        table = "uploads"
        indexes = (("owner_kind", "owner_id"), ("expires_at",))

    @property
    def attached(self) -> bool:
        return self.owner_id is not None

    def usable_by(self, owner_kind: str, owner_id: str | None, now: datetime) -> bool:
        """Unused and not yet expired, or already attached to this very owner."""
        if self.owner_id is None:
            return self.expires_at is not None and self.expires_at > now
        return self.owner_kind == owner_kind and owner_id is not None and self.owner_id == owner_id
