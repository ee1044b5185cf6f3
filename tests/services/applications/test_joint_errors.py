"""What goes wrong with a joint application, and what the citizen is told: each refusal stores nothing."""

from __future__ import annotations

from app.services.applications.models import Application, JointApplication, JointPart
from app.services.catalogue.models import LifeEvent, ServiceItem
from app.uploads.models import Upload

from tests.services.applications.joint_factory import (
    BIRTH_CERTIFICATE, HOUSEHOLD, JOINT, MEDICAL_INSURANCE, NEWBORN_FORM, NEWBORN_PARTS, SOCIAL_SECURITY_CARD,
    apply_jointly, correct_part, department_clerk, joint, materials_uploaded, part,
)
from tests.services.service_factory import decide, error_code


async def nothing_stored() -> bool:
    return await JointApplication.all().count() == 0 and await Application.all().count() == 0 \
        and await JointPart.all().count() == 0


async def test_a_bundle_with_a_closed_item_is_refused_naming_it(client, mother):
    await ServiceItem.filter(id=HOUSEHOLD).update(status="retired")
    reply = await apply_jointly(client, mother)
    assert reply.status_code == 409, reply.text
    error = reply.json()["error"]
    assert error["code"] == "JOINT_ITEM_CLOSED" and error["closed"] == [{"item_id": HOUSEHOLD, "item_name": "出生登记"}]
    assert "出生登记" in error["message"] and "新生儿出生一件事" in error["message"]
    assert await nothing_stored()
    # The form says so too.
    items = (await client.get("/api/v1/life-events/newborn/joint-form")).json()["items"]
    assert [i["item_id"] for i in items if not i["open"]] == [HOUSEHOLD]


async def test_an_item_taken_offline_counts_as_closed(client, mother):
    await ServiceItem.filter(id=SOCIAL_SECURITY_CARD).update(channels=["offline"])
    reply = await apply_jointly(client, mother, **{"Accept-Language": "en"})
    assert reply.status_code == 409 and error_code(reply) == "JOINT_ITEM_CLOSED"
    assert reply.json()["error"]["closed"][0]["item_id"] == SOCIAL_SECURITY_CARD
    assert await nothing_stored()


async def test_every_failing_field_of_every_part_is_named_and_nothing_is_stored(client, mother):
    form = {**NEWBORN_FORM, "contact_phone": "12345"}
    parts = {**NEWBORN_PARTS, BIRTH_CERTIFICATE: {"pickup": "邮寄到家"}}  # the hospital is missing
    reply = await apply_jointly(client, mother, form=form, parts=parts)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "FORM_INVALID"
    named = {(f["part"], f["field"]) for f in error["fields"]}
    # The shared phone is wrong for every part that asks for it, said where it was given (form.contact_phone).
    assert {(item, "form.contact_phone") for item in (BIRTH_CERTIFICATE, HOUSEHOLD, MEDICAL_INSURANCE,
                                                     SOCIAL_SECURITY_CARD)} <= named
    assert (BIRTH_CERTIFICATE, f"parts.{BIRTH_CERTIFICATE}.birth_hospital") in named
    assert all(f["item_name"] and f["problem"] for f in error["fields"])
    assert "联系电话" in error["message"]
    assert await nothing_stored()


async def test_the_form_problems_in_english(client, mother):
    reply = await apply_jointly(client, mother, form={**NEWBORN_FORM, "contact_phone": "12345"},
                                **{"Accept-Language": "en"})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "FORM_INVALID"
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in reply.json()["error"]["fields"][0]["problem"])


async def test_a_field_or_material_no_item_asks_for_is_refused(client, mother):
    reply = await apply_jointly(client, mother, form={**NEWBORN_FORM, "favourite_colour": "蓝色"},
                                parts={**NEWBORN_PARTS, "gd-no-such-item": {}},
                                materials=[*await materials_uploaded(client, mother),
                                           {"name": "房产证", "upload_ref": "upl_x"}])
    assert reply.status_code == 422 and error_code(reply) == "JOINT_FORM_INVALID"
    assert {f["field"] for f in reply.json()["error"]["fields"]} == {
        "form.favourite_colour", "parts.gd-no-such-item", "materials.房产证"}
    assert await nothing_stored()


async def test_a_missing_material_names_the_part_that_needs_it(client, mother):
    materials = [m for m in await materials_uploaded(client, mother) if m["name"] != "出生医学证明"]
    reply = await apply_jointly(client, mother, materials=materials)
    assert reply.status_code == 422 and error_code(reply) == "MATERIALS_MISSING"
    assert reply.json()["error"]["part"] == {"item_id": HOUSEHOLD, "item_name": "出生登记"}
    assert reply.json()["error"]["missing"] == ["出生医学证明"]
    assert await nothing_stored()


async def test_an_unknown_bundle_and_one_not_offered_jointly(client, mother):
    unknown = await apply_jointly(client, mother, "no-such-bundle")
    assert unknown.status_code == 404 and error_code(unknown) == "LIFE_EVENT_NOT_FOUND"
    await LifeEvent.filter(code="newborn").update(joint_item_ids=[])
    not_offered = await apply_jointly(client, mother)
    assert not_offered.status_code == 422 and error_code(not_offered) == "JOINT_NOT_OFFERED"
    assert await nothing_stored()


async def test_without_real_name_verification_nothing_is_submitted(client, sms):
    from tests.factories import sign_in

    citizen = await sign_in(client, sms)
    reply = await apply_jointly(client, citizen)
    assert reply.status_code == 403 and error_code(reply) == "IDENTITY_LEVEL_REQUIRED"
    assert await nothing_stored()


