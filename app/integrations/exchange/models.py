"""The platform's message log of the department data exchange (docs/exchange.md, "Message logs").

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ExchangeMessage(Model):
    """One request sent to a department service and what came of it: ids, purpose, digests, never a body."""

    # The message id of X-Road-Id: a department logs the same id, so the two logs of one exchange meet on it.
    message_id = fields.CharField(pk=True, max_length=32)
    at = fields.DatetimeField(db_index=True)  # when the request was sent
    client = fields.CharField(max_length=260)
    service = fields.CharField(max_length=340)
    purpose = fields.CharField(max_length=32)
    represented_party = fields.CharField(max_length=120, default="")
    user = fields.CharField(max_length=64, db_index=True)  # the per-department pseudonym of the citizen
    attempt = fields.SmallIntField(default=1)  # 2 and more: a read sent again after the department failed
    request_hash = fields.CharField(max_length=43)  # base64url SHA-256 of the request's signing input
    response_hash = fields.CharField(max_length=43, null=True)  # base64url SHA-256 of the reply body; null: none
    status = fields.SmallIntField(null=True)  # the reply's HTTP status; null: no reply (timeout, network)
    fault = fields.CharField(max_length=64, null=True)  # an X-Road fault type; null: the data was accepted
    duration_ms = fields.IntField()

    class Meta:
        table = "exchange_messages"
