"""The joint form (一件事一表): what an app renders before 李晓敏 applies for her newborn's items at once."""

from __future__ import annotations

from tests.services.applications.joint_factory import BIRTH_CERTIFICATE, NEWBORN_ITEMS, SOCIAL_SECURITY_CARD

FORM = "/api/v1/life-events/newborn/joint-form"


async def test_shared_fields_are_asked_once_and_fields_of_different_shapes_stay_with_their_item(client):
    reply = await client.get(FORM)  # public: the form holds no personal data
    assert reply.status_code == 200, reply.text
    body = reply.json()
    the_four_items_open_two_approved_in_seconds(body)
    shared_fields_asked_once(body["shared_fields"])
    fields_of_different_shapes_stay_with_their_item(body["items"])
    each_material_once_naming_its_items(body["materials"])


def the_four_items_open_two_approved_in_seconds(body: dict) -> None:
    assert body["code"] == "newborn"
    assert [i["item_id"] for i in body["items"]] == NEWBORN_ITEMS
    assert all(i["open"] for i in body["items"])
    assert {i["item_id"]: i["auto_approval"] for i in body["items"]} == {
        "gd-wjw-001": False, "gd-gat-004": False, "gd-hsa-002": True, "gd-hrss-001": True}


def shared_fields_asked_once(fields: list[dict]) -> None:
    shared = {f["name"]: f for f in fields}
    assert set(shared) == {"baby_name", "baby_birth_date", "baby_sex", "contact_phone", "mailing_address"}
    assert shared["contact_phone"]["items"] == NEWBORN_ITEMS
    assert shared["contact_phone"]["required"] is True
    assert shared["baby_sex"]["items"] == ["gd-wjw-001", "gd-gat-004"]
    assert shared["mailing_address"]["required"] is False  # optional for both items that ask for it
    assert shared["baby_name"]["schema"]["title"] == "新生儿姓名"


def fields_of_different_shapes_stay_with_their_item(items: list[dict]) -> None:
    """领取方式 means other choices for the certificate and the card: each asks its own."""
    own = {i["item_id"]: {f["name"]: f for f in i["fields"]} for i in items}
    assert own[BIRTH_CERTIFICATE]["pickup"]["schema"]["enum"] == ["医院窗口领取", "邮寄到家"]
    assert own[SOCIAL_SECURITY_CARD]["pickup"]["schema"]["enum"] == ["邮寄到家", "合作银行网点领取"]
    assert own[BIRTH_CERTIFICATE]["birth_hospital"]["required"] is True


def each_material_once_naming_its_items(listed: list[dict]) -> None:
    """Each material once, naming the items it serves."""
    materials = {m["name"]: m for m in listed}
    assert materials["出生医学证明"]["items"] == ["gd-gat-004", "gd-hsa-002"]
    assert materials["父母居民身份证"]["items"] == ["gd-wjw-001", "gd-gat-004"]
    assert materials["结婚证"]["required"] is False
    assert len(listed) == 7


async def test_the_form_in_english(client):
    body = (await client.get(FORM, headers={"Accept-Language": "en"})).json()
    assert body["name"] != "新生儿出生一件事"
    assert all(i["item_name"] for i in body["items"])


async def test_an_unknown_bundle_is_not_found_and_one_without_joint_items_is_not_offered(client):
    unknown = await client.get("/api/v1/life-events/no-such-bundle/joint-form")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "LIFE_EVENT_NOT_FOUND"
    marriage = await client.get("/api/v1/life-events/marriage/joint-form")
    assert marriage.status_code == 422 and marriage.json()["error"]["code"] == "JOINT_NOT_OFFERED"
    assert "结婚一件事" in marriage.json()["error"]["message"]


async def test_the_retirement_bundle_offers_a_joint_form_too(client):
    body = (await client.get("/api/v1/life-events/retirement/joint-form")).json()
    assert [i["item_id"] for i in body["items"]] == ["gz-rsj-006", "gd-hrss-006", "gz-mzj-003"]
    assert [f["name"] for f in body["shared_fields"]] == ["contact_phone"]
    assert {m["name"]: m["items"] for m in body["materials"]}["居民身份证"] == ["gz-rsj-006", "gd-hrss-006", "gz-mzj-003"]


def test_fields_keep_the_order_the_schema_gives_them():
    from app.services.applications.joint_form import merge

    schema = {"type": "object", "properties": {"b": {"type": "string", "title": "乙"}, "a": {"type": "string", "title": "甲"}},
              "x-order": ["a", "b"]}
    merged = merge([("one", "事项一", schema, []), ("two", "事项二", schema, [])])
    assert list(merged.shared) == ["a", "b"]


def test_the_bundle_status_follows_its_parts():
    from app.services.applications.joint import joint_status

    assert joint_status(["under_review", "completed"]) == "in_review"
    assert joint_status(["rejected", "completed", "under_review"]) == "partly_rejected"
    assert joint_status(["rejected", "rejected"]) == "rejected"
    assert joint_status(["returned", "completed"]) == "returned"
    assert joint_status(["rejected", "returned"]) == "partly_rejected"  # the rejection is said first
    assert joint_status(["approved", "completed"]) == "approved"
    assert joint_status(["completed", "withdrawn"]) == "completed"
    assert joint_status(["withdrawn", "withdrawn"]) == "withdrawn"
