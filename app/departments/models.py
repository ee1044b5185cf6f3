"""What the platform keeps of the department services (部门服务); the departments keep the records themselves."""

from __future__ import annotations


from tortoise import fields  # noqa: E402  (each helper appends its models; the imports stay with them)
from tortoise.models import Model  # noqa: E402


class LicenceStatusPull(Model):
    """When the status of a wallet licence was last asked of its department and what came of it (证照状态同步)."""

    licence_id = fields.CharField(pk=True, max_length=40)  # the wallet licence (电子证照) kept in step
    citizen_id = fields.CharField(max_length=40, db_index=True)  # its holder, whose ID number the department is asked by
    pulled_at = fields.DatetimeField(null=True, db_index=True)  # the last pull the department answered; null: none yet
    tried_at = fields.DatetimeField()  # the last pull tried, answered or not
    outcome = fields.CharField(max_length=32)  # changed, unchanged, no_licence, unknown_status, refused or unavailable
    department_status = fields.CharField(max_length=16, null=True)  # the department status code(s) last answered

    class Meta:
        table = "licence_status_pulls"

