"""Joint applications (一件事联办): one submission for the items of a bundle (`joint_applications`), each part an
application (`joint_parts`), and on `life_events` the items a joint application covers (`joint_item_ids`)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0035_hotline_tickets')]

    initial = False

    operations = [
        ops.AddField(
            model_name='LifeEvent',
            name='joint_item_ids',
            field=fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.CreateModel(
            name='JointApplication',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True,
                                                   to_field='id', related_name='joint_applications',
                                                   on_delete=OnDelete.CASCADE)),
                ('bundle_code', fields.CharField(max_length=40)),
                ('idempotency_key', fields.CharField(max_length=64)),
                ('request_hash', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'joint_applications', 'app': 'models',
                     'unique_together': (('citizen_id', 'idempotency_key'),), 'pk_attr': 'id',
                     'table_description': 'A joint application (一件事联办): one submission for the items of a '
                                          'bundle, each part an application.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JointPart',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('joint', fields.ForeignKeyField('models.JointApplication', source_field='joint_id', db_constraint=True,
                                                 to_field='id', related_name='parts', on_delete=OnDelete.CASCADE)),
                ('item_id', fields.CharField(max_length=40)),
                ('position', fields.IntField()),
                ('attempt', fields.IntField(default=1)),
                ('application', fields.ForeignKeyField('models.Application', source_field='application_id',
                                                       db_constraint=True, to_field='id', related_name='joint_parts',
                                                       on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'joint_parts', 'app': 'models',
                     'unique_together': (('joint_id', 'position', 'attempt'),), 'pk_attr': 'id',
                     'table_description': 'One part of a joint application: the application for one item of the '
                                          'bundle (a resubmission after a rejection is a new attempt of the same '
                                          'part, the earlier one kept).'},
            bases=['Model'],
        ),
    ]
