"""The service catalogue (政务服务事项目录): items and their guides (办事指南), life-event bundles (一件事).

Departments publish items through the admin API: an item starts as a draft (草稿), is published
(发布) for citizens to find and read, and is retired (下线) when it no longer applies. Only
published items are searched, read or listed in a bundle. Every admin change is audited.

An item may declare its application form (申请表) as a JSON Schema, served with its guide for apps to render
and checked when saved (form_schema.py: a bad schema is 422); the application service validates each
submission against it. An edit that does not mention the form keeps the one the item has.

Outside production the sample catalogue (sample_catalogue.json, written for this project) is
seeded at start-up. Seeding only inserts what is missing, so it is cheap on every start and
never overwrites an administrator's edits of a sample item.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from tortoise import connections
from tortoise.expressions import F
from tortoise.models import Model
from tortoise.transactions import in_transaction

from app import audit
from app.db import column, lag_tolerant
from app.integrations.exchange.protocol import ExchangeRefused, ServiceId
from app.errors import AppError, Conflict, NotFound, ValidationFailed, echoed
from app.i18n import EN, ZH_HANT
from app.platform import Platform
from app.security.ratelimit import hit
from app.services.catalogue import search as search_engine
from app.services.catalogue import words
from app.services.catalogue.form_schema import FORMAT_CHECKER as FORMAT_CHECKER, check_form_schema as check_form_schema
from app.services.catalogue.form_schema import declared_fields as declared_fields, field_title as field_title
from app.services.catalogue.form_schema import FORM_FIELD_ORDER as FORM_FIELD_ORDER, schema_in as schema_in
from app.services.catalogue.form_schema import with_field_order
from app.services.catalogue.models import Department, LifeEvent as LifeEvent, ServiceItem as ServiceItem
from app.services.catalogue.search import IndexedItem as IndexedItem, SearchIndex, SearchResult
from app.services.catalogue.search import ListedItem as ListedItem
from app.vouchers.service import LicenceType, licence_types

SAMPLE_FILE = Path(__file__).with_name("sample_catalogue.json")
REGION_LEVELS = ("province", "city", "district")
CHANNELS = ("online", "offline", "mini_program")
STATUSES = ("draft", "published", "retired")
SEARCHES_PER_MINUTE = 120  # per caller address: generous for a person typing, a brake for a scraper
_REGION_CODE = re.compile(r"^\d{6}$")
catalogue_text = words.text  # a catalogue text (an item name, a form title) in a reader's language, for other domains


@dataclass
class ItemDraft:
    """What an administrator writes for an item; region defaults to the department's."""

    name: str
    department_id: str
    category: str
    aliases: list[str] = field(default_factory=list)
    region_level: str | None = None
    region_code: str | None = None
    life_events: list[str] = field(default_factory=list)
    materials: list[dict[str, Any]] = field(default_factory=list)  # {name, required, licence_type?}
    legal_basis: str = ""
    time_limit_days: int = 0
    fee: str = "不收费"
    trips: int = 0
    channels: list[str] = field(default_factory=lambda: ["online"])
    faq: list[dict[str, str]] = field(default_factory=list)  # {q, a}
    form_schema: dict[str, Any] | None = None  # the application form (申请表), JSON Schema draft 2020-12
    form_schema_given: bool = True  # False: an edit that does not mention the form keeps the item's


@functools.lru_cache(maxsize=1)
def sample_catalogue() -> dict[str, Any]:
    """The sample data, read once per process, each item with its search text worked out."""
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    for item in data["items"]:
        item["search_text"] = search_engine.search_text(item["name"], item["aliases"], item["faq"])
        if item.get("form_schema"):  # the fields' order kept in x-order, as an administrator's schema gets it
            item["form_schema"] = with_field_order(item["form_schema"])
    return data


async def _fill_joint_items(events: list[dict[str, Any]]) -> None:
    """A sample bundle stored before bundles were applied for jointly gets its joint items (一件事联办) once; a
    bundle that has them, or that an administrator wrote, is left as it is."""
    for event in events:
        if not event.get("joint_item_ids"):
            continue
        row = await LifeEvent.get_or_none(code=event["code"], sample=True)
        if row is not None and not row.joint_item_ids:
            await LifeEvent.filter(code=event["code"]).update(joint_item_ids=event["joint_item_ids"])


async def catalogue_departments(include_sample: bool) -> set[str]:
    """The departments some catalogue item names (draft, published or retired): those an API client may act for.
    With `include_sample`, the sample catalogue's too, which every start outside production seeds."""
    named: set[str] = set(await column(ServiceItem.all().distinct(), "department_id"))
    if include_sample:
        named.update(item["department_id"] for item in sample_catalogue()["items"])
    return named


