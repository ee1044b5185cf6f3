"""The mini-program API (`/api/mp/v1/`): mini-program login, then the citizen functions in compact replies.

Sign-in (public): `POST /auth/login {"code"}` with the front-end's wx.login code; a bound user gets
our access token at once, anyone else a `bind_ticket` to finish with `POST /auth/phone` (the
platform's encrypted phone data) or `POST /auth/sms-code` + `POST /auth/sms` (our SMS code).
Everything else needs the mini-program access token and calls the same domain operations as the
citizen API; replies keep only what a small screen shows.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictInt
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.appointments import day_arg
from api.citizen.elderly import PresetReply, font_scale
from api.citizen.joint_applications import joint_out
from api.citizen.health_code import reason_items
from api.citizen.payments import PayableList
from api.http import audience_blueprint, client_ip, documented, idempotency_key, no_content, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_FACE, LEVEL_PHONE, LEVEL_REAL_NAME
from app.accounts.service import SignedIn
from app.clock import CHINA_TZ, rfc3339
from app.errors import ValidationFailed
from app.miniprogram.topics import TOPICS
from app.services.catalogue import words as catalogue_words
from app.notifications import service as inbox_service
from app.payments.service import PaymentView, state_text
from app.services.appointments.service import AppointmentView
from app.services.applications.joint import JointView
from elderly_mode import presets
from health_code.service import colour_text, seconds_left

public = audience_blueprint("mp_auth", url_prefix="/api/mp/v1/auth", audience="public")
bp = audience_blueprint("mp", url_prefix="/api/mp/v1", audience="miniprogram")
TAG = "mini-program"


# -- sign-in ---------------------------------------------------------------------------------------
class LoginIn(Strict):
    code: str = Field(min_length=1, max_length=128, description="The code from wx.login (single use, 5 minutes)")


class PhoneDataIn(Strict):
    bind_ticket: str = Field(min_length=1, max_length=128)
    encrypted_data: str = Field(min_length=1, max_length=4096, description="encryptedData from getPhoneNumber")
    iv: str = Field(min_length=1, max_length=64)


class SmsCodeIn(Strict):
    bind_ticket: str = Field(min_length=1, max_length=128)
    phone: str = Field(max_length=32)


class SmsIn(SmsCodeIn):
    code: str = Field(max_length=12)


class MpCitizen(BaseModel):
    id: str
    level: int
    elderly: bool


class SessionOut(BaseModel):
    bound: bool = Field(description="false: verify the phone number with bind_ticket first")
    access_token: str | None = None
    token_type: str | None = None
    expires_in: int = Field(description="seconds the access token (or the bind ticket) is good for")
    bind_ticket: str | None = None
    citizen: MpCitizen | None = None


def session_out(signed_in: SignedIn) -> SessionOut:
    citizen = signed_in.citizen
    return SessionOut(bound=True, access_token=signed_in.access_token, token_type="Bearer",
                      expires_in=signed_in.expires_in,
                      citizen=MpCitizen(id=citizen.id, level=citizen.level, elderly=citizen.elderly_mode))


@public.post("/login")
@documented("Sign in with a wx.login code (exchanged with the platform server to server)", body=LoginIn,
            reply_model=SessionOut, tag=TAG, description="Errors: 401 MP_CODE_INVALID, 429 MP_RATE_LIMITED, "
            "503 MP_PLATFORM_UNAVAILABLE, 502 MP_PLATFORM_ERROR.")
async def login(request: Request) -> HTTPResponse:
    body = parse_body(request, LoginIn)
    result = await services(request).mini_programs.login(body.code, client_ip(request))
    if result.signed_in is not None:
        return reply(session_out(result.signed_in))
    return reply(SessionOut(bound=False, bind_ticket=result.bind_ticket, expires_in=result.expires_in))


@public.post("/phone")
@documented("Bind this mini-program user with the phone number the platform vouches for", body=PhoneDataIn,
            reply_model=SessionOut, tag=TAG)
async def bind_phone(request: Request) -> HTTPResponse:
    body = parse_body(request, PhoneDataIn)
    return reply(session_out(await services(request).mini_programs.bind_with_phone_data(
        body.bind_ticket, body.encrypted_data, body.iv)))


class CodeSentOut(BaseModel):
    expires_in: int
    resend_after: int


@public.post("/sms-code")
@documented("Or: send an SMS code to the number to bind (same limits as the app login)", body=SmsCodeIn,
            reply_model=CodeSentOut, status=202, tag=TAG)
async def sms_code(request: Request) -> HTTPResponse:
    body = parse_body(request, SmsCodeIn)
    sent = await services(request).mini_programs.send_bind_code(body.bind_ticket, body.phone, client_ip(request))
    return reply(CodeSentOut(expires_in=sent.expires_in, resend_after=sent.resend_after), status=202)


@public.post("/sms")
@documented("Bind with the SMS code", body=SmsIn, reply_model=SessionOut, tag=TAG)
async def bind_sms(request: Request) -> HTTPResponse:
    body = parse_body(request, SmsIn)
    return reply(session_out(await services(request).mini_programs.bind_with_sms(
        body.bind_ticket, body.phone, body.code, client_ip(request))))


@bp.post("/auth/logout")
@documented("Sign this mini-program session out", status=204, tag=TAG)
async def logout(request: Request) -> HTTPResponse:
    await services(request).accounts.logout(request.ctx.claims)
    return no_content()


# -- me --------------------------------------------------------------------------------------------
class MeOut(BaseModel):
    id: str
    level: int
    phone: str = Field(description="masked")
    name: str | None = Field(description="masked")
    elderly: bool


class IdentityIn(Strict):
    name: str = Field(max_length=40)
    id_number: str = Field(max_length=32)


class LevelOut(BaseModel):
    level: int


@bp.get("/me")
@documented("Me, masked", reply_model=MeOut, tag=TAG)
@requires_level(LEVEL_PHONE)
async def me(request: Request) -> HTTPResponse:
    profile = services(request).accounts.profile(request.ctx.citizen)
    return reply(MeOut(id=profile.id, level=profile.level, phone=profile.phone_masked, name=profile.name_masked,
                       elderly=profile.elderly_mode))


@bp.post("/me/identity")
@documented("Real-name verification (实名认证)", body=IdentityIn, reply_model=LevelOut, tag=TAG)
@requires_level(LEVEL_PHONE)
async def identity(request: Request) -> HTTPResponse:
    body = parse_body(request, IdentityIn)
    return reply(LevelOut(level=await services(request).accounts.verify_identity(request.ctx.citizen, body.name,
                                                                              body.id_number)))


# -- home, health code, ID voucher ------------------------------------------------------------------
class CardOut(BaseModel):
    type: str
    title: str
    summary: str
    stale: bool


class HomeOut(BaseModel):
    cards: list[CardOut]
    elderly: bool


@bp.get("/home")
@documented("Home cards, compact", reply_model=HomeOut, tag=TAG)
@requires_level(LEVEL_PHONE)
async def home(request: Request) -> HTTPResponse:
    citizen = request.ctx.citizen
    views = await services(request).cards.home(citizen, request.ctx.language)
    return reply(HomeOut(cards=[CardOut(type=v.type, title=v.title, summary=v.notice if v.status == "unavailable" and v.notice
                                        else v.summary, stale=v.stale) for v in views], elderly=citizen.elderly_mode))


@bp.get("/elderly/preset")
@documented("The elderly-mode preset for the mini-program; ?font_scale= is the platform's fontSizeScaleFactor, "
            "honoured up to the cap (same reply as GET /api/v1/elderly/preset)", reply_model=PresetReply, tag=TAG)
async def elderly_preset(request: Request) -> HTTPResponse:
    return reply(presets.elderly_preset(request.ctx.language, font_scale(request)),
                 headers={"Cache-Control": "private, max-age=3600"})


class HealthCodeOut(BaseModel):
    payload: str = Field(description="draw it as a QR code (error correction Q)")
    color: str
    text: str = Field(description="the colour in words, never colour alone")
    reasons: list[str]
    seconds_left: int


@bp.get("/health-code")
@documented("My health code, compact", reply_model=HealthCodeOut, level=LEVEL_REAL_NAME, tag=TAG)
@requires_level(LEVEL_REAL_NAME)
async def health_code(request: Request) -> HTTPResponse:
    code = await services(request).health.current_code(request.ctx.citizen)
    return reply(HealthCodeOut(payload=code.payload, color=code.colour, text=colour_text(code.colour, request.ctx.language),
                               reasons=[r.text for r in reason_items(request, code.reasons)],
                               seconds_left=seconds_left(code, services(request).platform.clock.now())))


class PresentIn(Strict):
    device_proof: str = Field(max_length=2048, description="ES256 JWT by the device key: sub = voucher id, iat, jti")
    attributes: list[str] | None = Field(default=None, max_length=6)


class PresentOut(BaseModel):
    token: str
    attributes: list[str]
    seconds_left: int


@bp.post("/vouchers/current/presentations")
@documented("Show my ID (居民身份电子凭证): a one-time QR token", body=PresentIn, reply_model=PresentOut, status=201,
            level=LEVEL_FACE, tag=TAG)
@requires_level(LEVEL_FACE)
async def present(request: Request) -> HTTPResponse:
    body = parse_body(request, PresentIn)
    issued = await services(request).vouchers.present(request.ctx.citizen, body.device_proof, body.attributes, None, False)
    left = int((issued.presentation.expires_at - services(request).platform.clock.now()).total_seconds())
    return reply(PresentOut(token=issued.token, attributes=issued.presentation.consented, seconds_left=max(0, left)),
                 status=201)


# -- appointments, applications, inbox --------------------------------------------------------------
class SlotOut(BaseModel):
    id: str
    office: str
    starts_at: str = Field(description="Beijing time, YYYY-MM-DD HH:MM")
    free: int


class SlotsOut(BaseModel):
    items: list[SlotOut]


class BookIn(Strict):
    slot_id: str = Field(min_length=1, max_length=40)


class AppointmentOut(BaseModel):
    id: str
    item: str
    office: str
    starts_at: str
    status: str


class AppointmentsOut(BaseModel):
    items: list[AppointmentOut]


def local(moment) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def appointment_out(view: AppointmentView, language: str) -> AppointmentOut:
    return AppointmentOut(id=view.id, item=catalogue_words.text(view.slot.item_name, language), office=view.slot.office, starts_at=local(view.slot.starts_at),
                          status=view.status)


@bp.get("/appointment-slots")
@documented("Open slots of an item on a day (?item_id=&day=YYYY-MM-DD)", reply_model=SlotsOut, tag=TAG)
async def slots(request: Request) -> HTTPResponse:
    item_id = request.args.get("item_id", "")
    if not item_id:
        raise ValidationFailed([{"field": "item_id", "problem": "missing"}])
    views = await services(request).appointments.open_slots(item_id, day_arg(request))
    return reply(SlotsOut(items=[SlotOut(id=s.id, office=s.office, starts_at=local(s.starts_at), free=s.free) for s in views]))


@bp.post("/appointments")
@documented("Book a seat", body=BookIn, reply_model=AppointmentOut, status=201, level=LEVEL_REAL_NAME, tag=TAG)
@requires_level(LEVEL_REAL_NAME)
async def book(request: Request) -> HTTPResponse:
    body = parse_body(request, BookIn)
    return reply(appointment_out(await services(request).appointments.book(request.ctx.citizen_id, body.slot_id),
                                 request.ctx.language), status=201)


@bp.get("/appointments")
@documented("My appointments", reply_model=AppointmentsOut, tag=TAG)
async def appointments(request: Request) -> HTTPResponse:
    views = await services(request).appointments.mine(request.ctx.citizen_id)
    return reply(AppointmentsOut(items=[appointment_out(v, request.ctx.language) for v in views]))


class MpApplicationOut(BaseModel):
    id: str
    item: str
    status: str
    updated_at: str


class ApplicationsOut(BaseModel):
    items: list[MpApplicationOut]


# -- payments (缴费) ----------------------------------------------------------------------------------
class MpPaymentIn(Strict):
    reference: str = Field(min_length=3, max_length=80, description="What is paid, from GET /api/mp/v1/payables")
    amount_fen: StrictInt = Field(ge=1, le=10_000_000_00, description="Integer fen (分); must equal what is owed")


class MpPaymentOut(BaseModel):
    id: str
    description: str
    amount_fen: int
    state: str
    state_text: str
    request_payment: dict[str, str] | None = Field(
        description="While unpaid: pass to wx.requestPayment as is (appId, timeStamp, nonceStr, package, signType, "
                    "paySign); poll GET /payments/{id} afterwards")
    receipt_number: str | None
    expires_at: str


def mp_payment_out(view: PaymentView, language: str) -> MpPaymentOut:
    return MpPaymentOut(id=view.id, description=view.description, amount_fen=view.amount_fen, state=view.state,
                        state_text=state_text(view.state, language),
                        request_payment=view.pay_params if view.channel == "jsapi" else None,
                        receipt_number=view.receipt_number, expires_at=rfc3339(view.expires_at) or "")


@bp.get("/payables")
@documented("What I owe or have paid (fees, fines, bills, in fen)", reply_model=PayableList, level=LEVEL_REAL_NAME,
            tag=TAG)
@requires_level(LEVEL_REAL_NAME)
async def mp_payables(request: Request) -> HTTPResponse:
    found = await services(request).payments.payables.of(request.ctx.citizen_id)
    return reply({"items": [p.__dict__ for p in found]})


@bp.post("/payments")
@documented("Pay with WeChat Pay in the mini-program (JSAPI): header Idempotency-Key; the reply's request_payment "
            "goes to wx.requestPayment", body=MpPaymentIn, reply_model=MpPaymentOut, status=201,
            level=LEVEL_REAL_NAME, tag=TAG, description="Errors: 409 PAYMENT_IN_PROGRESS, REFERENCE_ALREADY_PAID; "
            "422 PAYMENT_AMOUNT_MISMATCH; 503 PAYMENT_PROVIDER_UNAVAILABLE with Retry-After")
@requires_level(LEVEL_REAL_NAME)
async def mp_pay(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    body = parse_body(request, MpPaymentIn)
    openid = await services(request).mini_programs.payer_openid(request.ctx.citizen_id)
    view, replayed = await services(request).payments.create(request.ctx.citizen_id, key, body.reference, body.amount_fen,
                                                             "CNY", "", channel="jsapi", payer=openid)
    return reply(mp_payment_out(view, request.ctx.language), status=200 if replayed else 201)


@bp.get("/payments/<payment_id:str>")
@documented("One of my payments (an unpaid one is checked with WeChat Pay)", reply_model=MpPaymentOut, tag=TAG)
async def mp_payment(request: Request, payment_id: str) -> HTTPResponse:
    view = await services(request).payments.one_of_mine(request.ctx.citizen_id, payment_id)
    return reply(mp_payment_out(view, request.ctx.language))


@bp.get("/applications")
@documented("My applications (办件), newest first", reply_model=ApplicationsOut, tag=TAG)
async def applications(request: Request) -> HTTPResponse:
    views = await services(request).applications.mine(request.ctx.citizen_id)
    return reply(ApplicationsOut(items=[MpApplicationOut(id=v.id, item=catalogue_words.text(v.item_name, request.ctx.language), status=v.status,
                                                         updated_at=rfc3339(v.updated_at)) for v in views]))


# -- joint applications (一件事) -------------------------------------------------------------------------
class MpJointStep(BaseModel):
    at: str = Field(description="China time, YYYY-MM-DD HH:MM")
    part: str = Field(description="The item this step belongs to")
    text: str = Field(description="The state in words, with the clerk's note")


class MpJointOut(BaseModel):
    id: str
    bundle: str
    status: str
    status_text: str
    done: int
    total: int
    failed: list[dict[str, str]] = Field(description="[{item_id, part, reason}]: parts rejected or returned")
    timeline: list[MpJointStep]


class MpJointsOut(BaseModel):
    items: list[MpJointOut]


def mp_joint_out(view: JointView, language: str) -> MpJointOut:
    """A joint application as a small screen shows it: the one status and the one timeline, in words."""
    full = joint_out(view, language)
    return MpJointOut(
        id=view.id, bundle=full["bundle_name"], status=view.status, status_text=full["status_text"],
        done=full["parts_done"], total=full["parts_total"],
        failed=[{"item_id": p["item_id"], "part": p["item_name"], "reason": p["reason"]} for p in full["failed_parts"]],
        timeline=[MpJointStep(at=local(t.at), part=step["item_name"],
                              text=step["status_text"] + (f"（{step['note']}）" if step["note"] else ""))
                  for t, step in zip(view.timeline, full["timeline"])])


@bp.get("/joint-applications")
@documented("My joint applications (一件事), newest first: one status and one timeline each", reply_model=MpJointsOut,
            tag=TAG)
async def joint_applications(request: Request) -> HTTPResponse:
    views = await services(request).joint_applications.mine(request.ctx.citizen_id)
    return reply(MpJointsOut(items=[mp_joint_out(v, request.ctx.language) for v in views]))


@bp.get("/joint-applications/<joint_id:str>")
@documented("One joint application (一件事): its one status and the one timeline of all its parts",
            reply_model=MpJointOut, tag=TAG)
async def joint_application(request: Request, joint_id: str) -> HTTPResponse:
    view = await services(request).joint_applications.one_of_mine(request.ctx.citizen_id, joint_id)
    return reply(mp_joint_out(view, request.ctx.language))


class MessageOut(BaseModel):
    id: str
    title: str
    body: str
    at: str
    read: bool


class MessagesOut(BaseModel):
    items: list[MessageOut]
    unread: int


@bp.get("/notifications")
@documented("My latest 20 messages", reply_model=MessagesOut, tag=TAG)
async def notifications(request: Request) -> HTTPResponse:
    items, unread = await inbox_service.inbox(request.ctx.citizen_id, request.ctx.language, 20)
    return reply(MessagesOut(unread=unread, items=[MessageOut(id=m.id, title=m.title, body=m.body, at=rfc3339(m.created_at),
                                                              read=m.read) for m in items]))


# -- subscription messages -------------------------------------------------------------------------
class SubscriptionsIn(Strict):
    answers: dict[str, str] = Field(description="topic -> accept | reject, as wx.requestSubscribeMessage answered",
                                    max_length=10)


class SubscriptionsOut(BaseModel):
    remaining: dict[str, int] = Field(description="messages of each topic we may still send")
    templates: dict[str, str] = Field(description="topic -> the platform template id to ask the user for")


def subscriptions_out(remaining: dict[str, int]) -> SubscriptionsOut:
    return SubscriptionsOut(remaining=remaining, templates={topic: t["template_id"] for topic, t in TOPICS.items()})


@bp.post("/subscriptions")
@documented("Record what I answered to the subscription-message request", body=SubscriptionsIn,
            reply_model=SubscriptionsOut, tag=TAG, description="Topics: application_status, health_code, appointment.")
async def subscribe(request: Request) -> HTTPResponse:
    body = parse_body(request, SubscriptionsIn)
    return reply(subscriptions_out(await services(request).mini_programs.record_subscriptions(
        request.ctx.citizen_id, body.answers)))


@bp.get("/subscriptions")
@documented("The subscription messages I still allow", reply_model=SubscriptionsOut, tag=TAG)
async def subscriptions(request: Request) -> HTTPResponse:
    return reply(subscriptions_out(await services(request).mini_programs.subscriptions(request.ctx.citizen_id)))
