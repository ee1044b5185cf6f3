from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('seq', fields.BigIntField(primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('category', fields.CharField(max_length=16)),
                ('actor', fields.CharField(max_length=128)),
                ('actor_type', fields.CharField(max_length=32)),
                ('action', fields.CharField(max_length=64)),
                ('subject_id', fields.CharField(null=True, db_index=True, max_length=40)),
                ('attributes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('purpose', fields.CharField(null=True, max_length=200)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'audit_entries', 'app': 'models', 'pk_attr': 'seq'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditHead',
            fields=[
                ('id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField()),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'audit_head', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The last link of the chain, so that deleting the newest entries is detected too (model docstrings become table comments: Tortoise 1.1.9 writes them unescaped into DDL, so no apostrophes or semicolons).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Citizen',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('phone_enc', fields.TextField(unique=False)),
                ('phone_hash', fields.CharField(unique=True, max_length=64)),
                ('name_enc', fields.TextField(null=True, unique=False)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_hash', fields.CharField(null=True, unique=True, max_length=64)),
                ('level', fields.SmallIntField(default=1)),
                ('elderly_mode', fields.BooleanField(default=False)),
                ('identity_verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('face_verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'citizens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The account of a citizen (市民账号). Level: 1 phone, 2 real-name (实名), 3 face-verified.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LoginSession',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('device_name', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_reason', fields.CharField(null=True, max_length=32)),
            ],
            options={'table': 'login_sessions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One signed-in device (登录设备), whose refresh tokens form one family.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=64)),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notifications', 'app': 'models', 'indexes': [Index(fields=['citizen_id', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One inbox message: a template kind and its parameters, rendered in the language of the reader.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.LoginSession', source_field='session_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_tokens', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A refresh token, stored as its SHA-256 only, used once and then replaced.'},
            bases=['Model'],
        ),
    ]