async def existing_departments(department_ids: set[str]) -> set[str]:
    """Those of `department_ids` the catalogue's departments table has."""
    return set(await column(Department.filter(id__in=sorted(department_ids)), "id"))


async def department_name_of(department_id: str, language: str) -> str | None:
    """A catalogue department's name in `language`; None when the catalogue has no department by that id."""
    row = await Department.get_or_none(id=department_id)
    return words.department_name(row.name, row.name_en, language) if row else None


async def _insert_missing(model: type[Model], rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT … ON CONFLICT DO NOTHING, values converted by the model's own fields.

    Seeding runs at every start (and in every test), and building ~170 ORM objects cost more than
    the insert itself. ON CONFLICT: several workers starting at once each try; the first one's rows stay.
    """
    meta = model._meta
    defaults: dict[str, Any] = {}
    for name in meta.fields_db_projection:  # columns a sample row does not set get the model's defaults
        spec = meta.fields_map[name]
        if any(name not in row for row in rows) and (spec.default is not None or spec.null):
            defaults[name] = spec.default() if callable(spec.default) else spec.default
    rows = [{**defaults, **r} for r in rows]  # some items have a form or rules, others not: every row has each column
    columns = list(rows[0])
    conn = connections.get(meta.default_connection or "default")
    marks = ", ".join("?" if conn.capabilities.dialect == "sqlite" else f"${i}" for i in range(1, len(columns) + 1))
    names = ", ".join(f'"{meta.fields_map[c].source_field or c}"' for c in columns)
    query = f'INSERT INTO "{meta.db_table}" ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING'
    await conn.execute_many(query, [[meta.fields_map[c].to_db_value(r[c], model) for c in columns] for r in rows])


def region_matches_level(level: str, code: str) -> bool:
    """GB/T 2260: a province code ends in 0000, a city code in 00, a district code in neither."""
    if level == "province":
        return code.endswith("0000")
    if level == "city":
        return code.endswith("00") and not code.endswith("0000")
    return not code.endswith("00")


def check_region(region: str | None) -> str | None:
    if region is None or region == "":
        return None
    if not _REGION_CODE.match(region):
        raise AppError("INVALID_REGION_CODE", status=422)
    return region


FormCheck = Callable[[ServiceItem, Optional[dict[str, Any]]], None]


class CatalogueService:
    """Reading and searching the catalogue (public), and publishing it (catalogue administrators)."""

    def __init__(self, platform: Platform, features: list[IndexedItem] | None = None,
                 form_checks: list[FormCheck] | None = None) -> None:
        self.platform = platform
        self.index = SearchIndex(platform.cache, platform.clock)
        self.features = list(features or [])  # app functions search finds first (other domains supply them)
        # What must still hold when an item's form changes (other domains supply them: the 秒批 rules that read
        # declared fields); each raises its own 422 to refuse the change.
        self.form_checks = list(form_checks or [])

    # -- seeding -------------------------------------------------------------------------------
    async def seed_sample(self) -> int:
        """Insert the sample departments, bundles and published items that are missing; returns how many."""
        data = sample_catalogue()
        now = self.platform.clock.now()
        inserted = 0
        for model, key, rows in (
            (Department, "id", [{**d, "sample": True} for d in data["departments"]]),
            (ServiceItem, "id", [{**i, "status": "published", "sample": True, "created_at": now, "updated_at": now}
                                 for i in data["items"]]),
            (LifeEvent, "code", [{**e, "sample": True} for e in data["life_events"]]),
        ):
            have = set(await model.filter(**{f"{key}__in": [r[key] for r in rows]}).values_list(key, flat=True))
            missing = [r for r in rows if r[key] not in have]
            if missing:
                await _insert_missing(model, missing)
                inserted += len(missing)
        await _fill_joint_items(data["life_events"])
        if inserted:
            await self.index.changed()
        return inserted

    # -- reading (public) ----------------------------------------------------------------------
    async def search(self, query: str | None, region: str | None, caller: str) -> SearchResult:
        """Search published items: `query` trimmed, 1–100 characters (else 422), `region` a 6-digit code."""
        text = (query or "").strip()
        if not text:
            raise AppError("SEARCH_QUERY_REQUIRED", status=422)
        if len(text) > search_engine.MAX_QUERY_CHARS:
            raise AppError("SEARCH_QUERY_TOO_LONG", status=422, params={"max": search_engine.MAX_QUERY_CHARS},
                           extra={"max_length": search_engine.MAX_QUERY_CHARS})
        region = check_region(region)
        await hit(self.platform.cache, self.platform.clock, f"search:{caller}", SEARCHES_PER_MINUTE, 60)
        items = await self.index.current(self._published_for_index)
        return search_engine.search(items.values(), text, region)

    # Not lag-tolerant: the index is kept for up to INDEX_MAX_AGE once loaded, so one loaded from a lagging
    # replica right after an item was withdrawn would keep showing it for minutes; loads are rare (on a new
    # catalogue version or that age), so the primary serves them.
    async def _published_for_index(self) -> list[IndexedItem]:
        rows = await ServiceItem.filter(status="published").select_related("department")
        return [
            IndexedItem.build(id=r.id, name=r.name, aliases=list(r.aliases), department=r.department.name,
                              department_en=r.department.name_en, department_id=r.department_id,
                              region_level=r.region_level, region_code=r.region_code,
                              category=r.category, trips=r.trips, time_limit_days=r.time_limit_days,
                              channels=list(r.channels), popularity=r.popularity, faq=list(r.faq),
                              name_hant=words.text(r.name, ZH_HANT), name_en=words.text(r.name, EN))
            for r in rows
        ] + self.features

    async def guide(self, item_id: str) -> tuple[ServiceItem, dict[str, LifeEvent], dict[str, LicenceType]]:
        """A published item's guide (办事指南) with its bundles and licence types; each read counts as a view."""
        item, events, types = await self._guide(item_id)
        # Popularity is a plain counter in the row: one UPDATE per read, no read-modify-write race.
        await ServiceItem.filter(id=item_id).update(popularity=F("popularity") + 1)
        item.popularity += 1
        self.index.bump(item_id)
        return item, events, types

    @lag_tolerant
    async def _guide(self, item_id: str) -> tuple[ServiceItem, dict[str, LifeEvent], dict[str, LicenceType]]:
        item = await ServiceItem.get_or_none(id=item_id, status="published").select_related("department")
        if item is None:
            raise NotFound("SERVICE_ITEM_NOT_FOUND")
        events = {e.code: e for e in await LifeEvent.filter(code__in=list(item.life_events))}
        codes = [m["licence_type"] for m in item.materials if m.get("licence_type")]
        return item, events, await licence_types(codes)

    @lag_tolerant
    async def life_events(self) -> list[tuple[LifeEvent, int]]:
        """Every bundle, with how many of its items are published now."""
        events = await LifeEvent.all().order_by("code")
        published: set[str] = set(await column(ServiceItem.filter(status="published"), "id"))
        return [(e, sum(1 for i in e.item_ids if i in published)) for e in events]

    @lag_tolerant
    async def life_event(self, code: str) -> tuple[LifeEvent, list[ServiceItem]]:
        """A bundle and its published items, in the order a citizen does them."""
        event = await LifeEvent.get_or_none(code=code)
        if event is None:
            raise NotFound("LIFE_EVENT_NOT_FOUND")
        rows = {r.id: r for r in await ServiceItem.filter(id__in=list(event.item_ids), status="published")
                .select_related("department")}
        return event, [rows[i] for i in event.item_ids if i in rows]

    # -- administration ------------------------------------------------------------------------
    async def admin_item(self, item_id: str) -> ServiceItem:
        item = await ServiceItem.get_or_none(id=item_id).select_related("department")
        if item is None:
            raise NotFound("SERVICE_ITEM_NOT_FOUND")
        return item

    async def create_item(self, actor: str, draft: ItemDraft) -> ServiceItem:
        """A new item as a draft (草稿): nobody finds it until it is published."""
        values = await self._checked(draft)
        now = self.platform.clock.now()
        item_id = f"si_{secrets.token_urlsafe(9)}"
        async with in_transaction():
            item = await ServiceItem.create(id=item_id, status="draft", sample=False, popularity=0, created_at=now,
                                            updated_at=now, **values)
            await self._sync_bundles(item_id, [], values["life_events"])
        # Audited after the commit: the audit chain takes its own lock and transaction.
        await audit.record_event(self.platform.clock, actor=actor, actor_type="admin", action="catalogue_item_created",
                                 attributes={"item_id": item_id, "name": item.name, "status": "draft"})
        return await self.admin_item(item_id)

    async def update_item(self, actor: str, item_id: str, draft: ItemDraft) -> ServiceItem:
        """Replace an item's guide; a published item changes in search at once. A retired one cannot change."""
        item = await self.admin_item(item_id)
        if item.status == "retired":
            raise Conflict("SERVICE_ITEM_STATUS_CONFLICT", params={"status": item.status}, extra={"status": item.status})
        values = await self._checked(draft)
        if "form_schema" in values and values["form_schema"] != item.form_schema:
            for check in self.form_checks:
                check(item, values["form_schema"])
        changed = sorted(k for k, v in values.items() if getattr(item, k) != v)
        before = list(item.life_events)
        async with in_transaction():
            await ServiceItem.filter(id=item_id).update(**values, updated_at=self.platform.clock.now())
            await self._sync_bundles(item_id, before, values["life_events"])
        await audit.record_event(self.platform.clock, actor=actor, actor_type="admin", action="catalogue_item_updated",
                                 attributes={"item_id": item_id, "status": item.status, "changed": changed})
        if item.status == "published":
            await self.index.changed()
        return await self.admin_item(item_id)

    async def publish(self, actor: str, item_id: str) -> ServiceItem:
        return await self._move(actor, item_id, "published", allowed_from=("draft", "retired"))

    async def retire(self, actor: str, item_id: str) -> ServiceItem:
        return await self._move(actor, item_id, "retired", allowed_from=("published",))

    async def _move(self, actor: str, item_id: str, to: str, allowed_from: tuple[str, ...]) -> ServiceItem:
        item = await self.admin_item(item_id)
        # The status condition in the UPDATE makes two racing admins produce one change, not two.
        moved = await ServiceItem.filter(id=item_id, status__in=allowed_from).update(
            status=to, updated_at=self.platform.clock.now())
        if not moved:
            raise Conflict("SERVICE_ITEM_STATUS_CONFLICT", params={"status": item.status},
                           extra={"status": item.status})
        await audit.record_event(self.platform.clock, actor=actor, actor_type="admin", action=f"catalogue_item_{to}",
                                 attributes={"item_id": item_id, "name": item.name, "from": item.status, "to": to})
        await self.index.changed()
        return await self.admin_item(item_id)

    async def _checked(self, draft: ItemDraft) -> dict[str, Any]:
        """The stored values of a draft, after checking what the database knows (department, bundles, licences)."""
        form_schema = check_form_schema(draft.form_schema)  # 422 naming what is wrong, before the database is asked
        department = await Department.get_or_none(id=draft.department_id)
        if department is None:
            raise AppError("DEPARTMENT_NOT_FOUND", status=422, params={"department": echoed(draft.department_id)})
        level = draft.region_level or department.region_level
        code = draft.region_code or department.region_code
        if level not in REGION_LEVELS or not _REGION_CODE.match(code) or not region_matches_level(level, code):
            raise ValidationFailed([{"field": "region_code", "problem": f"not a {level} code"}])
        bundles = list(dict.fromkeys(draft.life_events))
        known: set[str] = set(await column(LifeEvent.filter(code__in=bundles), "code"))
        if unknown := [b for b in bundles if b not in known]:
            raise AppError("LIFE_EVENT_NOT_FOUND", status=422, extra={"unknown": unknown})
        for index, material in enumerate(draft.materials):
            if material.get("from_department"):
                try:
                    ServiceId.parse(material["from_department"])
                except ExchangeRefused:
                    raise ValidationFailed([{"field": f"materials[{index}].from_department",
                                             "problem": "a department service id: member/subsystem/service/version"}]) from None
        licence_codes = {m["licence_type"] for m in draft.materials if m.get("licence_type")}
        known = set(await licence_types(licence_codes))
        if unknown := sorted(licence_codes - known):
            raise AppError("LICENCE_TYPE_NOT_FOUND", status=422, extra={"unknown": unknown})
        return {
            "name": draft.name, "aliases": list(dict.fromkeys(draft.aliases)), "department_id": department.id,
            "region_level": level, "region_code": code, "category": draft.category, "life_events": bundles,
            "materials": draft.materials, "legal_basis": draft.legal_basis, "time_limit_days": draft.time_limit_days,
            "fee": draft.fee, "trips": draft.trips, "channels": list(dict.fromkeys(draft.channels)), "faq": draft.faq,
            "search_text": search_engine.search_text(draft.name, draft.aliases, draft.faq),
            **({"form_schema": form_schema} if draft.form_schema_given else {}),
        }

    async def _sync_bundles(self, item_id: str, before: list[str], after: list[str]) -> None:
        """Keep each bundle's item list (LifeEvent.item_ids) in step with the item's own list of bundles."""
        for code in set(before) ^ set(after):
            event = await LifeEvent.get_or_none(code=code)
            if event is None:
                continue
            ids = [i for i in event.item_ids if i != item_id]
            if code in after:
                ids.append(item_id)
            await LifeEvent.filter(code=code).update(item_ids=ids)
