"""A site signing citizens in with us, built from authlib's own client pieces (the RP side, not ours): the
httpx `AsyncOAuth2Client` for PKCE and the token request, authlib's OpenID mixin for discovery, the JWKS and
id_token validation (signature, iss, aud, nonce, at_hash, times). Framework-free: the test keeps the state."""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import BaseApp
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
from authlib.integrations.httpx_client import AsyncOAuth2Client

from tests.oidc.oidc_factory import RegisteredSite


class RelyingParty(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):
    client_cls = AsyncOAuth2Client


def relying_party(base_url: str, site: RegisteredSite, scope: str = "openid profile phone") -> RelyingParty:
    """The site's client, configured from our discovery document only."""
    method = "client_secret_basic" if site.client_secret else "none"
    return RelyingParty(None, name="site", client_id=site.client_id, client_secret=site.client_secret,
                        server_metadata_url=f"{base_url}/.well-known/openid-configuration",
                        client_kwargs={"scope": scope, "code_challenge_method": "S256",
                                       "token_endpoint_auth_method": method})


async def finish_sign_in(rp: RelyingParty, site: RegisteredSite, started: dict[str, Any], landing: str) -> dict[str, Any]:
    """The site's callback: the code exchanged with the PKCE verifier, the id_token validated against our JWKS."""
    token = await rp.fetch_access_token(redirect_uri=site.redirect_uri, authorization_response=landing,
                                        state=started["state"], code_verifier=started["code_verifier"])
    claims = await rp.parse_id_token(token, nonce=started["nonce"])
    info = await rp.userinfo(token=token)
    return {"token": token, "id_token": dict(claims), "userinfo": dict(info)}
