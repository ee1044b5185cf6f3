"""Item forms (申请表) in the catalogue: an administrator gives an item its form as a JSON Schema, which is
checked when saved and served with the item's guide; a schema apps could not render, or that would check
nothing, is refused saying where it is wrong."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from tortoise import connections

from app.services.applications import approval
from app.services.catalogue.models import ServiceItem
from app.services.catalogue.form_schema import with_field_order
from app.services.catalogue.service import check_form_schema, sample_catalogue
from tests.factories import make_department
from tests.services.catalogue.test_catalogue import ADMIN, new_item

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# Sample data (示例): the form of a passport-renewal appointment.
APPOINTMENT_FORM = {
    "$schema": DRAFT, "type": "object", "required": ["office", "date"], "additionalProperties": False,
    "properties": {
        "office": {"type": "string", "enum": ["天河区出入境办证大厅", "越秀区出入境办证大厅"], "title": "办证大厅"},
        "date": {"type": "string", "format": "date", "title": "预约日期"},
        "companions": {"type": "array", "maxItems": 3, "title": "同行人",
                       "items": {"type": "object", "properties": {"name": {"type": "string", "title": "姓名"}}}},
    },
}


@pytest.fixture
async def catalogue_admin(app, clock):
    return await make_department(clock, "广东省政务服务数据管理局目录管理", ["catalogue_admin"])


async def test_an_administrator_gives_an_item_its_form_and_citizens_read_it_with_the_guide(client, catalogue_admin):
    created = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(form_schema=APPOINTMENT_FORM))
    assert created.status_code == 201, created.text
    stored = created.json()["form_schema"]
    assert stored == with_field_order(APPOINTMENT_FORM)
    # The fields in the order written, kept beside the schema (a JSON object, and PostgreSQL's jsonb, keep none).
    assert stored["x-order"] == ["office", "date", "companions"]
    assert stored["properties"]["companions"]["items"]["x-order"] == ["name"]
    item_id = created.json()["id"]
    assert (await client.post(f"{ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())).status_code == 200

    guide = await client.get(f"/api/v1/services/{item_id}")
    assert guide.json()["form_schema"] == stored  # zh-Hans, as written
    english = await client.get(f"/api/v1/services/{item_id}", headers={"Accept-Language": "en"})
    assert english.json()["form_schema"]["properties"]["date"]["title"] == "预约日期"  # not translated yet: as written


async def test_an_edit_that_leaves_the_form_out_keeps_it_and_null_takes_it_away(client, catalogue_admin):
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(),
                                 json=new_item(form_schema=APPOINTMENT_FORM))).json()["id"]
    kept = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(), json=new_item(fee="免费"))
    assert kept.status_code == 200 and kept.json()["form_schema"] == with_field_order(APPOINTMENT_FORM)
    removed = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(), json=new_item(form_schema=None))
    assert removed.status_code == 200 and removed.json()["form_schema"] is None
    assert (await ServiceItem.get(id=item_id)).form_schema is None


@pytest.mark.parametrize("schema, field", [
    ({"type": "objekt", "properties": {}}, "form_schema.type"),  # not a JSON Schema
    ({"type": "array", "items": {"type": "string"}}, "form_schema"),  # a form is an object
    ({"type": "object", "properties": {"date": {"type": "string"}}}, "form_schema.properties.date"),  # no title
    ({"type": "object", "properties": {"d": {"type": "string", "format": "lunar-date", "title": "日期"}}},
     "form_schema.properties.d.format"),  # a format nobody checks
    ({"type": "object", "properties": {"d": {"$ref": "https://example.com/date.json", "title": "日期"}}},
     "form_schema.properties.d.$ref"),  # fetched from elsewhere
    ({"type": "object", "properties": {"d": {"$ref": "#/$defs/date", "title": "日期"}}},
     "form_schema.properties.d.$ref"),  # points nowhere
    ({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object", "properties": {}}, "form_schema.$schema"),
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": "one", "title": "人数"}}},
     "form_schema.properties.n.minimum"),
])
async def test_a_bad_form_schema_is_refused_saying_where(client, catalogue_admin, schema, field):
    reply = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(form_schema=schema))
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"
    assert reply.json()["error"]["fields"][0]["field"] == field
    assert not await ServiceItem.filter(name=new_item()["name"]).exists()


async def test_a_bad_form_schema_does_not_replace_a_good_one(client, catalogue_admin):
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(),
                                 json=new_item(form_schema=APPOINTMENT_FORM))).json()["id"]
    reply = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(),
                             json=new_item(form_schema={"type": "object", "properties": {"x": {"type": "string"}}}))
    assert reply.status_code == 422
    assert (await ServiceItem.get(id=item_id)).form_schema == with_field_order(APPOINTMENT_FORM)


async def test_an_administrator_may_give_the_field_order(client, catalogue_admin):
    given = {**APPOINTMENT_FORM, "x-order": ["date", "office", "companions"]}
    created = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(form_schema=given))
    assert created.json()["form_schema"]["x-order"] == ["date", "office", "companions"]
    wrong = {**APPOINTMENT_FORM, "x-order": ["date", "office"]}  # not every field: the order written instead
    created = await client.post(ADMIN, headers=catalogue_admin.headers(), json=new_item(form_schema=wrong))
    assert created.json()["form_schema"]["x-order"] == ["office", "date", "companions"]


def test_every_sample_form_is_a_good_schema_and_every_sample_rule_set_fits_its_form():
    items = sample_catalogue()["items"]
    forms = [item for item in items if item.get("form_schema")]
    assert len(forms) >= 20
    for item in forms:
        assert check_form_schema(item["form_schema"]) == item["form_schema"], item["id"]
    ruled = [item for item in items if item.get("approval_rules")]
    assert len(ruled) >= 10
    for item in ruled:
        assert approval.check_rules(item["approval_rules"], item.get("form_schema")), item["id"]


async def test_a_database_seeded_before_forms_gets_the_sample_forms_and_keeps_rules_someone_set(app):
    migration = importlib.import_module("app.migrations.0033_item_forms")
    # As a database seeded before forms existed has them: no form, and rules only where someone set them.
    await ServiceItem.filter(id__in=["th-zsj-003", "gz-mzj-001"]).update(form_schema=None, approval_rules=None)
    own_rules = {"all": [{"fact": "age", "op": ">=", "value": 70}]}
    await ServiceItem.filter(id="gz-mzj-001").update(approval_rules=own_rules, rules_version=3)
    await ServiceItem.filter(id="yx-zsj-003").update(form_schema=None, sample=False)  # not a sample item: left alone

    await migration.sample_forms(None, SimpleNamespace(client=connections.get("default")))

    by_id = {item["id"]: item for item in sample_catalogue()["items"]}
    canteen = await ServiceItem.get(id="th-zsj-003")
    assert canteen.form_schema == by_id["th-zsj-003"]["form_schema"]
    assert canteen.form_schema["x-order"] == ["canteen", "meal_times", "needs_delivery", "dietary_needs", "contact_phone"]
    assert canteen.approval_rules == by_id["th-zsj-003"]["approval_rules"]
    dibao = await ServiceItem.get(id="gz-mzj-001")  # 最低生活保障
    assert dibao.form_schema == by_id["gz-mzj-001"]["form_schema"]
    assert dibao.approval_rules == own_rules and dibao.rules_version == 3
    assert (await ServiceItem.get(id="yx-zsj-003")).form_schema is None


async def test_missing_sample_items_are_put_back_with_their_forms_whether_or_not_they_have_one(app):
    # 长者饭堂 (a form and rules) comes first, 义务教育入学 (neither) after it.
    await ServiceItem.filter(id__in=["th-zsj-003", "th-zsj-004"]).delete()
    assert await app.ctx.services.catalogue.seed_sample() == 2
    canteen, school = await ServiceItem.get(id="th-zsj-003"), await ServiceItem.get(id="th-zsj-004")
    assert canteen.form_schema["x-order"][0] == "canteen" and canteen.approval_rules["all"]
    assert school.form_schema is None and school.approval_rules is None


async def test_a_new_form_that_drops_a_field_the_instant_approval_rules_read_is_refused(client, catalogue_admin):
    item_id = (await client.post(ADMIN, headers=catalogue_admin.headers(),
                                 json=new_item(form_schema=APPOINTMENT_FORM))).json()["id"]
    office_rule = {"all": [{"fact": "form.office", "op": "==", "value": "天河区出入境办证大厅"}]}
    await ServiceItem.filter(id=item_id).update(approval_rules=office_rule)
    without_office = {**APPOINTMENT_FORM, "required": ["date"],
                      "properties": {k: v for k, v in APPOINTMENT_FORM["properties"].items() if k != "office"}}

    refused = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(),
                               json=new_item(form_schema=without_office))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "APPROVAL_RULES_INVALID"
    assert (await ServiceItem.get(id=item_id)).form_schema == with_field_order(APPOINTMENT_FORM)  # unchanged

    with_a_note = {**APPOINTMENT_FORM, "properties": {**APPOINTMENT_FORM["properties"],
                                                      "note": {"type": "string", "title": "备注"}}}
    kept = await client.put(f"{ADMIN}/{item_id}", headers=catalogue_admin.headers(), json=new_item(form_schema=with_a_note))
    assert kept.status_code == 200 and "note" in kept.json()["form_schema"]["properties"]
