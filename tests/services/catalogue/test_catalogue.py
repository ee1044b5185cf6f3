"""The catalogue: a citizen reads a guide and a life-event bundle; a department publishes and retires items.

The sample catalogue is seeded at start-up outside production, so a new user sees a working
service; seeding again changes nothing.
"""

from __future__ import annotations

import json

import pytest

from app.audit import AuditEntry
from app.services.catalogue.service import SAMPLE_FILE, sample_catalogue
from app.services.catalogue.models import Department, LifeEvent, ServiceItem
from tests.factories import make_department

ADMIN = "/api/admin/v1/services"


@pytest.fixture
async def catalogue_admin(app, clock):
    return await make_department(clock, "广东省政务服务数据管理局目录管理", ["catalogue_admin"])


def new_item(**overrides) -> dict:
    body = {
        "name": "港澳居民来往内地通行证换发预约",
        "department_id": "gd-gat",
        "category": "出入境",
        "aliases": ["回乡证换证", "回乡证预约"],
        "materials": [{"name": "居民身份证", "licence_type": "resident_id_card"}, {"name": "近期免冠照片", "required": False}],
        "legal_basis": "《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》",
        "time_limit_days": 10,
        "fee": "不收费",
        "trips": 1,
        "channels": ["online", "offline"],
        "faq": [{"q": "回乡证快过期了怎么办？", "a": "可在有效期届满前 6 个月内预约换发。"}],
    }
    body.update(overrides)
    return body


async def search_names(client, q: str) -> list[str]:
    reply = await client.get("/api/v1/services/search", params={"q": q})
    assert reply.status_code == 200, reply.text
    return [i["name"] for i in reply.json()["items"]]


# -- the sample data -------------------------------------------------------------------------------
async def test_the_sample_catalogue_is_seeded_and_marked_as_sample(app):
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    assert "示例数据" in data["_comment"] and "sample data" in data["_comment"]
    assert await ServiceItem.filter(status="published", sample=True).count() >= 150
    assert await Department.filter(sample=True).count() >= 12
    assert {"province", "city", "district"} <= set(await Department.all().values_list("region_level", flat=True))
    assert await LifeEvent.all().count() >= 5
    licence_types = {m.get("licence_type") for i in data["items"] for m in i["materials"]} - {None}
    assert {"resident_id_card", "household_register", "marriage_certificate", "social_security_card",
            "business_licence", "driving_licence", "vehicle_licence"} <= licence_types


async def test_seeding_again_changes_nothing_and_keeps_an_admin_edit(app):
    await ServiceItem.filter(id="gd-hrss-001").update(fee="示例：已被管理员修改")
    before = await ServiceItem.all().count()
    assert await app.ctx.services.catalogue.seed_sample() == 0
    assert await ServiceItem.all().count() == before
    assert (await ServiceItem.get(id="gd-hrss-001")).fee == "示例：已被管理员修改"


async def test_a_missing_sample_item_is_put_back(app):
    await ServiceItem.filter(id="gz-jtj-003").delete()
    assert await app.ctx.services.catalogue.seed_sample() == 1
    assert (await ServiceItem.get(id="gz-jtj-003")).status == "published"


def test_every_bundle_names_items_that_exist_and_say_so():
    data = sample_catalogue()
    items = {i["id"]: i for i in data["items"]}
    for event in data["life_events"]:
        assert event["item_ids"], event["code"]
        for item_id in event["item_ids"]:
            assert event["code"] in items[item_id]["life_events"]


# -- a citizen reads the catalogue -----------------------------------------------------------------
async def test_the_guide_tells_a_citizen_what_to_bring_and_counts_the_view(client):
    reply = await client.get("/api/v1/services/gd-gat-004")
    assert reply.status_code == 200, reply.text
    guide = reply.json()
    assert guide["name"] == "出生登记"
    assert guide["department"] == "广东省公安厅"
    assert {"code": "newborn", "name": "新生儿出生一件事"} in guide["life_events"]
    household = next(m for m in guide["materials"] if m["licence_type"] == "household_register")
    assert household["licence_name"] == "居民户口簿" and household["e_licence_accepted"] is True
    paper = next(m for m in guide["materials"] if m["name"] == "出生医学证明")
    assert paper["licence_type"] is None and paper["e_licence_accepted"] is False
    assert guide["zero_trip"] is True and guide["trips"] == 0
    assert guide["time_limit_text"] == "1 个工作日" and guide["fee"] == "不收费"
    assert guide["faq"][0]["q"].startswith("孩子出生多久")
    assert guide["legal_basis"].startswith("《") and guide["sample"] is True
    again = (await client.get("/api/v1/services/gd-gat-004")).json()
    assert again["popularity"] == guide["popularity"] + 1
    english = await client.get("/api/v1/services/gd-gat-004", headers={"Accept-Language": "en"})
    assert any(m["licence_name"] == "Household register" for m in english.json()["materials"])


