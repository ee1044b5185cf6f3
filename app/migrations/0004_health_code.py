from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_audit_no_truncate')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HealthEvidence',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='health_evidence', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=16)),
                ('source', fields.CharField(max_length=64)),
                ('observed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('recorded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'health_evidence', 'app': 'models', 'indexes': [Index(fields=['citizen_id', 'observed_at'])], 'pk_attr': 'id', 'table_description': 'One piece of evidence (self-declaration, test result, vaccination, travel, exposure) and its source.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HealthStatus',
            fields=[
                ('citizen_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('colour', fields.CharField(max_length=8)),
                ('reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rule_version', fields.CharField(max_length=32)),
                ('evaluated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('next_change_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'health_status', 'app': 'models', 'pk_attr': 'citizen_id', 'table_description': 'The current status of a citizen (one row each), re-evaluated on evidence and at next_change_at.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StatusEvaluation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('colour', fields.CharField(max_length=8)),
                ('reasons', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('rule_version', fields.CharField(max_length=32)),
                ('evaluated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('trigger', fields.CharField(max_length=32)),
                ('changed', fields.BooleanField()),
            ],
            options={'table': 'health_status_evaluations', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Every evaluation, with the rule-set version used, so each status can be explained later.'},
            bases=['Model'],
        ),
        # makemigrations (Tortoise 1.1.9) also proposed dropping and re-adding the non-generated
        # primary keys of AuditEntry/AuditHead, which SQLite cannot do and nothing needs: removed.
    ]
