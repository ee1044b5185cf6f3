"""Material uploads (材料上传): citizens' uploaded files, kept encrypted in object storage (`uploads`)."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0032_partner_holder_keys')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Upload',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True,
                                                   to_field='id', related_name='uploads', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=8)),
                ('content_type', fields.CharField(max_length=40)),
                ('size', fields.IntField()),
                ('storage_key', fields.CharField(max_length=200)),
                ('owner_kind', fields.CharField(null=True, max_length=16)),
                ('owner_id', fields.CharField(null=True, max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attached_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'uploads', 'app': 'models', 'pk_attr': 'id',
                     'indexes': [Index(fields=['owner_kind', 'owner_id']), Index(fields=['expires_at'])],
                     'table_description': 'A file a citizen uploaded (材料上传), kept encrypted in object storage, '
                                          'unused until attached to what uses it.'},
            bases=['Model'],
        ),
    ]
