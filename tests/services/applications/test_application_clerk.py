"""A clerk at the civil-affairs bureau works the queue: claims an application, returns it for a
missing document, gets it back corrected, approves and completes it. The citizen is told at every
step and sees in her access log that the clerk read her application."""

from __future__ import annotations

from app.audit import AuditEntry
from app.services.applications.models import Application

from tests.factories import make_department
from tests.uploads.upload_factory import small_pdf, uploaded
from tests.services.service_factory import (ACCESS_LOG, ADMIN_APPLICATIONS, APPLICATIONS, CIVIL_AFFAIRS, apply, complete,
                                            decide, error_code, inbox_kinds, make_item, rate)


async def reviewed_item(clock):
    """An item without 秒批 rules: every application goes to a clerk."""
    return await make_item(clock, name="广州市居住证签注（示例）", rules=None)


async def clerk_lists_and_opens(client, clerk, grandma, submitted: dict) -> None:
    """The queue shows a masked name and no form; the opened application shows the form and a masked id number,
    and both readings are in the citizen's access log."""
    queue = await client.get(ADMIN_APPLICATIONS, headers=clerk.headers())
    assert queue.status_code == 200, queue.text
    [listed] = queue.json()["items"]
    assert listed["id"] == submitted["id"] and listed["citizen_name_masked"] == "**英"
    assert "form" not in listed and "王秀英" not in queue.text

    opened = await client.get(f"{ADMIN_APPLICATIONS}/{submitted['id']}", headers=clerk.headers())
    assert opened.status_code == 200
    assert opened.json()["citizen_id_number_masked"].startswith("4401") and "*" in opened.json()["citizen_id_number_masked"]
    assert opened.json()["form"]["申请原因"] == "办理优待证"
    log = (await client.get(ACCESS_LOG, headers=grandma.headers)).json()["items"]
    assert [(e["actor"], e["actor_type"], e["action"]) for e in log] == [
        ("广州市民政局办件窗口（示例）", "admin", "application_read"),
        ("广州市民政局办件窗口（示例）", "admin", "application_listed")]
    assert "form" in log[0]["attributes"]


async def clerk_claims_and_returns(client, clerk, grandma, submitted: dict) -> None:
    claimed = await client.post(f"{ADMIN_APPLICATIONS}/{submitted['id']}/claim", headers=clerk.headers())
    assert claimed.status_code == 200 and claimed.json()["assigned_to"] == clerk.id

    returned = await decide(client, clerk, submitted["id"], "return", "请补充居住证明")
    assert returned.status_code == 200 and returned.json()["status"] == "returned"
    message = (await client.get("/api/v1/notifications", headers=grandma.headers)).json()["items"][0]
    assert message["kind"] == "application_returned" and "请补充居住证明" in message["body"]


async def citizen_corrects(client, grandma, submitted: dict) -> None:
    corrected = await client.post(f"{APPLICATIONS}/{submitted['id']}/corrections", headers=grandma.headers, json={
        "materials": [{"name": "近期免冠照片", "upload_ref": submitted["materials"][-1]["upload_ref"]},  # hers again
                      {"name": "居住证明", "upload_ref": await uploaded(client, grandma, small_pdf())}],
        "note": "已补充"})
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status"] == "under_review"
    assert [m["name"] for m in corrected.json()["materials"]] == ["社会保障卡", "近期免冠照片", "居住证明"]


async def clerk_approves_and_completes(client, clerk, grandma, submitted: dict) -> None:
    approved = await decide(client, clerk, submitted["id"], "approve")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert (await rate(client, grandma, submitted["id"], 5)).status_code == 409  # not completed yet
    done = await complete(client, clerk, submitted["id"])
    assert done.status_code == 200 and done.json()["status"] == "completed"


