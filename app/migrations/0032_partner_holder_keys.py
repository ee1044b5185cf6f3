"""Holder keys: the secrets partners share with us to key the holder tags in their codes (`partner_holder_keys`)."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0031_partner_key_feeds')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PartnerHolderKey',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('partner', fields.ForeignKeyField('models.Partner', source_field='partner_id', db_constraint=True,
                                                   to_field='id', related_name='holder_keys',
                                                   on_delete=OnDelete.CASCADE)),
                ('key_id', fields.CharField(unique=True, max_length=32)),
                ('key_enc', fields.TextField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('accepted_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'partner_holder_keys', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'A secret a partner and we share to key the holder tags in its codes '
                                          '(互认持有人密钥).'},
            bases=['Model'],
        ),
    ]
