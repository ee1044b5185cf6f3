"""Account deletion (注销): `account_deletions`, one row per account that asked to be deleted: the cooling-off
period it may be cancelled in, and once erased, when."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0036_joint_applications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AccountDeletion',
            fields=[
                ('citizen_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('status', fields.CharField(max_length=16)),
                ('requested_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('erase_after', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('cancelled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('erased_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_deletions', 'app': 'models', 'pk_attr': 'citizen_id',
                     'table_description': 'A request to delete an account (注销), cancellable during its cooling-off '
                                          'period, then carried out by the erasure job. Kept after the erasure as '
                                          'the record that the account was closed and when.'},
            bases=['Model'],
        ),
    ]
