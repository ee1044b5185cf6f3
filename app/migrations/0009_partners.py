from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_risk_areas')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IssuedHealthCode',
            fields=[
                ('code_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('partner_id', fields.CharField(null=True, max_length=16)),
                ('source_code_hash', fields.CharField(null=True, max_length=64)),
                ('source_state', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'issued_health_codes', 'app': 'models', 'pk_attr': 'code_id', 'table_description': 'Which citizen an issued code belongs to, so that every later verification of it reaches their access log.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Partner',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ('name', fields.CharField(max_length=100)),
                ('formats', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status_mapping', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rate_limit_per_minute', fields.IntField(default=600)),
                ('daily_quota', fields.IntField(default=200000)),
                ('contact', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partners', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A partner region whose codes we accept and who verifies ours, e.g. MO (澳门) or HK (香港).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PartnerKey',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='keys', on_delete=OnDelete.CASCADE)),
                ('kid', fields.CharField(max_length=64)),
                ('jwk', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('certificate', fields.TextField(null=True, unique=False)),
                ('usages', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('not_before', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('not_after', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_keys', 'app': 'models', 'unique_together': (('partner_id', 'kid'),), 'pk_attr': 'id', 'table_description': 'One code-signing key of a partner in our trust list, valid from not_before until not_after unless revoked.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RevokedPartnerCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True, to_field='id', related_name='revocations', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('revoked_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_revocations', 'app': 'models', 'unique_together': (('partner_id', 'code_hash'),), 'pk_attr': 'id', 'table_description': 'A code identifier a partner revoked, stored only as its SHA-256 hash (as EU DCC revocation lists).'},
            bases=['Model'],
        ),
    ]
