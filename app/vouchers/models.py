"""The ID voucher (居民身份电子凭证), its presentations, and the e-licence wallet (电子证照).

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class IdVoucher(Model):
    """A digital resident ID voucher bound to one citizen and one registered device (active, suspended, revoked)."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="vouchers", on_delete=fields.CASCADE
    )
    device_id = fields.CharField(max_length=64)
    # The device public key (EC P-256 JWK) that signs presentation requests
    device_key: fields.JSONField[dict[str, Any]] = fields.JSONField()
    status = fields.CharField(max_length=16, default="active")
    status_reason = fields.CharField(max_length=32, null=True)
    issued_at = fields.DatetimeField()
    status_changed_at = fields.DatetimeField()
    replaces = fields.CharField(max_length=40, null=True)  # the voucher this one re-issues

    citizen_id: str

    class Meta:
        table = "id_vouchers"
        indexes = (("citizen_id", "status"),)


class Presentation(Model):
    """One showing of the voucher: a one-time token with the attributes the citizen consented to."""

    id = fields.CharField(pk=True, max_length=40)  # hex of the token id in the QR; offline: offline.credential_id
    voucher: fields.ForeignKeyRelation[IdVoucher] = fields.ForeignKeyField(
        "models.IdVoucher", related_name="presentations", on_delete=fields.CASCADE
    )
    citizen_id = fields.CharField(max_length=40, db_index=True)
    consented: fields.JSONField[list[str]] = fields.JSONField(default=list)  # attribute names the citizen agreed to share
    standing_request = fields.CharField(max_length=40, null=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    extended = fields.BooleanField(default=False)
    redeemed_at = fields.DatetimeField(null=True)
    redeemed_by = fields.CharField(max_length=40, null=True)

    voucher_id: str

    class Meta:
        table = "voucher_presentations"


class StandingRequest(Model):
    """What a relying party always asks for and why, shown to the citizen in plain language."""

    id = fields.CharField(pk=True, max_length=40)
    client_id = fields.CharField(max_length=40, db_index=True)
    attributes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    purpose: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)  # zh-Hans, zh-Hant, en
    created_at = fields.DatetimeField()
    active = fields.BooleanField(default=True)

    class Meta:
        table = "voucher_standing_requests"


class LicenceType(Model):
    """A kind of e-licence (驾驶证, 行驶证, 结婚证 ...), its field schema, and the one issuer allowed to issue it."""

    code = fields.CharField(pk=True, max_length=40)
    name: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)  # zh-Hans, zh-Hant, en
    issuer_client_id = fields.CharField(max_length=40, null=True)  # the department client that issues it
    schema: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)  # JSON Schema of its fields
    sample = fields.BooleanField(default=True)

    class Meta:
        table = "licence_types"


class Licence(Model):
    """One e-licence in a citizen wallet, with the issuer-signed document and its current status."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="licences", on_delete=fields.CASCADE
    )
    type: fields.ForeignKeyRelation[LicenceType] = fields.ForeignKeyField(
        "models.LicenceType", related_name="licences", on_delete=fields.RESTRICT
    )
    issuer_client_id = fields.CharField(max_length=40)
    number_hash = fields.CharField(max_length=64)  # the licence number, hashed, unique per type
    fields_enc = fields.TextField()  # the licence fields, encrypted at rest
    document = fields.TextField()  # the issuer-signed JWS, as issued
    issuer_kid = fields.CharField(max_length=64)
    valid_from = fields.DatetimeField()
    valid_until = fields.DatetimeField(null=True)
    status = fields.CharField(max_length=16, default="valid")  # valid, suspended, revoked
    status_reason = fields.CharField(max_length=64, null=True)
    issued_at = fields.DatetimeField()
    status_changed_at = fields.DatetimeField()

    citizen_id: str
    type_id: str

    class Meta:
        table = "licences"
        unique_together = (("type_id", "number_hash"),)


class LicenceShare(Model):
    """A licence shared for a stated purpose until a time, verifiable online until then or until withdrawn."""

    id = fields.CharField(pk=True, max_length=40)
    licence: fields.ForeignKeyRelation[Licence] = fields.ForeignKeyField(
        "models.Licence", related_name="shares", on_delete=fields.CASCADE
    )
    citizen_id = fields.CharField(max_length=40, db_index=True)
    purpose = fields.CharField(max_length=100)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    withdrawn_at = fields.DatetimeField(null=True)

    licence_id: str

    class Meta:
        table = "licence_shares"
