from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0013_elderly_mode')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DiscrepancyCase',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('statement_date', fields.DateField()),
                ('kind', fields.CharField(max_length=32)),
                ('reference', fields.CharField(max_length=80)),
                ('ours', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('theirs', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='open', max_length=16)),
                ('resolution', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'discrepancy_cases', 'app': 'models', 'unique_together': (('statement_date', 'kind', 'reference'),), 'pk_attr': 'id', 'table_description': 'A difference between the provider statement and our records, open until someone resolves it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ItemFee',
            fields=[
                ('item_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('amount_fen', fields.BigIntField()),
                ('basis', fields.CharField(default='', max_length=200)),
                ('sample', fields.BooleanField(default=True)),
            ],
            options={'table': 'item_fees', 'app': 'models', 'pk_attr': 'item_id', 'table_description': 'The structured fee in fen of a fee-bearing catalogue item (the item text fee stays as the guide says).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PaidReference',
            fields=[
                ('reference', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=80)),
                ('payment_id', fields.CharField(unique=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('paid_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'paid_references', 'app': 'models', 'pk_attr': 'reference', 'table_description': 'A fee, fine or bill that is paid: the unique reference makes paying it happen exactly once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Payment',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='payments', on_delete=OnDelete.RESTRICT)),
                ('reference', fields.CharField(db_index=True, max_length=80)),
                ('reference_kind', fields.CharField(max_length=16)),
                ('amount_fen', fields.BigIntField()),
                ('currency', fields.CharField(default='CNY', max_length=3)),
                ('description', fields.CharField(max_length=127)),
                ('idempotency_key', fields.CharField(max_length=64)),
                ('request_hash', fields.CharField(max_length=64)),
                ('state', fields.CharField(default='created', max_length=24)),
                ('provider_order_id', fields.CharField(null=True, max_length=64)),
                ('pay_url', fields.CharField(null=True, max_length=300)),
                ('refunded_fen', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payments', 'app': 'models', 'unique_together': (('citizen_id', 'idempotency_key'),), 'indexes': [Index(fields=['state', 'updated_at'])], 'pk_attr': 'id', 'table_description': 'One payment (缴费订单) of a citizen for one reference (fee, fine or bill), in fen, through the provider.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PaymentEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('from_state', fields.CharField(null=True, max_length=24)),
                ('to_state', fields.CharField(max_length=24)),
                ('actor', fields.CharField(max_length=64)),
                ('actor_type', fields.CharField(max_length=16)),
                ('note', fields.CharField(default='', max_length=200)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payment_events', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One state change of a payment, who or what made it and why (the audit trail beside the audit log).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProviderNotice',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice_id', fields.CharField(null=True, db_index=True, max_length=64)),
                ('event_type', fields.CharField(null=True, max_length=40)),
                ('payment_id', fields.CharField(null=True, db_index=True, max_length=40)),
                ('outcome', fields.CharField(max_length=16)),
                ('reason', fields.CharField(default='', max_length=64)),
                ('body_sha256', fields.CharField(max_length=64)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'provider_notices', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every notification the provider (or anyone) sent to our callback, with what we did with it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Receipt',
            fields=[
                ('number', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('payment', fields.OneToOneField('models.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='receipt', on_delete=OnDelete.RESTRICT)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('check_hash', fields.CharField(max_length=64)),
                ('payer_name_masked', fields.CharField(max_length=40)),
                ('licence_id', fields.CharField(null=True, max_length=40)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'receipts', 'app': 'models', 'pk_attr': 'number', 'table_description': 'The e-receipt (电子票据) of a successful payment, checkable by anyone with its verification code.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReconciliationRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('statement_date', fields.DateField(db_index=True)),
                ('lines', fields.IntField()),
                ('matched', fields.IntField()),
                ('discrepancies', fields.IntField()),
                ('ran_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('ran_by', fields.CharField(max_length=64)),
            ],
            options={'table': 'reconciliation_runs', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One comparison of the provider daily statement with our records (对账), once per day unless re-run.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Refund',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('payment', fields.ForeignKeyField('models.Payment', source_field='payment_id', db_constraint=True, to_field='id', related_name='refunds', on_delete=OnDelete.RESTRICT)),
                ('amount_fen', fields.BigIntField()),
                ('reason', fields.CharField(max_length=200)),
                ('state', fields.CharField(default='pending', max_length=16)),
                ('requested_by', fields.CharField(max_length=64)),
                ('provider_refund_id', fields.CharField(null=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refunds', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A full or partial refund (退款) of a successful payment, never more than is left.'},
            bases=['Model'],
        ),
        # Spurious re-creation of the AuditEntry/AuditHead primary keys proposed by makemigrations removed (see 0004).
    ]
