"""The OpenID Connect provider's public endpoints: discovery, authorization (the consent page), token, userinfo.

Sites are told these addresses by `/.well-known/openid-configuration`; the keys that sign id_tokens are the
service's own, in `/.well-known/jwks.json`. The token endpoint answers in RFC 6749's own form (`error`,
`error_description`), which OpenID Connect clients parse; userinfo's errors use the project's envelope.
"""

from __future__ import annotations

from html import escape

from pydantic import BaseModel
from sanic import Request, response
from sanic.response import HTTPResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Component, Response

from api.guards import bearer_token
from api.http import ErrorReply, audience_blueprint, documented, reply
from api.oidc_calls import authorization_call, form_call, issuer_of
from api.public.h5 import served_file
from api.services import services
from app.i18n import ZH_HANS, ZH_HANT, translate
from app.oidc.errors import ERROR_PAGE_TEXT, ERROR_PAGE_TITLE

bp = audience_blueprint("oidc", url_prefix="", audience="public")
_ENVELOPE = Response({"application/json": Component(ErrorReply)}, status="default", description="error envelope")
_PAGE = {"text/html": {"type": "string"}}


class TokenForm(BaseModel):
    """The token request (RFC 6749 §4.1.3, RFC 7636 §4.5), form-encoded."""

    grant_type: str
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenAnswer(BaseModel):
    """RFC 6749 §5.1 with OpenID Connect's id_token."""

    token_type: str
    access_token: str
    expires_in: int
    scope: str
    id_token: str | None = None


class OAuthErrorAnswer(BaseModel):
    """RFC 6749 §5.2: the token endpoint's own error form, which OpenID Connect clients parse."""

    error: str
    error_description: str | None = None
    error_uri: str | None = None


@bp.get("/.well-known/openid-configuration")
@documented("OpenID Connect Discovery 1.0: the provider's endpoints, scopes, algorithms and claims", tag="oidc")
async def configuration(request: Request) -> HTTPResponse:
    document = services(request).oidc.discovery(issuer_of(request))
    return reply(document, headers={"Cache-Control": "public, max-age=300"})


@bp.get("/oidc/authorize")
@openapi.definition(
    summary="The authorization endpoint (code flow, PKCE S256 required): the consent page for a sound request; a "
            "redirect to the site with an error for a refused one; an error page when the site or its redirect_uri "
            "is unknown", tag="oidc",
    response=[Response(_PAGE, status=200, description="the consent page"),
              Response(None, status=302, description="back to the site, with error and state"),
              Response(_PAGE, status=400, description="the error page: no redirect to an unverified address"),
              _ENVELOPE])
async def authorize(request: Request) -> HTTPResponse:
    outcome = await services(request).oidc.check_authorization(authorization_call(request, request.query_string),
                                                              issuer_of(request))
    if outcome is None:
        return served_file("consent.html")
    if outcome.redirect_to:
        return response.redirect(outcome.redirect_to, status=302)
    return error_page(request, outcome.error or "invalid_request")


@bp.post("/oidc/token")
@openapi.definition(
    summary="The token endpoint: the code and its PKCE verifier (client_secret_basic, client_secret_post, or none "
            "for a public site) for an id_token and an access token", tag="oidc",
    body={"application/x-www-form-urlencoded": Component(TokenForm)},
    response=[Response({"application/json": Component(TokenAnswer)}, status=200),
              Response({"application/json": Component(OAuthErrorAnswer)}, status=400, description="RFC 6749 §5.2"),
              Response({"application/json": Component(OAuthErrorAnswer)}, status=401, description="invalid_client"),
              _ENVELOPE])
async def token(request: Request) -> HTTPResponse:
    answer = await services(request).oidc.token(form_call(request, "/oidc/token"), issuer_of(request))
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
    return reply(answer.body, status=answer.status, headers=headers)


@bp.get("/oidc/userinfo")
@documented("The userinfo endpoint (OIDC Core §5.3): the claims of the access token's scopes", tag="oidc")
async def userinfo(request: Request) -> HTTPResponse:
    return reply(await services(request).oidc.userinfo(bearer_token(request)))


@bp.post("/oidc/userinfo", name="userinfo_by_post")
@documented("The userinfo endpoint by POST (OIDC Core §5.3: both methods are served)", tag="oidc")
async def userinfo_by_post(request: Request) -> HTTPResponse:
    return reply(await services(request).oidc.userinfo(bearer_token(request)))


def error_page(request: Request, error: str) -> HTTPResponse:
    """A request that cannot be trusted with a redirect (RFC 6749 §4.1.2.1) is answered here, in the H5 style."""
    language = request.ctx.language
    title, text = translate(ERROR_PAGE_TITLE, language), translate(ERROR_PAGE_TEXT, language)
    lang = {ZH_HANS: "zh-CN", ZH_HANT: "zh-TW"}.get(language, "en")
    page = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{title}</title>'
            f'<link rel="stylesheet" href="/h5/style.css"></head><body><main id="main"><section class="panel">'
            f'<h1 id="oidc-error-title">{title}</h1><p>{text}</p><p class="hint">error: <code id="oidc-error">'
            f'{escape(error)}</code></p></section></main></body></html>')
    return response.html(page, status=400, headers={"Content-Security-Policy": "default-src 'none'; style-src 'self'; "
                                                    "frame-ancestors 'none'", "X-Frame-Options": "DENY"})
