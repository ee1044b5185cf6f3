"""Mini-programs: openid bindings and accepted subscription messages."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0014_payments')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MiniProgramBinding',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('appid', fields.CharField(max_length=64)),
                ('openid_hash', fields.CharField(max_length=64)),
                ('openid_enc', fields.TextField(unique=False)),
                ('unionid_hash', fields.CharField(null=True, db_index=True, max_length=64)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='mini_program_bindings', on_delete=OnDelete.CASCADE)),
                ('verified_by', fields.CharField(max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_login_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mp_bindings', 'app': 'models', 'unique_together': (('appid', 'openid_hash'),), 'pk_attr': 'id', 'table_description': 'An openid of one mini-program bound to a citizen after the phone number was verified (绑定).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MiniProgramSubscription',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='mini_program_subscriptions', on_delete=OnDelete.CASCADE)),
                ('topic', fields.CharField(max_length=32)),
                ('remaining', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'mp_subscriptions', 'app': 'models', 'unique_together': (('citizen_id', 'topic'),), 'pk_attr': 'id', 'table_description': 'How many one-time subscription messages (订阅消息) of a topic the citizen accepted and we have not sent.'},
            bases=['Model'],
        ),
    ]
