"""Every route belongs to an audience, and every non-public route refuses a caller without a token.

This walks the live router, so a route added later without a guard (or with the wrong
blueprint) makes these tests fail, as does a new public route nobody meant to open.
"""

from __future__ import annotations

import re

import pytest

from api.http import AUDIENCES, audience_blueprint

# Framework routes outside our blueprints: sanic-ext's OpenAPI document and viewers under /docs.
FRAMEWORK_BLUEPRINTS = {"openapi"}
FRAMEWORK_PATHS = {"docs", "docs/openapi.json", "docs/swagger", "docs/redoc", "docs/swagger-config",
                   "docs/oauth2-redirect.html"}

# The only routes open to anyone, by path (the auto-generated HEAD/OPTIONS twins included).
PUBLIC_PATHS = {
    "healthz",
    "readyz",
    ".well-known/jwks.json",
    ".well-known/trust-list.jws",  # what we accept, signed: partners check it offline
    ".well-known/health-code-format.json",
    "api/v1/auth/otp",
    "api/v1/auth/login",
    "api/v1/auth/refresh",
    "api/v1/auth/otp/extension",  # elderly mode: a pending login code lives longer (before sign-in, by phone)
    "dev/sms-outbox",  # test/dev only
    "face-check/done",  # where the face provider sends the phone back: a page saying to return to the app
    "api/v1/services/search",  # the catalogue holds no personal data: people look things up before signing in
    "api/v1/services/<item_id:str>",
    "api/v1/life-events",
    "api/v1/life-events/<code:str>",
    "api/v1/life-events/<code:str>/joint-form",  # a bundle's joint form (一件事一表): no personal data
    "api/v1/services/<item_id:str>/ratings",  # the public rating summary of an item (numbers only)
    "api/v1/e-receipts/<number:str>",  # anyone holding an e-receipt checks it (number + check code from its QR)
    "api/v1/social-insurance-proofs/verifications",  # anyone holding a printed 社保 record checks its QR
    "api/mp/v1/auth/login",  # mini-program sign-in: a platform login code, then the phone proven
    "api/mp/v1/auth/phone",
    "api/mp/v1/auth/sms-code",
    "api/mp/v1/auth/sms",
    "h5/",  # the H5 page's own files (no data: it calls the API with the user's token)
    "h5/<name:str>",
    # Sign in with this account elsewhere (OpenID Connect): discovery and the consent page are open; the token
    # endpoint authenticates the site itself (its secret or PKCE), userinfo the site's bearer token.
    ".well-known/openid-configuration",
    "oidc/authorize",
    "oidc/token",
    "oidc/userinfo",
}


def blueprint_name(app, route) -> str | None:
    parts = route.name.split(".")
    assert parts[0] == app.name, route.name
    return parts[1] if len(parts) > 2 else None


def concrete(path: str) -> str:
    """A requestable URL for a route path, path parameters filled with "x"."""
    return "/" + re.sub(r"<[^>]+>", "x", path)


def routes_by_audience(app) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for route in app.router.routes:
        name = blueprint_name(app, route)
        if name in FRAMEWORK_BLUEPRINTS:
            grouped.setdefault("framework", []).append(route)
            continue
        blueprint = app.blueprints.get(name)
        audience = getattr(blueprint.ctx, "audience", None) if blueprint else None
        grouped.setdefault(audience, []).append(route)
    return grouped


async def test_every_route_belongs_to_a_blueprint_with_a_known_audience(app):
    grouped = routes_by_audience(app)
    strays = {(concrete(r.path), tuple(sorted(r.methods))) for key in grouped if key not in (*AUDIENCES, "framework")
              for r in grouped[key]}
    assert not strays, f"routes outside an audience blueprint: {sorted(strays)}"


async def test_framework_routes_are_only_the_documentation(app):
    framework = {r.path for r in routes_by_audience(app).get("framework", [])}
    assert framework == FRAMEWORK_PATHS


async def test_the_public_routes_are_exactly_the_expected_ones(app):
    public = {r.path for r in routes_by_audience(app).get("public", [])}
    assert public == PUBLIC_PATHS


async def test_the_guarded_routes_include_the_citizen_api(app):
    citizen = {r.path for r in routes_by_audience(app).get("citizen", [])}
    assert {"api/v1/me", "api/v1/auth/logout", "api/v1/me/access-log", "api/v1/notifications"} <= citizen
    assert not citizen & PUBLIC_PATHS


async def test_every_guarded_route_refuses_a_caller_without_a_token(app, client):
    grouped = routes_by_audience(app)
    guarded = [r for audience, routes in grouped.items() if audience not in ("public", "framework") for r in routes]
    assert guarded
    problems = []
    checked = 0
    for route in guarded:
        for method in sorted(route.methods):
            url = concrete(route.path)
            reply = await client.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
            checked += 1
            if method == "OPTIONS":
                # Preflight answers say which methods exist, never any data.
                if reply.status_code != 204 or reply.content:
                    problems.append(f"OPTIONS {url} -> {reply.status_code} {reply.text[:80]}")
                continue
            if reply.status_code != 401:
                problems.append(f"{method} {url} -> {reply.status_code} (expected 401)")
                continue
            if method == "HEAD":
                continue  # no body to check
            error = reply.json().get("error", {})
            # The payment provider's callback is signed by the provider, not a bearer of our tokens.
            signed = url.startswith("/api/provider/")
            code, scheme = ("PAYMENT_NOTICE_SIGNATURE_INVALID", "Signature") if signed else ("AUTH_REQUIRED", "Bearer")
            if error.get("code") != code or error.get("request_id") != reply.headers.get("X-Request-ID"):
                problems.append(f"{method} {url} -> envelope {reply.text[:120]}")
            if not reply.headers.get("WWW-Authenticate", "").startswith(scheme):
                problems.append(f"{method} {url} -> no WWW-Authenticate header")
    assert checked >= len(guarded) >= 8
    assert not problems, "\n".join(problems)


async def test_every_guarded_route_refuses_a_forged_token(app, client):
    forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJjXzEiLCJzaWQiOiJzZXNfMSJ9."  # alg "none"
    grouped = routes_by_audience(app)
    problems = []
    for route in grouped.get("citizen", []):
        for method in sorted(route.methods - {"OPTIONS", "HEAD"}):
            reply = await client.request(method, concrete(route.path), headers={"Authorization": f"Bearer {forged}"})
            if reply.status_code != 401 or reply.json()["error"]["code"] != "TOKEN_INVALID":
                problems.append(f"{method} {concrete(route.path)} -> {reply.status_code} {reply.text[:80]}")
    assert not problems, "\n".join(problems)


async def test_public_routes_answer_without_a_token(client):
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/.well-known/jwks.json")).status_code == 200
    assert (await client.get("/docs/openapi.json")).status_code == 200


def test_a_blueprint_for_an_unknown_audience_cannot_be_made():
    with pytest.raises(ValueError, match="audience"):
        audience_blueprint("oops", url_prefix="/api/oops", audience="everyone")


async def test_head_and_options_twins_do_not_bypass_the_guard(client, sms):
    """sanic-ext's automatic HEAD/OPTIONS twins would skip blueprint guards, so there are none."""
    from tests.factories import sign_in

    citizen = await sign_in(client, sms)
    for headers in ({}, citizen.headers):
        head = await client.head("/api/v1/me", headers=headers)
        options = await client.options("/api/v1/me", headers=headers)
        assert head.status_code == 405
        assert options.status_code == 405
