"""An upheld appeal (申诉通过) overrides only the evidence it judged.

A citizen who declared symptoms appeals and a health administrator upholds it: the code is green. Then
something new arrives (a positive test, a declared confirmed case, a venue exposure, a trip to a region
newly on the risk list): it is judged as usual and wins at once, the override ends for good, the citizen
is told, and the appeal joins the administrators' list of ended overrides.
"""

from __future__ import annotations

from datetime import timedelta


from app.audit import AuditEntry
from health_code.models import Appeal
from health_code.jobs import reevaluate_due
from tests.factories import make_department, refresh_tokens, sign_in, valid_id_number, verify_real_name

CODE = "/api/v1/health-code"
DECLARE = "/api/v1/health-code/declarations"


async def upheld_after_symptoms(client, sms, cdc, sequence: str, travel_regions: tuple[str, ...] = ()):
    """A citizen declares symptoms (yellow), appeals, and a health administrator upholds it."""
    citizen = await sign_in(client, sms)
    id_number = valid_id_number(sequence=sequence)
    await verify_real_name(client, citizen, id_number=id_number)
    declared = await client.post(DECLARE, headers=citizen.headers, json={
        "symptoms": True, "confirmed_case": False, "travel_regions": list(travel_regions), "truthful": True})
    assert declared.json()["color"] == "yellow"
    appeal = (await client.post("/api/v1/health-code/appeals", headers=citizen.headers,
                                json={"reason": "只是普通感冒，已就医排除"})).json()
    listed = (await client.get("/api/admin/v1/appeals", headers=cdc.headers())).json()["items"]
    assert [(a["id"], a["disputed_reasons"]) for a in listed] == [(appeal["id"], [13])]  # what it disputes
    decided = await client.post(f"/api/admin/v1/appeals/{appeal['id']}/decision", headers=cdc.headers(),
                                json={"decision": "approve", "note": "经核实为普通感冒", "override_hours": 336})
    assert decided.status_code == 200
    code = (await client.get(CODE, headers=citizen.headers)).json()
    assert code["color"] == "green" and [r["code"] for r in code["reasons"]] == [4]
    return citizen, id_number, appeal["id"], code["payload"]


async def assert_override_ended(client, citizen, cdc, appeal_id: str, colour: str, reason_code: int):
    code = (await client.get(CODE, headers=citizen.headers)).json()
    assert code["color"] == colour and reason_code in [r["code"] for r in code["reasons"]]
    mine = (await client.get("/api/v1/health-code/appeals", headers=citizen.headers)).json()["items"]
    assert mine[0]["id"] == appeal_id and mine[0]["override_ended_at"] is not None
    kinds = [m["kind"] for m in (await client.get("/api/v1/notifications?limit=100",
                                                  headers=citizen.headers)).json()["items"]]
    assert "appeal_override_ended" in kinds and f"health_code_{colour}" in kinds
    ended = (await client.get("/api/admin/v1/appeals?state=override_ended", headers=cdc.headers())).json()["items"]
    assert [(a["id"], a["ended_by_reason"]) for a in ended] == [(appeal_id, reason_code)]
    assert await AuditEntry.filter(subject_id=citizen.id, action="appeal_override_ended").count() == 1


async def test_a_positive_test_after_an_upheld_appeal_turns_the_code_red_at_once(client, sms, lab, cdc, gate, clock):
    citizen, id_number, appeal_id, green_payload = await upheld_after_symptoms(client, sms, cdc, "801")
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-801"})
    assert posted.json()["color"] == "red"
    await assert_override_ended(client, citizen, cdc, appeal_id, "red", 21)
    fresh = (await client.get(CODE, headers=citizen.headers)).json()["payload"]
    checked = (await client.post("/api/admin/v1/health-code/verifications", headers=gate.headers(),
                                 json={"payload": fresh, "purpose": "进站查验"})).json()
    assert checked["valid"] is True and checked["color"] == "red"


async def test_a_declared_confirmed_case_ends_the_override(client, sms, cdc, clock):
    citizen, _, appeal_id, _ = await upheld_after_symptoms(client, sms, cdc, "802")
    clock.advance(minutes=5)
    declared = await client.post(DECLARE, headers=citizen.headers, json={
        "symptoms": False, "confirmed_case": True, "travel_regions": [], "truthful": True})
    assert declared.json()["color"] == "red"
    await assert_override_ended(client, citizen, cdc, appeal_id, "red", 22)


async def test_a_venue_exposure_after_the_decision_ends_the_override(client, sms, cdc, clock, app):
    shop = await make_department(clock, "示例超市（天河店）", ["venue_owner"])
    venue = (await client.post("/api/admin/v1/venues", headers=shop.headers(), json={
        "name": "示例超市天河店", "address": "示例市天河区示例路 1 号", "region_code": "440106"})).json()
    citizen, _, appeal_id, _ = await upheld_after_symptoms(client, sms, cdc, "803")
    start = clock.now()
    assert (await client.post("/api/v1/venue-check-ins", headers=citizen.headers,
                              json={"venue_code": venue["venue_code"]})).status_code == 201
    clock.advance(minutes=10)
    marked = await client.post(f"/api/admin/v1/venues/{venue['id']}/exposures", headers=cdc.headers(),
                               json={"starts_at": start.isoformat(), "ends_at": clock.now().isoformat()})
    assert marked.json() == {"affected": 1}
    await assert_override_ended(client, citizen, cdc, appeal_id, "yellow", 11)


