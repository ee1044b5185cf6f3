"""Family proxy (亲友代办 / 亲情账号): link a family member with their consent, then act for them.

The proxy uses their own token; every request for a family member names them in the path
(`/api/v1/family/{principal_id}/…`) and is refused with 403 FAMILY_LINK_REQUIRED unless a live link
exists: the same answer for a stranger, a revoked or an expired link. There are no routes that change
a principal's identity data or phone.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.applications import ApplicationIn, application_out, materials_given
from api.citizen.appointments import AppointmentList, AppointmentReply, BookingRequest, appointment_reply
from api.citizen.elderly import print_card_reply
from api.citizen.health_code import HealthCodeReply, health_code_body
from api.http import audience_blueprint, documented, idempotency_key, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.i18n import N_, translate
from elderly_mode.service import ConsentSent, LinkView, relation_text
from elderly_mode.tts import spoken

bp = audience_blueprint("citizen_family", url_prefix="/api/v1/family", audience="citizen")

Relation = Literal["child", "spouse", "parent", "grandchild", "sibling", "relative"]


class LinkRequest(Strict):
    basis: Literal["sms", "guardian"] = Field(default="sms", description=(
        "sms: a confirmation code goes to the family member's own phone; guardian: a child under 18, shown by "
        "their household register page in your wallet"))
    relation: Relation | Literal["guardian"] = Field(default="child", description="What they are to you")
    principal_phone: str | None = Field(default=None, max_length=32, description="For sms: their mobile number")
    principal_id_number: str | None = Field(default=None, max_length=32, description="For guardian: the child's ID")
    licence_id: str | None = Field(default=None, max_length=40, description="For guardian: the household register")


class ConfirmRequest(Strict):
    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$",
                      description="The code the family member received (or the service hall gave them)")


class LinkOut(BaseModel):
    id: str = Field(description="The link, or for a proxy's request the request id to confirm, renew or withdraw")
    role: str = Field(description="proxy (I act for them) or principal (they act for me)")
    other_name_masked: str | None = Field(description="null for a proxy until the family member has consented")
    other_phone_masked: str | None = Field(description="null for a proxy until the family member has consented")
    other_id: str | None = Field(description="null for a proxy until the family member has consented")
    relation: str
    relation_text: str
    basis: str
    status: str = Field(description="pending, active, expired or revoked")
    created_at: str
    expires_at: str | None
    revoked_at: str | None


class LinkReply(BaseModel):
    link: LinkOut
    consent: dict[str, Any] | None = Field(default=None, description="channel, expires_in, seconds_left")


class LinkList(BaseModel):
    acting_for: list[LinkOut]
    acted_for_by: list[LinkOut]


class AttestationReply(BaseModel):
    name_masked: str
    id_last4: str
    verified: bool
    age_over_60: bool | None = Field(description="null when their document carries no birth date")
    age_over_18: bool | None = Field(description="null when their document carries no birth date")
    resident_id: bool = Field(description="the last 4 are of a resident ID (身份证), not of another document")
    tts_text: str


class ActionItem(BaseModel):
    at: str
    principal_id: str
    action: str
    attributes: list | dict
    purpose: str | None


class ActionList(BaseModel):
    items: list[ActionItem]


def link_out(request: Request, view: LinkView) -> dict[str, Any]:
    return {"id": view.id, "role": view.role, "other_name_masked": view.other_name_masked,
            "other_phone_masked": view.other_phone_masked, "other_id": view.other_id, "relation": view.relation,
            "relation_text": relation_text(view.relation, request.ctx.language), "basis": view.basis,
            "status": view.status, "created_at": rfc3339(view.created_at),
            "expires_at": rfc3339(view.expires_at), "revoked_at": rfc3339(view.revoked_at)}


def consent_reply(request: Request, sent: ConsentSent, status: int) -> HTTPResponse:
    consent = None
    if sent.channel in ("sms", "hall"):
        consent = {"channel": sent.channel, "expires_in": sent.expires_in, "seconds_left": sent.expires_in}
    return reply({"link": link_out(request, sent.link), "consent": consent}, status=status)


async def reply_then_send(request: Request, sent: ConsentSent, status: int) -> None:
    """Send the reply, then the consent SMS stored with it: the reply never waits on the SMS provider.

    A client that goes away cancels the handler, not the send. Were it never to happen (the process
    stopping), the delivery's lease runs out and the retry job sends it."""
    response = await request.respond(consent_reply(request, sent, status))
    await response.send(end_stream=True)
    await asyncio.shield(services(request).family.send_consent(sent))


@bp.post("/links")
@documented("Ask to act for a family member: a confirmation code goes to their phone (or show guardianship)",
            body=LinkRequest, reply_model=LinkReply, status=201, level=LEVEL_REAL_NAME, tag="family",
            description="201 pending (sms) or active (guardian). For sms the reply is the same whether or not the "
                        "number has a verified account (or turned this request down), names nobody until the family "
                        "member consents, and comes before the SMS is sent (a failing SMS is retried, never told). "
                        "For guardian the household register is checked first, and every mismatch, the ID number "
                        "having no verified account among them, is 422 GUARDIAN_EVIDENCE_INVALID. "
                        "409 FAMILY_LINK_EXISTS, 422 FAMILY_SELF / GUARDIAN_NOT_MINOR / GUARDIAN_EVIDENCE_INVALID / "
                        "INVALID_ID_NUMBER.")
@requires_level(LEVEL_REAL_NAME)
async def request_link(request: Request) -> None:
    body = parse_body(request, LinkRequest)
    sent = await services(request).family.request_link(request.ctx.citizen, body.relation, body.basis,
                                                       body.principal_phone, body.principal_id_number, body.licence_id)
    await reply_then_send(request, sent, 201)