async def test_an_unknown_item_is_404_in_the_callers_language(client):
    reply = await client.get("/api/v1/services/no-such-item")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "SERVICE_ITEM_NOT_FOUND"
    assert "未找到该事项" in reply.json()["error"]["message"]


async def test_life_event_bundles_list_their_items_in_order(client):
    listing = await client.get("/api/v1/life-events")
    assert listing.status_code == 200
    bundles = {b["code"]: b for b in listing.json()["items"]}
    assert {"newborn", "open_business", "retirement", "employment", "after_death"} <= set(bundles)
    assert bundles["newborn"]["name"] == "新生儿出生一件事" and bundles["newborn"]["item_count"] == 6
    newborn = (await client.get("/api/v1/life-events/newborn")).json()
    assert [i["name"] for i in newborn["items"]][:3] == ["出生医学证明首次签发", "预防接种证办理", "出生登记"]
    assert "社会保障卡申领" in [i["name"] for i in newborn["items"]]
    missing = await client.get("/api/v1/life-events/no-such-bundle")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "LIFE_EVENT_NOT_FOUND"


async def test_the_catalogue_is_read_without_signing_in(client):
    for url in ("/api/v1/services/search?q=社保卡", "/api/v1/services/gd-hrss-001", "/api/v1/life-events",
                "/api/v1/life-events/retirement"):
        assert (await client.get(url)).status_code == 200, url


# -- a department publishes ------------------------------------------------------------------------
async def test_an_item_goes_from_draft_to_published_to_retired_and_every_step_is_audited(client, catalogue_admin):
    created = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(life_events=["marriage"]))
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["status"] == "draft" and item["region_code"] == "440000" and item["region_level"] == "province"
    assert item["department"] == "广东省公安厅" and item["sample"] is False
    item_id = item["id"]
    # A draft is nobody's business but the department's.
    assert "港澳居民来往内地通行证换发预约" not in await search_names(client, "回乡证")
    assert (await client.get(f"/api/v1/services/{item_id}")).status_code == 404
    marriage = (await client.get("/api/v1/life-events/marriage")).json()
    assert item_id not in [i["id"] for i in marriage["items"]]

    published = await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert (await search_names(client, "回乡证"))[0] == "港澳居民来往内地通行证换发预约"
    assert (await search_names(client, "hxzhz"))[0] == "港澳居民来往内地通行证换发预约"  # initials of 回乡证换证
    guide = (await client.get(f"/api/v1/services/{item_id}")).json()
    assert guide["materials"][0]["licence_name"] == "居民身份证"
    marriage = (await client.get("/api/v1/life-events/marriage")).json()
    assert marriage["items"][-1]["id"] == item_id

    retired = await client.post(f"{ADMIN}/{item_id}/retire", headers=catalogue_admin.headers())
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    assert "港澳居民来往内地通行证换发预约" not in await search_names(client, "回乡证")
    assert (await client.get(f"/api/v1/services/{item_id}")).status_code == 404
    assert item_id not in [i["id"] for i in (await client.get("/api/v1/life-events/marriage")).json()["items"]]

    entries = await AuditEntry.filter(action__startswith="catalogue_item_").order_by("seq")
    assert [e.action for e in entries] == ["catalogue_item_created", "catalogue_item_published", "catalogue_item_retired"]
    assert {e.actor for e in entries} == {catalogue_admin.id} and {e.actor_type for e in entries} == {"admin"}
    assert entries[2].attributes == {"item_id": item_id, "name": "港澳居民来往内地通行证换发预约", "from": "published",
                                     "to": "retired"}


async def test_an_update_of_a_published_item_shows_in_search_at_once(client, catalogue_admin, app):
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item())).json()["id"]
    await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())
    assert await search_names(client, "回乡证")
    changed = new_item(name="回乡证换发", aliases=["港澳居民来往内地通行证换发"], life_events=["marriage"])
    reply = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(), json=changed)
    assert reply.status_code == 200, reply.text
    assert (await search_names(client, "回乡证"))[0] == "回乡证换发"
    stored = await ServiceItem.get(id=item_id)
    assert "huixiangzhenghuanfa" in stored.search_text and stored.life_events == ["marriage"]
    assert item_id in (await LifeEvent.get(code="marriage")).item_ids
    update = await AuditEntry.get(action="catalogue_item_updated")
    assert update.attributes["item_id"] == item_id and {"name", "aliases", "life_events"} <= set(update.attributes["changed"])
    # Leaving the bundle takes the item out of it.
    await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(), json=new_item())
    assert item_id not in (await LifeEvent.get(code="marriage")).item_ids


