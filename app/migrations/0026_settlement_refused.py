"""A receipt records when the department behind a fine or bill refused to record its settlement, or the
reversal of it after a full refund: the settle job stops asking, and the payments office resolves the case."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0025_settlement_told')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Receipt',
            name='settlement_refused_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Receipt',
            name='reversal_refused_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
