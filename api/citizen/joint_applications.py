"""Joint applications (一件事联办): a bundle's one form, one submission, one status and one timeline.

`GET /api/v1/life-events/<code>/joint-form` is public (the form holds no personal data); the rest needs the
citizen's sign-in, and submitting needs 实名 (level 2), as a single application does.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.applications import MaterialIn, materials_given
from api.http import audience_blueprint, documented, idempotency_key, parse_body, reply, requires_level
from api.schemas import Strict
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.clock import rfc3339
from app.services.applications.joint import (
    JointView, PartView, TimelineEntry, form_schema_of, joint_status_text, open_for_applications,
)
from app.services.applications.joint_form import JointForm
from app.services.applications.service import status_text
from app.services.catalogue import words
from app.services.catalogue.service import LifeEvent, ServiceItem

public_bp = audience_blueprint("joint_form", url_prefix="/api/v1/life-events", audience="public")
bp = audience_blueprint("citizen_joint_applications", url_prefix="/api/v1/joint-applications", audience="citizen")
TAG = "applications"


class JointApplicationIn(Strict):
    bundle: str = Field(min_length=1, max_length=40, description="The bundle's code (一件事), e.g. newborn")
    form: dict[str, Any] = Field(default_factory=dict, description=(
        "The shared fields, once each; a value goes to every item that asks for that field"))
    parts: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=20, description=(
        "Fields of one item only, under its item id (a field items ask for in different shapes)"))
    materials: list[MaterialIn] = Field(default_factory=list, max_length=30, description=(
        "Each material once; it is attached to every item that asks for it"))


class PartCorrectionIn(Strict):
    form: dict[str, Any] | None = Field(default=None, description="The part's whole corrected form (else kept)")
    materials: list[MaterialIn] | None = Field(default=None, max_length=30, description=(
        "The part's materials (else those named before)"))
    note: str = Field(default="", max_length=500)


class FieldOut(BaseModel):
    name: str
    field_schema: dict[str, Any] = Field(alias="schema")
    required: bool
    items: list[str] | None = None


class JointItemOut(BaseModel):
    item_id: str
    item_name: str
    department_id: str
    open: bool = Field(description="false: the item takes no applications now, so the bundle cannot be sent")
    auto_approval: bool = Field(description="The item has 秒批 rules: it may be approved in seconds")
    fields: list[FieldOut] = Field(description="Fields of this item only (asked under parts.<item_id>)")
    form_schema: dict[str, Any] | None


class JointMaterialOut(BaseModel):
    name: str
    required: bool
    licence_type: str | None
    items: list[str]


class JointFormOut(BaseModel):
    code: str
    name: str
    description: str
    items: list[JointItemOut]
    shared_fields: list[FieldOut]
    materials: list[JointMaterialOut]


class PartOut(BaseModel):
    item_id: str
    item_name: str
    position: int
    attempt: int
    application_id: str
    status: str
    status_text: str
    auto_approved: bool
    reason: str = Field(description="The clerk's words when the part was rejected or returned")
    correctable: bool = Field(description="returned or rejected: correct it at .../parts/<item_id>/corrections")
    earlier_applications: list[str]


class TimelineOut(BaseModel):
    at: str
    item_id: str
    item_name: str
    attempt: int
    application_id: str
    from_status: str | None
    to_status: str
    status_text: str
    actor_type: str
    note: str


class JointOut(BaseModel):
    id: str
    bundle: str
    bundle_name: str
    status: str = Field(description="in_review, returned, partly_rejected, rejected, approved, completed, withdrawn")
    status_text: str
    parts_done: int
    parts_total: int
    failed_parts: list[PartOut]
    parts: list[PartOut]
    timeline: list[TimelineOut]
    created_at: str


class JointList(BaseModel):
    items: list[JointOut]


def form_out(bundle: LifeEvent, items: list[ServiceItem], merged: JointForm, language: str) -> dict[str, Any]:
    own = {p.item_id: p for p in merged.parts}
    return {
        "code": bundle.code, "name": words.text(bundle.name, language),
        "description": words.text(bundle.description, language),
        "items": [{"item_id": i.id, "item_name": words.text(i.name, language), "department_id": i.department_id,
                   "open": open_for_applications(i), "auto_approval": bool(i.approval_rules),
                   "fields": [{"name": n, "schema": s, "required": n in own[i.id].own_required}
                              for n, s in own[i.id].own.items()],
                   "form_schema": form_schema_of(i)} for i in items],
        "shared_fields": [{"name": n, "schema": f["schema"], "required": f["required"], "items": f["items"]}
                          for n, f in merged.shared.items()],
        "materials": [{**m, "name": words.text(m["name"], language)} for m in merged.materials],
    }


def part_out(part: PartView, language: str) -> dict[str, Any]:
    application = part.application
    return {"item_id": part.item_id, "item_name": words.text(part.item_name, language), "position": part.position,
            "attempt": part.attempt, "application_id": application.id, "status": application.status,
            "status_text": status_text(application.status, language),
            "auto_approved": bool((application.decision or {}).get("auto_approved")), "reason": part.reason,
            "correctable": application.status in ("returned", "rejected"), "earlier_applications": part.earlier}


def timeline_out(entry: TimelineEntry, language: str) -> dict[str, Any]:
    event = entry.event
    return {"at": rfc3339(entry.at), "item_id": entry.item_id, "item_name": words.text(entry.item_name, language),
            "attempt": entry.attempt, "application_id": entry.application_id, "from_status": event.from_status,
            "to_status": event.to_status, "status_text": status_text(event.to_status, language),
            "actor_type": event.actor_type, "note": event.note}


def joint_out(view: JointView, language: str) -> dict[str, Any]:
    parts = [part_out(p, language) for p in view.parts]
    return {"id": view.id, "bundle": view.bundle_code, "bundle_name": words.text(view.bundle_name, language),
            "status": view.status, "status_text": joint_status_text(view.status, language),
            "parts_done": sum(1 for p in parts if p["status"] in ("approved", "completed")),
            "parts_total": len(parts), "failed_parts": [p for p in parts if p["status"] in ("rejected", "returned")],
            "parts": parts, "timeline": [timeline_out(t, language) for t in view.timeline],
            "created_at": rfc3339(view.created_at)}


@public_bp.get("/<code:str>/joint-form")
@documented("A bundle's joint form (一件事一表): shared fields asked once, each item's own fields, materials given "
            "once", reply_model=JointFormOut, tag="services",
            description="404 LIFE_EVENT_NOT_FOUND; 422 JOINT_NOT_OFFERED for a bundle not applied for jointly.")
async def joint_form(request: Request, code: str) -> HTTPResponse:
    bundle, items, merged = await services(request).joint_applications.form_of(code)
    return reply(form_out(bundle, items, merged, request.ctx.language))


@bp.post("")
@documented(
    "Apply for a bundle (一件事) at once, with the header Idempotency-Key: one application per item, one status, "
    "one timeline", body=JointApplicationIn, reply_model=JointOut, status=201, level=LEVEL_REAL_NAME, tag=TAG,
    description="Each part is decided on its own: 秒批 where its item's rules pass, else by a clerk. 409 "
                "JOINT_ITEM_CLOSED names an item that takes no applications now (nothing is stored); 422 "
                "JOINT_FORM_INVALID lists fields no item asks for; a part's own error (a form failing its schema, "
                "a missing material) names the part in `part`. A retry with the same key and body answers the same "
                "joint application (header Idempotent-Replayed: true).")
@requires_level(LEVEL_REAL_NAME)
async def apply(request: Request) -> HTTPResponse:
    key = idempotency_key(request)
    body = parse_body(request, JointApplicationIn)
    view, replayed = await services(request).joint_applications.apply(
        request.ctx.citizen.id, key, body.bundle, body.form, body.parts, materials_given(body.materials))
    return reply(joint_out(view, request.ctx.language), status=201,
                 headers={"Idempotent-Replayed": "true"} if replayed else None)


@bp.get("")
@documented("My joint applications, newest first", reply_model=JointList, tag=TAG)
async def mine(request: Request) -> HTTPResponse:
    views = await services(request).joint_applications.mine(request.ctx.citizen_id)
    return reply({"items": [joint_out(v, request.ctx.language) for v in views]})


@bp.get("/<joint_id:str>")
@documented("One joint application: its status, each part, and the one timeline of all parts", reply_model=JointOut,
            tag=TAG)
async def one(request: Request, joint_id: str) -> HTTPResponse:
    view = await services(request).joint_applications.one_of_mine(request.ctx.citizen_id, joint_id)
    return reply(joint_out(view, request.ctx.language))


@bp.post("/<joint_id:str>/parts/<item_id:str>/corrections")
@documented("Correct one part: a returned part is corrected (补正), a rejected one submitted again; the other parts "
            "are not touched", body=PartCorrectionIn, reply_model=JointOut, tag=TAG,
            description="409 JOINT_PART_NOT_CORRECTABLE when the part is neither returned nor rejected; 404 "
                        "JOINT_PART_NOT_FOUND for an item not in the joint application.")
async def correct_part(request: Request, joint_id: str, item_id: str) -> HTTPResponse:
    body = parse_body(request, PartCorrectionIn)
    view = await services(request).joint_applications.correct_part(
        request.ctx.citizen_id, joint_id, item_id, body.form,
        materials_given(body.materials) if body.materials is not None else None, body.note)
    return reply(joint_out(view, request.ctx.language))
