"""Citizens, their login sessions and refresh tokens. PII columns hold ciphertext only."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Citizen(Model):
    """The account of a citizen (市民账号). Level: 1 phone, 2 real-name (实名), 3 face-verified."""

    id = fields.CharField(pk=True, max_length=40)
    phone_enc = fields.TextField()
    phone_hash = fields.CharField(max_length=64, unique=True)
    name_enc = fields.TextField(null=True)
    id_number_enc = fields.TextField(null=True)
    id_number_hash = fields.CharField(max_length=64, unique=True, null=True)
    level = fields.SmallIntField(default=1)
    elderly_mode = fields.BooleanField(default=False)
    identity_verified_at = fields.DatetimeField(null=True)
    face_verified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "citizens"


class LoginSession(Model):
    """One signed-in device (登录设备), whose refresh tokens form one family."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="sessions", on_delete=fields.CASCADE
    )
    device_name = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    revoked_reason = fields.CharField(max_length=32, null=True)

    citizen_id: str

    class Meta:
        table = "login_sessions"


class RefreshToken(Model):
    """A refresh token, stored as its SHA-256 only, used once and then replaced."""

    id = fields.BigIntField(pk=True)
    session: fields.ForeignKeyRelation[LoginSession] = fields.ForeignKeyField(
        "models.LoginSession", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    session_id: str

    class Meta:
        table = "refresh_tokens"
