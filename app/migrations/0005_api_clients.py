from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_health_code')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ApiClient',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('name', fields.CharField(max_length=100)),
                ('audience', fields.CharField(max_length=16)),
                ('roles', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('active', fields.BooleanField(default=True)),
            ],
            options={'table': 'api_clients', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A registered organisation: a lab, a department, a verifier, a partner region, a relying party.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiClientKey',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client', fields.ForeignKeyField('models.ApiClient', source_field='client_id', db_constraint=True, to_field='id', related_name='keys', on_delete=OnDelete.CASCADE)),
                ('kid', fields.CharField(max_length=64)),
                ('public_key_pem', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_client_keys', 'app': 'models', 'unique_together': (('client_id', 'kid'),), 'pk_attr': 'id', 'table_description': 'One public key of a client, named by kid, several live at once during rotation.'},
            bases=['Model'],
        ),
        # Spurious re-creation of the AuditEntry/AuditHead primary keys proposed by makemigrations removed (see 0004).
    ]
