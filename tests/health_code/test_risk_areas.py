"""Travel and the risk-area list: a declared trip counts by the risk its region had on that day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import CHINA_TZ
from health_code.models import HealthStatus
from tests.factories import make_department, sign_in, valid_id_number, verify_real_name


@pytest.fixture
async def cdc(app, clock):
    return await make_department(clock, "示例省卫生健康委", ["health_admin"])


async def traveller(client, sms, sequence: str, regions: list[str]):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence=sequence))
    declared = await client.post("/api/v1/health-code/declarations", headers=citizen.headers,
                                 json={"symptoms": False, "travel_regions": regions, "truthful": True})
    assert declared.status_code == 200, declared.text
    return citizen, declared.json()


async def add_area(client, cdc, clock, region: str, level: str = "high", **extra) -> dict:
    body = {"region_code": region, "level": level, "effective_from": (clock.now() - timedelta(days=3)).isoformat(), **extra}
    reply = await client.post("/api/admin/v1/risk-areas", headers=cdc.headers(), json=body)
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_a_trip_to_a_high_risk_district_turns_yellow(client, sms, cdc, clock):
    await add_area(client, cdc, clock, "440106")
    citizen, status = await traveller(client, sms, "701", ["440106"])
    assert status["color"] == "yellow" and [r["code"] for r in status["reasons"]] == [12]


async def test_a_city_wide_area_covers_its_districts_but_not_other_cities(client, sms, cdc, clock):
    await add_area(client, cdc, clock, "440100")
    inside, status_inside = await traveller(client, sms, "702", ["440104"])
    outside, status_outside = await traveller(client, sms, "703", ["440304"])
    assert status_inside["color"] == "yellow"
    assert status_outside["color"] == "green"


async def test_adding_an_area_later_reevaluates_those_who_went_there_and_ending_it_clears_them(client, sms, cdc, clock):
    went, before = await traveller(client, sms, "704", ["330106"])
    stayed, _ = await traveller(client, sms, "705", ["440106"])
    assert before["color"] == "green"
    area = await add_area(client, cdc, clock, "330106")
    assert area["reevaluated"] == 1
    assert (await HealthStatus.get(citizen_id=went.id)).colour == "yellow"
    assert (await HealthStatus.get(citizen_id=stayed.id)).colour == "green"
    ended = await client.post(f"/api/admin/v1/risk-areas/{area['id']}/end", headers=cdc.headers())
    assert ended.status_code == 200 and ended.json()["reevaluated"] == 1
    # The trip was made while the area was listed, so it still counts until its 7 days pass.
    assert (await HealthStatus.get(citizen_id=went.id)).colour == "yellow"
    again = await client.post(f"/api/admin/v1/risk-areas/{area['id']}/end", headers=cdc.headers())
    assert again.status_code == 409 and again.json()["error"]["code"] == "RISK_AREA_ALREADY_ENDED"


async def test_a_trip_before_the_area_was_risky_does_not_count(client, sms, cdc, clock):
    citizen, _ = await traveller(client, sms, "706", ["310101"])
    await add_area(client, cdc, clock, "310101", effective_from=(clock.now() + timedelta(hours=1)).isoformat())
    assert (await HealthStatus.get(citizen_id=citizen.id)).colour == "green"


async def test_bad_input_is_refused(client, sms, cdc, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="707"))
    bad_region = await client.post("/api/v1/health-code/declarations", headers=citizen.headers,
                                   json={"symptoms": False, "travel_regions": ["广州"], "truthful": True})
    assert bad_region.status_code == 422
    bad_level = await client.post("/api/admin/v1/risk-areas", headers=cdc.headers(), json={
        "region_code": "440106", "level": "extreme", "effective_from": clock.now().isoformat()})
    assert bad_level.status_code == 422
    backwards = await client.post("/api/admin/v1/risk-areas", headers=cdc.headers(), json={
        "region_code": "440106", "level": "high", "effective_from": clock.now().isoformat(),
        "effective_to": (clock.now() - timedelta(days=1)).isoformat()})
    assert backwards.status_code == 422
    assert (await client.post("/api/admin/v1/risk-areas/ra_nope/end", headers=cdc.headers())).status_code == 404


async def declare_trips(client, citizen, trips: list[dict]):
    return await client.post("/api/v1/health-code/declarations", headers=citizen.headers,
                             json={"symptoms": False, "trips": trips, "truthful": True})


def beijing_day(clock, days_ago: int) -> str:
    return (clock.now().astimezone(CHINA_TZ) - timedelta(days=days_ago)).date().isoformat()


async def test_a_trip_declared_late_counts_by_the_list_of_the_day_it_was_made(client, sms, cdc, clock):
    # 番禺 was high-risk from six to four days ago; 李四 was there five days ago and declares it only today.
    await add_area(client, cdc, clock, "440113", effective_from=(clock.now() - timedelta(days=6)).isoformat(),
                   effective_to=(clock.now() - timedelta(days=4)).isoformat())
    late, _ = await traveller(client, sms, "708", [])
    declared = await declare_trips(client, late, [{"region_code": "440113", "visited_on": beijing_day(clock, 5)}])
    assert declared.status_code == 200, declared.text
    assert declared.json()["color"] == "yellow" and [r["code"] for r in declared.json()["reasons"]] == [12]

    # The same region declared without a day counts as visited today, when it is no longer listed.
    today, status = await traveller(client, sms, "709", ["440113"])
    assert status["color"] == "green"


async def test_a_trip_made_before_the_area_was_listed_does_not_count(client, sms, cdc, clock):
    await add_area(client, cdc, clock, "440114", effective_from=(clock.now() - timedelta(days=2)).isoformat())
    citizen, _ = await traveller(client, sms, "710", [])
    declared = await declare_trips(client, citizen, [{"region_code": "440114", "visited_on": beijing_day(clock, 5)}])
    assert declared.status_code == 200 and declared.json()["color"] == "green"


@pytest.mark.parametrize("trip, field", [
    pytest.param({"region_code": "440106", "visited_on": 1}, "trips.0.visited_on", id="tomorrow"),
    pytest.param({"region_code": "440106", "visited_on": -14}, "trips.0.visited_on", id="fifteen-days-ago"),
    pytest.param({"region_code": "番禺", "visited_on": -1}, "trips.0.region_code", id="not-a-region-code"),
    pytest.param({"region_code": "440106", "visited_on": "上周"}, "trips.0.visited_on", id="not-a-date"),
])
async def test_a_trip_outside_the_declaration_window_is_refused(client, sms, cdc, clock, trip, field):
    citizen, first = await traveller(client, sms, "711", [])
    if isinstance(trip["visited_on"], int):
        trip = {**trip, "visited_on": beijing_day(clock, -trip["visited_on"])}
    refused = await declare_trips(client, citizen, [trip])
    assert refused.status_code == 422, refused.text
    assert [f["field"] for f in refused.json()["error"]["fields"]] == [field]
    history = (await client.get("/api/v1/health-code/history", headers=citizen.headers)).json()["items"]
    assert len(history) == 1  # nothing was stored or evaluated
