"""The 出生一件事 story: 李晓敏 applies once for her newborn's birth certificate, household registration, medical
insurance and social-security card. The insurance and the card are approved in seconds (秒批); the hospital and
the police decide the other two. The police reject the household registration, saying why; she corrects that part
alone and sends it again, and the bundle goes on to be done, with one status and one timeline throughout.

The files she uploads are given once and belong to the joint application: each part's clerk reads those its part
names, and she sees each read in her access log."""

from __future__ import annotations

from app.audit import AuditEntry
from app.services.applications.models import Application, ApplicationEvent, JointApplication, JointPart
from app.uploads.models import Upload

from tests.services.applications.joint_factory import (
    BIRTH_CERTIFICATE, HOUSEHOLD, MEDICAL_INSURANCE, NEWBORN_ITEMS, RETIREMENT_MATERIAL_NAMES, SOCIAL_SECURITY_CARD,
    apply_jointly, correct_part, department_clerk, joint, materials_uploaded, part, ref,
)
from tests.services.service_factory import ACCESS_LOG, ADMIN_APPLICATIONS, complete, decide, inbox_kinds
from tests.uploads.upload_factory import scanned_png, uploaded


async def owned_by_joint(upload_ids: list[str], joint_id: str) -> bool:
    """Each upload attached to the joint application (and no longer expiring)."""
    rows = await Upload.filter(id__in=upload_ids)
    return len(rows) == len(set(upload_ids)) and all(
        (r.owner_kind, r.owner_id, r.expires_at) == ("joint", joint_id, None) for r in rows)


async def test_one_submission_makes_four_linked_applications_with_one_status_and_one_timeline(client, mother):
    materials = await materials_uploaded(client, mother)
    body = await submitted_once_as_four_parts(client, mother, materials)
    one_timeline_of_every_part(body["timeline"])
    await stored_as_four_applications_sharing_the_materials(mother, body["id"], materials)

    audited = await AuditEntry.filter(subject_id=mother.id, action="joint_application_submitted").count()
    assert audited == 1
    assert sorted(await inbox_kinds(client, mother)) == sorted(
        ["application_submitted", "application_submitted", "application_auto_approved", "application_auto_approved"])


async def submitted_once_as_four_parts(client, mother, materials: list[dict]) -> dict:
    """One submission: the insurance and the card approved in seconds, the other two under review."""
    reply = await apply_jointly(client, mother, materials=materials)
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["bundle"] == "newborn"
    assert body["bundle_name"] == "新生儿出生一件事"
    assert [p["item_id"] for p in body["parts"]] == NEWBORN_ITEMS
    assert {p["item_id"]: p["status"] for p in body["parts"]} == {
        BIRTH_CERTIFICATE: "under_review", HOUSEHOLD: "under_review",
        MEDICAL_INSURANCE: "completed", SOCIAL_SECURITY_CARD: "completed"}
    assert part(body, MEDICAL_INSURANCE)["auto_approved"] is True
    assert body["status"] == "in_review"
    assert body["status_text"] == "办理中"
    assert (body["parts_done"], body["parts_total"]) == (2, 4)
    assert body["failed_parts"] == []
    return body


def one_timeline_of_every_part(timeline: list[dict]) -> None:
    """One timeline: every event of every part, in time order, each naming its part."""
    assert len(timeline) == 3 + 3 + 4 + 4
    assert [t["at"] for t in timeline] == sorted(t["at"] for t in timeline)
    assert {t["item_id"] for t in timeline} == set(NEWBORN_ITEMS)
    assert all(t["item_name"] and t["status_text"] for t in timeline)
    assert [t["to_status"] for t in timeline if t["item_id"] == MEDICAL_INSURANCE] == [
        "submitted", "accepted", "auto_approved", "completed"]


async def stored_as_four_applications_sharing_the_materials(mother, joint_id: str, materials: list[dict]) -> None:
    """Stored: one joint application, four parts, four applications of hers, each with the shared materials."""
    assert await JointApplication.filter(citizen_id=mother.id).count() == 1
    parts = await JointPart.filter(joint_id=joint_id).order_by("position")
    assert [p.item_id for p in parts] == NEWBORN_ITEMS
    rows = {a.item_id: a for a in await Application.filter(citizen_id=mother.id)}
    assert set(rows) == set(NEWBORN_ITEMS)
    # 出生医学证明 (the paper one from the hospital) is given once and attached to both parts that ask for it.
    certificate = ref(materials, "出生医学证明")
    for item_id in (HOUSEHOLD, MEDICAL_INSURANCE):
        assert [m["upload_ref"] for m in rows[item_id].materials if m["name"] == "出生医学证明"] == [certificate]
    # Each upload belongs to the joint application, once, whatever the number of parts naming it.
    assert await owned_by_joint([m["upload_ref"] for m in materials], joint_id)
    assert [m["name"] for m in rows[SOCIAL_SECURITY_CARD].materials] == ["居民身份证", "近期免冠彩色证件照（电子版）"]


