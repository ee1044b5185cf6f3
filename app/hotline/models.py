"""12345 tickets (工单) and their timeline.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Ticket(Model):
    """A 12345 hotline ticket (工单) of one citizen, routed to one department, with its time limits."""

    id = fields.CharField(pk=True, max_length=40)
    citizen_id = fields.CharField(max_length=40, db_index=True)  # who filed it: only they see it
    idempotency_key = fields.CharField(max_length=64)  # the Idempotency-Key it was filed with: a retry finds it
    request_hash = fields.CharField(max_length=64)  # a retry with the same key must carry the same request
    category = fields.CharField(max_length=16)  # complaint, suggestion, enquiry or help
    description_enc = fields.TextField()  # what the citizen wrote, encrypted at rest
    location_enc = fields.TextField()  # address text and coordinates (JSON), encrypted at rest
    item_id = fields.CharField(max_length=40, null=True)  # the catalogue item it is about, if the citizen named one
    department_id = fields.CharField(max_length=40, db_index=True)  # the department it was routed to (承办部门)
    routed_by = fields.CharField(max_length=16)  # category, item or department: what decided the department
    uploads: fields.JSONField[list[str]] = fields.JSONField(default=list)  # the ids of the attached uploads
    status = fields.CharField(max_length=16, default="submitted")  # submitted, accepted, answered, reopened, closed
    answer_round = fields.IntField(default=1)  # 1, then one more each time it is reopened
    accept_due = fields.DatetimeField()  # the department must accept (签收) by then
    answer_due = fields.DatetimeField()  # and answer (答复) by then, for the current round
    escalated_for = fields.CharField(max_length=24, null=True)  # the missed limit last escalated: accept or answer-N
    escalated_at = fields.DatetimeField(null=True)
    answer_enc = fields.TextField(default="")  # the department answer of the current round, encrypted at rest
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "hotline_tickets"
        unique_together = (("citizen_id", "idempotency_key"),)
        indexes = (("status", "accept_due"), ("status", "answer_due"))


class TicketEvent(Model):
    """One step in the timeline of a ticket, who took it and when."""

    id = fields.BigIntField(pk=True)
    ticket: fields.ForeignKeyRelation[Ticket] = fields.ForeignKeyField(
        "models.Ticket", related_name="events", on_delete=fields.CASCADE
    )
    action = fields.CharField(max_length=16)  # submitted, accepted, answered, confirmed, reopened, rated, escalated
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    actor = fields.CharField(max_length=64)
    actor_type = fields.CharField(max_length=16)  # citizen, admin or system
    note = fields.TextField(default="")  # the service's own words for the step (a msgid), never a person's
    words_enc = fields.TextField(default="")  # what a person wrote with it (an answer, a reason), encrypted at rest
    at = fields.DatetimeField()

    ticket_id: str

    class Meta:
        table = "hotline_ticket_events"
