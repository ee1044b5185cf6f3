"""The consent page's calls (用粤省事账号登录其他网站): the signed-in citizen sees what a site asks, and answers.

The page at /oidc/authorize passes its own query string (the site's authorization request) as `query`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, no_content, parse_body, reply
from api.oidc_calls import authorization_call, issuer_of
from api.schemas import Strict
from api.services import services
from app.errors import AppError
from app.i18n import translate
from app.oidc.rules import SCOPES
from app.clock import rfc3339
from app.oidc.service import ConsentAsk, Outcome

bp = audience_blueprint("citizen_oidc", url_prefix="/api/v1/oidc", audience="citizen")


class AuthorizationRequestIn(Strict):
    query: str = Field(max_length=4000, description="The query string of the site's authorization request")


class ConsentDecisionIn(AuthorizationRequestIn):
    approve: bool


class ConsentScopeOut(BaseModel):
    scope: str
    text: str


class ConsentAskOut(BaseModel):
    client_id: str | None = None
    client_name: str | None = None
    scopes: list[ConsentScopeOut] = []
    remembered: bool = False
    redirect_to: str | None = Field(None, description="Set when the request was refused: where the browser goes")


class ConsentDecisionOut(BaseModel):
    redirect_to: str


def _landing(outcome: Outcome) -> str:
    """Where the browser goes; a request that cannot go back to the site is refused here (400)."""
    if outcome.redirect_to is None:
        raise AppError("OIDC_REQUEST_INVALID", status=400, params={"reason": outcome.error or "invalid_request"},
                       extra={"oauth_error": outcome.error})
    return outcome.redirect_to


@bp.post("/consent-requests")
@documented("What a site asks of the signed-in citizen (its name, the scopes in plain words, whether already "
            "agreed), or where to go when the request is refused", body=AuthorizationRequestIn, reply_model=ConsentAskOut,
            tag="oidc")
async def consent_request(request: Request) -> HTTPResponse:
    body = parse_body(request, AuthorizationRequestIn)
    asked = await services(request).oidc.consent_request(request.ctx.citizen, request.ctx.claims.session_id,
                                                        authorization_call(request, body.query),
                                                        issuer_of(request))
    if isinstance(asked, ConsentAsk):
        language = request.ctx.language
        return reply(ConsentAskOut(client_id=asked.client_id, client_name=asked.client_name, remembered=asked.remembered,
                                   scopes=[ConsentScopeOut(scope=s, text=translate(SCOPES[s].words, language))
                                           for s in asked.scopes]))
    return reply(ConsentAskOut(redirect_to=_landing(asked)))


@bp.post("/consents")
@documented("The citizen's answer: approved, a code goes to the site (and the consent is remembered); refused, "
            "access_denied", body=ConsentDecisionIn, reply_model=ConsentDecisionOut, tag="oidc")
async def decide(request: Request) -> HTTPResponse:
    body = parse_body(request, ConsentDecisionIn)
    outcome = await services(request).oidc.decide(request.ctx.citizen, request.ctx.claims.session_id,
                                                 authorization_call(request, body.query),
                                                 issuer_of(request), body.approve)
    return reply(ConsentDecisionOut(redirect_to=_landing(outcome)))


class RememberedConsentOut(BaseModel):
    client_id: str
    client_name: str
    scopes: list[ConsentScopeOut]
    granted_at: str


class RememberedConsentsOut(BaseModel):
    items: list[RememberedConsentOut]


@bp.get("/consents")
@documented("The sites I agreed may sign me in, and what each may learn", reply_model=RememberedConsentsOut, tag="oidc")
async def consents(request: Request) -> HTTPResponse:
    language = request.ctx.language
    remembered = await services(request).oidc.consents_of(request.ctx.citizen_id)
    return reply(RememberedConsentsOut(items=[
        RememberedConsentOut(client_id=c.client_id, client_name=c.client_name, granted_at=rfc3339(c.granted_at),
                             scopes=[ConsentScopeOut(scope=s, text=translate(SCOPES[s].words, language))
                                     for s in c.scopes if s in SCOPES])
        for c in remembered]))


@bp.delete("/consents/<client_id:str>")
@documented("Withdraw my consent to a site: it asks again next time, and the tokens it holds stop working",
            status=204, tag="oidc")
async def withdraw(request: Request, client_id: str) -> HTTPResponse:
    await services(request).oidc.withdraw(request.ctx.citizen_id, client_id)
    return no_content()