async def test_a_region_newly_on_the_risk_list_ends_the_override(client, sms, cdc, clock):
    citizen, _, appeal_id, _ = await upheld_after_symptoms(client, sms, cdc, "804", travel_regions=("330106",))
    area = await client.post("/api/admin/v1/risk-areas", headers=cdc.headers(), json={
        "region_code": "330106", "level": "high", "effective_from": (clock.now() - timedelta(days=1)).isoformat()})
    assert area.status_code == 201 and area.json()["reevaluated"] == 1
    await assert_override_ended(client, citizen, cdc, appeal_id, "yellow", 12)


async def test_green_news_and_time_do_not_end_the_override(app, client, sms, lab, cdc, clock):
    citizen, id_number, appeal_id, _ = await upheld_after_symptoms(client, sms, cdc, "805")
    await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "negative", "sampled_at": clock.now().isoformat(), "sample_id": "S-805"})
    clock.advance(hours=12)
    await reevaluate_due(app.ctx.services.health)
    code = (await client.get(CODE, headers=(await refresh_tokens(client, citizen)).headers)).json()
    assert code["color"] == "green" and [r["code"] for r in code["reasons"]] == [4]
    assert (await Appeal.get(id=appeal_id)).override_ended_at is None
    assert (await client.get("/api/admin/v1/appeals?state=override_ended", headers=cdc.headers())).json()["items"] == []


async def test_an_ended_override_stays_ended_and_a_new_appeal_judges_the_new_evidence(client, sms, lab, cdc, clock):
    citizen, id_number, first_id, _ = await upheld_after_symptoms(client, sms, cdc, "806")
    await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-806"})
    second = (await client.post("/api/v1/health-code/appeals", headers=citizen.headers,
                                json={"reason": "阳性结果为样本混淆，已复检"})).json()
    listed = (await client.get("/api/admin/v1/appeals", headers=cdc.headers())).json()["items"]
    assert [(a["id"], a["disputed_reasons"]) for a in listed] == [(second["id"], [13, 21])]
    await client.post(f"/api/admin/v1/appeals/{second['id']}/decision", headers=cdc.headers(),
                      json={"decision": "approve", "note": "复检阴性，原结果为样本混淆", "override_hours": 72})
    code = (await client.get(CODE, headers=citizen.headers)).json()
    assert code["color"] == "green" and [r["code"] for r in code["reasons"]] == [4]
    first = await Appeal.get(id=first_id)
    assert first.override_ended_at is not None and first.ended_by == "positive_test"


async def listings_in_access_log(client, citizen) -> list[dict]:
    log = (await client.get("/api/v1/me/access-log?limit=100", headers=citizen.headers)).json()["items"]
    return [item for item in log if item["action"] == "appeal_listed"]


async def test_every_citizen_an_appeal_list_shows_sees_that_read(client, sms, lab, cdc, clock):
    citizen, id_number, appeal_id, _ = await upheld_after_symptoms(client, sms, cdc, "808")
    other = await sign_in(client, sms)
    await verify_real_name(client, other, id_number=valid_id_number(sequence="809"))
    await client.post(DECLARE, headers=other.headers, json={
        "symptoms": True, "confirmed_case": False, "travel_regions": [], "truthful": True})
    second = (await client.post("/api/v1/health-code/appeals", headers=other.headers,
                                json={"reason": "发热已退，请复核"})).json()
    assert len(await listings_in_access_log(client, citizen)) == 1  # the listing before the decision
    listed = (await client.get("/api/admin/v1/appeals", headers=cdc.headers())).json()["items"]
    assert [a["id"] for a in listed] == [second["id"]]
    [entry] = await listings_in_access_log(client, other)
    assert entry["actor"] == "示例市疾控中心" and entry["actor_type"] == "department"
    assert len(await listings_in_access_log(client, citizen)) == 1  # not shown this time: no new entry

    await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": "S-808"})
    ended = (await client.get("/api/admin/v1/appeals?state=override_ended", headers=cdc.headers())).json()["items"]
    assert [a["id"] for a in ended] == [appeal_id]
    assert len(await listings_in_access_log(client, citizen)) == 2
    assert len(await listings_in_access_log(client, other)) == 1


async def test_the_appeal_lists_refuse_bad_arguments(client, sms, cdc, clock):
    bad = await client.get("/api/admin/v1/appeals?state=everything", headers=cdc.headers())
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "VALIDATION_FAILED"
    too_many = await client.get("/api/admin/v1/appeals?limit=500", headers=cdc.headers())
    assert too_many.status_code == 422


async def test_an_appeal_upheld_before_appeals_named_their_evidence_judges_only_what_was_recorded_then(
        client, sms, lab, cdc, clock):
    citizen, id_number, appeal_id, _ = await upheld_after_symptoms(client, sms, cdc, "810")
    await Appeal.filter(id=appeal_id).update(judged=None)  # as stored by the release before
    sampled_before_the_appeal = clock.now() - timedelta(hours=2)
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": sampled_before_the_appeal.isoformat(),
        "sample_id": "S-810"})
    assert posted.json()["color"] == "red"
    await assert_override_ended(client, citizen, cdc, appeal_id, "red", 21)