async def test_a_rejected_part_is_named_with_why_and_only_it_is_sent_again(client, mother, clock):
    materials = await materials_uploaded(client, mother)
    body = (await apply_jointly(client, mother, materials=materials)).json()
    police = await department_clerk(clock, "gd-gat")
    household = part(body, HOUSEHOLD)["application_id"]

    await rejected_by_the_police_saying_why(client, mother, body["id"], police, household)
    others, other_events = await the_other_parts_as_they_are(mother, household)
    after = await only_the_rejected_part_sent_again(client, mother, body["id"], materials, household)
    await the_other_parts_left_as_they_were(mother, household, others, other_events)
    hospital = await department_clerk(clock, "gd-wjw")
    await approved_and_completed_by_both(client, mother, body["id"], after, police, hospital)


async def rejected_by_the_police_saying_why(client, mother, joint_id: str, police, household: str) -> None:
    """The police reject the household registration: the bundle names that part, and why, last in its timeline."""
    rejected = await decide(client, police, household, "reject", "户口簿首页信息与身份证不一致，请上传最新户口簿")
    assert rejected.status_code == 200, rejected.text
    seen = (await joint(client, mother, joint_id)).json()
    assert seen["status"] == "partly_rejected"
    assert seen["status_text"] == "部分事项未通过"
    assert [(p["item_id"], p["status"], p["reason"], p["correctable"]) for p in seen["failed_parts"]] == [
        (HOUSEHOLD, "rejected", "户口簿首页信息与身份证不一致，请上传最新户口簿", True)]
    assert seen["timeline"][-1]["item_id"] == HOUSEHOLD
    assert seen["timeline"][-1]["to_status"] == "rejected"


async def the_other_parts_as_they_are(mother, household: str) -> tuple[dict, int]:
    """The other parts' rows and the number of their events, before the rejected part is sent again."""
    others = {a.id: (a.status, a.updated_at, a.materials, a.form_enc)
              for a in await Application.filter(citizen_id=mother.id).exclude(id=household)}
    other_events = await ApplicationEvent.filter(application_id__in=list(others)).count()
    return others, other_events


async def only_the_rejected_part_sent_again(client, mother, joint_id: str, materials: list[dict],
                                            household: str) -> dict:
    """The same certificate and ID card as before (the joint application's), and a new household register: a
    second attempt, the first kept in the one timeline before it."""
    register = await uploaded(client, mother, scanned_png())
    again = await correct_part(client, mother, joint_id, HOUSEHOLD, {
        "materials": [{"name": "出生医学证明", "upload_ref": ref(materials, "出生医学证明")},
                      {"name": "父母居民身份证", "upload_ref": ref(materials, "父母居民身份证")},
                      {"name": "居民户口簿", "upload_ref": register}],
        "note": "已上传最新户口簿"})
    assert again.status_code == 200, again.text
    assert await owned_by_joint([*[m["upload_ref"] for m in materials], register], joint_id)
    after = again.json()
    redone = part(after, HOUSEHOLD)
    assert redone["attempt"] == 2
    assert redone["status"] == "under_review"
    assert redone["earlier_applications"] == [household]
    assert redone["application_id"] != household
    assert after["status"] == "in_review"
    assert after["failed_parts"] == []
    # The first attempt stays in the one timeline, the second follows it.
    attempts = [(t["attempt"], t["to_status"]) for t in after["timeline"] if t["item_id"] == HOUSEHOLD]
    assert attempts[:4] == [(1, "submitted"), (1, "accepted"), (1, "under_review"), (1, "rejected")]
    assert attempts[4:] == [(2, "submitted"), (2, "accepted"), (2, "under_review")]
    return after


async def the_other_parts_left_as_they_were(mother, household: str, others: dict, other_events: int) -> None:
    """The other parts: their rows and events exactly as before; the rejected attempt kept as it was decided."""
    assert {a.id: (a.status, a.updated_at, a.materials, a.form_enc)
            for a in await Application.filter(id__in=list(others))} == others
    assert await ApplicationEvent.filter(application_id__in=list(others)).count() == other_events
    assert (await Application.get(id=household)).status == "rejected"  # kept as it was decided
    assert await AuditEntry.filter(subject_id=mother.id, action="joint_part_resubmitted").count() == 1


