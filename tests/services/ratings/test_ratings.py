"""好差评: citizens rate completed applications once; a bad rating becomes a follow-up case the
department must answer within seven days; admins see the numbers per item and per department (a
clerk only its own department's), and anyone sees an item's public summary."""

from __future__ import annotations

from datetime import timedelta

from app.audit import AuditEntry
from app.services.ratings.models import FollowUpCase, Rating

from tests.factories import SignedInCitizen, make_department, refresh_tokens, sign_in, valid_id_number, verify_real_name
from tests.services.service_factory import CASES, STATS, apply, error_code, inbox_kinds, make_item, rate

INSTANT = {"all": [{"fact": "identity_level", "op": ">=", "value": 2}]}
MARKET = "gz-market-sample"


async def market_clerk(clock):
    """A clerk of the market-regulation bureau (sample)."""
    return await make_department(clock, "广州市市场监督管理局办件窗口（示例）", ["clerk"], department_id=MARKET)


async def completed(client, citizen: SignedInCitizen, item_id: str) -> str:
    reply = await apply(client, citizen, item_id, materials=[])
    assert reply.status_code == 201 and reply.json()["status"] == "completed", reply.text
    return reply.json()["id"]


async def verified(client, sms, n: int) -> SignedInCitizen:
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="林小梅", id_number=valid_id_number(sequence=f"{n:03d}"))
    return citizen


