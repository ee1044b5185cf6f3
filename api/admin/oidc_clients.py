"""Registering the sites that sign citizens in with this account (接入网站), role `oidc_admin`.

The client_secret of a confidential site is in the registration's reply only: it is kept hashed, never shown
again (a lost secret means a new registration, and the old one disabled).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.oidc.models import OidcClient

bp = audience_blueprint("admin_oidc_clients", url_prefix="/api/admin/v1/oidc-clients", audience="admin")
ROLE = "oidc_admin"


class OidcSiteIn(Strict):
    name: str = Field(min_length=1, max_length=100, description="Shown to citizens on the consent page (示例：广州市公积金网上办事大厅)")
    client_type: Literal["confidential", "public"] = Field(
        description="confidential: a server that keeps a secret; public: a browser or phone app, PKCE only")
    redirect_uris: list[str] = Field(min_length=1, max_length=10, description="Compared exactly; https, or http on loopback")
    scopes: list[str] = Field(min_length=1, max_length=10, description="What the site may ask for; openid is required")


class OidcSiteOut(BaseModel):
    client_id: str
    name: str
    client_type: str
    redirect_uris: list[str]
    scopes: list[str]
    active: bool
    created_at: str
    disabled_at: str | None


class OidcRegisteredSiteOut(OidcSiteOut):
    client_secret: str | None = Field(description="Shown this once (confidential sites); null for a public site")


class OidcSitesOut(BaseModel):
    items: list[OidcSiteOut]


def site_out(client: OidcClient) -> OidcSiteOut:
    return OidcSiteOut(client_id=client.id, name=client.name, client_type=client.client_type,
                   redirect_uris=list(client.redirect_uris), scopes=list(client.scopes), active=client.active,
                   created_at=rfc3339(client.created_at),
                   disabled_at=rfc3339(client.disabled_at) if client.disabled_at else None)


@bp.post("")
@documented("Register a site: its client_id, and for a confidential site its client_secret, shown this once",
            body=OidcSiteIn, reply_model=OidcRegisteredSiteOut, status=201, tag="admin")
async def register(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, OidcSiteIn)
    made = await services(request).oidc.register(request.ctx.client.id, body.name, body.client_type,
                                                 body.redirect_uris, body.scopes)
    return reply(OidcRegisteredSiteOut(**site_out(made.client).model_dump(), client_secret=made.secret), status=201)


@bp.get("")
@documented("The registered sites (no secrets)", reply_model=OidcSitesOut, tag="admin")
async def listing(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(OidcSitesOut(items=[site_out(c) for c in await services(request).oidc.sites()]))


@bp.post("/<client_id:str>/disable")
@documented("Disable a site: it signs no one in any more, and its access tokens stop working", reply_model=OidcSiteOut,
            tag="admin")
async def disable(request: Request, client_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(site_out(await services(request).oidc.disable(request.ctx.client.id, client_id)))
