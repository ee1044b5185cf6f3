"""Tables of 交管 and licence status pulls: `licence_status_pulls`, when each wallet licence kept in step with its
department (a 驾驶证 with 交管) was last asked for its status, and what came of it."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0029_provident_fund')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LicenceStatusPull',
            fields=[
                ('licence_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('pulled_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('tried_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharField(max_length=32)),
                ('department_status', fields.CharField(null=True, max_length=16)),
            ],
            options={'table': 'licence_status_pulls', 'app': 'models', 'pk_attr': 'licence_id',
                     'table_description': 'When the status of a wallet licence was last asked of its department '
                                          'and what came of it (证照状态同步).'},
            bases=['Model'],
        ),
    ]
