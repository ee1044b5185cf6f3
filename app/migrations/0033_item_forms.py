"""Item forms (申请表): each catalogue item may declare a JSON Schema (draft 2020-12) for its application form in
`service_items.form_schema`; null means the item asks for no particular form (any JSON object is taken)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0032_partner_holder_keys')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ServiceItem',
            name='form_schema',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
