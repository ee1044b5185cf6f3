"""Authentication guards, one per audience, attached to blueprints by `audience_blueprint`."""

from __future__ import annotations

from typing import Awaitable, Callable

from sanic import Request

from app.errors import Unauthorized


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("AUTH_REQUIRED", headers={"WWW-Authenticate": 'Bearer realm="citizen"'})
    return token.strip()


async def citizen_guard(request: Request) -> None:
    """A valid access token of a live session: sets `request.ctx.citizen_id` and `.claims`."""
    if request.method == "OPTIONS":
        return
    platform = request.app.ctx.platform
    claims = platform.tokens.verify(bearer_token(request), platform.settings.citizen_audience)
    if not await request.app.ctx.accounts.session_active(claims.session_id):
        raise Unauthorized("TOKEN_REVOKED")
    await request.app.ctx.accounts.touch_session(claims.session_id)
    request.ctx.claims = claims
    request.ctx.citizen_id = claims.subject


async def not_yet_open(request: Request) -> None:
    """Client-JWT audiences (relying parties, partners, admins) are refused until their registry exists."""
    raise Unauthorized("AUTH_REQUIRED")


GUARDS: dict[str, Callable[[Request], Awaitable[None]]] = {
    "citizen": citizen_guard,
    "relying_party": not_yet_open,
    "partner": not_yet_open,
    "admin": not_yet_open,
}
