"""OpenID Connect clients (接入网站), remembered consents, authorization codes and the tokens issued from them.

Model docstrings become table comments: no apostrophes or semicolons in them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OidcClient(Model):
    """A site registered to sign citizens in with this account (接入网站), with its redirect URIs and scopes."""

    id = fields.CharField(pk=True, max_length=40)  # the client_id
    name = fields.CharField(max_length=100)  # shown to the citizen on the consent page and in the access log
    client_type = fields.CharField(max_length=16)  # confidential (has a secret) or public (PKCE only)
    secret_hash = fields.CharField(max_length=64, null=True)  # SHA-256 of the secret, shown once at registration
    redirect_uris: fields.JSONField[list[str]] = fields.JSONField(default=list)  # compared exactly
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)  # what it may ask for
    sector = fields.CharField(max_length=255)  # what its pairwise subjects are computed for: the client's own id
    active = fields.BooleanField(default=True)
    created_by = fields.CharField(max_length=40)  # the admin client that registered it
    created_at = fields.DatetimeField()
    disabled_at = fields.DatetimeField(null=True)

    class Meta:
        table = "oidc_clients"


class OidcConsent(Model):
    """What a citizen agreed a site may learn, remembered so that the next sign-in asks no more."""

    id = fields.BigIntField(pk=True)
    citizen_id = fields.CharField(max_length=40)
    client_id = fields.CharField(max_length=40)
    scopes: fields.JSONField[list[str]] = fields.JSONField(default=list)
    granted_at = fields.DatetimeField()

    class Meta:
        table = "oidc_consents"
        unique_together = (("citizen_id", "client_id"),)


class OidcAuthorizationCode(Model):
    """An authorization code, kept by its hash: used once, within its short lifetime."""

    code_hash = fields.CharField(pk=True, max_length=64)
    client_id = fields.CharField(max_length=40)
    citizen_id = fields.CharField(max_length=40, db_index=True)
    redirect_uri = fields.CharField(max_length=500)
    scope = fields.CharField(max_length=200)
    nonce = fields.CharField(max_length=200, null=True)
    code_challenge = fields.CharField(max_length=128)
    code_challenge_method = fields.CharField(max_length=8)
    level = fields.IntField()  # the assurance of the sign-in that approved (acr): 3 only after a face check in it
    auth_time = fields.IntField()
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "oidc_authorization_codes"
        indexes = (("client_id", "nonce"),)


class OidcAccessToken(Model):
    """An access token issued to a site (for the userinfo endpoint), kept by its hash, revoked with its code."""

    token_hash = fields.CharField(pk=True, max_length=64)
    code_hash = fields.CharField(max_length=64, db_index=True)
    client_id = fields.CharField(max_length=40)
    citizen_id = fields.CharField(max_length=40, db_index=True)
    scope = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "oidc_access_tokens"
