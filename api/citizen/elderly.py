"""Elderly mode (长辈版 / 适老化) for the citizen: the presentation preset, code extension, undo, large print."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request, response
from sanic.response import HTTPResponse

from api.citizen.applications import application_out
from api.citizen.health_code import health_code_body
from api.http import audience_blueprint, documented, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.errors import ValidationFailed
from elderly_mode import presets, print as large_print

bp = audience_blueprint("citizen_elderly", url_prefix="/api/v1", audience="citizen")
CARD_TYPES = {"png": "image/png", "pdf": "application/pdf"}


class PresetReply(BaseModel):
    name: str
    version: str
    font_scale: float = Field(description="The client's own scale factor as honoured (1.0 to font_scale_cap)")
    font_scale_cap: float
    sizes: dict[str, float] = Field(description="dp: body_dp >= 18, heading_dp and key_function_dp >= 30, "
                                    "touch_target_dp >= 60; line_height >= 1.3 (a factor)")
    palette: dict[str, str] = Field(description="Named colours, #RRGGBB")
    pairs: list[dict[str, Any]] = Field(description="Each text/background pair with its WCAG contrast ratio")
    statuses: dict[str, dict[str, str]] = Field(description="Each status: colour, label in words and an icon name")
    behaviour: dict[str, Any]


class LargeQrRequest(Strict):
    text: str = Field(min_length=1, max_length=1200, description="Any code text (a health code, a voucher QR …)")
    module_px: int = Field(default=12, ge=large_print.MIN_MODULE_PX, le=large_print.MAX_MODULE_PX,
                           description="Pixels per module at 300 dpi (8 or more)")


def font_scale(request: Request) -> float | None:
    raw = request.args.get("font_scale")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValidationFailed([{"field": "font_scale", "problem": "a number such as 1.3"}]) from None
    if not 0.5 <= value <= 5:
        raise ValidationFailed([{"field": "font_scale", "problem": "0.5 to 5 (honoured up to the cap)"}])
    return value


@bp.get("/elderly/preset")
@documented("The elderly-mode presentation preset: sizes (dp), high-contrast palette with computed WCAG ratios, "
            "status labels and icons; ?font_scale= a client's own scale factor, honoured up to the cap",
            reply_model=PresetReply, tag="elderly")
async def preset(request: Request) -> HTTPResponse:
    return reply(presets.elderly_preset(request.ctx.language, font_scale(request)),
                 headers={"Cache-Control": "private, max-age=3600"})


@bp.post("/health-code/extension")
@documented("Elderly mode: make the health code on screen live twice as long, once, before it lapses",
            level=LEVEL_REAL_NAME, tag="elderly",
            description="Replies like GET /api/v1/health-code with a new payload (extended: true). 403 "
                        "ELDERLY_MODE_REQUIRED, 409 ALREADY_EXTENDED, 410 CODE_LAPSED (refresh instead).")
@requires_level(LEVEL_REAL_NAME)
async def extend_health_code(request: Request) -> HTTPResponse:
    code = await services(request).health.extend(request.ctx.citizen)
    return reply({**health_code_body(request, code), "extended": True})


@bp.post("/applications/<application_id:str>/withdrawal")
@documented("Undo: withdraw an application submitted in elderly mode, within 10 minutes, without penalty",
            tag="elderly", description="409 UNDO_NOT_AVAILABLE (not submitted in elderly mode), 409 "
            "UNDO_WINDOW_CLOSED, 409 APPLICATION_STATE_CONFLICT (already decided), 404 for anyone else's.")
async def withdraw(request: Request, application_id: str) -> HTTPResponse:
    view = await services(request).undo.withdraw(request.ctx.citizen_id, application_id)
    return reply(application_out(view, request.ctx.language))


@bp.get("/elderly/print-card")
@documented("My health code as a printable A6 card (?format=png, default, or pdf), 300 dpi, large QR",
            level=LEVEL_REAL_NAME, tag="elderly")
@requires_level(LEVEL_REAL_NAME)
async def print_card(request: Request) -> HTTPResponse:
    return await print_card_reply(request, request.ctx.citizen)


async def print_card_reply(request: Request, citizen: Any, proxy_id: str | None = None) -> HTTPResponse:
    """The card of `citizen`: the signed-in one, or a principal printed by `proxy_id`, their proxy."""
    fmt = request.args.get("format", "png")
    if fmt not in CARD_TYPES:
        raise ValidationFailed([{"field": "format", "problem": "png or pdf"}])
    data = await services(request).large_print.card(citizen, fmt, request.ctx.language, proxy_id)
    return response.raw(data, content_type=CARD_TYPES[fmt], headers={
        "Cache-Control": "private, no-store", "Content-Disposition": f'inline; filename="health-code-card.{fmt}"'})


@bp.post("/elderly/large-qr")
@documented("Any code as a large-module QR PNG (module_px >= 8 at 300 dpi), for a magnifier or a printer",
            body=LargeQrRequest, tag="elderly")
async def large_qr(request: Request) -> HTTPResponse:
    body = parse_body(request, LargeQrRequest)
    data = await services(request).large_print.qr(body.text, body.module_px)
    return response.raw(data, content_type="image/png", headers={"Cache-Control": "private, no-store"})


