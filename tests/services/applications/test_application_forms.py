"""Application forms (申请表): a citizen fills in the form an item declares, and a form that does not fit is
sent back with every field that needs correcting, in the citizen's language; 秒批 rules read the fields the
citizen declared, and say so in their words.

The seeded items used here (sample data): 异地就医备案 (gd-hsa-004), whose rules read the declared filing type,
and 天河区长者饭堂助餐服务登记 (th-zsj-003), whose rules read the verified age and the declared need for home
delivery. Both ask only for the 居民身份证, which the citizens here hold in their wallets.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.services.applications.models import Application
from app.services.catalogue.models import ServiceItem
from app.services.catalogue.service import sample_catalogue
from tests.factories import SignedInCitizen, make_department
from tests.services.service_factory import (
    APPLICATIONS, GRANDMA_ID, YOUNG_ID, apply, decide, error_code, make_item,
)
from tests.vouchers.licence_factory import assign, issue

RULES = "/api/admin/v1/services/{}/approval-rules"
MEDICAL_ELSEWHERE = "gd-hsa-004"  # 异地就医备案
CANTEEN = "th-zsj-003"  # 长者饭堂助餐服务登记（天河区）
ENGLISH = {"Accept-Language": "en"}

# Sample data (示例): forms as a citizen fills them in.
MOVED_AWAY = {"filing_type": "异地长期居住人员", "destination_city": "海口市", "start_date": "2027-01-01",
              "contact_phone": "13800138000"}
REFERRED = {**MOVED_AWAY, "filing_type": "异地转诊人员"}
CANTEEN_LUNCH = {"canteen": "天河区石牌街长者饭堂", "meal_times": ["午餐"], "needs_delivery": False,
                 "contact_phone": "13800138000"}
HOUSEHOLD_FORM = {
    "type": "object", "additionalProperties": False, "required": ["household_size", "member_name"],
    "properties": {"household_size": {"type": "integer", "minimum": 1, "title": "家庭人口"},
                   "member_name": {"type": "string", "minLength": 2, "title": "申请人姓名"},
                   "first_time": {"type": "boolean", "title": "是否首次申请"}},
}


@pytest.fixture
async def id_card_issuer(app, client, clock):
    """The public security bureau, assigned as issuer of resident ID cards (e-licences)."""
    admin = await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])
    issuer = await make_department(clock, "广东省公安厅（示例）", ["licence_issuer"])
    assert (await assign(client, admin, "resident_id_card", issuer.id)).status_code == 200
    return issuer


async def id_card(client, issuer, name: str, id_number: str) -> dict[str, Any]:
    """A made-up resident ID card in the citizen's wallet (sample data)."""
    birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    return await issue(client, issuer, licence_type="resident_id_card", holder_id_number=id_number, number=id_number,
                       fields={"name": name, "sex": "女", "ethnicity": "汉", "birth_date": birth,
                               "address": "广东省广州市天河区示例路 1 号", "issuing_authority": "广州市公安局天河分局（示例）"})


@pytest.fixture
async def young_with_id(client, id_card_issuer, young) -> SignedInCitizen:
    await id_card(client, id_card_issuer, "陈志强", YOUNG_ID)
    return young


@pytest.fixture
async def grandma_with_id(client, id_card_issuer, grandma) -> SignedInCitizen:
    await id_card(client, id_card_issuer, "王秀英", GRANDMA_ID)
    return grandma


def fields_of(reply) -> dict[str, str]:
    return {f["field"]: f["problem"] for f in reply.json()["error"]["fields"]}


# -- the form is served with the item ----------------------------------------------------------------

