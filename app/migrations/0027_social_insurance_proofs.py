"""Printed 社保 proofs (个人权益记录): `social_insurance_proofs`, one row per proof a citizen printed: the record's
number and digest, the record and the holder's masked name and ID number encrypted, the figures a verifier is
shown, when it was issued, until when it is valid, and whether the holder withdrew it."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0026_settlement_refused')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SocialInsuranceProof',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('record_no', fields.CharField(max_length=40)),
                ('record_digest', fields.CharField(max_length=64)),
                ('record_enc', fields.TextField(unique=False)),
                ('holder_enc', fields.TextField(unique=False)),
                ('issuer', fields.CharField(max_length=100)),
                ('issued_on', fields.DateField()),
                ('pension_months', fields.IntField()),
                ('personal_account_fen', fields.BigIntField()),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('valid_until', fields.DateField()),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'social_insurance_proofs', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A printed personal rights record of social insurance (社保个人权益记录), verifiable by the QR on it.'},
            bases=['Model'],
        ),
    ]
