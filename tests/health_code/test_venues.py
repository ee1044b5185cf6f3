"""Venue codes: a shop registers, citizens scan in, a confirmed case turns exactly its visitors yellow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from health_code.models import HealthStatus, VenueCheckIn
from tests.factories import make_department, sign_in, valid_id_number, verify_real_name


@pytest.fixture
async def shop(app, clock):
    return await make_department(clock, "示例超市（天河店）", ["venue_owner"])


async def register_venue(client, shop, name="示例超市天河店") -> dict:
    reply = await client.post("/api/admin/v1/venues", headers=shop.headers(),
                              json={"name": name, "address": "示例市天河区示例路 1 号", "region_code": "440106"})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def citizen_with_code(client, sms, sequence: str):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence=sequence))
    return citizen


async def test_a_citizen_checks_in_once_within_five_minutes(client, sms, shop, clock):
    venue = await register_venue(client, shop)
    assert venue["venue_code"].startswith("GDVC1:")
    citizen = await sign_in(client, sms)
    first = await client.post("/api/v1/venue-check-ins", headers=citizen.headers, json={"venue_code": venue["venue_code"]})
    assert first.status_code == 201 and first.json()["venue_name"] == "示例超市天河店"
    clock.advance(120)
    again = await client.post("/api/v1/venue-check-ins", headers=citizen.headers, json={"venue_code": venue["venue_code"]})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    clock.advance(301)
    later = await client.post("/api/v1/venue-check-ins", headers=citizen.headers, json={"venue_code": venue["venue_code"]})
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    assert await VenueCheckIn.filter(citizen_id=citizen.id).count() == 2


async def test_a_forged_or_foreign_code_is_refused(client, sms, shop):
    venue = await register_venue(client, shop)
    citizen = await sign_in(client, sms)
    code = venue["venue_code"]
    for bad, reason in ((code.replace("GDVC1:", "GDHC1:"), "BAD_PREFIX"), ("GDVC1:%%%%", "BAD_ENCODING"),
                        (code[:-4] + ("0000" if not code.endswith("0000") else "1111"), None)):
        reply = await client.post("/api/v1/venue-check-ins", headers=citizen.headers, json={"venue_code": bad})
        assert reply.status_code == 422
        assert reply.json()["error"]["code"] == "INVALID_VENUE_CODE"
        if reason:
            assert reply.json()["error"]["reason"] == reason
    assert await VenueCheckIn.filter(citizen_id=citizen.id).count() == 0


async def test_an_exposure_window_turns_exactly_its_visitors_yellow_and_tells_them(client, sms, shop, cdc, clock):
    venue = await register_venue(client, shop)
    other_venue = await register_venue(client, shop, name="示例书店")
    before = await citizen_with_code(client, sms, "502")
    assert (await client.post("/api/v1/venue-check-ins", headers=before.headers,
                              json={"venue_code": venue["venue_code"]})).status_code == 201
    clock.advance(hours=3)
    window_start = clock.now()
    inside, elsewhere = [await citizen_with_code(client, sms, s) for s in ("501", "503")]
    assert (await client.post("/api/v1/venue-check-ins", headers=inside.headers,
                              json={"venue_code": venue["venue_code"]})).status_code == 201
    assert (await client.post("/api/v1/venue-check-ins", headers=elsewhere.headers,
                              json={"venue_code": other_venue["venue_code"]})).status_code == 201
    clock.advance(minutes=10)
    marked = await client.post(f"/api/admin/v1/venues/{venue['id']}/exposures", headers=cdc.headers(),
                               json={"starts_at": window_start.isoformat(), "ends_at": clock.now().isoformat()})
    assert marked.status_code == 201 and marked.json() == {"affected": 1}

    assert (await HealthStatus.get(citizen_id=inside.id)).colour == "yellow"
    for untouched in (before, elsewhere):
        status = await HealthStatus.get_or_none(citizen_id=untouched.id)
        assert status is None or status.colour == "green"
    code = (await client.get("/api/v1/health-code", headers=inside.headers)).json()
    assert code["color"] == "yellow" and code["reasons"][0]["code"] == 11
    kinds = [m["kind"] for m in (await client.get("/api/v1/notifications", headers=inside.headers)).json()["items"]]
    assert "health_code_yellow" in kinds


async def test_exposure_errors(client, shop, cdc, clock):
    venue = await register_venue(client, shop)
    now = clock.now()
    backwards = await client.post(f"/api/admin/v1/venues/{venue['id']}/exposures", headers=cdc.headers(),
                                  json={"starts_at": now.isoformat(), "ends_at": (now - timedelta(hours=1)).isoformat()})
    assert backwards.status_code == 422
    unknown = await client.post("/api/admin/v1/venues/ven_nope/exposures", headers=cdc.headers(),
                                json={"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": now.isoformat()})
    assert unknown.status_code == 404
    wrong_role = await client.post(f"/api/admin/v1/venues/{venue['id']}/exposures", headers=shop.headers(),
                                   json={"starts_at": (now - timedelta(hours=1)).isoformat(), "ends_at": now.isoformat()})
    assert wrong_role.status_code == 403
    bad_region = await client.post("/api/admin/v1/venues", headers=shop.headers(),
                                   json={"name": "某店", "address": "某路 1 号", "region_code": "44"})
    assert bad_region.status_code == 422


async def test_the_organisation_gets_a_printable_poster_that_scans_to_its_code(client, shop, clock):
    import io

    import zxingcpp
    from PIL import Image

    venue = await register_venue(client, shop)
    poster = await client.get(f"/api/admin/v1/venues/{venue['id']}/poster.png", headers=shop.headers())
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/png"
    assert zxingcpp.read_barcode(Image.open(io.BytesIO(poster.content))).text == venue["venue_code"]
    other_shop = await make_department(clock, "另一家示例商店", ["venue_owner"])
    foreign = await client.get(f"/api/admin/v1/venues/{venue['id']}/poster.png", headers=other_shop.headers())
    assert foreign.status_code == 404
