"""Bad input as the specs say: RFC 6749 §4.1.2.1 (no redirect to an unverified redirect_uri) and §5.2 (token
errors), RFC 7636 (PKCE), OpenID Connect Core §3.1.2.6; and the admin API's own checks."""

from __future__ import annotations

from app.oidc.models import OidcAccessToken
from tests.factories import make_department, sign_in
from tests.oidc.oidc_factory import (
    SITES, approved_code, authorization_query, basic, data_bureau, exchange, pkce, query_of, register_site,
)


async def test_an_unknown_redirect_uri_or_site_gets_an_error_page_not_a_redirect(client, clock):
    site = await register_site(client, await data_bureau(clock))
    _, challenge = pkce()
    for query in (authorization_query(site, challenge, redirect_uri="https://evil.example.com/cb"),
                  authorization_query(site, challenge, redirect_uri=site.redirect_uri + "/more"),
                  authorization_query(site, challenge, redirect_uri=None),
                  authorization_query(site, challenge, client_id="oc_unknown")):
        page = await client.get(f"/oidc/authorize?{query}")
        assert page.status_code == 400, query
        assert "location" not in page.headers and page.headers["content-type"].startswith("text/html")
        assert 'id="oidc-error"' in page.text and "无法登录" in page.text


async def test_the_error_page_speaks_the_browser_language(client, clock):
    site = await register_site(client, await data_bureau(clock))
    query = authorization_query(site, pkce()[1], redirect_uri="https://evil.example.com/cb")
    page = await client.get(f"/oidc/authorize?{query}", headers={"Accept-Language": "en"})
    assert page.status_code == 400 and 'lang="en"' in page.text and "无法登录" not in page.text


async def test_missing_or_plain_pkce_is_an_invalid_request_sent_back_to_the_site(client, clock):
    site = await register_site(client, await data_bureau(clock))
    verifier, challenge = pkce()
    for query in (authorization_query(site, None, code_challenge_method=None, state="s1"),
                  authorization_query(site, None, state="s1"),
                  authorization_query(site, verifier, code_challenge_method="plain", state="s1"),
                  authorization_query(site, challenge, code_challenge_method=None, state="s1")):
        answer = await client.get(f"/oidc/authorize?{query}")
        assert answer.status_code == 302, query
        back = query_of(answer.headers["location"])
        assert answer.headers["location"].startswith(site.redirect_uri + "?")
        assert (back["error"], back["state"], back["iss"]) == ("invalid_request", "s1", "https://gov.test")


async def test_an_unsupported_response_type_or_scope_is_sent_back_to_the_site(client, clock):
    site = await register_site(client, await data_bureau(clock), scopes=["openid", "profile"])
    _, challenge = pkce()
    for overrides, error in (({"response_type": "token"}, "unsupported_response_type"),
                             ({"response_type": "code id_token"}, "unsupported_response_type"),
                             ({"scope": "openid phone"}, "invalid_scope"),
                             ({"scope": "profile"}, "invalid_scope"),
                             ({"scope": "openid email"}, "invalid_scope")):
        answer = await client.get(f"/oidc/authorize?{authorization_query(site, challenge, state='s2', **overrides)}")
        assert answer.status_code == 302, overrides
        assert query_of(answer.headers["location"])["error"] == error, overrides


async def test_prompt_none_without_a_signed_in_citizen_is_login_required(client, clock):
    site = await register_site(client, await data_bureau(clock))
    answer = await client.get(f"/oidc/authorize?{authorization_query(site, pkce()[1], prompt='none')}")
    assert answer.status_code == 302 and query_of(answer.headers["location"])["error"] == "login_required"