async def test_a_retry_with_the_same_key_returns_the_same_joint_application(client, mother):
    materials = await materials_uploaded(client, mother)
    first = await apply_jointly(client, mother, idempotency_key="joint-key-0001", materials=materials)
    again = await apply_jointly(client, mother, idempotency_key="joint-key-0001", materials=materials)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await JointApplication.all().count() == 1 and await Application.all().count() == 4
    other = await apply_jointly(client, mother, idempotency_key="joint-key-0001",
                                form={**NEWBORN_FORM, "baby_name": "李安宁"}, materials=materials)
    assert other.status_code == 409 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    missing = await client.post(JOINT, json={"bundle": "newborn"}, headers=mother.headers)
    assert missing.status_code == 400 and error_code(missing) == "IDEMPOTENCY_KEY_REQUIRED"


async def test_someone_elses_joint_application_is_not_found(client, mother, young):
    body = (await apply_jointly(client, mother)).json()
    assert (await joint(client, young, body["id"])).status_code == 404
    fixed = await correct_part(client, young, body["id"], HOUSEHOLD, {"note": "试试"})
    assert fixed.status_code == 404 and error_code(fixed) == "JOINT_APPLICATION_NOT_FOUND"
    assert (await client.get(JOINT, headers=young.headers)).json()["items"] == []
    assert [j["id"] for j in (await client.get(JOINT, headers=mother.headers)).json()["items"]] == [body["id"]]


async def test_only_a_rejected_or_returned_part_of_the_bundle_is_corrected(client, mother):
    body = (await apply_jointly(client, mother)).json()
    waiting = await correct_part(client, mother, body["id"], HOUSEHOLD, {"note": "补充说明"})
    assert waiting.status_code == 409 and error_code(waiting) == "JOINT_PART_NOT_CORRECTABLE"
    assert "审核中" in waiting.json()["error"]["message"]
    done = await correct_part(client, mother, body["id"], MEDICAL_INSURANCE, {})
    assert done.status_code == 409 and done.json()["error"]["status"] == "completed"
    unknown = await correct_part(client, mother, body["id"], "gd-hsa-008", {})
    assert unknown.status_code == 404 and error_code(unknown) == "JOINT_PART_NOT_FOUND"


async def test_a_resubmitted_part_is_checked_against_its_form(client, mother, clock):
    body = (await apply_jointly(client, mother)).json()
    police = await department_clerk(clock, "gd-gat")
    household = part(body, HOUSEHOLD)["application_id"]
    await decide(client, police, household, "reject", "入户地址不在本辖区")
    bad = await correct_part(client, mother, body["id"], HOUSEHOLD, {"form": {"baby_name": "李安然"}})
    assert bad.status_code == 422 and error_code(bad) == "FORM_INVALID"
    assert {f["field"] for f in bad.json()["error"]["fields"]} >= {"form.household_address"}
    assert await JointPart.filter(joint_id=body["id"]).count() == 4  # no new attempt
    good_form = {**{k: v for k, v in NEWBORN_FORM.items() if k != "mailing_address"},
                 "household_address": "广州市越秀区中山五路 70 号（示例）", "relation_to_head": "女"}
    good = await correct_part(client, mother, body["id"], HOUSEHOLD, {"form": good_form})
    assert good.status_code == 200, good.text
    assert part(good.json(), HOUSEHOLD)["attempt"] == 2


async def test_the_same_joint_application_sent_twice_at_once_is_stored_once(client, mother):
    import asyncio

    materials = await materials_uploaded(client, mother)
    first, second = await asyncio.gather(
        apply_jointly(client, mother, idempotency_key="joint-twice-0001", materials=materials),
        apply_jointly(client, mother, idempotency_key="joint-twice-0001", materials=materials))
    assert {first.status_code, second.status_code} == {201}
    assert first.json()["id"] == second.json()["id"]
    assert await JointApplication.all().count() == 1 and await Application.all().count() == 4


async def test_someone_elses_upload_is_not_found_and_nothing_is_stored(client, mother, young):
    """A joint application naming an upload of another citizen's: 404 as a made-up id would be, naming the part
    that asked for it, and no joint application, part or application is stored (her uploads stay unused)."""
    materials = await materials_uploaded(client, mother)
    theirs = (await materials_uploaded(client, young, ["出生医学证明"]))[0]
    materials = [theirs if m["name"] == "出生医学证明" else m for m in materials]
    reply = await apply_jointly(client, mother, materials=materials)
    assert reply.status_code == 404, reply.text
    assert error_code(reply) == "UPLOAD_NOT_FOUND" and reply.json()["error"]["upload_id"] == theirs["upload_ref"]
    assert await nothing_stored()
    assert await Upload.filter(citizen_id=mother.id, owner_id__isnull=False).count() == 0
    assert (await Upload.get(id=theirs["upload_ref"])).owner_id is None


async def test_an_upload_already_used_by_another_application_is_in_use(client, mother):
    """An upload attached to her earlier joint application cannot be named by a new one (409, nothing more
    stored): each upload has one owner."""
    materials = await materials_uploaded(client, mother)
    assert (await apply_jointly(client, mother, materials=materials)).status_code == 201
    again = await apply_jointly(client, mother, materials=materials)
    assert again.status_code == 409 and error_code(again) == "UPLOAD_IN_USE"
    assert await JointApplication.all().count() == 1 and await Application.all().count() == 4
