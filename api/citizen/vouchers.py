"""The citizen's digital resident ID voucher (居民身份电子凭证): get it, lock it, show it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_FACE
from app.clock import rfc3339
from elderly_mode import replies as spoken_replies
from app.i18n import pick

bp = audience_blueprint("citizen_vouchers", url_prefix="/api/v1/vouchers", audience="citizen")


class VoucherRequest(Strict):
    device_id: str = Field(min_length=8, max_length=64, description="The app's installation id on this phone")
    device_key: dict[str, Any] = Field(description="Public EC P-256 JWK of a key kept on this phone")


class VoucherReply(BaseModel):
    id: str
    status: str
    status_reason: str | None
    device_id: str
    issued_at: str


class LockRequest(Strict):
    locked: bool


class PresentationRequest(Strict):
    device_proof: str = Field(max_length=2048, description="ES256 JWT by the device key: sub = voucher id, iat, jti")
    attributes: list[str] | None = Field(default=None, max_length=6,
                                         description="What may be shared; default is only a yes to 'is the holder'")
    standing_request: str | None = Field(default=None, max_length=40, description="Accept an organisation's standing request")
    confirm_full_identity: bool = Field(default=False, description="Explicit consent to share name and ID number")


class PresentationReply(BaseModel):
    id: str
    token: str = Field(description="The QR text (GDID1:…), one-time, no personal data inside")
    attributes: list[str]
    expires_at: str
    seconds_left: int
    extended: bool
    tts_text: str = Field(default="", description="What to do, in plain spoken words, with the time left")


class StandingRequestReply(BaseModel):
    id: str
    attributes: list[str]
    purpose: str


def voucher_view(voucher: Any) -> VoucherReply:
    return VoucherReply(id=voucher.id, status=voucher.status, status_reason=voucher.status_reason,
                        device_id=voucher.device_id, issued_at=rfc3339(voucher.issued_at))


def presentation_view(request: Request, issued: Any) -> PresentationReply:
    p = issued.presentation
    left = int((p.expires_at - services(request).platform.clock.now()).total_seconds())
    can_extend = request.ctx.citizen.elderly_mode and not p.extended
    return PresentationReply(id=p.id, token=issued.token, attributes=p.consented, expires_at=rfc3339(p.expires_at),
                             seconds_left=max(0, left), extended=p.extended,
                             tts_text=spoken_replies.voucher(max(0, left), can_extend, request.ctx.language))


@bp.post("")
@documented("Get the ID voucher on this phone (after the face check); a second call re-issues it to a new phone",
            body=VoucherRequest, reply_model=VoucherReply, status=201, level=LEVEL_FACE, tag="voucher")
@requires_level(LEVEL_FACE)
async def issue(request: Request) -> HTTPResponse:
    body = parse_body(request, VoucherRequest)
    voucher = await services(request).vouchers.issue(request.ctx.citizen, body.device_id, body.device_key)
    return reply(voucher_view(voucher), status=201)


@bp.get("/current")
@documented("My ID voucher and its state", reply_model=VoucherReply, tag="voucher")
async def current(request: Request) -> HTTPResponse:
    return reply(voucher_view(await services(request).vouchers.current(request.ctx.citizen_id)))


@bp.put("/current/lock")
@documented("Lock (suspend) or unlock my ID voucher", body=LockRequest, reply_model=VoucherReply, tag="voucher")
@requires_level(LEVEL_FACE)
async def lock(request: Request) -> HTTPResponse:
    body = parse_body(request, LockRequest)
    return reply(voucher_view(await services(request).vouchers.lock(request.ctx.citizen, body.locked)))


@bp.delete("/current")
@documented("Leave the voucher service: my voucher is revoked for good", reply_model=VoucherReply, tag="voucher")
@requires_level(LEVEL_FACE)
async def leave(request: Request) -> HTTPResponse:
    return reply(voucher_view(await services(request).vouchers.revoke_for_citizen(request.ctx.citizen)))


@bp.post("/current/presentations")
@documented("Show my ID: a one-time QR for the attributes I choose (default: only 'I am the holder')",
            body=PresentationRequest, reply_model=PresentationReply, status=201, level=LEVEL_FACE, tag="voucher")
@requires_level(LEVEL_FACE)
async def present(request: Request) -> HTTPResponse:
    body = parse_body(request, PresentationRequest)
    issued = await services(request).vouchers.present(request.ctx.citizen, body.device_proof, body.attributes,
                                                      body.standing_request, body.confirm_full_identity)
    return reply(presentation_view(request, issued), status=201)


class OfflineRequest(Strict):
    device_proof: str = Field(max_length=2048)
    disclose: list[str] = Field(min_length=1, max_length=4, description="age_over_18, age_over_60, name_masked, id_last4")


class OfflineReply(BaseModel):
    credential: str = Field(description="<JWT>~<disclosure>~...~: an SD-JWT bound to this phone's voucher key (cnf). "
                                        "At the desk the app appends a KB-JWT (typ kb+jwt: iat, aud, nonce, sd_hash) "
                                        "signed with that key over the desk's audience and nonce, and shows GDIDO1:…")
    disclosed: list[str]
    expires_at: str


@bp.post("/current/offline")
@documented("Show my ID where there is no network: an SD-JWT bound to my phone's key, disclosing only the chosen "
            "claims", body=OfflineRequest, reply_model=OfflineReply, status=201, level=LEVEL_FACE, tag="voucher")
@requires_level(LEVEL_FACE)
async def present_offline(request: Request) -> HTTPResponse:
    body = parse_body(request, OfflineRequest)
    shown = await services(request).vouchers.present_offline(request.ctx.citizen, body.device_proof, body.disclose)
    return reply(OfflineReply(credential=shown.credential, disclosed=list(shown.disclosed),
                              expires_at=rfc3339(shown.expires_at)), status=201)


@bp.post("/presentations/<presentation_id:str>/extension")
@documented("Elderly mode: give a QR not yet used one more lifetime, once", reply_model=PresentationReply,
            level=LEVEL_FACE, tag="voucher")
@requires_level(LEVEL_FACE)
async def extend(request: Request, presentation_id: str) -> HTTPResponse:
    issued = await services(request).vouchers.extend(request.ctx.citizen, presentation_id)
    return reply(presentation_view(request, issued))


@bp.get("/standing-requests/<request_id:str>")
@documented("An organisation's standing request, in plain language, to accept when showing my ID",
            reply_model=StandingRequestReply, tag="voucher")
async def standing_request(request: Request, request_id: str) -> HTTPResponse:
    standing = await services(request).vouchers.standing_request(request_id)
    return reply(StandingRequestReply(id=standing.id, attributes=standing.attributes,
                                      purpose=pick(standing.purpose, request.ctx.language)))
