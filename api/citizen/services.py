"""Catalogue reading for everyone: search (事项搜索), an item's guide (办事指南), life-event bundles (一件事).

Public: the catalogue holds no personal data, and people look things up before they sign in.
Every text of the catalogue comes in the caller's language (`request.ctx.language`): zh-Hans as
written, zh-Hant and English from the catalogue's gettext domain (app/services/catalogue/words.py),
or as written where it has no translation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, client_ip, documented, reply
from api.services import services
from app.clock import rfc3339
from app.services.catalogue import words
from app.services.catalogue.service import LifeEvent, ServiceItem, schema_in
from app.services.catalogue.service import IndexedItem, ListedItem

bp = audience_blueprint("services_public", url_prefix="/api/v1", audience="public")


class ItemSummary(ListedItem):
    time_limit_days: int
    trips: int
    zero_trip: bool
    channels: list[str]
    kind: str = Field(default="item", description="item (a catalogue item), or feature: an app function such as the "
                      "elderly-mode switch (长辈版), listed first when it matches, with `action` saying how to use it")
    action: dict[str, Any] | None = None


class SearchReply(BaseModel):
    items: list[ItemSummary]
    suggestions: list[ItemSummary]
    total: int


class Material(BaseModel):
    name: str
    required: bool
    licence_type: str | None
    licence_name: str | None
    e_licence_accepted: bool
    from_department: bool = Field(description="免提交: fetched from the department through the data exchange when "
                                              "you submit; nothing to upload")


class Faq(BaseModel):
    q: str
    a: str


class BundleRef(BaseModel):
    code: str
    name: str


class ItemHeading(BaseModel):
    """What heads an item wherever it is shown in full: the guide to everyone, the record to its administrators."""

    id: str
    name: str
    aliases: list[str]
    department: str
    department_id: str
    region_level: str
    region_code: str
    category: str


class Guide(ItemHeading):
    region_level_text: str
    life_events: list[BundleRef]
    materials: list[Material]
    legal_basis: str
    time_limit_days: int
    time_limit_text: str
    fee: str
    trips: int
    zero_trip: bool
    channels: list[str]
    channels_text: list[str]
    faq: list[Faq]
    popularity: int
    updated_at: str
    sample: bool
    form_schema: dict[str, Any] | None = Field(
        default=None, description="The application form (申请表) as a JSON Schema (draft 2020-12) to render: each "
                                  "field's title (and description) in the caller's language; null when the item asks "
                                  "for no particular form. Submissions are checked against it (422 FORM_INVALID).")


class BundleSummary(BaseModel):
    code: str
    name: str
    description: str
    item_count: int


class BundleList(BaseModel):
    items: list[BundleSummary]


class Bundle(BaseModel):
    code: str
    name: str
    description: str
    items: list[ItemSummary]


def summary_of(item: IndexedItem | ServiceItem, language: str) -> dict[str, Any]:
    """An item as a list shows it, its texts in `language`."""
    if isinstance(item, IndexedItem):
        department = words.department_name(item.department, item.department_en, language)
    else:
        department = words.department_name(item.department.name, item.department.name_en, language)
    return {"id": item.id, "name": words.text(item.name, language), "department": department,
            "department_id": item.department_id, "region_level": item.region_level, "region_code": item.region_code,
            "category": words.text(item.category, language),
            "time_limit_days": item.time_limit_days, "trips": item.trips, "zero_trip": item.trips == 0,
            "channels": list(item.channels), **_feature(item)}


def _feature(item: IndexedItem | ServiceItem) -> dict[str, Any]:
    if isinstance(item, IndexedItem):
        return {"kind": item.kind, "action": item.action}
    return {}


def guide_of(item: ServiceItem, events: dict[str, LifeEvent], licence_types: dict, language: str) -> dict[str, Any]:
    materials = []
    for m in item.materials:
        licence = licence_types.get(m.get("licence_type") or "")
        name = (licence.name.get(language) or licence.name.get("zh-Hans")) if licence else None
        materials.append({"name": words.text(m["name"], language), "required": bool(m.get("required", True)),
                          "licence_type": licence.code if licence else None, "licence_name": name,
                          "e_licence_accepted": licence is not None,
                          "from_department": bool(m.get("from_department"))})
    return {
        **summary_of(item, language), "aliases": list(item.aliases),
        "region_level_text": words.text(words.LEVEL_TEXT.get(item.region_level, ""), language),
        "life_events": [{"code": c, "name": words.text(events[c].name, language)} for c in item.life_events
                        if c in events],
        "materials": materials, "legal_basis": words.text(item.legal_basis, language),
        "time_limit_text": words.time_limit(item.time_limit_days, language), "fee": words.text(item.fee, language),
        "channels_text": [words.text(words.CHANNEL_TEXT.get(c, c), language) for c in item.channels],
        "faq": [{"q": words.text(e["q"], language), "a": words.text(e["a"], language)} for e in item.faq],
        "popularity": item.popularity, "updated_at": rfc3339(item.updated_at), "sample": item.sample,
        "form_schema": schema_in(item.form_schema, language),
    }


@bp.get("/services/search")
@documented("Search the catalogue: Chinese, pinyin (shebaoka) or initials (sbk); q 1–100 characters, optional "
            "region (6-digit code: a district sees its own, its city's and province items)", reply_model=SearchReply,
            tag="services",
            description="Published items best match first, then most used. When nothing matches, `suggestions` "
            "holds close items. 422 SEARCH_QUERY_REQUIRED / SEARCH_QUERY_TOO_LONG / INVALID_REGION_CODE.")
async def search(request: Request) -> HTTPResponse:
    result = await services(request).catalogue.search(request.args.get("q"), request.args.get("region"),
                                                      client_ip(request))
    language = request.ctx.language
    return reply({"items": [summary_of(h.item, language) for h in result.hits],
                  "suggestions": [summary_of(i, language) for i in result.suggestions], "total": result.total})


@bp.get("/services/<item_id:str>")
@documented("An item's guide (办事指南): materials (and which e-licence satisfies each), legal basis, time limit, "
            "fee, trips, channels, FAQ, and the application form's schema", reply_model=Guide, tag="services")
async def guide(request: Request, item_id: str) -> HTTPResponse:
    item, events, licence_types = await services(request).catalogue.guide(item_id)
    return reply(guide_of(item, events, licence_types, request.ctx.language))


@bp.get("/life-events")
@documented("Life-event bundles (一件事)", reply_model=BundleList, tag="services")
async def life_events(request: Request) -> HTTPResponse:
    rows = await services(request).catalogue.life_events()
    language = request.ctx.language
    return reply({"items": [{"code": e.code, "name": words.text(e.name, language),
                             "description": words.text(e.description, language), "item_count": n} for e, n in rows]})


@bp.get("/life-events/<code:str>")
@documented("One life-event bundle (一件事) with its published items in the order they are done", reply_model=Bundle,
            tag="services")
async def life_event(request: Request, code: str) -> HTTPResponse:
    event, items = await services(request).catalogue.life_event(code)
    language = request.ctx.language
    return reply({"code": event.code, "name": words.text(event.name, language),
                  "description": words.text(event.description, language),
                  "items": [summary_of(i, language) for i in items]})
