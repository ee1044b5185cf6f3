"""Evidence, status evaluations and the current status of each citizen."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class HealthEvidence(Model):
    """One piece of evidence (self-declaration, test result, vaccination, travel, exposure) and its source."""

    id = fields.CharField(pk=True, max_length=40)
    citizen = fields.ForeignKeyField("models.Citizen", related_name="health_evidence", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=16)
    source = fields.CharField(max_length=64)
    observed_at = fields.DatetimeField()
    recorded_at = fields.DatetimeField()
    data = fields.JSONField(default=dict)

    citizen_id: str

    class Meta:
        table = "health_evidence"
        indexes = (("citizen_id", "observed_at"),)


class HealthStatus(Model):
    """The current status of a citizen (one row each), re-evaluated on evidence and at next_change_at."""

    citizen_id = fields.CharField(pk=True, max_length=40)
    colour = fields.CharField(max_length=8)
    reasons = fields.JSONField(default=list)
    rule_version = fields.CharField(max_length=32)
    evaluated_at = fields.DatetimeField()
    next_change_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        table = "health_status"


class StatusEvaluation(Model):
    """Every evaluation, with the rule-set version used, so each status can be explained later."""

    id = fields.BigIntField(pk=True)
    citizen_id = fields.CharField(max_length=40, db_index=True)
    colour = fields.CharField(max_length=8)
    reasons = fields.JSONField(default=list)
    rule_version = fields.CharField(max_length=32)
    evaluated_at = fields.DatetimeField()
    trigger = fields.CharField(max_length=32)
    changed = fields.BooleanField()

    class Meta:
        table = "health_status_evaluations"