async def test_the_guide_serves_the_form_to_render_with_titles_in_the_readers_language(client):
    chinese = (await client.get(f"/api/v1/services/{CANTEEN}")).json()["form_schema"]
    assert chinese["type"] == "object" and chinese["required"] == ["canteen", "meal_times", "needs_delivery",
                                                                   "contact_phone"]
    assert chinese["x-order"] == ["canteen", "meal_times", "needs_delivery", "dietary_needs", "contact_phone"]
    assert chinese["properties"]["needs_delivery"] == {"type": "boolean", "title": "是否需要送餐上门"}
    assert chinese["properties"]["meal_times"]["items"]["enum"] == ["早餐", "午餐", "晚餐"]  # the answers stay as they are

    english = (await client.get(f"/api/v1/services/{CANTEEN}", headers=ENGLISH)).json()["form_schema"]
    assert english["properties"]["needs_delivery"]["title"] == "Meals delivered at home"
    assert english["properties"]["contact_phone"] == {"type": "string", "format": "cn-mobile", "title": "Contact phone"}
    traditional = (await client.get(f"/api/v1/services/{CANTEEN}", headers={"Accept-Language": "zh-HK"})).json()
    assert traditional["form_schema"]["properties"]["canteen"]["title"] == "就餐長者飯堂"

    no_form = (await client.get("/api/v1/services/gd-hrss-013")).json()
    assert no_form["form_schema"] is None


# -- submissions are checked against it ----------------------------------------------------------------

async def test_a_form_that_fits_goes_through_and_is_kept_as_sent(client, young_with_id):
    reply = await apply(client, young_with_id, MEDICAL_ELSEWHERE, form=MOVED_AWAY, materials=[])
    assert reply.status_code == 201, reply.text
    assert reply.json()["form"] == MOVED_AWAY and reply.json()["status"] == "completed"


async def test_a_form_that_does_not_fit_lists_every_field_and_stores_nothing(client, young_with_id):
    form = {"filing_type": "出差", "start_date": "2027-02-30", "contact_phone": "0201234", "hobby": "钓鱼"}
    reply = await apply(client, young_with_id, MEDICAL_ELSEWHERE, form=form, materials=[])
    assert reply.status_code == 422 and error_code(reply) == "FORM_INVALID"
    assert reply.json()["error"]["fields"] == [
        {"field": "filing_type", "title": "备案类型",
         "problem": "须为以下之一：异地长期居住人员、常驻异地工作人员、异地转诊人员、临时外出就医人员"},
        {"field": "destination_city", "title": "就医地（市）", "problem": "必须填写"},
        {"field": "start_date", "title": "备案开始日期", "problem": "应为日期，如 2026-01-31"},
        {"field": "contact_phone", "title": "联系电话", "problem": "应为 11 位手机号码"},
        {"field": "hobby", "title": "hobby", "problem": "不是本表的栏目，请删去"},
    ]
    assert reply.json()["error"]["message"].startswith("申请表有 5 处填写有误：备案类型、就医地（市）、备案开始日期")
    assert await Application.filter(item_id=MEDICAL_ELSEWHERE).count() == 0


async def test_the_fields_to_correct_are_said_in_english_too(client, young_with_id):
    form = {**MOVED_AWAY, "destination_city": "", "start_date": "next week"}
    reply = await apply(client, young_with_id, MEDICAL_ELSEWHERE, form=form, materials=[], **ENGLISH)
    assert reply.status_code == 422 and error_code(reply) == "FORM_INVALID"
    assert reply.json()["error"]["fields"] == [
        {"field": "destination_city", "title": "City of treatment", "problem": "must have at least 2 characters"},
        {"field": "start_date", "title": "Filing start date", "problem": "must be a date, e.g. 2026-01-31"},
    ]
    assert reply.json()["error"]["message"].startswith("The form has 2 field(s) to correct: City of treatment, "
                                                       "Filing start date.")


async def test_a_field_inside_a_list_is_named_by_its_place(client, grandma_with_id):
    form = {**CANTEEN_LUNCH, "meal_times": ["午餐", "宵夜"], "needs_delivery": "不用"}
    reply = await apply(client, grandma_with_id, CANTEEN, form=form, materials=[])
    assert reply.status_code == 422
    assert fields_of(reply) == {"meal_times.1": "须为以下之一：早餐、午餐、晚餐", "needs_delivery": "应为是或否"}
    assert [f["title"] for f in reply.json()["error"]["fields"]] == ["用餐时段", "是否需要送餐上门"]