async def assert_every_step_told_recorded_and_audited(client, clerk, grandma, submitted: dict) -> None:
    assert await inbox_kinds(client, grandma) == ["application_submitted", "application_returned",
                                                  "application_corrected", "application_approved",
                                                  "application_completed"]
    mine = (await client.get(f"{APPLICATIONS}/{submitted['id']}", headers=grandma.headers)).json()
    assert [(e["from_status"], e["to_status"], e["actor_type"]) for e in mine["events"]] == [
        (None, "submitted", "citizen"), ("submitted", "accepted", "system"), ("accepted", "under_review", "system"),
        ("under_review", "returned", "admin"), ("returned", "under_review", "citizen"),
        ("under_review", "approved", "admin"), ("approved", "completed", "admin")]
    audited = await AuditEntry.filter(subject_id=grandma.id, category="event",
                                      action__startswith="application_").values_list("action", "actor")
    assert audited[-5:] == [("application_claimed", clerk.id), ("application_returned", clerk.id),
                            ("application_under_review", grandma.id), ("application_approved", clerk.id),
                            ("application_completed", clerk.id)]


async def test_return_correct_approve_complete_and_rate(client, clock, clerk, grandma, grandma_card):
    item = await reviewed_item(clock)
    submitted = (await apply(client, grandma, item.id)).json()
    assert submitted["status"] == "under_review"

    await clerk_lists_and_opens(client, clerk, grandma, submitted)
    await clerk_claims_and_returns(client, clerk, grandma, submitted)
    await citizen_corrects(client, grandma, submitted)
    await clerk_approves_and_completes(client, clerk, grandma, submitted)
    await assert_every_step_told_recorded_and_audited(client, clerk, grandma, submitted)
    assert (await rate(client, grandma, submitted["id"], 4)).status_code == 201


async def test_a_rejection_needs_a_reason_and_ends_the_application(client, clock, clerk, grandma, grandma_card):
    item = await reviewed_item(clock)
    submitted = (await apply(client, grandma, item.id)).json()
    no_reason = await decide(client, clerk, submitted["id"], "reject")
    assert no_reason.status_code == 422 and error_code(no_reason) == "VALIDATION_FAILED"
    rejected = await decide(client, clerk, submitted["id"], "reject", "申请人不符合条件")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert (await inbox_kinds(client, grandma))[-1] == "application_rejected"
    again = await decide(client, clerk, submitted["id"], "approve")
    assert again.status_code == 409 and error_code(again) == "APPLICATION_STATE_CONFLICT"
    assert again.json()["error"]["status"] == "rejected" and "不予受理" in again.json()["error"]["message"]
    assert (await rate(client, grandma, submitted["id"], 1)).status_code == 409
    # A rejected application does not count against the next one.
    assert await Application.filter(status="rejected").count() == 1


async def test_illegal_steps_are_refused(client, clock, clerk, grandma, grandma_card):
    instant = await make_item(clock, rules={"all": [{"fact": "identity_level", "op": ">=", "value": 2}]})
    done = (await apply(client, grandma, instant.id)).json()
    assert done["status"] == "completed"
    for step in (decide(client, clerk, done["id"], "approve"), complete(client, clerk, done["id"]),
                 client.post(f"{ADMIN_APPLICATIONS}/{done['id']}/claim", headers=clerk.headers())):
        reply = await step
        assert reply.status_code == 409 and error_code(reply) == "APPLICATION_STATE_CONFLICT"

    reviewed = (await apply(client, grandma, (await reviewed_item(clock)).id)).json()
    not_returned = await client.post(f"{APPLICATIONS}/{reviewed['id']}/corrections", headers=grandma.headers,
                                     json={"form": {"申请原因": "补正"}})
    assert not_returned.status_code == 409 and error_code(not_returned) == "APPLICATION_STATE_CONFLICT"
    not_approved = await complete(client, clerk, reviewed["id"])
    assert not_approved.status_code == 409
    unknown = await decide(client, clerk, "ap_nope", "approve")
    assert unknown.status_code == 404 and error_code(unknown) == "APPLICATION_NOT_FOUND"
    bad = await client.post(f"{ADMIN_APPLICATIONS}/{reviewed['id']}/decision", headers=clerk.headers(),
                            json={"decision": "maybe"})
    assert bad.status_code == 422


