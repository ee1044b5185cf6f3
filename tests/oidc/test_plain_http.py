"""The token endpoint of a provider known by a plain-http address that is not loopback (allowed outside
production only): OAuth 2 needs https there, and the site is told so in RFC 6749's error form, not a 500."""

from __future__ import annotations

import pytest

from app.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(oidc_issuer="http://gov-lan.test")


async def test_a_token_request_to_a_plain_http_lan_address_is_refused_in_the_oauth_error_form(client):
    reply = await client.post("/oidc/token", data={"grant_type": "authorization_code", "code": "sample-code",
                                                   "client_id": "sample-site", "code_verifier": "a" * 43,
                                                   "redirect_uri": "https://site.example/callback"})
    assert reply.status_code == 400
    assert reply.json()["error"] == "insecure_transport"
    assert reply.headers["cache-control"] == "no-store"
