"""Shared pieces of the HTTP layer: body parsing, replies, route documentation, audiences."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from typing import Any, Awaitable, Callable, TypeVar

import ujson
from pydantic import BaseModel, ValidationError
from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi.definitions import Component, Response

from api.services import services
from app.errors import AppError, ValidationFailed

T = TypeVar("T", bound=BaseModel)
Handler = Callable[..., Awaitable[HTTPResponse | None]]  # None: the handler sent its reply itself (request.respond)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
AUDIENCES = ("public", "citizen", "miniprogram", "relying_party", "partner", "admin", "payment_provider")


def dumps(value: Any) -> str:
    # ujson (a Sanic dependency) is several times faster than json here, on every reply.
    return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HTTPResponse:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    elif dataclasses.is_dataclass(body) and not isinstance(body, type):
        body = dataclasses.asdict(body)
    return response.json(body, status=status, headers=headers, dumps=dumps)


def file_reply(content: bytes, content_type: str, filename: str) -> HTTPResponse:
    """A citizen's file shown to staff: never cached, never sniffed as another type, never run as a page."""
    return response.raw(content, content_type=content_type, headers={
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox", "Content-Disposition": f'inline; filename="{filename}"'})


def no_content() -> HTTPResponse:
    return response.empty(status=204)


def parse_body(request: Request, model: type[T]) -> T:
    """The JSON body as `model`, or a clear 400 (not JSON) / 422 (fields wrong)."""
    raw = request.body or b""
    if _too_deep(raw):
        raise AppError("JSON_TOO_DEEP", status=400, params={"max": MAX_JSON_DEPTH}) from None
    try:
        data = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise AppError("MALFORMED_JSON", status=400) from None
    if not isinstance(data, dict):
        raise ValidationFailed([{"field": "body", "problem": "a JSON object is required"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            [{"field": ".".join(str(p) for p in e["loc"]) or "body", "problem": e["type"]} for e in exc.errors()]
        ) from None


MAX_JSON_DEPTH = 32  # no form of ours nests deeper than a few levels


def idempotency_key(request: Request) -> str:
    """The request's Idempotency-Key header (8–64 of A–Z a–z 0–9 - _), which a write that must happen once
    (an application, a payment, a 12345 ticket) requires: 400 IDEMPOTENCY_KEY_REQUIRED / _INVALID otherwise."""
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise AppError("IDEMPOTENCY_KEY_REQUIRED", status=400)
    if not IDEMPOTENCY_KEY.match(key):
        raise AppError("IDEMPOTENCY_KEY_INVALID", status=400)
    return key


def limit_arg(request: Request, default: int = 50, most: int = 200) -> int:
    """`?limit=` of a listing: 1 to `most`, `default` when absent."""
    try:
        limit = int(request.args.get("limit", str(default)))
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        raise ValidationFailed([{"field": "limit", "problem": f"1-{most}"}])
    return limit


def _too_deep(raw: bytes) -> bool:
    """Nesting deeper than MAX_JSON_DEPTH, counted on the bytes before parsing (a parser recursing on
    a 2 MB body of "[[[[" would fail with a RecursionError). Brackets inside strings are skipped."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def client_ip(request: Request) -> str:
    """The caller's address as seen by us (behind a proxy, set FORWARDED_SECRET/REAL_IP_HEADER in Sanic)."""
    return request.remote_addr or request.ip or "unknown"


def audience_blueprint(name: str, url_prefix: str, audience: str) -> Blueprint:
    """A blueprint whose every route is guarded for one audience; routes without one fail a test."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    blueprint = Blueprint(name, url_prefix=url_prefix)
    blueprint.ctx.audience = audience
    if audience != "public":
        from api.guards import GUARDS  # guards import domain services; keep this module light

        blueprint.on_request(GUARDS[audience])
    return blueprint


def documented(
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    reply_model: type | None = None,  # a pydantic model or a dataclass
    status: int = 200,
    level: int | None = None,
    tag: str | None = None,
    description: str = "",
) -> Callable[[Handler], Handler]:
    """Describe a route in the OpenAPI document: request and reply schemas, identity level needed."""
    if level:
        description = (description + f"\n\nRequires identity level {level} (else 403 IDENTITY_LEVEL_REQUIRED).").strip()
    # A 204 has no body: declared without content (None would document "*/*", which no empty reply matches).
    content = {"application/json": _schema(reply_model)} if reply_model else ({} if status == 204 else None)
    responses = [Response(content, status=status)]
    responses.append(Response({"application/json": _schema(ErrorReply)}, status="default", description="error envelope"))

    def wrap(handler: Handler) -> Handler:
        return openapi.definition(
            summary=summary,
            description=description or None,
            body={"application/json": _schema(body)} if body else None,
            response=responses,
            tag=tag,
        )(handler)

    return wrap


def _schema(model: type) -> Any:
    """Pydantic models become named components (their JSON schema); dataclasses are introspected."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return Component(model)
    return model


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str


class ErrorReply(BaseModel):
    error: ErrorBody


def requires_level(level: int) -> Callable[[Handler], Handler]:
    """Load the signed-in citizen into `request.ctx.citizen` and insist on identity `level`."""
    from app.accounts.service import require_level

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse | None:
            citizen = getattr(request.ctx, "citizen", None) or await services(request).accounts.citizen(request.ctx.citizen_id)
            require_level(citizen, level)
            request.ctx.citizen = citizen
            return await handler(request, *args, **kwargs)

        guarded.required_level = level  # type: ignore[attr-defined]
        return guarded

    return wrap
