"""Partner key feeds: where a partner publishes its signed code-signing keys (`partner_key_feeds`), and on
`partner_keys` the time a key left the published list (`retired_at`) and where it came from (`source`)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0030_traffic')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PartnerKey',
            name='retired_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='PartnerKey',
            name='source',
            field=fields.CharField(default='manual', max_length=16),
        ),
        ops.CreateModel(
            name='PartnerKeyFeed',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.OneToOneField('models.Partner', source_field='partner_id', db_constraint=True,
                                                 to_field='id', related_name='key_feed', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=500)),
                ('signer_jwk', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sequence', fields.BigIntField(null=True)),
                ('document_issued_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('checked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharField(null=True, max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_key_feeds', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'Where a partner publishes its code-signing keys, signed by its long-term '
                                          'publishing key, and how far we read.'},
            bases=['Model'],
        ),
    ]
