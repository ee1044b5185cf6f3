"""Public routes: liveness, readiness, the JWKS, and (outside production) the dev SMS outbox."""

from __future__ import annotations

from pydantic import BaseModel
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, reply
from api.services import services
from app.accounts.rules import normalize_phone
from app.clock import rfc3339
from app.errors import AppError, envelope
from app.i18n import ZH_HANS, ZH_HANT, N_, NC_, translate
from app.integrations import ProviderUnavailable

bp = audience_blueprint("public", url_prefix="", audience="public")
dev_bp = audience_blueprint("dev", url_prefix="/dev", audience="public")


class Health(BaseModel):
    status: str
    checks: dict[str, str] | None = None


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    y: str
    kid: str
    alg: str
    use: str


class Jwks(BaseModel):
    keys: list[Jwk]


class OutboxItem(BaseModel):
    id: str
    text: str
    sent_at: str


class Outbox(BaseModel):
    items: list[OutboxItem]


@bp.get("/healthz")
@documented("Liveness: the process is up", reply_model=Health, tag="platform")
async def healthz(request: Request) -> HTTPResponse:
    return reply({"status": "ok"})


@bp.get("/readyz")
@documented("Readiness: database and cache reachable (503 naming the failed part otherwise)", reply_model=Health, tag="platform")
async def readyz(request: Request) -> HTTPResponse:
    checks = await services(request).readiness()
    if all(v == "ok" for v in checks.values()):
        return reply({"status": "ready", "checks": checks})
    failed = [name for name, state in checks.items() if state != "ok"]
    error = AppError("NOT_READY", status=503, params={"failed": ", ".join(failed)}, extra={"checks": checks, "failed": failed})
    return reply(envelope(error, request.ctx.language, request.ctx.request_id), status=503)


@bp.get("/.well-known/jwks.json")
@documented("Public keys (JWKS) for every signature the service makes", reply_model=Jwks, tag="platform")
async def jwks(request: Request) -> HTTPResponse:
    return reply(services(request).platform.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@bp.get("/.well-known/trust-list.jws")
@documented("The partner regions and code-signing keys we accept, as a JWS (ES256) signed with a key in our JWKS",
            tag="platform")
async def trust_list(request: Request) -> HTTPResponse:
    document = await services(request).interop.signed_trust_list()
    return response.text(document, content_type="application/jose", headers={"Cache-Control": "public, max-age=60"})


@bp.get("/.well-known/health-code-format.json")
@documented("What an offline verifier needs besides the JWKS: prefixes, claim keys, colours and reason codes",
            tag="platform")
async def health_code_format(request: Request) -> HTTPResponse:
    return reply(services(request).interop.format_document(), headers={"Cache-Control": "public, max-age=3600"})


@dev_bp.get("/sms-outbox")
@documented("Dev only: the messages the stand-in SMS gateway recorded for ?phone=", reply_model=Outbox, tag="dev")
async def sms_outbox(request: Request) -> HTTPResponse:
    phone = normalize_phone(request.args.get("phone", ""))
    if phone is None:
        raise AppError("INVALID_PHONE", status=422)
    try:
        outbox = services(request).sms_outbox
        assert outbox is not None  # built with the dev endpoints, as this route is
        messages = await outbox.recent(phone)  # read from the stand-in provider
    except ProviderUnavailable:
        raise AppError("SERVICE_UNAVAILABLE", status=503) from None
    return reply({"items": [{"id": m.message_id, "text": m.text, "sent_at": rfc3339(m.sent_at)} for m in messages]})


_FACE_CHECK_DONE = N_("核验已完成，请返回粤省事继续办理。")
_FACE_CHECK_TITLE = NC_("页面标题", "人脸核验")  # "Face check": within a sentence it is "the face check"


@bp.get("/face-check/done")
@documented("Where the face provider's page sends the phone back: a page telling the citizen to return to the app "
            "(the verdict is fetched by the app, never taken from this address)", tag="platform")
async def face_check_done(request: Request) -> HTTPResponse:
    title, text = translate(_FACE_CHECK_TITLE, request.ctx.language), translate(_FACE_CHECK_DONE, request.ctx.language)
    lang = {ZH_HANS: "zh-CN", ZH_HANT: "zh-TW"}.get(request.ctx.language, "en")
    page = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{title}</title></head><body style="font-size:1.4em;'
            f'font-family:sans-serif;margin:2em"><h1>{title}</h1><p>{text}</p></body></html>')
    return response.html(page)
