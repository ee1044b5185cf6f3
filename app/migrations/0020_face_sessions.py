"""Face checks (人脸核身) as provider sessions: `face_sessions`, one row per DetectAuth BizToken."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0019_client_departments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FaceSession',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='face_sessions', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharField(max_length=16)),
                ('provider', fields.CharField(max_length=32)),
                ('biz_token', fields.CharField(unique=True, max_length=128)),
                ('name_enc', fields.TextField(unique=False)),
                ('id_number_enc', fields.TextField(unique=False)),
                ('id_number_hash', fields.CharField(db_index=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('outcome', fields.CharField(null=True, max_length=16)),
            ],
            options={'table': 'face_sessions', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One face check (人脸核身) at the provider, started for a citizen and used at most once.'},
            bases=['Model'],
        ),
    ]
