"""The platform's message log of the department data exchange: `exchange_messages`, one row per request sent
to a department service (message id, client, service, purpose, represented party, the citizen's pseudonym,
request and reply digests, status, fault, time taken), never a body."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0023_payment_channels')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ExchangeMessage',
            fields=[
                ('message_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('client', fields.CharField(max_length=260)),
                ('service', fields.CharField(max_length=340)),
                ('purpose', fields.CharField(max_length=32)),
                ('represented_party', fields.CharField(default='', max_length=120)),
                ('user', fields.CharField(db_index=True, max_length=64)),
                ('attempt', fields.SmallIntField(default=1)),
                ('request_hash', fields.CharField(max_length=43)),
                ('response_hash', fields.CharField(null=True, max_length=43)),
                ('status', fields.SmallIntField(null=True)),
                ('fault', fields.CharField(null=True, max_length=64)),
                ('duration_ms', fields.IntField()),
            ],
            options={'table': 'exchange_messages', 'app': 'models', 'pk_attr': 'message_id', 'table_description': 'One request sent to a department service and what came of it: ids, purpose, digests, never a body.'},
            bases=['Model'],
        ),
        # makemigrations (Tortoise 1.1.9) also proposed re-creating the AuditEntry/AuditHead primary keys (spurious,
        # see 0004) and a new table comment of discrepancy_cases (a docstring change of payments, left to its owner).
    ]