async def approved_and_completed_by_both(client, mother, joint_id: str, after: dict, police, hospital) -> None:
    """The police approve the new attempt and the hospital its part: the bundle is done."""
    decided = ((police, part(after, HOUSEHOLD)["application_id"]),
               (hospital, part(after, BIRTH_CERTIFICATE)["application_id"]))
    for clerk, application_id in decided:
        assert (await decide(client, clerk, application_id, "approve", "材料齐全")).status_code == 200
        assert (await joint(client, mother, joint_id)).json()["status"] == "in_review" or \
            application_id == part(after, BIRTH_CERTIFICATE)["application_id"]
    approved = (await joint(client, mother, joint_id)).json()
    assert approved["status"] == "approved"
    assert approved["parts_done"] == 4
    for clerk, application_id in decided:
        assert (await complete(client, clerk, application_id)).status_code == 200
    done = (await joint(client, mother, joint_id)).json()
    assert done["status"] == "completed"
    assert done["status_text"] == "已全部办结"


async def test_a_returned_part_is_corrected_in_place(client, mother, clock):
    materials = await materials_uploaded(client, mother)
    body = (await apply_jointly(client, mother, materials=materials)).json()
    hospital = await department_clerk(clock, "gd-wjw")
    certificate = part(body, BIRTH_CERTIFICATE)["application_id"]
    assert (await decide(client, hospital, certificate, "return", "住院分娩记录不清晰，请重新上传")).status_code == 200
    seen = (await joint(client, mother, body["id"])).json()
    assert seen["status"] == "returned" and seen["failed_parts"][0]["reason"] == "住院分娩记录不清晰，请重新上传"

    clear = await uploaded(client, mother, scanned_png())
    fixed = await correct_part(client, mother, body["id"], BIRTH_CERTIFICATE, {
        "materials": [{"name": "父母居民身份证", "upload_ref": ref(materials, "父母居民身份证")},
                      {"name": "住院分娩记录", "upload_ref": clear}]})
    assert fixed.status_code == 200, fixed.text
    redone = part(fixed.json(), BIRTH_CERTIFICATE)
    assert redone["attempt"] == 1 and redone["application_id"] == certificate and redone["status"] == "under_review"
    assert fixed.json()["status"] == "in_review"
    stored = await Application.get(id=certificate)
    assert [m["upload_ref"] for m in stored.materials if m["name"] == "住院分娩记录"] == [clear]
    assert await owned_by_joint([clear, ref(materials, "父母居民身份证")], body["id"])
    # The hospital's clerk reads the new record through the joint application.
    seen = await client.get(f"{ADMIN_APPLICATIONS}/{certificate}/materials/{clear}", headers=hospital.headers())
    assert seen.status_code == 200 and seen.headers["content-type"] == "image/png"


async def test_the_retirement_bundle_is_approved_in_seconds_where_the_rules_allow(client, retiree, clock):
    """黄伟明, 62, applies for his pension, the pension certification and the elderly card at once: the last two
    are 秒批, the pension goes to the social-security bureau, which approves and completes it."""
    form = {"contact_phone": "13926001234"}
    parts = {"gz-rsj-006": {"retirement_date": "2026-12-01", "pension_bank": "中国工商银行"},
             "gd-hrss-006": {"residence": "广州市越秀区"},
             "gz-mzj-003": {"pickup": "邮寄到家", "mailing_address": "广州市越秀区北京路 123 号（示例）"}}
    materials = await materials_uploaded(client, retiree, RETIREMENT_MATERIAL_NAMES)
    reply = await apply_jointly(client, retiree, "retirement", form=form, parts=parts, materials=materials,
                                **{"Accept-Language": "en"})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert [(p["item_id"], p["status"]) for p in body["parts"]] == [
        ("gz-rsj-006", "under_review"), ("gd-hrss-006", "completed"), ("gz-mzj-003", "completed")]
    assert body["status"] == "in_review" and body["status_text"] == "In progress"
    bureau = await department_clerk(clock, "gz-rsj")
    pension = part(body, "gz-rsj-006")["application_id"]
    assert (await decide(client, bureau, pension, "approve", "符合按月领取养老金条件")).status_code == 200
    assert (await complete(client, bureau, pension)).status_code == 200
    done = (await joint(client, retiree, body["id"])).json()
    assert done["status"] == "completed" and done["parts_done"] == 3
    assert done["timeline"][-1]["item_id"] == "gz-rsj-006" and done["timeline"][-1]["to_status"] == "completed"


