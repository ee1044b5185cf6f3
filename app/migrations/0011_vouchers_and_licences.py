from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_partner_color_words')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IdVoucher',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='vouchers', on_delete=OnDelete.CASCADE)),
                ('device_id', fields.CharField(max_length=64)),
                ('device_key', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='active', max_length=16)),
                ('status_reason', fields.CharField(null=True, max_length=32)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status_changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('replaces', fields.CharField(null=True, max_length=40)),
            ],
            options={'table': 'id_vouchers', 'app': 'models', 'indexes': [Index(fields=['citizen_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A digital resident ID voucher bound to one citizen and one registered device (active, suspended, revoked).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LicenceType',
            fields=[
                ('code', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('name', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('issuer_client_id', fields.CharField(null=True, max_length=40)),
                ('schema', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('sample', fields.BooleanField(default=True)),
            ],
            options={'table': 'licence_types', 'app': 'models', 'pk_attr': 'code', 'table_description': 'A kind of e-licence (驾驶证, 行驶证, 结婚证 ...), its field schema, and the one issuer allowed to issue it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Licence',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen', fields.ForeignKeyField('models.Citizen', source_field='citizen_id', db_constraint=True, to_field='id', related_name='licences', on_delete=OnDelete.CASCADE)),
                ('type', fields.ForeignKeyField('models.LicenceType', source_field='type_id', db_constraint=True, to_field='code', related_name='licences', on_delete=OnDelete.RESTRICT)),
                ('issuer_client_id', fields.CharField(max_length=40)),
                ('number_hash', fields.CharField(max_length=64)),
                ('fields_enc', fields.TextField(unique=False)),
                ('document', fields.TextField(unique=False)),
                ('issuer_kid', fields.CharField(max_length=64)),
                ('valid_from', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='valid', max_length=16)),
                ('status_reason', fields.CharField(null=True, max_length=64)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('status_changed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'licences', 'app': 'models', 'unique_together': (('type_id', 'number_hash'),), 'pk_attr': 'id', 'table_description': 'One e-licence in a citizen wallet, with the issuer-signed document and its current status.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LicenceShare',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('licence', fields.ForeignKeyField('models.Licence', source_field='licence_id', db_constraint=True, to_field='id', related_name='shares', on_delete=OnDelete.CASCADE)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('purpose', fields.CharField(max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('withdrawn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'licence_shares', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A licence shared for a stated purpose until a time, verifiable online until then or until withdrawn.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Presentation',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('voucher', fields.ForeignKeyField('models.IdVoucher', source_field='voucher_id', db_constraint=True, to_field='id', related_name='presentations', on_delete=OnDelete.CASCADE)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('consented', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('standing_request', fields.CharField(null=True, max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('extended', fields.BooleanField(default=False)),
                ('redeemed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('redeemed_by', fields.CharField(null=True, max_length=40)),
            ],
            options={'table': 'voucher_presentations', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One showing of the voucher: a one-time token with the attributes the citizen consented to.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StandingRequest',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('client_id', fields.CharField(db_index=True, max_length=40)),
                ('attributes', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('purpose', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('active', fields.BooleanField(default=True)),
            ],
            options={'table': 'voucher_standing_requests', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What a relying party always asks for and why, shown to the citizen in plain language.'},
            bases=['Model'],
        ),
    ]
