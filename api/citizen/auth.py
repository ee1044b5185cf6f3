"""Citizen sign-in: SMS one-time code, login, token refresh, logout."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, client_ip, documented, no_content, parse_body, reply
from api.schemas import CitizenSummary, Strict, TokenReply
from api.services import services
from app.accounts.service import SignedIn

public = audience_blueprint("citizen_auth", url_prefix="/api/v1/auth", audience="public")
guarded = audience_blueprint("citizen_auth_session", url_prefix="/api/v1/auth", audience="citizen")


class OtpRequest(Strict):
    phone: str = Field(max_length=32, description="Mainland mobile number, e.g. 13800138000")
    channel: Literal["sms", "voice"] = Field(default="sms", description=(
        "sms, or voice: a phone call reads the code aloud (语音验证码), for people who cannot read a text"))


class OtpExtensionRequest(Strict):
    phone: str = Field(max_length=32)


class OtpExtensionReply(BaseModel):
    expires_in: int
    seconds_left: int


class OtpReply(BaseModel):
    expires_in: int
    resend_after: int


class LoginRequest(Strict):
    phone: str = Field(max_length=32)
    code: str = Field(max_length=12, description="The 6-digit code from the SMS")
    device_name: str | None = Field(default=None, max_length=64)


class RefreshRequest(Strict):
    refresh_token: str = Field(max_length=256)


def token_reply(signed_in: SignedIn) -> HTTPResponse:
    citizen = signed_in.citizen
    return reply(TokenReply(
        access_token=signed_in.access_token,
        refresh_token=signed_in.refresh_token,
        expires_in=signed_in.expires_in,
        citizen=CitizenSummary(id=citizen.id, level=citizen.level, elderly_mode=citizen.elderly_mode),
    ))


@public.post("/otp")
@documented("Send a login code by SMS (1 per phone per 60 s, 10 a day)", body=OtpRequest, reply_model=OtpReply, status=202, tag="auth")
async def request_code(request: Request) -> HTTPResponse:
    body = parse_body(request, OtpRequest)
    sent = await services(request).accounts.request_login_code(body.phone, client_ip(request), body.channel)
    return reply(OtpReply(expires_in=sent.expires_in, resend_after=sent.resend_after), status=202)


@public.post("/otp/extension")
@documented("Time enough: make the pending login code live twice as long, once, before it lapses",
            body=OtpExtensionRequest, reply_model=OtpExtensionReply, tag="auth",
            description="Offered for every pending code (whether an account is in elderly mode is not told before "
                        "sign-in). 409 ALREADY_EXTENDED the second time, 401 OTP_EXPIRED when no code is pending.")
async def extend_code(request: Request) -> HTTPResponse:
    body = parse_body(request, OtpExtensionRequest)
    left = await services(request).accounts.extend_login_code(body.phone)
    return reply(OtpExtensionReply(expires_in=left, seconds_left=left))


@public.post("/login")
@documented("Log in with phone + SMS code; the citizen is created on first login", body=LoginRequest, reply_model=TokenReply, tag="auth")
async def login(request: Request) -> HTTPResponse:
    body = parse_body(request, LoginRequest)
    return token_reply(await services(request).accounts.login(body.phone, body.code, body.device_name, client_ip(request)))


@public.post("/refresh")
@documented("Swap a refresh token for new tokens (rotated on every use)", body=RefreshRequest, reply_model=TokenReply, tag="auth")
async def refresh(request: Request) -> HTTPResponse:
    body = parse_body(request, RefreshRequest)
    return token_reply(await services(request).accounts.refresh(body.refresh_token))


@guarded.post("/logout")
@documented("Sign this device out: its access and refresh tokens stop working", status=204, tag="auth")
async def logout(request: Request) -> HTTPResponse:
    await services(request).accounts.logout(request.ctx.claims)
    return no_content()
