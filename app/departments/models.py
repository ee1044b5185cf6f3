"""What the platform keeps of the department services (部门服务); the departments keep the records themselves."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class LicenceStatusPull(Model):
    """When the status of a wallet licence was last asked of its department and what came of it (证照状态同步)."""

    licence_id = fields.CharField(pk=True, max_length=40)  # the wallet licence (电子证照) kept in step
    citizen_id = fields.CharField(max_length=40, db_index=True)  # its holder, whose ID number the department is asked by
    pulled_at = fields.DatetimeField(null=True, db_index=True)  # the last pull the department answered; null: none yet
    tried_at = fields.DatetimeField()  # the last pull tried, answered or not
    outcome = fields.CharField(max_length=32)  # changed, unchanged, no_licence, unknown_status, unreadable, refused,
    # unavailable or error
    department_status = fields.CharField(max_length=16, null=True)  # the department status code(s) last answered

    class Meta:
        table = "licence_status_pulls"


class SocialInsuranceProof(Model):
    """A printed personal rights record of social insurance (社保个人权益记录), verifiable by the QR on it."""

    id = fields.CharField(pk=True, max_length=40)
    citizen_id = fields.CharField(max_length=40, db_index=True)  # the holder; only they open the document
    record_no = fields.CharField(max_length=40)  # the department's number of the record (记录编号)
    record_digest = fields.CharField(max_length=64)  # hex SHA-256 of the record in canonical JSON, signed in the QR
    record_enc = fields.TextField()  # the department's record (JSON), encrypted: the document is drawn from it
    holder_enc = fields.TextField()  # the masked name and ID number a verifier is shown (JSON), encrypted
    issuer = fields.CharField(max_length=100)  # the authority that keeps the record, as it names itself
    issued_on = fields.DateField()  # the date the department gave the record
    pension_months = fields.IntField()  # months of pension contributions (养老保险累计缴费月数)
    personal_account_fen = fields.BigIntField()  # the pension personal account (个人账户), in fen
    issued_at = fields.DatetimeField()
    valid_until = fields.DateField()  # the last day (Beijing time) a verifier is told it is valid
    revoked_at = fields.DatetimeField(null=True)  # withdrawn by the holder: no longer valid

    class Meta:
        table = "social_insurance_proofs"
