"""Refunds reach the bill, the department and the e-receipt: a receipt records whether its wallet licence
still has to show a refund and when the department was told a full refund reversed the settlement; a
reconciliation run counts the refunds on the statement.

Payments refunded in full before this migration are put right as the code now does it: their fine, bill
or fee is owed again (the paid reference goes), and the receipts of refunded payments are marked for the
wallet, which the scheduled job brings up to date (the department is told by the same job)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from app.migrations._dialect_sql import run_sql

REOPEN = "DELETE FROM paid_references WHERE payment_id IN (SELECT id FROM payments WHERE state = 'refunded')"
MARK = ("UPDATE receipts SET wallet_outdated = {true} WHERE payment_id IN "
        "(SELECT id FROM payments WHERE state IN ('refunded', 'partially_refunded'))")


async def _nothing(apps: object, schema_editor: object) -> None:
    """Going back keeps the data as it is: the columns go, the reopened references stay owed."""


class Migration(migrations.Migration):
    dependencies = [('models', '0017_appeal_scope_and_code_status')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Receipt',
            name='wallet_outdated',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Receipt',
            name='reversal_told_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='ReconciliationRun',
            name='refunds',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='ReconciliationRun',
            name='refunded_fen',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.RunPython(
            run_sql({"sqlite": [REOPEN, MARK.format(true="1")], "postgres": [REOPEN, MARK.format(true="TRUE")]}),
            _nothing,
        ),
    ]
