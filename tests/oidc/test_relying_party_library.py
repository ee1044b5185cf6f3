"""End to end with a real OpenID Connect client library (authlib's client side) against our app on a socket:
discovery, PKCE S256, the code exchanged with a secret or as a public client, the id_token validated against
the JWKS, userinfo; what the library refuses (a forged nonce) it refuses."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from joserfc.errors import InvalidClaimError

from app.config import Settings
from tests.factories import sign_in, verify_real_name
from tests.health_code.interop.partner_process import serve_live
from tests.oidc.oidc_factory import data_bureau, register_site
from tests.oidc.relying_party import finish_sign_in, relying_party


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(oidc_issuer="")  # the issuer is the address asked: the socket's


async def _approve(web: httpx.AsyncClient, citizen, url: str) -> str:
    query = url.split("?", 1)[1]
    page = await web.get(url)
    assert page.status_code == 200 and "consent.js" in page.text
    decided = await web.post("/api/v1/oidc/consents", headers=citizen.headers, json={"query": query, "approve": True})
    assert decided.status_code == 200, decided.text
    return decided.json()["redirect_to"]


@pytest.mark.parametrize("client_type", ["confidential", "public"])
async def test_an_oidc_client_library_signs_a_citizen_in(app, clock, sms, client_type):
    clock.set(datetime.now(timezone.utc))  # the library checks iat and exp against its own clock
    async with serve_live(app) as base, httpx.AsyncClient(base_url=base) as web:
        site = await register_site(web, await data_bureau(clock), client_type=client_type,
                                   redirect_uri="http://127.0.0.1:9/oidc/callback")
        citizen = await sign_in(web, sms)
        await verify_real_name(web, citizen, name="陈小欣")
        rp = relying_party(base, site)
        started = await rp.create_authorization_url(redirect_uri=site.redirect_uri)
        assert "code_challenge_method=S256" in started["url"]
        landing = await _approve(web, citizen, started["url"])

        signed_in = await finish_sign_in(rp, site, started, landing)
        assert signed_in["id_token"]["iss"] == base and signed_in["id_token"]["aud"] == site.client_id
        assert signed_in["id_token"]["name"] == "**欣" and signed_in["userinfo"]["sub"] == signed_in["id_token"]["sub"]
        assert signed_in["id_token"]["acr"] == "urn:cn:gd:gov:loa:2"


async def test_the_library_refuses_an_id_token_for_another_nonce(app, clock, sms):
    clock.set(datetime.now(timezone.utc))
    async with serve_live(app) as base, httpx.AsyncClient(base_url=base) as web:
        site = await register_site(web, await data_bureau(clock), redirect_uri="http://127.0.0.1:9/oidc/callback")
        citizen = await sign_in(web, sms)
        rp = relying_party(base, site)
        started = await rp.create_authorization_url(redirect_uri=site.redirect_uri)
        landing = await _approve(web, citizen, started["url"])
        with pytest.raises(InvalidClaimError):
            await finish_sign_in(rp, site, {**started, "nonce": "not-the-one-sent"}, landing)
