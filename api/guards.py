"""Authentication guards, one per audience, attached to blueprints by `audience_blueprint`."""

from __future__ import annotations

from typing import Awaitable, Callable

from sanic import Request

from api.services import services
from app import db
from app.config import Settings
from app.errors import Unauthorized
from app.security.clients import authenticate_client


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("AUTH_REQUIRED", headers={"WWW-Authenticate": 'Bearer realm="citizen"'})
    return token.strip()


async def citizen_guard(request: Request) -> None:
    """A valid access token of a live session: sets `request.ctx.citizen` (a snapshot), `.citizen_id`
    and `.claims`."""
    await _session_guard(request, services(request).platform.settings.accounts.citizen_audience)


async def miniprogram_guard(request: Request) -> None:
    """The same, for a token issued by the mini-program login (its own audience: the two never mix)."""
    await _session_guard(request, services(request).platform.settings.miniprogram.audience)


async def _session_guard(request: Request, audience: str) -> None:
    if request.method == "OPTIONS":
        return
    platform = services(request).platform
    claims = platform.tokens.verify(bearer_token(request), audience)
    request.ctx.citizen = await services(request).accounts.signed_in(claims.session_id, claims.subject)
    request.ctx.claims = claims
    request.ctx.citizen_id = claims.subject
    db.reading_as(claims.subject)  # their lag-tolerant reads honour their read-your-writes window


def client_audience(settings: Settings, audience: str) -> str:
    """The `aud` a client JWT must carry for one API, e.g. https://gov-app.example.cn/admin."""
    return f"{settings.security.issuer}/{audience}"


def client_guard(audience: str) -> Callable[[Request], Awaitable[None]]:
    """A registered client's self-signed JWT: sets `request.ctx.client`."""

    async def guard(request: Request) -> None:
        platform = services(request).platform
        request.ctx.client = await authenticate_client(
            bearer_token(request), audience, client_audience(platform.settings, audience), platform.clock, platform.cache
        )

    return guard


async def payment_provider_guard(request: Request) -> None:
    """A notice signed by the payment provider (WeChat Pay: `Wechatpay-Signature` over the body, its resource
    encrypted with our APIv3 key), each delivery used once: sets `request.ctx.notice`. A missing, forged,
    stale or replayed signature is refused with 401, an unreadable notice with 400; both are logged."""
    request.ctx.notice = await services(request).payments.authenticate_notice(request.headers, request.body or b"")


GUARDS: dict[str, Callable[[Request], Awaitable[None]]] = {
    "citizen": citizen_guard,
    "miniprogram": miniprogram_guard,
    "relying_party": client_guard("relying_party"),
    "partner": client_guard("partner"),
    "admin": client_guard("admin"),
    "payment_provider": payment_provider_guard,
}
