"""12345 tickets (工单): `hotline_tickets` (the ticket, routed to a department, its time limits and escalation,
description, location and answer encrypted), `hotline_ticket_events` (its timeline) and `ticket_ratings`
(好差评 of a closed ticket, once per answer)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_COMPACT = functools.partial(dumps, separators=(',', ':'))


class Migration(migrations.Migration):
    dependencies = [('models', '0034_uploads')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Ticket',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('idempotency_key', fields.CharField(max_length=64)),
                ('request_hash', fields.CharField(max_length=64)),
                ('category', fields.CharField(max_length=16)),
                ('description_enc', fields.TextField(unique=False)),
                ('location_enc', fields.TextField(unique=False)),
                ('item_id', fields.CharField(null=True, max_length=40)),
                ('department_id', fields.CharField(db_index=True, max_length=40)),
                ('routed_by', fields.CharField(max_length=16)),
                ('uploads', fields.JSONField(default=list, encoder=_COMPACT, decoder=loads)),
                ('status', fields.CharField(default='submitted', max_length=16)),
                ('answer_round', fields.IntField(default=1)),
                ('accept_due', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('answer_due', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('escalated_for', fields.CharField(null=True, max_length=24)),
                ('escalated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('answer_enc', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hotline_tickets', 'app': 'models', 'pk_attr': 'id',
                     'unique_together': (('citizen_id', 'idempotency_key'),),
                     'indexes': [Index(fields=['status', 'accept_due']), Index(fields=['status', 'answer_due'])],
                     'table_description': 'A 12345 hotline ticket (工单) of one citizen, routed to one department, '
                                          'with its time limits.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('models.Ticket', source_field='ticket_id', db_constraint=True,
                                                  to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('action', fields.CharField(max_length=16)),
                ('from_status', fields.CharField(null=True, max_length=16)),
                ('to_status', fields.CharField(max_length=16)),
                ('actor', fields.CharField(max_length=64)),
                ('actor_type', fields.CharField(max_length=16)),
                ('note', fields.TextField(default='', unique=False)),
                ('words_enc', fields.TextField(default='', unique=False)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hotline_ticket_events', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'One step in the timeline of a ticket, who took it and when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketRating',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('ticket_id', fields.CharField(db_index=True, max_length=40)),
                ('answer_round', fields.IntField()),
                ('citizen_id', fields.CharField(max_length=40)),
                ('department_id', fields.CharField(db_index=True, max_length=40)),
                ('score', fields.IntField()),
                ('tags', fields.JSONField(default=list, encoder=_COMPACT, decoder=loads)),
                ('text', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket_ratings', 'app': 'models', 'pk_attr': 'id',
                     'unique_together': (('ticket_id', 'answer_round'),),
                     'table_description': 'A 好差评 rating of a closed 12345 ticket, once per answer the department '
                                          'gave.'},
            bases=['Model'],
        ),
    ]