async def test_a_claimed_application_is_decided_only_by_its_clerk(client, clock, clerk, grandma, grandma_card):
    other = await make_department(clock, "广州市民政局另一窗口（示例）", ["clerk"], department_id=CIVIL_AFFAIRS)
    submitted = (await apply(client, grandma, (await reviewed_item(clock)).id)).json()
    assert (await client.post(f"{ADMIN_APPLICATIONS}/{submitted['id']}/claim", headers=clerk.headers())).status_code == 200
    taken = await client.post(f"{ADMIN_APPLICATIONS}/{submitted['id']}/claim", headers=other.headers())
    assert taken.status_code == 409 and error_code(taken) == "APPLICATION_ASSIGNED_ELSEWHERE"
    refused = await decide(client, other, submitted["id"], "approve")
    assert refused.status_code == 409 and error_code(refused) == "APPLICATION_ASSIGNED_ELSEWHERE"
    assert (await decide(client, clerk, submitted["id"], "approve")).status_code == 200


async def test_the_queue_is_oldest_first_and_filters_by_status_and_item(client, clock, clerk, grandma, young,
                                                                         grandma_card):
    item = await reviewed_item(clock)
    other_item = await make_item(clock, name="另一事项（示例）", materials=[])
    first = (await apply(client, grandma, item.id)).json()
    clock.advance(60)
    second = (await apply(client, young, other_item.id, materials=[])).json()
    queue = (await client.get(ADMIN_APPLICATIONS, headers=clerk.headers())).json()["items"]
    assert [a["id"] for a in queue] == [first["id"], second["id"]]
    only = (await client.get(ADMIN_APPLICATIONS, headers=clerk.headers(), params={"item_id": other_item.id})).json()
    assert [a["id"] for a in only["items"]] == [second["id"]]
    await decide(client, clerk, first["id"], "return", "请补正")
    returned = (await client.get(ADMIN_APPLICATIONS, headers=clerk.headers(), params={"status": "returned"})).json()
    assert [a["id"] for a in returned["items"]] == [first["id"]]
    bad = await client.get(ADMIN_APPLICATIONS, headers=clerk.headers(), params={"status": "lost"})
    assert bad.status_code == 422
    bad_limit = await client.get(ADMIN_APPLICATIONS, headers=clerk.headers(), params={"limit": "0"})
    assert bad_limit.status_code == 422


async def test_only_clerks_work_the_queue(client, clock, catalogue_admin, grandma):
    for path in (ADMIN_APPLICATIONS, f"{ADMIN_APPLICATIONS}/ap_x"):
        refused = await client.get(path, headers=catalogue_admin.headers())
        assert refused.status_code == 403 and error_code(refused) == "CLIENT_ROLE_REQUIRED"
    refused = await client.post(f"{ADMIN_APPLICATIONS}/ap_x/decision", headers=catalogue_admin.headers(),
                                json={"decision": "approve"})
    assert refused.status_code == 403
    as_citizen = await client.get(ADMIN_APPLICATIONS, headers=grandma.headers)
    assert as_citizen.status_code == 401
    assert (await client.get(ADMIN_APPLICATIONS)).status_code == 401


async def test_corrections_are_checked_like_a_submission_and_only_by_the_applicant(client, clock, clerk, grandma,
                                                                                    grandma_card, young):
    submitted = (await apply(client, grandma, (await reviewed_item(clock)).id)).json()
    await decide(client, clerk, submitted["id"], "return", "照片不清晰")
    path = f"{APPLICATIONS}/{submitted['id']}/corrections"
    missing = await client.post(path, headers=grandma.headers, json={"materials": [{"name": "居住证明", "upload_ref": "u"}]})
    assert missing.status_code == 422 and missing.json()["error"]["missing"] == ["近期免冠照片"]
    assert (await client.post(path, headers=young.headers, json={"form": {}})).status_code == 404
    assert (await Application.get(id=submitted["id"])).status == "returned"
    fixed = await client.post(path, headers=grandma.headers, json={"form": {"申请原因": "补交清晰照片"}})
    assert fixed.status_code == 200 and fixed.json()["form"] == {"申请原因": "补交清晰照片"}
    assert fixed.json()["events"][-1]["note"] == "补正材料"