async def test_a_correction_is_checked_against_the_form_too(client, clock, young_with_id):
    clerk = await make_department(clock, "广东省医疗保障局办件窗口（示例）", ["clerk"], department_id="gd-hsa")
    sent = (await apply(client, young_with_id, MEDICAL_ELSEWHERE, form=REFERRED, materials=[])).json()
    assert sent["status"] == "under_review"
    assert (await decide(client, clerk, sent["id"], "return", "请补充转诊医院")).status_code == 200
    wrong = await client.post(f"{APPLICATIONS}/{sent['id']}/corrections", headers=young_with_id.headers,
                              json={"form": {**REFERRED, "start_date": "2027/01/01"}})
    assert wrong.status_code == 422 and fields_of(wrong) == {"start_date": "应为日期，如 2026-01-31"}
    assert (await Application.get(id=sent["id"])).status == "returned"
    right = await client.post(f"{APPLICATIONS}/{sent['id']}/corrections", headers=young_with_id.headers,
                              json={"form": {**REFERRED, "destination_city": "长沙市"}})
    assert right.status_code == 200 and right.json()["form"]["destination_city"] == "长沙市"


async def test_an_item_without_a_form_still_takes_any_object(client, clock, grandma):
    item = await make_item(clock, materials=[])
    reply = await apply(client, grandma, item.id, form={"任意": ["内容"]}, materials=[])
    assert reply.status_code == 201, reply.text


# -- the seeded rules decide on what was declared ------------------------------------------------------

def test_the_sample_catalogue_has_at_least_20_forms_and_10_rule_sets():
    items = sample_catalogue()["items"]
    assert sum(1 for item in items if item.get("form_schema")) >= 20
    assert sum(1 for item in items if item.get("approval_rules")) >= 10
    reading_forms = [i["id"] for i in items if any(r["fact"].startswith("form.") for r in
                                                   (i.get("approval_rules") or {}).get("all", []))]
    assert len(reading_forms) >= 10


async def test_a_declared_filing_type_decides_the_medical_filing(client, young_with_id):
    approved = (await apply(client, young_with_id, MEDICAL_ELSEWHERE, form=MOVED_AWAY, materials=[])).json()
    assert approved["status"] == "completed" and approved["decision"]["auto_approved"] is True
    declared = approved["decision"]["rules"][1]
    assert declared["text"] == "申报的备案类型属于异地长期居住人员、常驻异地工作人员、临时外出就医人员"
    assert declared["passed"] is True and declared["field_title"] == "备案类型"

    reviewed = (await apply(client, young_with_id, MEDICAL_ELSEWHERE, form=REFERRED, materials=[])).json()
    assert reviewed["status"] == "under_review" and reviewed["decision"]["reason"] == "rule_failed"
    assert [r["passed"] for r in reviewed["decision"]["rules"]] == [True, False]


async def test_the_seniors_canteen_approves_a_senior_who_needs_no_delivery_at_once(client, grandma_with_id,
                                                                                   young_with_id):
    senior = (await apply(client, grandma_with_id, CANTEEN, form=CANTEEN_LUNCH, materials=[])).json()
    assert senior["status"] == "completed"
    assert [r["text"] for r in senior["decision"]["rules"]] == [
        "身份认证等级不低于2级", "年龄不低于60周岁", "申报的是否需要送餐上门为否"]

    delivery = (await apply(client, grandma_with_id, CANTEEN, form={**CANTEEN_LUNCH, "needs_delivery": True},
                            materials=[])).json()
    assert delivery["status"] == "under_review"
    assert [r["passed"] for r in delivery["decision"]["rules"]] == [True, True, False]

    too_young = (await apply(client, young_with_id, CANTEEN, form=CANTEEN_LUNCH, materials=[], **ENGLISH)).json()
    assert too_young["status"] == "under_review"
    assert [(r["text"], r["passed"]) for r in too_young["decision"]["rules"]][1:] == [
        ("age at least 60 years", False), ("declared Meals delivered at home is no", True)]


