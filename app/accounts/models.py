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
    # The lookup hash of the bound document (accounts.documents.lookup_key): one (type, number), one account.
    id_number_hash = fields.CharField(max_length=64, unique=True, null=True)
    # Which document `id_number_enc` holds (accounts.documents.DOCUMENT_TYPES), the nationality it states (ISO
    # 3166 alpha-3) and, for a passport read with its machine-readable zone, the birth date in it (encrypted).
    document_type = fields.CharField(max_length=24, default="resident_id", db_default="resident_id")
    nationality = fields.CharField(max_length=3, null=True)
    birth_date_enc = fields.TextField(null=True)
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
    # Where this device receives app push (推送): the provider's registration id, encrypted (PII purpose
    # "push_token") with a keyed hash beside it, so a token re-registered by another session is found.
    push_platform = fields.CharField(max_length=16, null=True)  # ios, android
    push_token_enc = fields.TextField(null=True)
    push_token_hash = fields.CharField(max_length=64, null=True, db_index=True)
    push_language = fields.CharField(max_length=8, null=True)  # the device's language for its pushes

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


class FaceSession(Model):
    """One face check (人脸核身) at the provider, started for a citizen and used at most once.

    Purpose level3 lifts the real-name account of the citizen to level 3. Purpose reclaim checks the
    person behind a name + ID-number pair another account holds, and moves the pair here when it passes.
    The pair checked is kept encrypted with its lookup hash."""

    id = fields.CharField(pk=True, max_length=40)
    citizen: fields.ForeignKeyRelation[Citizen] = fields.ForeignKeyField(
        "models.Citizen", related_name="face_sessions", on_delete=fields.CASCADE
    )
    purpose = fields.CharField(max_length=16)
    provider = fields.CharField(max_length=32)
    biz_token = fields.CharField(max_length=128, unique=True)
    name_enc = fields.TextField()
    id_number_enc = fields.TextField()
    id_number_hash = fields.CharField(max_length=64, db_index=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    outcome = fields.CharField(max_length=16, null=True)  # passed, failed

    citizen_id: str

    class Meta:
        table = "face_sessions"


class AccountDeletion(Model):
    """A request to delete an account (注销), cancellable during its cooling-off period, then carried out by the
    erasure job. Kept after the erasure as the record that the account was closed and when."""

    citizen_id = fields.CharField(pk=True, max_length=40)
    status = fields.CharField(max_length=16)  # cooling_off, cancelled, erasing, erased
    requested_at = fields.DatetimeField()
    erase_after = fields.DatetimeField(db_index=True)
    cancelled_at = fields.DatetimeField(null=True)
    claimed_at = fields.DatetimeField(null=True)  # when an erasure run took the request up (erasing)
    erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_deletions"
