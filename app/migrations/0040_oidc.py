"""Sign in with this account elsewhere (OpenID Connect provider): `oidc_clients` (the registered sites),
`oidc_consents` (what a citizen agreed each site may learn), `oidc_authorization_codes` (kept by hash, used once)
and `oidc_access_tokens` (kept by hash, revoked with their code)."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

_COMPACT = functools.partial(dumps, separators=(',', ':'))


class Migration(migrations.Migration):
    dependencies = [('models', '0039_identity_documents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OidcClient',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('name', fields.CharField(max_length=100)),
                ('client_type', fields.CharField(max_length=16)),
                ('secret_hash', fields.CharField(null=True, max_length=64)),
                ('redirect_uris', fields.JSONField(default=list, encoder=_COMPACT, decoder=loads)),
                ('scopes', fields.JSONField(default=list, encoder=_COMPACT, decoder=loads)),
                ('sector', fields.CharField(max_length=255)),
                ('active', fields.BooleanField(default=True)),
                ('created_by', fields.CharField(max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oidc_clients', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'A site registered to sign citizens in with this account (接入网站), with '
                                          'its redirect URIs and scopes.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OidcConsent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('citizen_id', fields.CharField(max_length=40)),
                ('client_id', fields.CharField(max_length=40)),
                ('scopes', fields.JSONField(default=list, encoder=_COMPACT, decoder=loads)),
                ('granted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oidc_consents', 'app': 'models', 'pk_attr': 'id',
                     'unique_together': (('citizen_id', 'client_id'),),
                     'table_description': 'What a citizen agreed a site may learn, remembered so that the next '
                                          'sign-in asks no more.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OidcAuthorizationCode',
            fields=[
                ('code_hash', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('client_id', fields.CharField(max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('redirect_uri', fields.CharField(max_length=500)),
                ('scope', fields.CharField(max_length=200)),
                ('nonce', fields.CharField(null=True, max_length=200)),
                ('code_challenge', fields.CharField(max_length=128)),
                ('code_challenge_method', fields.CharField(max_length=8)),
                ('level', fields.IntField()),
                ('auth_time', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oidc_authorization_codes', 'app': 'models', 'pk_attr': 'code_hash',
                     'indexes': [Index(fields=['client_id', 'nonce'])],
                     'table_description': 'An authorization code, kept by its hash: used once, within its short '
                                          'lifetime.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OidcAccessToken',
            fields=[
                ('token_hash', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('code_hash', fields.CharField(db_index=True, max_length=64)),
                ('client_id', fields.CharField(max_length=40)),
                ('citizen_id', fields.CharField(db_index=True, max_length=40)),
                ('scope', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'oidc_access_tokens', 'app': 'models', 'pk_attr': 'token_hash',
                     'table_description': 'An access token issued to a site (for the userinfo endpoint), kept by '
                                          'its hash, revoked with its code.'},
            bases=['Model'],
        ),
    ]
