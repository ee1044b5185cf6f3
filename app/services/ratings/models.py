"""好差评 ratings of completed applications, and the follow-up case a bad rating opens.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Rating(Model):
    """A 好差评 rating of one completed application, once."""

    id = fields.CharField(pk=True, max_length=40)
    application: fields.OneToOneRelation[Model] = fields.OneToOneField(
        "models.Application", related_name="rating", on_delete=fields.CASCADE
    )
    citizen_id = fields.CharField(max_length=40)
    item_id = fields.CharField(max_length=40, db_index=True)
    department_id = fields.CharField(max_length=40, db_index=True)
    score = fields.IntField()
    tags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    text = fields.TextField(default="")
    created_at = fields.DatetimeField()

    application_id: str

    class Meta:
        table = "ratings"


class FollowUpCase(Model):
    """A bad rating (2 or less) opens a case the department must answer before its deadline."""

    id = fields.CharField(pk=True, max_length=40)
    rating: fields.OneToOneRelation[Rating] = fields.OneToOneField(
        "models.Rating", related_name="follow_up", on_delete=fields.CASCADE
    )
    department_id = fields.CharField(max_length=40, db_index=True)
    deadline = fields.DatetimeField()
    status = fields.CharField(max_length=16, default="open")  # open, answered, overdue, closed (account erased)
    answer = fields.TextField(default="")
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    rating_id: str

    class Meta:
        table = "follow_up_cases"


class TicketRating(Model):
    """A 好差评 rating of a closed 12345 ticket, once per answer the department gave."""

    id = fields.CharField(pk=True, max_length=40)
    ticket_id = fields.CharField(max_length=40, db_index=True)
    answer_round = fields.IntField()  # the answer rated: a reopened ticket is answered, and rated, again
    citizen_id = fields.CharField(max_length=40)
    department_id = fields.CharField(max_length=40, db_index=True)
    score = fields.IntField()
    tags: fields.JSONField[list[str]] = fields.JSONField(default=list)
    text = fields.TextField(default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "ticket_ratings"
        unique_together = (("ticket_id", "answer_round"),)
