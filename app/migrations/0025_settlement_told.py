"""A receipt records when the department behind a fine or bill was told that the payment settled it (销账), so
the settle job tells a department that could not be told at once.

Receipts issued before this migration count as told: their departments learnt of them by their own settlement
run, as they did then."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from app.migrations._dialect_sql import run_sql

TOLD = "UPDATE receipts SET settlement_told_at = issued_at"


async def _nothing(apps: object, schema_editor: object) -> None:
    """Going back drops the column; nothing else to undo."""


class Migration(migrations.Migration):
    dependencies = [('models', '0024_exchange_messages')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Receipt',
            name='settlement_told_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunPython(run_sql({"sqlite": [TOLD], "postgres": [TOLD]}), _nothing),
    ]