async def test_a_bad_rating_opens_a_case_with_a_deadline_that_the_department_answers(client, sms, clock, clerk):
    market = await market_clerk(clock)
    item = await make_item(clock, name="个体工商户登记（示例）", rules=INSTANT, materials=[], department_id=MARKET)
    citizen = await verified(client, sms, 11)
    application_id = await completed(client, citizen, item.id)

    reply = await rate(client, citizen, application_id, 2, ["等待太久", "材料反复提交"], "页面一直提示网络错误")
    assert reply.status_code == 201, reply.text
    assert reply.json()["follow_up"] is True
    rating = await Rating.get(application_id=application_id)
    case = await FollowUpCase.get(rating_id=rating.id)
    assert case.department_id == "gz-market-sample" and case.status == "open"
    assert abs((case.deadline - rating.created_at) - timedelta(days=7)) < timedelta(seconds=1)
    assert (await inbox_kinds(client, citizen))[-1] == "rating_follow_up"
    assert await AuditEntry.filter(action="follow_up_case_opened", subject_id=citizen.id).count() == 1

    listed = (await client.get(CASES, headers=market.headers(), params={"department_id": MARKET})).json()
    assert [(c["id"], c["state"], c["score"], c["text"]) for c in listed["items"]] == [
        (case.id, "open", 2, "页面一直提示网络错误")]
    clock.advance(days=8)
    overdue = (await client.get(CASES, headers=market.headers(), params={"state": "overdue"})).json()["items"]
    assert [c["id"] for c in overdue] == [case.id]
    assert (await client.get(CASES, headers=market.headers(), params={"state": "open"})).json()["items"] == []

    # The civil-affairs clerk neither sees the market bureau's case nor can answer it.
    for params in ({}, {"department_id": MARKET}, {"state": "overdue"}):
        assert (await client.get(CASES, headers=clerk.headers(), params=params)).json()["items"] == []
    elsewhere = await client.post(f"{CASES}/{case.id}/answer", headers=clerk.headers(), json={"answer": "越权答复"})
    assert elsewhere.status_code == 404 and error_code(elsewhere) == "FOLLOW_UP_NOT_FOUND"

    answered = await client.post(f"{CASES}/{case.id}/answer", headers=market.headers(),
                                 json={"answer": "已修复网络问题，感谢反馈"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["state"] == "answered" and answered.json()["closed_at"]
    again = await client.post(f"{CASES}/{case.id}/answer", headers=market.headers(), json={"answer": "再次答复"})
    assert again.status_code == 409 and error_code(again) == "FOLLOW_UP_CLOSED"
    await refresh_tokens(client, citizen)  # eight days later: the phone gets a fresh access token
    inbox = (await client.get("/api/v1/notifications", headers=citizen.headers)).json()["items"]
    assert inbox[0]["kind"] == "rating_follow_up_answered" and "已修复网络问题" in inbox[0]["body"]
    missing = await client.post(f"{CASES}/fu_nope/answer", headers=market.headers(), json={"answer": "答复内容"})
    assert missing.status_code == 404


async def test_a_good_rating_opens_no_case_and_rating_twice_is_refused(client, grandma, grandma_card, clock):
    item = await make_item(clock, rules=INSTANT, materials=[])
    application_id = await completed(client, grandma, item.id)
    assert (await rate(client, grandma, application_id, 3)).status_code == 201
    twice = await rate(client, grandma, application_id, 5)
    assert twice.status_code == 409 and error_code(twice) == "RATING_EXISTS"
    assert await Rating.all().count() == 1 and await FollowUpCase.all().count() == 0


async def test_scores_and_tags_are_checked(client, grandma, grandma_card, clock):
    item = await make_item(clock, rules=INSTANT, materials=[])
    application_id = await completed(client, grandma, item.id)
    for body in ({"score": 0}, {"score": 6}, {"score": "five"}, {"score": 5, "tags": ["x" * 21]},
                 {"score": 5, "tags": ["t"] * 11}, {"score": 5, "text": "长" * 501}):
        reply = await client.post(f"/api/v1/applications/{application_id}/rating", headers=grandma.headers, json=body)
        assert reply.status_code == 422 and error_code(reply) == "VALIDATION_FAILED", body
    assert await Rating.all().count() == 0


async def test_statistics_per_item_and_department_and_the_public_summary(client, sms, clock, clerk, catalogue_admin):
    market = await make_item(clock, name="个体工商户登记（示例）", rules=INSTANT, materials=[], department_id=MARKET)
    licence = await make_item(clock, name="食品经营许可（示例）", rules=INSTANT, materials=[], department_id=MARKET)
    other = await make_item(clock, name="老年人优待证（示例）", rules=INSTANT, materials=[])
    scores = [(market, 5, ["办事快捷"]), (market, 4, ["办事快捷", "态度好"]), (market, 1, ["等待太久"]),
              (licence, 2, []), (other, 5, ["办事快捷"])]
    for n, (item, score, tags) in enumerate(scores):
        citizen = await verified(client, sms, 20 + n)
        assert (await rate(client, citizen, await completed(client, citizen, item.id), score, tags)).status_code == 201

    market_desk = await market_clerk(clock)
    by_item = await client.get(STATS, headers=market_desk.headers(), params={"item_id": market.id})
    assert by_item.status_code == 200, by_item.text
    assert by_item.json() == {
        "item_id": market.id, "department_id": None, "count": 3, "average": 3.33, "good_rate": 0.6667,
        "bad_count": 1, "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1},
        "top_tags": [{"tag": "办事快捷", "count": 2}, {"tag": "态度好", "count": 1}, {"tag": "等待太久", "count": 1}],
        "follow_up_cases": {"open": 1, "overdue": 0, "answered": 0}}
    by_department = (await client.get(STATS, headers=catalogue_admin.headers(), params={"department_id": MARKET})).json()
    assert (by_department["count"], by_department["average"], by_department["good_rate"]) == (4, 3.0, 0.5)
    assert by_department["bad_count"] == 2 and by_department["follow_up_cases"]["open"] == 2
    everything = (await client.get(STATS, headers=catalogue_admin.headers())).json()
    assert everything["count"] == 5 and everything["average"] == 3.4
    # A clerk's numbers are its own department's: all of them, and nothing of another department's.
    own = (await client.get(STATS, headers=market_desk.headers())).json()
    assert (own["count"], own["average"], own["follow_up_cases"]["open"]) == (4, 3.0, 2)
    for params in ({"item_id": market.id}, {"department_id": MARKET}):
        theirs = (await client.get(STATS, headers=clerk.headers(), params=params)).json()
        assert (theirs["count"], theirs["top_tags"], theirs["follow_up_cases"]) == (
            0, [], {"open": 0, "overdue": 0, "answered": 0}), params

    public = await client.get(f"/api/v1/services/{market.id}/ratings")
    assert public.status_code == 200
    assert public.json() == {"item_id": market.id, "count": 3, "average": 3.33, "good_rate": 0.6667,
                             "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}}
    assert "等待太久" not in public.text
    unrated = await make_item(clock, materials=[])
    assert (await client.get(f"/api/v1/services/{unrated.id}/ratings")).json()["count"] == 0
    assert (await client.get("/api/v1/services/no-such-item/ratings")).status_code == 404
    draft = await make_item(clock, status="draft", materials=[])
    assert (await client.get(f"/api/v1/services/{draft.id}/ratings")).status_code == 404


async def test_statistics_need_a_clerk_or_catalogue_role(client, clock):
    auditor = await make_department(clock, "某检验所（示例）", ["lab"])
    refused = await client.get(STATS, headers=auditor.headers())
    assert refused.status_code == 403 and error_code(refused) == "CLIENT_ROLE_REQUIRED"
    assert (await client.get(CASES, headers=auditor.headers())).status_code == 403
    assert (await client.get(STATS)).status_code == 401
