"""The citizen's e-licence wallet (电子证照): list and open licences, share one for a purpose, withdraw."""

from __future__ import annotations

from typing import Mapping

from pydantic import BaseModel, Field
from sanic import Request, response
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, no_content, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.vouchers.licences import LicenceView, ShareView, validity_text

bp = audience_blueprint("citizen_licences", url_prefix="/api/v1", audience="citizen")


def localized(texts: Mapping[str, str], language: str) -> str:
    return texts.get(language) or texts.get("zh-Hans") or next(iter(texts.values()), "")


class LicenceField(BaseModel):
    name: str
    label: str
    value: str


class LicenceSummary(BaseModel):
    id: str
    licence_type: str
    licence_type_name: str
    issuer: str
    number_label: str
    number_masked: str
    holder_name_masked: str | None
    validity: str = Field(description="valid, expired, suspended, revoked, refunded (an e-receipt) or not_yet_valid, "
                                      "as of now")
    validity_text: str
    status_reason: str | None
    valid_from: str
    valid_until: str | None
    issued_at: str


class LicenceDetail(LicenceSummary):
    fields: list[LicenceField]
    status_changed_at: str


class LicenceList(BaseModel):
    items: list[LicenceSummary]


def summary(view: LicenceView, language: str) -> dict:
    return LicenceSummary(
        id=view.id, licence_type=view.licence_type, licence_type_name=localized(view.type_name, language),
        issuer=view.issuer_name, number_label=localized(view.number_label, language), number_masked=view.number_masked,
        holder_name_masked=view.holder_name_masked, validity=view.validity,
        validity_text=validity_text(view.validity, language), status_reason=view.status_reason,
        valid_from=rfc3339(view.valid_from), valid_until=rfc3339(view.valid_until), issued_at=rfc3339(view.issued_at),
    ).model_dump()


def detail(view: LicenceView, language: str) -> LicenceDetail:
    return LicenceDetail(
        **summary(view, language), status_changed_at=rfc3339(view.status_changed_at),
        fields=[LicenceField(name=f.name, label=localized(f.label, language), value=f.value) for f in view.fields],
    )


class ShareRequest(Strict):
    purpose: str = Field(min_length=2, max_length=50, pattern=r"^[^\x00-\x1f\x7f]+$",
                         description="What the licence may be used for, e.g. 办理租房登记; written on the image")
    valid_minutes: int = Field(default=30, ge=1, description="How long the share can be verified (at most APP_LICENCE_SHARE_MAX_MINUTES, 1440 by default)")


class ShareReply(BaseModel):
    id: str
    licence_id: str
    licence_type: str
    licence_type_name: str
    purpose: str
    watermark: str = Field(description="The text repeated across the image: 仅供 <purpose> 使用 <date>")
    state: str = Field(description="active, withdrawn or expired")
    created_at: str
    expires_at: str
    withdrawn_at: str | None
    verification_token: str | None = Field(description="The QR text (GDLS1:...) a verifier checks; only while active")
    image_url: str | None


class ShareList(BaseModel):
    items: list[ShareReply]


def share_reply(view: ShareView, language: str) -> ShareReply:
    active = view.state == "active"
    return ShareReply(
        id=view.id, licence_id=view.licence_id, licence_type=view.licence_type,
        licence_type_name=localized(view.type_name, language), purpose=view.purpose, watermark=view.watermark,
        state=view.state, created_at=rfc3339(view.created_at), expires_at=rfc3339(view.expires_at),
        withdrawn_at=rfc3339(view.withdrawn_at), verification_token=view.token,
        image_url=f"/api/v1/licence-shares/{view.id}/image.png" if active else None,
    )


@bp.get("/licences")
@documented("My e-licences (电子证照), each with its validity as of now", reply_model=LicenceList,
            level=LEVEL_REAL_NAME, tag="licences")
@requires_level(LEVEL_REAL_NAME)
async def my_licences(request: Request) -> HTTPResponse:
    views = await services(request).licences.licences_of(request.ctx.citizen.id)
    return reply({"items": [summary(v, request.ctx.language) for v in views]})


@bp.get("/licences/<licence_id:str>")
@documented("Open one of my licences: its fields (personal data masked) and validity", reply_model=LicenceDetail,
            level=LEVEL_REAL_NAME, tag="licences")
@requires_level(LEVEL_REAL_NAME)
async def open_licence(request: Request, licence_id: str) -> HTTPResponse:
    view = await services(request).licences.open(request.ctx.citizen.id, licence_id)
    return reply(detail(view, request.ctx.language))


@bp.post("/licences/<licence_id:str>/shares")
@documented("Share a licence for a stated purpose and time: a watermarked image with a verification QR",
            body=ShareRequest, reply_model=ShareReply, status=201, level=LEVEL_REAL_NAME, tag="licences")
@requires_level(LEVEL_REAL_NAME)
async def share_licence(request: Request, licence_id: str) -> HTTPResponse:
    body = parse_body(request, ShareRequest)
    view = await services(request).licences.share(request.ctx.citizen.id, licence_id, body.purpose, body.valid_minutes)
    return reply(share_reply(view, request.ctx.language), status=201)


@bp.get("/licence-shares")
@documented("My licence shares, newest first (active, withdrawn, expired)", reply_model=ShareList, tag="licences")
async def my_shares(request: Request) -> HTTPResponse:
    views = await services(request).licences.shares_of(request.ctx.citizen_id)
    return reply(ShareList(items=[share_reply(v, request.ctx.language) for v in views]))


@bp.get("/licence-shares/<share_id:str>/image.png")
@documented("The shared licence as a PNG: masked fields, the purpose watermark and the verification QR "
            "(410 SHARE_WITHDRAWN / SHARE_EXPIRED once it no longer verifies)", level=LEVEL_REAL_NAME, tag="licences")
@requires_level(LEVEL_REAL_NAME)
async def share_image(request: Request, share_id: str) -> HTTPResponse:
    image = await services(request).licences.share_image(request.ctx.citizen.id, share_id)
    return response.raw(image, content_type="image/png", headers={"Cache-Control": "private, no-store"})


@bp.delete("/licence-shares/<share_id:str>")
@documented("Withdraw a share: from now on it fails verification (SHARE_WITHDRAWN)", status=204, tag="licences")
async def withdraw_share(request: Request, share_id: str) -> HTTPResponse:
    await services(request).licences.withdraw(request.ctx.citizen_id, share_id)
    return no_content()
