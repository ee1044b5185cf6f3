"""The partner registry and trust list (互认伙伴与信任列表), and codes partners revoked."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Partner(Model):
    """A partner region whose codes we accept and who verifies ours, e.g. MO (澳门) or HK (香港)."""

    id = fields.CharField(pk=True, max_length=16)
    name = fields.CharField(max_length=100)
    formats: fields.JSONField[list[str]] = fields.JSONField(default=list)  # accepted formats of its codes, e.g. ["GDHC1", "HC1"]
    # Its states to our colours, e.g. {"vaccinated": "green"}
    status_mapping: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    # Our colours in its words, for its verifiers, e.g. {"green": "绿码"}
    color_words: fields.JSONField[dict[str, str]] = fields.JSONField(default=dict)
    rate_limit_per_minute = fields.IntField(default=600)  # codes per minute through the partner API
    daily_quota = fields.IntField(default=200000)  # codes per day through the partner API
    contact: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    status = fields.CharField(max_length=16, default="active")  # active or suspended
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "partners"


class PartnerKey(Model):
    """One code-signing key of a partner in our trust list, valid from not_before until not_after unless revoked."""

    id = fields.BigIntField(pk=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="keys", on_delete=fields.CASCADE
    )
    kid = fields.CharField(max_length=64)  # base64url of the kid bytes in its codes
    jwk: fields.JSONField[dict[str, Any]] = fields.JSONField()  # the public key only
    certificate = fields.TextField(null=True)  # base64 DER of a DCC signer certificate, when given
    # Certificate types it may sign (t, v, r); null means any
    usages: fields.JSONField[list[str] | None] = fields.JSONField(null=True)
    not_before = fields.DatetimeField(null=True)
    not_after = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    # No longer listed in the partner's published keys: it verifies codes signed before this, until their own expiry.
    retired_at = fields.DatetimeField(null=True)
    source = fields.CharField(max_length=16, default="manual")  # manual (admin API) or published (the partner's feed)
    created_at = fields.DatetimeField()

    partner_id: str

    class Meta:
        table = "partner_keys"
        unique_together = (("partner_id", "kid"),)


class PartnerKeyFeed(Model):
    """Where a partner publishes its code-signing keys, signed by its long-term publishing key, and how far we read."""

    id = fields.BigIntField(pk=True)
    partner: fields.OneToOneRelation[Partner] = fields.OneToOneField(
        "models.Partner", related_name="key_feed", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=500)
    # The long-term public key its keys documents are signed with
    signer_jwk: fields.JSONField[dict[str, Any]] = fields.JSONField()
    sequence = fields.BigIntField(null=True)  # of the last document applied; an older one never replaces it
    document_issued_at = fields.DatetimeField(null=True)
    checked_at = fields.DatetimeField(null=True)
    outcome = fields.CharField(max_length=32, null=True)  # applied, unchanged, or why the last document was refused
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    partner_id: str

    class Meta:
        table = "partner_key_feeds"


class PartnerHolderKey(Model):
    """A secret a partner and we share to key the holder tags in its codes (互认持有人密钥).

    Kept encrypted at rest and shown once, when made. A replaced key still checks codes until
    `accepted_until`, so codes the partner issued just before it changed key still convert."""

    id = fields.BigIntField(pk=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="holder_keys", on_delete=fields.CASCADE
    )
    key_id = fields.CharField(max_length=32, unique=True)
    key_enc = fields.TextField()
    created_at = fields.DatetimeField()
    accepted_until = fields.DatetimeField(null=True)  # null while it is the partner's current key

    partner_id: str

    class Meta:
        table = "partner_holder_keys"


class RevokedPartnerCode(Model):
    """A code identifier a partner revoked, stored only as its SHA-256 hash (as EU DCC revocation lists)."""

    id = fields.BigIntField(pk=True)
    partner: fields.ForeignKeyRelation[Partner] = fields.ForeignKeyField(
        "models.Partner", related_name="revocations", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64)
    revoked_at = fields.DatetimeField()

    partner_id: str

    class Meta:
        table = "partner_revocations"
        unique_together = (("partner_id", "code_hash"),)