async def test_status_changes_that_make_no_sense_are_refused(client, catalogue_admin):
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item())).json()["id"]
    not_yet = await client.post(f"{ADMIN}/{item_id}/retire", headers=catalogue_admin.headers())
    assert not_yet.status_code == 409 and not_yet.json()["error"]["code"] == "SERVICE_ITEM_STATUS_CONFLICT"
    assert not_yet.json()["error"]["status"] == "draft"
    await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())
    twice = await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())
    assert twice.status_code == 409
    await client.post(f"{ADMIN}/{item_id}/retire", headers=catalogue_admin.headers())
    frozen = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(), json=new_item())
    assert frozen.status_code == 409
    again = await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())
    assert again.status_code == 200 and again.json()["status"] == "published"  # brought back, e.g. retired by mistake
    for action in ("publish", "retire"):
        missing = await client.post(f"{ADMIN}/no-such-item/{action}", headers=catalogue_admin.headers())
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "SERVICE_ITEM_NOT_FOUND"
    assert await AuditEntry.filter(action="catalogue_item_published").count() == 2


@pytest.mark.parametrize("overrides, code", [
    ({"department_id": "no-such-dept"}, "DEPARTMENT_NOT_FOUND"),
    ({"life_events": ["no_such_bundle"]}, "LIFE_EVENT_NOT_FOUND"),
    ({"materials": [{"name": "护照", "licence_type": "passport"}]}, "LICENCE_TYPE_NOT_FOUND"),
    ({"materials": [{"name": "社保记录", "from_department": "人社/权益记录"}]}, "VALIDATION_FAILED"),
    ({"materials": [{"name": "社保记录", "from_department": "hrss/rights-record/v1"}]}, "VALIDATION_FAILED"),
    ({"region_level": "district", "region_code": "440100"}, "VALIDATION_FAILED"),
    ({"region_code": "44"}, "VALIDATION_FAILED"),
    ({"channels": ["fax"]}, "VALIDATION_FAILED"),
    ({"channels": []}, "VALIDATION_FAILED"),
    ({"name": ""}, "VALIDATION_FAILED"),
    ({"trips": -1}, "VALIDATION_FAILED"),
    ({"aliases": ["别" * 51]}, "VALIDATION_FAILED"),
])
async def test_a_wrong_item_is_refused_with_what_to_fix(client, catalogue_admin, overrides, code):
    reply = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(**overrides))
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == code
    assert await ServiceItem.filter(sample=False).count() == 0


async def test_a_district_item_takes_the_district_region(client, catalogue_admin):
    reply = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(department_id="th-zsj",
                                                                                      name="天河区长者助浴服务申请"))
    assert reply.status_code == 201
    assert (reply.json()["region_level"], reply.json()["region_code"]) == ("district", "440106")


async def test_a_malformed_body_is_refused(client, catalogue_admin):
    reply = await client.post(ADMIN, headers={**catalogue_admin.headers(), "Content-Type": "application/json"},
                              content=b"{not json")
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "MALFORMED_JSON"


async def test_only_catalogue_administrators_change_the_catalogue(client, clock, catalogue_admin):
    lab = await make_department(clock, "示例检验科", ["lab"])
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item())).json()["id"]
    attempts = [
        ("POST", ADMIN, new_item()), ("PUT", f"{ADMIN}/{item_id}", new_item()),
        ("POST", f"{ADMIN}/{item_id}/publish", None), ("POST", f"{ADMIN}/{item_id}/retire", None),
        ("GET", f"{ADMIN}/{item_id}", None),
    ]
    for method, url, body in attempts:
        reply = await client.request(method, url, headers=lab.headers(), json=body)
        assert reply.status_code == 403, (method, url)
        assert reply.json()["error"]["code"] == "CLIENT_ROLE_REQUIRED"
        assert reply.json()["error"]["required_role"] == "catalogue_admin"
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401
    assert (await ServiceItem.get(id=item_id)).status == "draft"
    assert await ServiceItem.filter(sample=False).count() == 1


async def test_an_administrator_reads_a_draft(client, catalogue_admin):
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item())).json()["id"]
    reply = await client.get(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers())
    assert reply.status_code == 200 and reply.json()["status"] == "draft"
    assert reply.json()["materials"][0] == {"name": "居民身份证", "required": True, "licence_type": "resident_id_card"}


async def test_a_material_fetched_from_a_department_tells_the_citizen_there_is_nothing_to_upload(client, catalogue_admin):
    record = {"name": "社会保险个人权益记录", "from_department": "CN-GD/GOV/11440000MB2D0001XA/hrss/rights-record/v1"}
    created = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(materials=[record]))
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    assert (await client.get(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers())).json()["materials"] == [
        {**record, "required": True}]  # kept as the administrator gave it
    await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())

    guide = (await client.get(f"/api/v1/services/{item_id}")).json()

    assert guide["materials"][0]["from_department"] is True and guide["materials"][0]["licence_type"] is None
