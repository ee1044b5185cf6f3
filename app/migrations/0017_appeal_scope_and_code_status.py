"""An upheld appeal records the evidence it judged and when its override ended; an issued code records
its colour, the digest of its text and the holder's colour after a later change to a worse one."""

import functools

from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0016_audit_pending')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Appeal',
            name='judged',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Appeal',
            name='override_ended_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Appeal',
            name='ended_by',
            field=fields.CharField(null=True, max_length=40),
        ),
        ops.AddField(
            model_name='IssuedHealthCode',
            name='colour',
            field=fields.CharField(null=True, max_length=8),
        ),
        ops.AddField(
            model_name='IssuedHealthCode',
            name='payload_digest',
            field=fields.CharField(null=True, max_length=32),
        ),
        ops.AddField(
            model_name='IssuedHealthCode',
            name='status_changed_to',
            field=fields.CharField(null=True, max_length=8),
        ),
    ]