@bp.post("/links/<link_id:str>/confirmation")
@documented("Enter the code the family member received (or the service hall issued): the link is active",
            body=ConfirmRequest, reply_model=LinkReply, tag="family")
async def confirm(request: Request, link_id: str) -> HTTPResponse:
    body = parse_body(request, ConfirmRequest)
    view = await services(request).family.confirm(request.ctx.citizen_id, link_id, body.code)
    return reply({"link": link_out(request, view), "consent": None})


@bp.post("/links/<link_id:str>/renewal")
@documented("Renew a link before or after it expires: the family member confirms again", reply_model=LinkReply,
            level=LEVEL_REAL_NAME, tag="family",
            description="A request the family member never answered, or turned down, stays pending to you until "
                        "it is forgotten after a day: renewing it answers alike and sends nothing.")
@requires_level(LEVEL_REAL_NAME)
async def renew(request: Request, link_id: str) -> None:
    sent = await services(request).family.renew(request.ctx.citizen, link_id)
    await reply_then_send(request, sent, 200)


@bp.delete("/links/<link_id:str>")
@documented("End a link at once (the family member acted for, or the proxy stepping down)", reply_model=LinkReply,
            tag="family")
async def revoke(request: Request, link_id: str) -> HTTPResponse:
    view = await services(request).family.revoke(request.ctx.citizen_id, link_id)
    return reply({"link": link_out(request, view), "consent": None})


@bp.get("/links")
@documented("My family links: those I act for, and those who act for me", reply_model=LinkList, tag="family")
async def links(request: Request) -> HTTPResponse:
    acting, acted_for = await services(request).family.links_of(request.ctx.citizen_id)
    return reply({"acting_for": [link_out(request, view) for view in acting],
                  "acted_for_by": [link_out(request, view) for view in acted_for]})


@bp.get("/actions")
@documented("What I did for family members (my own log of proxy actions)", reply_model=ActionList, tag="family")
async def actions(request: Request) -> HTTPResponse:
    entries = await services(request).family.actions_by(request.ctx.citizen_id)
    return reply({"items": [{"at": rfc3339(e.at), "principal_id": e.subject_id, "action": e.action,
                             "attributes": e.attributes, "purpose": e.purpose} for e in entries]})


@bp.get("/<principal_id:str>/health-code")
@documented("Show a family member's health code (same shape as GET /api/v1/health-code)",
            reply_model=HealthCodeReply, tag="family")
async def health_code(request: Request, principal_id: str) -> HTTPResponse:
    code = await services(request).family.show_health_code(request.ctx.citizen_id, principal_id)
    return reply(health_code_body(request, code))


# What the attestation says aloud, by (verified, resident ID).
ATTESTATION_SAID = {
    (True, True): N_("已实名：{name}，身份证号码后四位 {last4}。"),
    (True, False): N_("已实名：{name}，证件号码后四位 {last4}。"),
    (False, True): N_("尚未实名：{name}，身份证号码后四位 {last4}。"),
    (False, False): N_("尚未实名：{name}，证件号码后四位 {last4}。"),
}


@bp.get("/<principal_id:str>/id-attestation")
@documented("A limited ID attestation for a family member: masked name, last 4 digits, verified, over 60",
            reply_model=AttestationReply, tag="family")
async def attestation(request: Request, principal_id: str) -> HTTPResponse:
    shown = await services(request).family.attest(request.ctx.citizen_id, principal_id)
    said = ATTESTATION_SAID[(shown.verified, shown.resident_id)]
    text = translate(said, request.ctx.language, name=shown.name_masked, last4=shown.id_last4)
    return reply({**shown.__dict__, "tts_text": spoken(text, request.ctx.language)})


@bp.get("/<principal_id:str>/print-card")
@documented("A family member's health code as a printable A6 card (?format=png|pdf)", tag="family")
async def print_card(request: Request, principal_id: str) -> HTTPResponse:
    principal = await services(request).family.principal_for_print(request.ctx.citizen_id, principal_id)
    return await print_card_reply(request, principal, request.ctx.citizen_id)


@bp.post("/<principal_id:str>/appointments")
@documented("Book an appointment for a family member", body=BookingRequest, reply_model=AppointmentReply,
            status=201, tag="family")
async def book(request: Request, principal_id: str) -> HTTPResponse:
    body = parse_body(request, BookingRequest)
    view = await services(request).family.book(request.ctx.citizen_id, principal_id, body.slot_id)
    return reply(appointment_reply(view, request.ctx.language), status=201)


@bp.get("/<principal_id:str>/appointments")
@documented("A family member's appointments", reply_model=AppointmentList, tag="family")
async def appointments(request: Request, principal_id: str) -> HTTPResponse:
    views = await services(request).family.appointments_of(request.ctx.citizen_id, principal_id)
    return reply({"items": [appointment_reply(v, request.ctx.language) for v in views]})


@bp.post("/<principal_id:str>/applications")
@documented("Submit an application for a family member (Idempotency-Key header, as for your own)",
            body=ApplicationIn, status=201, tag="family")
async def apply(request: Request, principal_id: str) -> HTTPResponse:
    key = idempotency_key(request)
    body = parse_body(request, ApplicationIn)
    view, replayed = await services(request).family.apply(request.ctx.citizen_id, principal_id, key, body.item_id,
                                                          body.form, materials_given(body.materials))
    return reply(application_out(view, request.ctx.language), status=201,
                 headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.get("/<principal_id:str>/applications")
@documented("A family member's applications and their status", tag="family")
async def applications(request: Request, principal_id: str) -> HTTPResponse:
    views = await services(request).family.applications_of(request.ctx.citizen_id, principal_id)
    return reply({"items": [application_out(v, request.ctx.language, full=False) for v in views]})
