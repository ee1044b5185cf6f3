"""Payments (缴费): payments, their events, paid references, refunds, provider notices, reconciliation, receipts.

Amounts are integer fen (分) in BigInt columns, never floats.
Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Payment(Model):
    """One payment (缴费订单) of a citizen for one reference (fee, fine or bill), in fen, through the provider."""

    id = fields.CharField(pk=True, max_length=40)  # also our merchant order id at the provider
    citizen: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Citizen", related_name="payments", on_delete=fields.RESTRICT
    )
    reference = fields.CharField(max_length=80, db_index=True)  # what it pays, e.g. fine:TV-... or fee:ap_...
    reference_kind = fields.CharField(max_length=16)  # application_fee, traffic_fine, utility_bill
    amount_fen = fields.BigIntField()
    currency = fields.CharField(max_length=3, default="CNY")
    description = fields.CharField(max_length=127)
    idempotency_key = fields.CharField(max_length=64)
    request_hash = fields.CharField(max_length=64)
    state = fields.CharField(max_length=24, default="created")
    channel = fields.CharField(max_length=8, default="app", db_default="app")  # app (APP 支付) or jsapi (mini-program)
    prepay_id = fields.TextField(null=True)  # the provider handle of the open order, what the client pays with
    provider_order_id = fields.CharField(max_length=64, null=True)  # the provider transaction id, once paid
    # A provider pay page, for a channel that redirects; WeChat APP and JSAPI orders have none.
    pay_url = fields.CharField(max_length=300, null=True)
    refunded_fen = fields.BigIntField(default=0)  # refunds asked for and not failed (reserved or done)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    settled_at = fields.DatetimeField(null=True)

    citizen_id: str

    class Meta:
        table = "payments"
        unique_together = (("citizen_id", "idempotency_key"),)
        indexes = (("state", "updated_at"),)


class PaymentEvent(Model):
    """One state change of a payment, who or what made it and why (the audit trail beside the audit log)."""

    id = fields.BigIntField(pk=True)
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="events", on_delete=fields.CASCADE
    )
    from_state = fields.CharField(max_length=24, null=True)
    to_state = fields.CharField(max_length=24)
    actor = fields.CharField(max_length=64)
    actor_type = fields.CharField(max_length=16)
    note = fields.CharField(max_length=200, default="")
    at = fields.DatetimeField()

    payment_id: str

    class Meta:
        table = "payment_events"


class PaidReference(Model):
    """A fee, fine or bill that is paid: the unique reference makes paying it happen exactly once."""

    reference = fields.CharField(pk=True, max_length=80)
    payment_id = fields.CharField(max_length=40, unique=True)
    citizen_id = fields.CharField(max_length=40, db_index=True)
    paid_at = fields.DatetimeField()

    class Meta:
        table = "paid_references"


class Refund(Model):
    """A full or partial refund (退款) of a successful payment, never more than is left."""

    id = fields.CharField(pk=True, max_length=40)  # also our merchant refund id at the provider
    payment: fields.ForeignKeyRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="refunds", on_delete=fields.RESTRICT
    )
    amount_fen = fields.BigIntField()
    reason = fields.CharField(max_length=200)
    state = fields.CharField(max_length=16, default="pending")  # pending, abnormal (held, for the office), succeeded, failed
    requested_by = fields.CharField(max_length=64)
    provider_refund_id = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField()
    settled_at = fields.DatetimeField(null=True)

    payment_id: str

    class Meta:
        table = "refunds"


class ProviderNotice(Model):
    """Every notification the provider (or anyone) sent to our callback, with what we did with it."""

    id = fields.BigIntField(pk=True)
    notice_id = fields.CharField(max_length=64, null=True, db_index=True)
    event_type = fields.CharField(max_length=40, null=True)
    payment_id = fields.CharField(max_length=40, null=True, db_index=True)
    outcome = fields.CharField(max_length=16)  # applied, duplicate, rejected, ignored
    reason = fields.CharField(max_length=64, default="")
    body_sha256 = fields.CharField(max_length=64)
    received_at = fields.DatetimeField()

    class Meta:
        table = "provider_notices"


class ReconciliationRun(Model):
    """One comparison of the provider daily statement with our records (对账), once per day unless re-run."""

    id = fields.BigIntField(pk=True)
    statement_date = fields.DateField(db_index=True)
    lines = fields.IntField()
    matched = fields.IntField()
    discrepancies = fields.IntField()
    refunds = fields.IntField(default=0, db_default=0)  # refund lines on the statement
    refunded_fen = fields.BigIntField(default=0, db_default=0)  # and their sum
    ran_at = fields.DatetimeField()
    ran_by = fields.CharField(max_length=64)

    class Meta:
        table = "reconciliation_runs"


class DiscrepancyCase(Model):
    """A difference between the provider statement and our records, open until someone resolves it."""

    id = fields.CharField(pk=True, max_length=40)
    statement_date = fields.DateField()
    kind = fields.CharField(max_length=32)  # missing_in_ours, missing_in_statement, amount_mismatch, ...
    reference = fields.CharField(max_length=80)  # our payment or refund id as on the statement
    ours: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    theirs: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    status = fields.CharField(max_length=16, default="open")  # open, resolved
    resolution = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "discrepancy_cases"
        unique_together = (("statement_date", "kind", "reference"),)


class Receipt(Model):
    """The e-receipt (电子票据) of a successful payment, checkable by anyone with its verification code."""

    number = fields.CharField(pk=True, max_length=32)
    payment: fields.OneToOneRelation[Payment] = fields.OneToOneField(
        "models.Payment", related_name="receipt", on_delete=fields.RESTRICT
    )
    citizen_id = fields.CharField(max_length=40, db_index=True)
    check_hash = fields.CharField(max_length=64)  # SHA-256 of the code in the QR, never the code itself
    payer_name_masked = fields.CharField(max_length=40)
    licence_id = fields.CharField(max_length=40, null=True)  # the receipt in the e-licence wallet
    issued_at = fields.DatetimeField()
    wallet_outdated = fields.BooleanField(default=False, db_default=False)  # a refund the wallet licence does not show yet
    settlement_told_at = fields.DatetimeField(null=True)  # when the department heard this payment settled the bill
    reversal_told_at = fields.DatetimeField(null=True)  # when the department heard a full refund reopened the bill
    settlement_refused_at = fields.DatetimeField(null=True)  # the department would not record the settlement
    reversal_refused_at = fields.DatetimeField(null=True)  # the department would not record its reversal

    payment_id: str

    class Meta:
        table = "receipts"


class ItemFee(Model):
    """The structured fee in fen of a fee-bearing catalogue item (the item text fee stays as the guide says)."""

    item_id = fields.CharField(pk=True, max_length=40)
    amount_fen = fields.BigIntField()
    basis = fields.CharField(max_length=200, default="")  # the charging standard it follows
    sample = fields.BooleanField(default=True)

    class Meta:
        table = "item_fees"
