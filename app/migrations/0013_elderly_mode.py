from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_services')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FamilyLink',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('principal', fields.ForeignKeyField('models.Citizen', source_field='principal_id', db_constraint=True, to_field='id', related_name='proxied_by', on_delete=OnDelete.CASCADE)),
                ('proxy', fields.ForeignKeyField('models.Citizen', source_field='proxy_id', db_constraint=True, to_field='id', related_name='proxy_for', on_delete=OnDelete.CASCADE)),
                ('relation', fields.CharField(max_length=16)),
                ('basis', fields.CharField(max_length=16)),
                ('status', fields.CharField(default='pending', max_length=16)),
                ('evidence_licence_id', fields.CharField(null=True, max_length=40)),
                ('issued_by', fields.CharField(null=True, max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('confirmed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_by', fields.CharField(null=True, max_length=64)),
            ],
            options={'table': 'family_links', 'app': 'models', 'indexes': [Index(fields=('proxy_id', 'principal_id'))], 'pk_attr': 'id', 'table_description': 'A family proxy link (亲友代办): the proxy may act for the principal while it is active and unexpired.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UndoWindow',
            fields=[
                ('application_id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('submitted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('undo_until', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('withdrawn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'elderly_undo_windows', 'app': 'models', 'pk_attr': 'application_id', 'table_description': 'An application submitted in elderly mode, withdrawable without penalty until undo_until.'},
            bases=['Model'],
        ),
    ]
