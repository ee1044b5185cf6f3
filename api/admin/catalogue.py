"""Catalogue administration: create items as drafts, edit them, publish (发布) and retire (下线) them.

Callers are admin clients with the role `catalogue_admin`; every change is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sanic import Request
from sanic.response import HTTPResponse

from api.citizen.services import Faq, ItemHeading, summary_of
from api.http import audience_blueprint, documented, parse_body, reply
from api.schemas import Strict
from api.services import services
from app.clock import rfc3339
from app.i18n import ZH_HANS
from app.services.catalogue.service import ItemDraft
from app.services.catalogue.service import ServiceItem

bp = audience_blueprint("admin_catalogue", url_prefix="/api/admin/v1", audience="admin")
ROLE = "catalogue_admin"
Channel = Literal["online", "offline", "mini_program"]


def _online_only() -> list[Channel]:
    return ["online"]


class ItemMaterialIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    required: bool = True
    licence_type: str | None = Field(default=None, max_length=40, description="An e-licence type that satisfies it")
    from_department: str | None = Field(
        default=None, max_length=340, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*/v[0-9]{1,3}$",
        description="免提交: the department service on the data exchange it is fetched from at submission, "
                    "e.g. CN-GD/GOV/11440000MB2D0001XA/hrss/rights-record/v1")


class FaqIn(Strict):
    q: str = Field(min_length=1, max_length=200)
    a: str = Field(min_length=1, max_length=2000)


class ItemRequest(Strict):
    name: str = Field(min_length=2, max_length=200)
    department_id: str = Field(min_length=1, max_length=40)
    category: str = Field(min_length=1, max_length=40)
    aliases: list[Annotated[str, Field(max_length=50)]] = Field(default_factory=list, max_length=20)
    region_level: Literal["province", "city", "district"] | None = Field(
        default=None, description="Default: the department's")
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$", description="GB/T 2260; default: the department's")
    life_events: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    materials: list[ItemMaterialIn] = Field(default_factory=list, max_length=50)
    legal_basis: str = Field(default="", max_length=2000)
    time_limit_days: int = Field(default=0, ge=0, le=365, description="Promised working days; 0 is on the spot (即办)")
    fee: str = Field(default="不收费", min_length=1, max_length=100)
    trips: int = Field(default=0, ge=0, le=10, description="Visits to an office needed; 0 is 零跑动")
    channels: list[Channel] = Field(default_factory=_online_only, min_length=1, max_length=3)
    faq: list[FaqIn] = Field(default_factory=list, max_length=30)
    form_schema: dict[str, Any] | None = Field(
        default=None, description="The application form (申请表) as a JSON Schema (draft 2020-12): an object schema "
                                  "whose every field has a zh-Hans title; references only inside it (#/$defs/...); "
                                  "formats the platform checks (date, email, cn-mobile, cn-id-number ...). A bad "
                                  "schema is 422 VALIDATION_FAILED naming the place. null: any JSON object is taken; "
                                  "left out of an edit: the item keeps its form.")


class AdminItem(ItemHeading):
    life_events: list[str]
    materials: list[ItemMaterialIn]
    legal_basis: str
    time_limit_days: int
    fee: str
    trips: int
    zero_trip: bool
    channels: list[str]
    faq: list[Faq]
    status: str
    popularity: int
    sample: bool
    created_at: str
    updated_at: str
    form_schema: dict[str, Any] | None = None


def draft_of(body: ItemRequest) -> ItemDraft:
    data = body.model_dump()
    data["aliases"] = [a.strip() for a in data["aliases"] if a and a.strip()][:20]
    data["materials"] = [{k: v for k, v in m.items() if v is not None} for m in data["materials"]]
    data["form_schema_given"] = "form_schema" in body.model_fields_set  # an edit without it keeps the item's form
    return ItemDraft(**data)


def admin_view(item: ServiceItem) -> dict:
    # Administrators read and write the source text: zh-Hans, whatever their Accept-Language.
    return {**summary_of(item, ZH_HANS), "aliases": list(item.aliases), "life_events": list(item.life_events),
            "materials": list(item.materials), "legal_basis": item.legal_basis, "fee": item.fee, "faq": list(item.faq),
            "status": item.status, "popularity": item.popularity, "sample": item.sample,
            "created_at": rfc3339(item.created_at), "updated_at": rfc3339(item.updated_at),
            "form_schema": item.form_schema}


@bp.post("/services")
@documented("Create a catalogue item as a draft (role catalogue_admin)", body=ItemRequest, reply_model=AdminItem,
            status=201, tag="admin")
async def create_item(request: Request) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, ItemRequest)
    item = await services(request).catalogue.create_item(request.ctx.client.id, draft_of(body))
    return reply(admin_view(item), status=201)


@bp.get("/services/<item_id:str>")
@documented("A catalogue item in any status (role catalogue_admin)", reply_model=AdminItem, tag="admin")
async def get_item(request: Request, item_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(admin_view(await services(request).catalogue.admin_item(item_id)))


@bp.put("/services/<item_id:str>")
@documented("Replace an item's guide; a published item changes in search at once; retired items are read-only "
            "(role catalogue_admin)", body=ItemRequest, reply_model=AdminItem, tag="admin")
async def update_item(request: Request, item_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    body = parse_body(request, ItemRequest)
    item = await services(request).catalogue.update_item(request.ctx.client.id, item_id, draft_of(body))
    return reply(admin_view(item))


@bp.post("/services/<item_id:str>/publish")
@documented("Publish a draft or retired item: citizens can find and read it (role catalogue_admin)",
            reply_model=AdminItem, tag="admin")
async def publish_item(request: Request, item_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(admin_view(await services(request).catalogue.publish(request.ctx.client.id, item_id)))


@bp.post("/services/<item_id:str>/retire")
@documented("Retire a published item: it leaves search, guides and bundles (role catalogue_admin)",
            reply_model=AdminItem, tag="admin")
async def retire_item(request: Request, item_id: str) -> HTTPResponse:
    request.ctx.client.require_role(ROLE)
    return reply(admin_view(await services(request).catalogue.retire(request.ctx.client.id, item_id)))
