"""The signed-in citizen's account security: confirming it is them (step-up) and changing the phone number
(更换手机号)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, client_ip, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.accounts.service import PhoneChangeProof
from app.clock import rfc3339

bp = audience_blueprint("citizen_account", url_prefix="/api/v1/me", audience="citizen")


class StepUpCodeReply(BaseModel):
    sent_to: str = Field(description="The citizen's own phone, masked (138****8000)")
    expires_in: int
    resend_after: int


class StepUpCodeRequest(Strict):
    operation: Literal["data_export", "account_deletion"] | None = Field(default=None, description=(
        "The operation to confirm, named in the SMS (您正在为注销账号确认本人操作…); the body may be left out"))


class StepUpRequest(Strict):
    code: str = Field(max_length=12, description="The 6-digit code from the SMS")


class StepUpReply(BaseModel):
    fresh_until: str | None = Field(description="Until when this session counts as confirmed (RFC 3339); null: not now")


@bp.post("/step-up/code")
@documented("Confirm it is me (确认本人操作), step 1: a code by SMS to my own phone, for this session",
            body=StepUpCodeRequest, reply_model=StepUpCodeReply, status=202, tag="me",
            description="Same limits as the login code (1 per 60 s, the phone's daily cap, per-address cap): 429.")
async def request_step_up_code(request: Request) -> HTTPResponse:
    body = parse_body(request, StepUpCodeRequest) if (request.body or b"").strip() else StepUpCodeRequest()
    sent = await services(request).accounts.request_step_up_code(request.ctx.claims, client_ip(request),
                                                                 body.operation)
    return reply(StepUpCodeReply(sent_to=sent.sent_to, expires_in=sent.expires_in, resend_after=sent.resend_after),
                 status=202)


@bp.post("/step-up")
@documented("Confirm it is me, step 2: the code makes this session fresh for APP_STEP_UP_TTL seconds",
            body=StepUpRequest, reply_model=StepUpReply, tag="me",
            description="Sensitive operations (data export, account deletion) answer 403 FRESH_OTP_REQUIRED without "
                        "it. A wrong code is 401 OTP_INVALID with tries_left; a lapsed or used one 401 OTP_EXPIRED. "
                        "Signing out or revoking the session ends its freshness.")
async def confirm_step_up(request: Request) -> HTTPResponse:
    body = parse_body(request, StepUpRequest)
    until = await services(request).accounts.confirm_step_up(request.ctx.claims, body.code, client_ip(request))
    return reply(StepUpReply(fresh_until=rfc3339(until)))


@bp.get("/step-up")
@documented("Whether this session is confirmed now, and until when", reply_model=StepUpReply, tag="me")
async def step_up_state(request: Request) -> HTTPResponse:
    until = await services(request).accounts.step_up_fresh_until(request.ctx.claims.subject, request.ctx.claims.session_id)
    return reply(StepUpReply(fresh_until=rfc3339(until)))


class PhoneCodesRequest(Strict):
    new_phone: str = Field(max_length=32, description="The new mainland mobile number")
    via: Literal["old_phone", "face"] = Field(default="old_phone", description=(
        "old_phone: a code to the current number too; face: the current number is lost, a face check "
        "(POST /api/v1/me/identity/face/sessions with purpose phone_change) proves it is me instead"))


class PhoneCodesReply(BaseModel):
    new_phone_masked: str
    old_phone_masked: str | None = Field(description="null when the face check replaces the old number's code")
    expires_in: int
    resend_after: int


class PhoneChangeRequest(Strict):
    new_phone: str = Field(max_length=32)
    new_code: str = Field(max_length=12, description="The code the new number received")
    old_code: str | None = Field(default=None, max_length=12, description="The code the current number received")
    face_session_id: str | None = Field(default=None, max_length=40,
                                        description="Instead of old_code: a completed face session, purpose phone_change")

    @model_validator(mode="after")
    def one_proof(self) -> "PhoneChangeRequest":
        if (self.old_code is None) == (self.face_session_id is None):
            raise ValueError("send old_code or face_session_id (one of them)")
        return self


class PhoneChangeReply(BaseModel):
    phone_masked: str


@bp.post("/phone/codes")
@documented("Change my phone number (更换手机号), step 1: codes to the new number and to the current one",
            body=PhoneCodesRequest, reply_model=PhoneCodesReply, status=202, tag="me",
            description="422 INVALID_PHONE or PHONE_UNCHANGED, 409 PHONE_TAKEN (another account's number), 403 "
                        "IDENTITY_LEVEL_REQUIRED for via face without real-name verification, 429 within 60 s or over "
                        "APP_PHONE_CHANGE_DAILY_LIMIT a day (per citizen and per new number).")
async def request_phone_codes(request: Request) -> HTTPResponse:
    body = parse_body(request, PhoneCodesRequest)
    sent = await services(request).accounts.request_phone_change_codes(request.ctx.citizen_id, body.new_phone, body.via,
                                                                       client_ip(request))
    return reply(PhoneCodesReply(**vars(sent)), status=202)


@bp.post("/phone")
@documented("Change my phone number, step 2: the new number's code and the old one's (or a passed face session)",
            body=PhoneChangeRequest, reply_model=PhoneChangeReply, tag="me",
            description="The account keeps its id and level; every other device is signed out; both numbers are told "
                        "by SMS. Wrong codes: 401 OLD_PHONE_CODE_INVALID / NEW_PHONE_CODE_INVALID with tries_left; "
                        "lapsed or used: 401 *_PHONE_CODE_EXPIRED. A face session: 404 if not mine, 422 "
                        "FACE_CHECK_FAILED, 409 FACE_CHECK_NOT_FINISHED or FACE_SESSION_USED.")
async def change_phone(request: Request) -> HTTPResponse:
    body = parse_body(request, PhoneChangeRequest)
    proof = PhoneChangeProof(body.new_phone, body.new_code, body.old_code, body.face_session_id)
    masked = await services(request).accounts.change_phone(request.ctx.claims, proof, client_ip(request))
    return reply(PhoneChangeReply(phone_masked=masked))