async def test_a_nonce_seen_before_is_a_replay(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    _, challenge = pkce()
    await approved_code(client, citizen, site, authorization_query(site, challenge, nonce="once-only"))
    again = await client.post("/api/v1/oidc/consents", headers=citizen.headers,
                              json={"query": authorization_query(site, challenge, nonce="once-only"), "approve": True})
    assert query_of(again.json()["redirect_to"])["error"] == "invalid_request"


async def test_the_consent_calls_refuse_a_request_that_cannot_go_back(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    query = authorization_query(site, pkce()[1], redirect_uri="https://evil.example.com/cb")
    for path, body in (("/api/v1/oidc/consent-requests", {"query": query}),
                       ("/api/v1/oidc/consents", {"query": query, "approve": True})):
        refused = await client.post(path, headers=citizen.headers, json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "OIDC_REQUEST_INVALID"
    unsigned = await client.post("/api/v1/oidc/consents", json={"query": query, "approve": True})
    assert unsigned.status_code == 401


async def test_a_reused_code_is_invalid_grant_and_revokes_the_tokens_it_gave(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))
    first = await exchange(client, site, code, verifier)
    access = first.json()["access_token"]
    assert (await client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"})).status_code == 200

    again = await exchange(client, site, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await client.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access}"})).status_code == 401
    assert (await OidcAccessToken.get()).revoked_at is not None


async def test_a_wrong_or_missing_client_secret_is_401_invalid_client(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))
    wrong = await exchange(client, site, code, verifier, headers=basic(site, "not-the-secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    posted = await exchange(client, site, code, verifier, headers={}, client_id=site.client_id, client_secret="nope")
    assert posted.status_code == 401 and posted.json()["error"] == "invalid_client"
    missing = await exchange(client, site, code, verifier, headers={}, client_id=site.client_id)
    assert missing.status_code == 401 and missing.json()["error"] == "invalid_client"
    # None of them spent the code.
    assert (await exchange(client, site, code, verifier)).status_code == 200


async def test_an_expired_code_and_a_wrong_verifier_are_invalid_grant(client, sms, clock):
    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))
    wrong = await exchange(client, site, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = await exchange(client, site, code, None)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    clock.advance(61)
    expired = await exchange(client, site, code, verifier)
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


async def test_a_code_is_for_its_own_site_and_redirect_uri(client, sms, clock):
    admin = await data_bureau(clock)
    site = await register_site(client, admin)
    other = await register_site(client, admin, name="另一网站（示例）", redirect_uri="https://other.example.cn/cb")
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))
    stolen = await exchange(client, other, code, verifier, redirect_uri=other.redirect_uri)
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    elsewhere = await client.post("/oidc/token", headers=basic(site), data={
        "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
        "redirect_uri": "https://gjj.example.cn/other"})
    assert elsewhere.status_code == 400 and elsewhere.json()["error"] == "invalid_grant"
    grant = await client.post("/oidc/token", headers=basic(site), data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


async def test_userinfo_without_a_live_token_is_401(client):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await client.get("/oidc/userinfo", headers=headers)
        assert answer.status_code == 401


async def test_registration_checks_its_input_and_the_role(client, clock):
    admin = await data_bureau(clock)
    stranger = await make_department(clock, "某区卫健局（示例）", ["lab"])
    good = {"name": "示例网站", "client_type": "confidential", "redirect_uris": ["https://a.example.cn/cb"],
            "scopes": ["openid"]}
    assert (await client.post(SITES, headers=stranger.headers(), json=good)).status_code == 403
    assert (await client.get(SITES, headers=stranger.headers())).status_code == 403
    for change, code in (({"redirect_uris": ["http://a.example.cn/cb"]}, "OIDC_REDIRECT_URIS_INVALID"),
                         ({"redirect_uris": ["http://localhost:8765/cb"]}, "OIDC_REDIRECT_URIS_INVALID"),
                         ({"redirect_uris": ["https://a.example.cn/cb#frag"]}, "OIDC_REDIRECT_URIS_INVALID"),
                         ({"redirect_uris": ["https://a.example.cn/cb", "https://b.example.cn/cb"]},
                          "OIDC_REDIRECT_URIS_INVALID"),
                         ({"scopes": ["profile"]}, "OIDC_SCOPES_INVALID"),
                         ({"scopes": ["openid", "email"]}, "OIDC_SCOPES_INVALID"),
                         ({"client_type": "other"}, "VALIDATION_FAILED")):
        refused = await client.post(SITES, headers=admin.headers(), json={**good, **change})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == code, change
    unknown = await client.post(f"{SITES}/oc_nope/disable", headers=admin.headers())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "OIDC_CLIENT_NOT_FOUND"


async def test_a_site_guessing_at_the_token_endpoint_is_stopped(client, clock):
    site = await register_site(client, await data_bureau(clock))
    for _ in range(20):
        refused = await exchange(client, site, "guessed-code", pkce()[0], headers=basic(site, "guessed-secret"))
        assert refused.status_code == 401
    stopped = await exchange(client, site, "guessed-code", pkce()[0])
    assert stopped.status_code == 429 and "retry-after" in stopped.headers
    assert stopped.json()["error"] == "invalid_request"  # RFC 6749 §5.2's form, not the project envelope
    clock.advance(61)
    assert (await exchange(client, site, "guessed-code", pkce()[0])).json()["error"] == "invalid_grant"


async def test_unreadable_basic_credentials_and_an_overlong_nonce_are_refused_as_the_specs_say(client, clock):
    site = await register_site(client, await data_bureau(clock))
    for header in ("Basic /w==", "Basic !!!", "Basic"):
        refused = await exchange(client, site, "some-code", pkce()[0], headers={"Authorization": header})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client", header
    answer = await client.get(f"/oidc/authorize?{authorization_query(site, pkce()[1], nonce='n' * 201)}")
    assert answer.status_code == 302 and query_of(answer.headers["location"])["error"] == "invalid_request"


async def test_junk_naming_a_site_from_elsewhere_does_not_lock_the_site_out(client, second_party, clock):
    site = await register_site(client, await data_bureau(clock))
    for _ in range(25):
        junk = await exchange(second_party, site, "guessed-code", pkce()[0], headers=basic(site, "guessed-secret"))
        assert junk.status_code in (401, 429)
    assert junk.status_code == 429
    real = await exchange(client, site, "guessed-code", pkce()[0])
    assert real.status_code == 400 and real.json()["error"] == "invalid_grant"


async def test_a_site_sending_bad_codes_is_stopped_wherever_it_calls_from(client, second_party, clock):
    site = await register_site(client, await data_bureau(clock))
    for _ in range(20):
        assert (await exchange(client, site, "guessed-code", pkce()[0])).json()["error"] == "invalid_grant"
    stopped = await exchange(second_party, site, "guessed-code", pkce()[0])
    assert stopped.status_code == 429


async def test_bad_codes_for_a_public_site_count_per_caller(client, second_party, clock):
    site = await register_site(client, await data_bureau(clock), client_type="public")
    public = {"client_id": site.client_id}
    for _ in range(21):
        junk = await exchange(second_party, site, "guessed-code", pkce()[0], headers={}, **public)
    assert junk.status_code == 429
    real = await exchange(client, site, "guessed-code", pkce()[0], headers={}, **public)
    assert real.status_code == 400 and real.json()["error"] == "invalid_grant"


async def test_a_code_stays_unspent_when_its_token_cannot_be_stored(client, sms, clock, monkeypatch):
    from app.oidc.models import OidcAuthorizationCode

    site = await register_site(client, await data_bureau(clock))
    citizen = await sign_in(client, sms)
    verifier, challenge = pkce()
    code = await approved_code(client, citizen, site, authorization_query(site, challenge))

    async def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(OidcAccessToken, "create", broken)
    try:
        await exchange(client, site, code, verifier)
    except RuntimeError:
        pass  # the in-process app lets the error through to the test client
    monkeypatch.undo()
    assert (await OidcAuthorizationCode.get()).used_at is None
    assert (await exchange(client, site, code, verifier)).status_code == 200


async def test_an_oversized_token_request_is_refused_unparsed(client, clock):
    site = await register_site(client, await data_bureau(clock))
    for data in ({"grant_type": "authorization_code", "code": "c" * 9000},
                 {"grant_type": "authorization_code", **{f"f{i}": "x" for i in range(30)}}):
        refused = await client.post("/oidc/token", data=data, headers=basic(site))
        assert refused.status_code == 400 and refused.json()["error"] in ("invalid_request", "unsupported_grant_type")
