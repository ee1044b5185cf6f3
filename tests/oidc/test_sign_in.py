"""Sign in with this account elsewhere: a site registered by the data bureau signs a citizen in with the code
flow and PKCE; the id_token is ES256 under a key of our JWKS, its subject pairwise, its claims masked; every
code, token and userinfo read is in the citizen's access log."""

from __future__ import annotations

import jwt

from app.oidc.models import OidcAccessToken, OidcAuthorizationCode, OidcClient
from tests.factories import sign_in, verify_real_name
from tests.oidc.conftest import ISSUER
from tests.oidc.oidc_factory import (
    ACCESS_LOG, SITES, approved_code, authorization_query, data_bureau, exchange, pkce, query_of, register_site,
)


async def test_discovery_names_the_endpoints_the_jwks_and_what_is_supported(client):
    document = (await client.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == f"{ISSUER}/oidc/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/oidc/token"
    assert document["userinfo_endpoint"] == f"{ISSUER}/oidc/userinfo"
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert document["response_types_supported"] == ["code"]
    assert document["subject_types_supported"] == ["pairwise"]
    assert document["id_token_signing_alg_values_supported"] == ["ES256"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert set(document["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "none"}
    assert {"openid", "profile", "phone", "identity", "age_over_18"} <= set(document["scopes_supported"])


async def test_a_citizen_signs_in_at_a_site_which_learns_only_masked_claims(client, sms, clock):
    admin = await data_bureau(clock)
    site = await register_site(client, admin)
    assert site.client_secret and len(site.client_secret) >= 40
    stored = await OidcClient.get(id=site.client_id)
    assert stored.secret_hash and site.client_secret not in stored.secret_hash  # kept hashed
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="陈小欣")

    verifier, challenge = pkce()
    query = authorization_query(site, challenge, scope="openid profile phone identity age_over_18", nonce="n-0S6_WzA2Mj")
    asked = (await client.post("/api/v1/oidc/consent-requests", headers=citizen.headers, json={"query": query})).json()
    assert asked["client_name"] == site.name and asked["remembered"] is False
    assert [s["scope"] for s in asked["scopes"]] == ["openid", "profile", "phone", "identity", "age_over_18"]
    assert all(s["text"] for s in asked["scopes"])
    code = await approved_code(client, citizen, site, query)
    assert await OidcAuthorizationCode.filter(code_hash=code).count() == 0  # kept by hash only

    tokens = await exchange(client, site, code, verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and tokens.headers["cache-control"] == "no-store"
    claims = await _verified(client, body["id_token"], site.client_id)
    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["acr"] == "urn:cn:gd:gov:loa:2"
    assert claims["name"] == "**欣" and claims["phone_number_masked"] == citizen.phone[:3] + "****" + citizen.phone[-4:]
    assert claims["identity_level"] == 2 and claims["age_over_18"] is True
    assert citizen.id not in claims["sub"] and len(claims["sub"]) == 43
    assert "at_hash" in claims and "id_number" not in str(claims)
    assert "phone_number" not in claims and "phone_number_verified" not in claims

    info = await client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == claims["sub"] and info.json()["name"] == "**欣"

    log = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    mine = [(e["actor"], e["action"], e["actor_type"], e["purpose"]) for e in log if e["action"].startswith("oidc_")]
    assert mine == [(site.name, "oidc_userinfo_read", "relying_party", "sign_in"),
                    (site.name, "oidc_token_issued", "relying_party", "sign_in"),
                    (site.name, "oidc_code_issued", "relying_party", "sign_in")]
    released = next(e["attributes"] for e in log if e["action"] == "oidc_token_issued")
    assert released == ["sub", "acr", "name", "phone_number_masked", "identity_level", "age_over_18"]


async def _verified(client, id_token: str, audience: str) -> dict:
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "ES256"
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    key = jwt.PyJWK(jwk).key
    return jwt.decode(id_token, key, algorithms=["ES256"], audience=audience, issuer=ISSUER,
                      options={"verify_iat": False, "verify_exp": False})


async def test_the_subject_is_the_same_at_one_site_and_different_at_another(client, sms, clock):
    admin = await data_bureau(clock)
    housing = await register_site(client, admin)
    tax = await register_site(client, admin, name="广州市税务网上办（示例）", redirect_uri="https://tax.example.cn/cb")
    citizen = await sign_in(client, sms)
    subjects = []
    for site in (housing, housing, tax):
        verifier, challenge = pkce()
        code = await approved_code(client, citizen, site, authorization_query(site, challenge))
        body = (await exchange(client, site, code, verifier)).json()
        subjects.append(jwt.decode(body["id_token"], options={"verify_signature": False})["sub"])
    assert subjects[0] == subjects[1] != subjects[2]


async def test_two_sites_on_one_host_know_a_citizen_by_different_subjects(client, sms, clock):
    """Two departments' sites served from one government host cannot link a citizen by `sub`."""
    admin = await data_bureau(clock)
    permits = await register_site(client, admin, name="出入境证件预约（示例）", redirect_uri="https://www.gd.example.cn/permits/cb")
    housing = await register_site(client, admin, name="住房保障查询（示例）", redirect_uri="https://www.gd.example.cn/housing/cb")
    citizen = await sign_in(client, sms)
    subjects = []
    for site in (permits, housing):
        verifier, challenge = pkce()
        code = await approved_code(client, citizen, site, authorization_query(site, challenge))
        body = (await exchange(client, site, code, verifier)).json()
        subjects.append(jwt.decode(body["id_token"], options={"verify_signature": False})["sub"])
    assert subjects[0] != subjects[1]


async def test_a_remembered_consent_is_not_asked_again_and_a_wider_one_is(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    _, challenge = pkce()
    await approved_code(client, citizen, site, authorization_query(site, challenge, scope="openid profile"))

    async def remembered(scope: str) -> bool:
        query = authorization_query(site, challenge, scope=scope)
        asked = await client.post("/api/v1/oidc/consent-requests", headers=citizen.headers, json={"query": query})
        return asked.json()["remembered"]

    assert await remembered("openid profile") is True
    assert await remembered("openid") is True
    assert await remembered("openid profile phone") is False


async def test_refusing_sends_access_denied_to_the_site_and_no_code(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    _, challenge = pkce()
    query = authorization_query(site, challenge, state="xyz")
    refused = await client.post("/api/v1/oidc/consents", headers=citizen.headers, json={"query": query, "approve": False})
    assert refused.status_code == 200
    back = query_of(refused.json()["redirect_to"])
    assert (back["error"], back["state"], back["iss"]) == ("access_denied", "xyz", ISSUER) and "code" not in back
    assert await OidcAuthorizationCode.all().count() == 0


async def test_client_secret_post_and_a_public_client_with_pkce_alone(client, sms, clock):
    admin = await data_bureau(clock)
    citizen = await sign_in(client, sms)
    confidential = await register_site(client, admin)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, confidential, authorization_query(confidential, challenge))
    posted = await exchange(client, confidential, code, verifier, headers={}, client_id=confidential.client_id,
                            client_secret=confidential.client_secret or "")
    assert posted.status_code == 200, posted.text

    app_site = await register_site(client, admin, name="粤省事合作小程序（示例）", client_type="public",
                                   redirect_uri="http://127.0.0.1:8765/cb")
    assert app_site.client_secret is None
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, app_site, authorization_query(app_site, challenge))
    public = await exchange(client, app_site, code, verifier, headers={}, client_id=app_site.client_id)
    assert public.status_code == 200, public.text
    assert "id_token" in public.json()


async def test_the_admin_lists_and_disables_a_site(client, sms, clock):
    admin = await data_bureau(clock)
    site = await register_site(client, admin)
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))
    access = (await exchange(client, site, code, verifier)).json()["access_token"]

    listed = (await client.get(SITES, headers=admin.headers())).json()["items"]
    assert [(s["client_id"], s["active"]) for s in listed] == [(site.client_id, True)]
    assert "client_secret" not in listed[0]
    disabled = await client.post(f"{SITES}/{site.client_id}/disable", headers=admin.headers())
    assert disabled.status_code == 200 and disabled.json()["active"] is False

    page = await client.get(f"/oidc/authorize?{authorization_query(site, challenge)}")
    assert page.status_code == 400 and "location" not in page.headers
    info = await client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 401 and info.json()["error"]["code"] == "OIDC_TOKEN_INVALID"
    assert (await OidcAccessToken.all().count()) == 1


async def test_the_scopes_are_worded_in_the_citizens_language(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    query = authorization_query(site, pkce()[1], scope="openid phone")
    words = {}
    for language in ("zh-Hans", "zh-Hant", "en"):
        asked = await client.post("/api/v1/oidc/consent-requests", json={"query": query},
                                  headers={**citizen.headers, "Accept-Language": language})
        words[language] = [s["text"] for s in asked.json()["scopes"]]
    assert words["zh-Hans"][1].startswith("您的手机号码") and words["zh-Hant"][1].startswith("您的手機號碼")
    assert words["en"] == ["Recognise you (without your name or ID number)",
                           "Your phone number (the middle four digits hidden, e.g. 138****8000)"]


async def test_a_citizen_sees_and_withdraws_a_remembered_consent(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    other = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge, scope="openid phone"))
    access = (await exchange(client, site, code, verifier)).json()["access_token"]

    listed = (await client.get("/api/v1/oidc/consents", headers=citizen.headers)).json()["items"]
    assert [(c["client_id"], c["client_name"]) for c in listed] == [(site.client_id, site.name)]
    assert [s["scope"] for s in listed[0]["scopes"]] == ["openid", "phone"] and listed[0]["granted_at"]
    assert (await client.get("/api/v1/oidc/consents", headers=other.headers)).json()["items"] == []
    # Another citizen cannot withdraw it; an unknown site is 404.
    assert (await client.delete(f"/api/v1/oidc/consents/{site.client_id}", headers=other.headers)).status_code == 404
    assert (await client.delete("/api/v1/oidc/consents/oc_nope", headers=citizen.headers)).status_code == 404

    withdrawn = await client.delete(f"/api/v1/oidc/consents/{site.client_id}", headers=citizen.headers)
    assert withdrawn.status_code == 204
    assert (await client.get("/api/v1/oidc/consents", headers=citizen.headers)).json()["items"] == []
    info = await client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert info.status_code == 401
    query = authorization_query(site, challenge, scope="openid phone")
    asked = await client.post("/api/v1/oidc/consent-requests", headers=citizen.headers, json={"query": query})
    assert asked.json()["remembered"] is False
    assert (await client.delete("/api/v1/oidc/consents/x", headers={})).status_code == 401


async def test_prompt_consent_asks_again_and_prompt_none_without_consent_is_consent_required(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    _, challenge = pkce()

    async def asked(**overrides: str) -> dict:
        query = authorization_query(site, challenge, scope="openid profile", state="s5", **overrides)
        return (await client.post("/api/v1/oidc/consent-requests", headers=citizen.headers, json={"query": query})).json()

    refused = query_of((await asked(prompt="none"))["redirect_to"])
    assert (refused["error"], refused["state"]) == ("consent_required", "s5")
    await approved_code(client, citizen, site, authorization_query(site, challenge, scope="openid profile"))
    assert (await asked(prompt="consent"))["remembered"] is False
    assert (await asked(prompt="none"))["remembered"] is True
