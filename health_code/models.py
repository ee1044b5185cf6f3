"""Evidence, status evaluations and the current status of each citizen."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class HealthEvidence(Model):
    """One piece of evidence (self-declaration, test result, vaccination, travel, exposure) and its source."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="health_evidence", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)
    source = fields.CharField(max_length=64)
    observed_at = fields.DatetimeField()
    recorded_at = fields.DatetimeField()
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    citizen_id: str

    class Meta:
        table = "health_evidence"
        indexes = (("citizen_id", "observed_at"),)


class HealthStatus(Model):
    """The current status of a citizen (one row each), re-evaluated on evidence and at next_change_at."""

    citizen_id = fields.CharField(pk=True, max_length=40)
    colour = fields.CharField(max_length=8)
    reasons: fields.JSONField[list[Any]] = fields.JSONField(default=list)
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
    reasons: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    rule_version = fields.CharField(max_length=32)
    evaluated_at = fields.DatetimeField()
    trigger = fields.CharField(max_length=32)
    changed = fields.BooleanField()

    class Meta:
        table = "health_status_evaluations"


class Venue(Model):
    """A place with a venue code (场所码), registered by an organisation."""

    id = fields.CharField(pk=True, max_length=40)
    name = fields.CharField(max_length=100)
    address = fields.CharField(max_length=200)
    region_code = fields.CharField(max_length=6)
    organisation_id = fields.CharField(max_length=40, db_index=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "venues"


class VenueCheckIn(Model):
    """A citizen scanned a venue code (扫码登记)."""

    id = fields.CharField(pk=True, max_length=40)
    citizen_id = fields.CharField(max_length=40)
    venue: fields.ForeignKeyRelation[Venue] = fields.ForeignKeyField(
        "models.Venue", related_name="check_ins", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField()

    venue_id: str

    class Meta:
        table = "venue_check_ins"
        indexes = (("venue_id", "at"), ("citizen_id", "at"))


class VenueExposure(Model):
    """A window in which a confirmed case was at a venue, marked by a health administrator."""

    id = fields.CharField(pk=True, max_length=40)
    venue: fields.ForeignKeyRelation[Venue] = fields.ForeignKeyField(
        "models.Venue", related_name="exposures", on_delete=fields.CASCADE
    )
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    marked_by = fields.CharField(max_length=40)
    created_at = fields.DatetimeField()
    affected = fields.IntField(default=0)

    venue_id: str

    class Meta:
        table = "venue_exposures"


class Appeal(Model):
    """A citizen disputes a colour (申诉): pending, then approved (with an override until a time) or rejected."""

    id = fields.CharField(pk=True, max_length=40)
    citizen_id = fields.CharField(max_length=40, db_index=True)
    colour = fields.CharField(max_length=8)
    reason = fields.TextField()
    status = fields.CharField(max_length=10, default="pending", db_index=True)
    created_at = fields.DatetimeField()
    reviewed_by = fields.CharField(max_length=40, null=True)
    reviewed_at = fields.DatetimeField(null=True)
    review_note = fields.CharField(max_length=500, null=True)
    override_until = fields.DatetimeField(null=True)
    # The evidence the appeal disputes, as [evidence id, rule id] pairs: an upheld appeal overrides these only.
    judged: fields.JSONField[list[list[Any]] | None] = fields.JSONField(null=True)
    override_ended_at = fields.DatetimeField(null=True)  # later non-green evidence ended the override early
    ended_by = fields.CharField(max_length=40, null=True)  # the evidence that ended it

    class Meta:
        table = "health_appeals"


class RiskArea(Model):
    """A region on the risk-area list (风险地区), maintained by health administrators, with effective dates."""

    id = fields.CharField(pk=True, max_length=40)
    region_code = fields.CharField(max_length=6, db_index=True)
    level = fields.CharField(max_length=8)
    effective_from = fields.DatetimeField()
    effective_to = fields.DatetimeField(null=True)
    created_by = fields.CharField(max_length=40)
    created_at = fields.DatetimeField()

    class Meta:
        table = "risk_areas"


class IssuedHealthCode(Model):
    """Which citizen an issued code belongs to, so that every later verification of it reaches their access log."""

    code_id = fields.CharField(pk=True, max_length=32)  # hex of the code id bytes in the payload
    citizen_id = fields.CharField(max_length=40, db_index=True)
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    # A code converted from a partner region's code (转码) names its source here.
    partner_id = fields.CharField(max_length=16, null=True)
    source_code_hash = fields.CharField(max_length=64, null=True)
    source_state = fields.CharField(max_length=32, null=True)
    colour = fields.CharField(max_length=8, null=True)
    payload_digest = fields.CharField(max_length=32, null=True)  # names the code's `hc:payload` cache entry
    # The holder's colour after a change to one worse than the code's: online checks then refuse the code.
    status_changed_to = fields.CharField(max_length=8, null=True)

    class Meta:
        table = "issued_health_codes"
