"""A clerk's or department's API client belongs to one department: `api_clients.department_id`
(null for a client of no department, and for every client registered before)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0018_refunds')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ApiClient',
            name='department_id',
            field=fields.CharField(null=True, max_length=40),
        ),
    ]
