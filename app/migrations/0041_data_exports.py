"""Copies of a citizen's own data (个人信息副本) waiting to be downloaded (`data_exports`)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0040_oidc')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DataExport',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('status', fields.CharField(default='ready', max_length=16)),
                ('storage_key', fields.CharField(max_length=200)),
                ('size', fields.BigIntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('areas', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')),
                                           decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('downloads_left', fields.IntField()),
                ('downloaded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('removed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'data_exports', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'A copy of everything held about one citizen, a zip kept encrypted in '
                                          'object storage until it expires.'},
            bases=['Model'],
        ),
    ]
