"""The whole story: green → a lab posts a positive test → red → appeal → review → green again."""

from __future__ import annotations


from app.audit import AuditEntry
from health_code.jobs import reevaluate_due
from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name


async def turned_red(client, sms, lab, clock, sequence: str):
    citizen = await sign_in(client, sms)
    id_number = valid_id_number(sequence=sequence)
    await verify_real_name(client, citizen, id_number=id_number)
    assert (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["color"] == "green"
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-9"})
    assert posted.json()["color"] == "red"
    return citizen


async def test_rejected_appeal_then_back_to_green_after_the_quiet_period(app, client, sms, lab, cdc, clock):
    citizen = await turned_red(client, sms, lab, clock, "601")
    appeal = await client.post("/api/v1/health-code/appeals", headers=citizen.headers, json={"reason": "我那天不在场，检测有误"})
    assert appeal.status_code == 201 and appeal.json()["status"] == "pending" and appeal.json()["color"] == "red"
    again = await client.post("/api/v1/health-code/appeals", headers=citizen.headers, json={"reason": "再次申诉一下"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "APPEAL_PENDING"

    pending = (await client.get("/api/admin/v1/appeals", headers=cdc.headers())).json()["items"]
    assert [p["id"] for p in pending] == [appeal.json()["id"]]
    decided = await client.post(f"/api/admin/v1/appeals/{appeal.json()['id']}/decision", headers=cdc.headers(),
                                json={"decision": "reject", "note": "检测机构复核结果仍为阳性"})
    assert decided.status_code == 200 and decided.json()["status"] == "rejected"
    twice = await client.post(f"/api/admin/v1/appeals/{appeal.json()['id']}/decision", headers=cdc.headers(),
                              json={"decision": "approve", "note": "改判"})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "APPEAL_ALREADY_DECIDED"
    assert (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["color"] == "red"

    clock.advance(days=14, seconds=1)
    await reevaluate_due(app.ctx.services.health)
    headers = (await refresh_tokens(client, citizen)).headers
    assert (await client.get("/api/v1/health-code", headers=headers)).json()["color"] == "green"
    history = (await client.get("/api/v1/health-code/history", headers=headers)).json()["items"]
    assert [h["color"] for h in history] == ["green", "red", "green"]
    kinds = [m["kind"] for m in (await client.get("/api/v1/notifications?limit=100", headers=headers)).json()["items"]]
    for kind in ("health_code_red", "appeal_received", "appeal_rejected", "health_code_green"):
        assert kind in kinds
    actions = await AuditEntry.filter(subject_id=citizen.id).values_list("action", flat=True)
    for action in ("test_result_posted", "appeal_submitted", "appeal_rejected"):
        assert action in actions
    log = (await client.get("/api/v1/me/access-log", headers=headers)).json()["items"]
    assert any(item["action"] == "appeal_rejected" and item["actor"] == "示例市疾控中心" for item in log)


async def test_an_upheld_appeal_turns_the_code_green_until_the_override_ends(app, client, sms, lab, cdc, clock):
    citizen = await turned_red(client, sms, lab, clock, "602")
    appeal = (await client.post("/api/v1/health-code/appeals", headers=citizen.headers,
                                json={"reason": "同名同姓被误判，请核实"})).json()
    decided = await client.post(f"/api/admin/v1/appeals/{appeal['id']}/decision", headers=cdc.headers(),
                                json={"decision": "approve", "note": "经核实为信息错误", "override_hours": 48})
    assert decided.status_code == 200 and decided.json()["override_until"] is not None
    code = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()
    assert code["color"] == "green" and [r["code"] for r in code["reasons"]] == [4]
    mine = (await client.get("/api/v1/health-code/appeals", headers=citizen.headers)).json()["items"]
    assert mine[0]["status"] == "approved" and mine[0]["review_note"] == "经核实为信息错误"

    clock.advance(hours=48, seconds=1)  # the override ends while the positive test still counts
    await reevaluate_due(app.ctx.services.health)
    headers = (await refresh_tokens(client, citizen)).headers
    assert (await client.get("/api/v1/health-code", headers=headers)).json()["color"] == "red"


async def test_a_green_citizen_has_nothing_to_appeal_and_others_cannot_decide(client, sms, lab, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="603"))
    reply = await client.post("/api/v1/health-code/appeals", headers=citizen.headers, json={"reason": "想试试申诉功能"})
    assert reply.status_code == 409 and reply.json()["error"]["code"] == "NOTHING_TO_APPEAL"
    red = await turned_red(client, sms, lab, clock, "604")
    appeal = (await client.post("/api/v1/health-code/appeals", headers=red.headers, json={"reason": "检测有误请复核"})).json()
    by_lab = await client.post(f"/api/admin/v1/appeals/{appeal['id']}/decision", headers=lab.headers(),
                               json={"decision": "approve", "note": "实验室无权"})
    assert by_lab.status_code == 403
    assert (await client.get("/api/v1/health-code/appeals", headers=citizen.headers)).json()["items"] == []