# -- administrators write rules on declared fields only -------------------------------------------------

async def test_a_rule_on_a_declared_field_decides(client, clock, catalogue_admin, grandma):
    item = await make_item(clock, materials=[])
    await ServiceItem.filter(id=item.id).update(form_schema=HOUSEHOLD_FORM)
    rules = {"all": [{"fact": "form.household_size", "op": ">=", "value": 3},
                     {"fact": "form.first_time", "op": "==", "value": True}]}
    saved = await client.put(RULES.format(item.id), headers=catalogue_admin.headers(), json={"rules": rules})
    assert saved.status_code == 200, saved.text

    big = (await apply(client, grandma, item.id, materials=[],
                       form={"household_size": 4, "member_name": "王秀英", "first_time": True})).json()
    assert big["status"] == "completed"
    assert [r["text"] for r in big["decision"]["rules"]] == ["申报的家庭人口不低于3", "申报的是否首次申请为是"]
    small = (await apply(client, grandma, item.id, materials=[],
                         form={"household_size": 2, "member_name": "王秀英"})).json()
    assert small["status"] == "under_review"
    assert [r["passed"] for r in small["decision"]["rules"]] == [False, False]  # an empty field fails its rule


@pytest.mark.parametrize("rule, problem", [
    ({"fact": "form.income", "op": "<=", "value": 1000}, "the item's form does not declare the field 'income'"),
    ({"fact": "form.household_size", "op": ">=", "value": "三"}, "value does not fit form.household_size >="),
    ({"fact": "form.member_name", "op": ">", "value": "王"}, "operator for form.member_name must be one of"),
    ({"fact": "form.first_time", "op": "==", "value": 1}, "value does not fit form.first_time =="),
])
async def test_a_rule_on_a_field_the_form_does_not_declare_so_is_refused(client, clock, catalogue_admin, rule,
                                                                         problem):
    item = await make_item(clock)
    await ServiceItem.filter(id=item.id).update(form_schema=HOUSEHOLD_FORM)
    reply = await client.put(RULES.format(item.id), headers=catalogue_admin.headers(), json={"rules": {"all": [rule]}})
    assert reply.status_code == 422 and error_code(reply) == "APPROVAL_RULES_INVALID"
    assert reply.json()["error"]["fields"][0]["field"] == "rules.all.0"
    assert reply.json()["error"]["fields"][0]["problem"].startswith(problem)
    assert (await ServiceItem.get(id=item.id)).approval_rules is None


async def test_an_item_without_a_form_takes_no_rule_on_a_form_field(client, clock, catalogue_admin):
    item = await make_item(clock)
    rules = {"all": [{"fact": "form.household_size", "op": ">=", "value": 3}]}
    reply = await client.put(RULES.format(item.id), headers=catalogue_admin.headers(), json={"rules": rules})
    assert reply.status_code == 422 and error_code(reply) == "APPROVAL_RULES_INVALID"


async def test_a_rule_whose_field_the_form_lost_approves_nothing(client, clock, catalogue_admin, grandma):
    item = await make_item(clock, materials=[])
    await ServiceItem.filter(id=item.id).update(form_schema=HOUSEHOLD_FORM)
    rules = {"all": [{"fact": "form.household_size", "op": ">=", "value": 1}]}
    assert (await client.put(RULES.format(item.id), headers=catalogue_admin.headers(),
                             json={"rules": rules})).status_code == 200
    await ServiceItem.filter(id=item.id).update(form_schema=None)  # the form was taken away since
    reply = (await apply(client, grandma, item.id, materials=[], form={"household_size": 5})).json()
    assert reply["status"] == "under_review" and reply["decision"]["reason"] == "no_rules"