async def test_a_clerk_works_only_its_own_departments_applications(client, clock, clerk, grandma, grandma_card, young):
    """The market bureau's clerk never learns of the civil-affairs bureau's applications: each answers
    404 as an unknown one would, and none is listed, read into an access log, claimed or decided."""
    market = await make_department(clock, "广州市市场监督管理局办件窗口（示例）", ["clerk"], department_id="gz-market-sample")
    licence = await make_item(clock, name="个体工商户登记（示例）", materials=[], department_id="gz-market-sample")
    theirs = (await apply(client, grandma, (await reviewed_item(clock)).id)).json()
    own = (await apply(client, young, licence.id, materials=[])).json()

    for params in ({}, {"item_id": theirs["item_id"]}):
        queue = await client.get(ADMIN_APPLICATIONS, headers=market.headers(), params=params)
        assert queue.status_code == 200 and theirs["id"] not in queue.text, params
    assert [a["id"] for a in (await client.get(ADMIN_APPLICATIONS, headers=market.headers())).json()["items"]] == [own["id"]]

    unknown = await client.get(f"{ADMIN_APPLICATIONS}/ap_nope", headers=market.headers())
    path = f"{ADMIN_APPLICATIONS}/{theirs['id']}"
    for reply in (await client.get(path, headers=market.headers()),
                  await client.post(f"{path}/claim", headers=market.headers()),
                  await decide(client, market, theirs["id"], "approve"),
                  await complete(client, market, theirs["id"])):
        assert reply.status_code == 404 and error_code(reply) == "APPLICATION_NOT_FOUND", reply.text
        assert reply.json()["error"]["message"] == unknown.json()["error"]["message"]

    assert (await client.get(ACCESS_LOG, headers=grandma.headers)).json()["items"] == []
    mine = (await client.get(f"{APPLICATIONS}/{theirs['id']}", headers=grandma.headers)).json()
    assert mine["status"] == "under_review" and len(mine["events"]) == 3
    claimed = await client.post(f"{path}/claim", headers=clerk.headers())
    assert claimed.status_code == 200 and claimed.json()["assigned_to"] == clerk.id
    assert [a["id"] for a in (await client.get(ADMIN_APPLICATIONS, headers=clerk.headers())).json()["items"]] == [
        theirs["id"]]


async def test_a_clerk_bound_to_no_department_is_refused_saying_so(client, clock, grandma, grandma_card):
    """A clerk registered without a department sees nothing: every clerk route says what is missing."""
    unbound = await make_department(clock, "未登记部门的窗口（示例）", ["clerk"])
    submitted = (await apply(client, grandma, (await reviewed_item(clock)).id)).json()
    path = f"{ADMIN_APPLICATIONS}/{submitted['id']}"
    for reply in (await client.get(ADMIN_APPLICATIONS, headers=unbound.headers()),
                  await client.get(path, headers=unbound.headers()),
                  await client.post(f"{path}/claim", headers=unbound.headers()),
                  await decide(client, unbound, submitted["id"], "approve"),
                  await client.get(f"/api/admin/v1/services/{submitted['item_id']}/approval-rules", headers=unbound.headers()),
                  await client.get("/api/admin/v1/ratings/stats", headers=unbound.headers()),
                  await client.get("/api/admin/v1/follow-up-cases", headers=unbound.headers())):
        assert reply.status_code == 403 and error_code(reply) == "CLIENT_DEPARTMENT_REQUIRED", reply.text
        assert "部门" in reply.json()["error"]["message"]
    english = await client.get(ADMIN_APPLICATIONS, headers={**unbound.headers(), "Accept-Language": "en"})
    assert "department" in english.json()["error"]["message"]
    assert (await client.get(ACCESS_LOG, headers=grandma.headers)).json()["items"] == []
