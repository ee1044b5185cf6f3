"""Copies of a citizen's own data (个人信息副本) waiting to be downloaded.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class DataExport(Model):
    """A copy of everything held about one citizen, a zip kept encrypted in object storage until it expires."""

    id = fields.CharField(pk=True, max_length=40)  # 128 random bits: unguessable
    citizen_id = fields.CharField(max_length=40, db_index=True)  # whose data: only they download it
    status = fields.CharField(max_length=16, default="ready")  # building, ready, then expired (the file removed)
    storage_key = fields.CharField(max_length=200)
    size = fields.BigIntField()  # bytes of the zip, before encryption
    sha256 = fields.CharField(max_length=64)  # of the zip, checked again when it is read back
    areas: fields.JSONField[list[str]] = fields.JSONField(default=list)  # the areas in it (profile, sessions, ...)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)  # the download link ends then, and the sweep removes the file
    downloads_left = fields.IntField()
    downloaded_at = fields.DatetimeField(null=True)  # the last download
    removed_at = fields.DatetimeField(null=True)  # when the sweep removed the file

    class Meta:
        table = "data_exports"