async def test_a_shared_material_is_read_by_each_part_s_clerk_and_each_read_is_in_her_access_log(client, mother, clock):
    """父母居民身份证 is given once for the birth certificate (the hospital) and the household registration (the
    police): attached once, to the joint application, and each department's clerk reads it for its own part. A
    material only another part names is not found for a clerk (the hospital does not see the household register)."""
    materials = await materials_uploaded(client, mother)
    body = (await apply_jointly(client, mother, materials=materials)).json()
    parents_id = ref(materials, "父母居民身份证")
    assert await Upload.filter(id=parents_id, owner_kind="joint", owner_id=body["id"]).count() == 1
    hospital, police = await department_clerk(clock, "gd-wjw"), await department_clerk(clock, "gd-gat")
    certificate, household = part(body, BIRTH_CERTIFICATE)["application_id"], part(body, HOUSEHOLD)["application_id"]

    for clerk, application_id in ((hospital, certificate), (police, household)):
        seen = await client.get(f"{ADMIN_APPLICATIONS}/{application_id}/materials/{parents_id}",
                                headers=clerk.headers())
        assert seen.status_code == 200, seen.text
        assert seen.headers["content-type"] == "image/png"
        assert len(seen.content) == (await Upload.get(id=parents_id)).size

    log = (await client.get(ACCESS_LOG, headers=mother.headers)).json()["items"]
    viewed = [entry for entry in log if entry["action"] == "material_viewed"]
    assert sorted(entry["actor"] for entry in viewed) == ["gd-gat 办件窗口（示例）", "gd-wjw 办件窗口（示例）"]
    assert {application_id for application_id in (certificate, household)
            if any(application_id in entry["purpose"] for entry in viewed)} == {certificate, household}

    # The household register is the police's part's alone; another department's application is not found.
    register = ref(materials, "居民户口簿")
    assert (await client.get(f"{ADMIN_APPLICATIONS}/{certificate}/materials/{register}",
                             headers=hospital.headers())).status_code == 404
    assert (await client.get(f"{ADMIN_APPLICATIONS}/{household}/materials/{parents_id}",
                             headers=hospital.headers())).status_code == 404
    assert len([e for e in (await client.get(ACCESS_LOG, headers=mother.headers)).json()["items"]
                if e["action"] == "material_viewed"]) == 2


async def test_a_rejected_part_sent_again_as_it_was_names_the_same_uploads(client, mother, clock):
    """The police reject the household registration; she sends it again unchanged: the new attempt names the
    same uploads (still the joint application's), and the police read them for the new attempt."""
    materials = await materials_uploaded(client, mother)
    body = (await apply_jointly(client, mother, materials=materials)).json()
    police = await department_clerk(clock, "gd-gat")
    household = part(body, HOUSEHOLD)["application_id"]
    assert (await decide(client, police, household, "reject", "请核对后重新提交")).status_code == 200

    again = await correct_part(client, mother, body["id"], HOUSEHOLD, {"note": "已核对"})
    assert again.status_code == 200, again.text
    redone = part(again.json(), HOUSEHOLD)
    assert redone["attempt"] == 2 and redone["status"] == "under_review"
    first, second = await Application.get(id=household), await Application.get(id=redone["application_id"])
    named = [m["upload_ref"] for m in second.materials if m.get("source") == "upload"]
    assert named == [m["upload_ref"] for m in first.materials if m.get("source") == "upload"] and named
    assert await owned_by_joint(named, body["id"])
    seen = await client.get(f"{ADMIN_APPLICATIONS}/{second.id}/materials/{named[0]}", headers=police.headers())
    assert seen.status_code == 200, seen.text


async def test_a_returned_part_corrected_through_its_own_application_keeps_its_uploads_with_the_bundle(client, mother,
                                                                                                    clock):
    """A part is also her application: corrected through /applications/{id}/corrections, it may name the joint
    application's uploads again, a new one joins them, and the hospital reads it."""
    materials = await materials_uploaded(client, mother)
    body = (await apply_jointly(client, mother, materials=materials)).json()
    hospital = await department_clerk(clock, "gd-wjw")
    certificate = part(body, BIRTH_CERTIFICATE)["application_id"]
    assert (await decide(client, hospital, certificate, "return", "住院分娩记录不清晰，请重新上传")).status_code == 200

    clear = await uploaded(client, mother, scanned_png())
    fixed = await client.post(f"/api/v1/applications/{certificate}/corrections", headers=mother.headers, json={
        "materials": [{"name": "父母居民身份证", "upload_ref": ref(materials, "父母居民身份证")},
                      {"name": "住院分娩记录", "upload_ref": clear}]})
    assert fixed.status_code == 200, fixed.text
    assert await owned_by_joint([clear, ref(materials, "父母居民身份证")], body["id"])
    seen = await client.get(f"{ADMIN_APPLICATIONS}/{certificate}/materials/{clear}", headers=hospital.headers())
    assert seen.status_code == 200, seen.text
