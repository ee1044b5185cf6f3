"""Payments go through WeChat Pay API v3: each payment remembers the channel the citizen pays in (the phone
app or the mini-program) and the provider's handle of its open order (WeChat Pay's prepay_id; another
provider's may be a longer signed order string); the provider order id is now the
transaction id, set when it is paid."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0022_push_language')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Payment',
            name='channel',
            field=fields.CharField(default='app', db_default='app', max_length=8),
        ),
        ops.AddField(
            model_name='Payment',
            name='prepay_id',
            field=fields.TextField(null=True),
        ),
    ]
