"""The home screen (首页): pinned service cards with live summaries, and pinning, unpinning, reordering."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_PHONE
from app.clock import rfc3339
from elderly_mode import home as elderly_home

bp = audience_blueprint("citizen_home", url_prefix="/api/v1/home", audience="citizen")


class CardItem(BaseModel):
    type: str
    title: str
    summary: str
    stale: bool = Field(description="true: the department could not be reached; this is the last good value")
    updated_at: str | None = Field(description="when the summary was fetched from its department (null: never)")
    status: str = Field(description="ok, stale, unavailable (no value yet), locked (实名 needed)")
    notice: str | None = Field(default=None, description="a line to show under a stale or unavailable card")
    opens: str | None = Field(default=None, description="the API path of the service behind the card (a tap opens it)")


class HomeReply(BaseModel):
    cards: list[CardItem]
    preset: str = Field(description="standard, or elderly (长辈模式) when the citizen switched it on")
    preset_url: str | None = Field(default=None, description="elderly: where the presentation preset is")
    catalogue_url: str | None = Field(default=None, description="elderly: the full catalogue stays one search away")


class CardOrderRequest(Strict):
    types: list[str] = Field(max_length=20, description="The card types to pin, in home-screen order")


class AvailableCard(BaseModel):
    type: str
    title: str


class PinsReply(BaseModel):
    types: list[str] = Field(description="Pinned card types, in order")
    available: list[AvailableCard] = Field(description="Every card type a citizen may pin")


@bp.get("")
@documented("My home screen: pinned service cards with live summaries; a slow department never holds it up",
            reply_model=HomeReply, tag="home",
            description="In elderly mode: at most 6 large cards chosen for older people (health code, ID voucher, "
                        "pension eligibility check, medical insurance, help line, family), each with status_label, "
                        "icon and tts_text; no promotions, no popups; preset_url and catalogue_url.")
@requires_level(LEVEL_PHONE)
async def home(request: Request) -> HTTPResponse:
    citizen = request.ctx.citizen
    if citizen.elderly_mode:
        return reply(await elderly_home.home_reply(services(request).cards, citizen, request.ctx.language,
                                                   services(request).settings.elderly.help_line,
                                                   services(request).platform.clock.now()))
    views = await services(request).cards.home(citizen, request.ctx.language)
    return reply({
        "cards": [{"type": v.type, "title": v.title, "summary": v.summary, "stale": v.stale,
                   "updated_at": rfc3339(v.updated_at), "status": v.status, "notice": v.notice, "opens": v.opens}
                  for v in views],
        "preset": "elderly" if citizen.elderly_mode else "standard",
    })


@bp.get("/cards")
@documented("My pinned card types in order, and every card type I could pin", reply_model=PinsReply, tag="home")
async def pinned(request: Request) -> HTTPResponse:
    types = await services(request).cards.pinned(request.ctx.citizen_id)
    return _pins(request, types)


@bp.put("/cards")
@documented("Pin exactly these cards, in this order", body=CardOrderRequest, reply_model=PinsReply, tag="home")
async def reorder(request: Request) -> HTTPResponse:
    body = parse_body(request, CardOrderRequest)
    types = await services(request).cards.set_order(request.ctx.citizen_id, body.types)
    return _pins(request, types)


@bp.post("/cards/<card_type:str>")
@documented("Pin a card at the end of my home screen (already pinned: unchanged)", reply_model=PinsReply, tag="home")
async def pin(request: Request, card_type: str) -> HTTPResponse:
    types = await services(request).cards.pin(request.ctx.citizen_id, card_type)
    return _pins(request, types)


@bp.delete("/cards/<card_type:str>")
@documented("Take a card off my home screen", reply_model=PinsReply, tag="home")
async def unpin(request: Request, card_type: str) -> HTTPResponse:
    types = await services(request).cards.unpin(request.ctx.citizen_id, card_type)
    return _pins(request, types)


def _pins(request: Request, types: list[str]) -> HTTPResponse:
    language = request.ctx.language
    available = [AvailableCard(type=c.type, title=c.title(language)) for c in services(request).cards.registry.all()]
    return reply(PinsReply(types=types, available=available))
