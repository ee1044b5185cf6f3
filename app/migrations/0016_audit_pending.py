"""Audit entries pending between a domain transaction and the chain write (a worker killed
after its commit would otherwise leave an application without its audit entries)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [('models', '0015_miniprogram')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PendingAudit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('records', fields.JSONField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'audit_pending', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Audit entries written in a domain transaction and not yet chained (its worker may die before the chain write).'},
            bases=['Model'],
        ),
    ]
