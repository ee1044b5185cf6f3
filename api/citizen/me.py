"""The signed-in citizen: profile, identity levels (实名, face), sessions, access log."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, no_content, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app import audit
from app.accounts.rules import LEVEL_PHONE
from app.accounts.service import DocumentClaim, Profile
from app.clock import rfc3339

bp = audience_blueprint("citizen_me", url_prefix="/api/v1/me", audience="citizen")


DocumentType = Literal["resident_id", "residence_permit", "hk_macao_permit", "taiwan_permit", "permanent_residence",
                       "passport"]


class IdentityRequest(Strict):
    name: str = Field(max_length=80, description="Name as on the document (Han characters; Latin letters too for a "
                                                 "non-mainland document)")
    id_number: str = Field(max_length=32, description="The document's number: for resident_id the 18-character "
                                                      "resident ID number")
    document_type: DocumentType = Field(
        default="resident_id", description="resident_id 居民身份证, residence_permit 港澳台居民居住证, hk_macao_permit "
                                           "港澳居民来往内地通行证, taiwan_permit 台湾居民来往大陆通行证, permanent_residence "
                                           "外国人永久居留身份证, passport 外国护照")
    nationality: str | None = Field(default=None, max_length=3,
                                    description="ISO 3166 alpha-3: required for passport; for permanent_residence, "
                                                "checked against the number")
    renewal_count: int | None = Field(default=None, ge=0, le=99,
                                      description="hk_macao_permit: 换证次数, when not typed as the number's last 2 digits")
    mrz: str | None = Field(default=None, max_length=100,
                            description="passport: the two lines of the machine-readable zone (TD3), for its check "
                                        "digits and birth date")


class FaceSessionRequest(Strict):
    purpose: str = Field(default="level3", max_length=16,
                         description="level3: check my own verified identity; reclaim: take back an identity another "
                                     "account holds (with name and id_number); phone_change: prove it is me to change "
                                     "my phone number without the old one (then POST /api/v1/me/phone)")
    name: str | None = Field(default=None, max_length=40, description="reclaim only: name as on the ID card")
    id_number: str | None = Field(default=None, max_length=32, description="reclaim only: the document's number")
    document_type: DocumentType = Field(default="resident_id", description="reclaim only: the document's type (one "
                                                                           "the identity authority confirms)")


class FaceSessionReply(BaseModel):
    session_id: str
    provider: str
    biz_token: str
    url: str
    expires_in: int


class FaceRequest(Strict):
    session_id: str | None = Field(default=None, max_length=40, description="The face session the phone completed")
    liveness_sample: str | None = Field(default=None, max_length=3_000_000,
                                        description="Stand-in face provider only: base64 of a liveness capture")

    @model_validator(mode="after")
    def one_of(self) -> "FaceRequest":
        if (self.session_id is None) == (self.liveness_sample is None):
            raise ValueError("send session_id (or, with the stand-in provider, liveness_sample)")
        return self


class LevelReply(BaseModel):
    level: int


class IdentityReply(LevelReply):
    document_type: str
    confirmed: bool = Field(description="false: the document is recorded as declared, the account stays below 实名")


class SessionItem(BaseModel):
    id: str
    device_name: str
    created_at: str
    last_used_at: str
    current: bool


class SessionList(BaseModel):
    items: list[SessionItem]


class AccessLogItem(BaseModel):
    at: str
    actor: str
    actor_type: str
    action: str
    attributes: list | dict
    purpose: str | None


class AccessLog(BaseModel):
    items: list[AccessLogItem]


@bp.get("")
@documented("My profile, PII masked", reply_model=Profile, tag="me")
@requires_level(LEVEL_PHONE)
async def me(request: Request) -> HTTPResponse:
    profile = services(request).accounts.profile(request.ctx.citizen)
    return reply(profile)


@bp.post("/identity")
@documented("Real-name verification (实名认证): name + identity document (resident ID by default)",
            body=IdentityRequest, reply_model=IdentityReply, tag="me")
@requires_level(LEVEL_PHONE)
async def verify_identity(request: Request) -> HTTPResponse:
    body = parse_body(request, IdentityRequest)
    bound = await services(request).accounts.bind_document(request.ctx.citizen, DocumentClaim(
        body.name, body.id_number, body.document_type, body.nationality, body.renewal_count, body.mrz))
    return reply(IdentityReply(level=bound.level, document_type=bound.document_type, confirmed=bound.confirmed))


@bp.post("/identity/face/sessions")
@documented("Start a face check (人脸核身) at the provider; the phone completes it in the provider's SDK or page",
            body=FaceSessionRequest, reply_model=FaceSessionReply, status=201, tag="me")
@requires_level(LEVEL_PHONE)
async def start_face_session(request: Request) -> HTTPResponse:
    body = parse_body(request, FaceSessionRequest) if (request.body or b"").strip() else FaceSessionRequest()
    started = await services(request).accounts.start_face_session(request.ctx.citizen, body.purpose, body.name,
                                                                  body.id_number, body.document_type)
    return reply(FaceSessionReply(**vars(started)), status=201)


@bp.post("/identity/face")
@documented("Finish a face check: the provider's verdict for a completed session grants level 3 (or takes back an "
            "identity another account held)", body=FaceRequest, reply_model=LevelReply, tag="me")
@requires_level(LEVEL_PHONE)
async def verify_face(request: Request) -> HTTPResponse:
    body = parse_body(request, FaceRequest)
    level = await services(request).accounts.verify_face(request.ctx.citizen, body.session_id, body.liveness_sample)
    return reply(LevelReply(level=level))


class PreferencesRequest(Strict):
    elderly_mode: bool | None = Field(default=None, description="长辈模式: large type, high contrast, simple home")


class PreferencesReply(BaseModel):
    elderly_mode: bool


@bp.put("/preferences")
@documented("Change my preferences (elderly mode); the stored preferences are returned",
            body=PreferencesRequest, reply_model=PreferencesReply, tag="me")
async def preferences(request: Request) -> HTTPResponse:
    body = parse_body(request, PreferencesRequest)
    stored = await services(request).accounts.set_preferences(request.ctx.citizen_id, body.elderly_mode)
    return reply(PreferencesReply(**stored))


@bp.get("/sessions")
@documented("My signed-in devices", reply_model=SessionList, tag="me")
async def sessions(request: Request) -> HTTPResponse:
    rows = await services(request).accounts.sessions(request.ctx.citizen_id)
    current = request.ctx.claims.session_id
    return reply(SessionList(items=[
        SessionItem(id=s.id, device_name=s.device_name, created_at=rfc3339(s.created_at),
                    last_used_at=rfc3339(s.last_used_at), current=s.id == current)
        for s in rows
    ]))


@bp.delete("/sessions/<session_id:str>")
@documented("Sign out one of my devices remotely", status=204, tag="me")
async def sign_out_session(request: Request, session_id: str) -> HTTPResponse:
    await services(request).accounts.sign_out_session(request.ctx.citizen_id, session_id)
    return no_content()


class PushTokenRequest(Strict):
    platform: str = Field(pattern="^(ios|android)$", description="ios or android")
    token: str = Field(min_length=8, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9:._\-]*$",
                       description="The push provider's registration id of this app install (JPush registrationID)")


class PushTokenReply(BaseModel):
    session_id: str
    platform: str


@bp.put("/sessions/current/push-token")
@documented("Where this device receives push notifications (推送), in the language of this request's "
            "Accept-Language; kept until it signs out. A token another session registered moves to this one", body=PushTokenRequest, reply_model=PushTokenReply, tag="me")
async def register_push_token(request: Request) -> HTTPResponse:
    body = parse_body(request, PushTokenRequest)
    session_id = request.ctx.claims.session_id
    await services(request).devices.register(request.ctx.citizen_id, session_id, body.platform, body.token,
                                             request.ctx.language)
    return reply(PushTokenReply(session_id=session_id, platform=body.platform))


@bp.get("/access-log/export")
@documented("My whole access log as a JSON file to keep (like Singpass Myinfo and the Estonian data tracker)",
            reply_model=AccessLog, tag="me")
async def export_access_log(request: Request) -> HTTPResponse:
    items: list[AccessLogItem] = []
    before: int | None = None
    while True:
        page = await audit.access_log(request.ctx.citizen_id, limit=500, before_seq=before)
        items += [AccessLogItem(at=rfc3339(e.at), actor=e.actor, actor_type=e.actor_type, action=e.action,
                                attributes=e.attributes, purpose=e.purpose) for e in page]
        if len(page) < 500:
            break
        before = page[-1].seq
    day = services(request).platform.clock.now().strftime("%Y%m%d")
    return reply(AccessLog(items=items), headers={
        "Content-Disposition": f'attachment; filename="access-log-{day}.json"', "Cache-Control": "private, no-store"})


@bp.get("/access-log")
@documented("Who else read my data, when, what and why", reply_model=AccessLog, tag="me")
async def access_log(request: Request) -> HTTPResponse:
    entries = await audit.access_log(request.ctx.citizen_id)
    return reply(AccessLog(items=[
        AccessLogItem(at=rfc3339(e.at), actor=e.actor, actor_type=e.actor_type, action=e.action,
                      attributes=e.attributes, purpose=e.purpose)
        for e in entries
    ]))
