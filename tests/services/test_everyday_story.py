"""The everyday story end to end: 王秀英 searches `sbk`, finds the 社保卡 services, books a visit,
applies online for a password reset that is approved in seconds (秒批) with the card in her
wallet attached, is told so, rates it — and her home screen keeps working while the provident-fund
system is down."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import make_department
from tests.services.service_factory import apply, inbox_kinds, rate
from tests.uploads.upload_factory import scanned_png, uploaded

RULES = {"all": [{"fact": "identity_level", "op": ">=", "value": 2},
                 {"fact": "holds_licence", "value": "social_security_card"},
                 {"fact": "prior_applications", "op": "==", "value": 0}]}


async def test_search_book_apply_with_the_wallet_card_rate_and_a_home_screen_that_keeps_working(
        app, client, clock, grandma, grandma_card, catalogue_admin):
    found = await client.get("/api/v1/services/search", params={"q": "sbk"})
    assert found.status_code == 200
    names = [item["name"] for item in found.json()["items"]]
    assert names and all("社会保障卡" in name or "社保卡" in name for name in names[:3])
    reset = next(item for item in found.json()["items"] if item["name"] == "社会保障卡密码重置")

    # A visit to the office for the new card, the day after tomorrow.
    office = await make_department(clock, "天河区政务服务中心（示例）", ["office"])
    starts = (clock.now() + timedelta(days=2)).replace(hour=2, minute=0, second=0, microsecond=0)
    slot = await client.post("/api/admin/v1/appointment-slots", headers=office.headers(), json={
        "item_id": "gd-hrss-001", "office": "天河区政务服务中心（示例）", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=30)).isoformat(), "capacity": 5})
    assert slot.status_code == 201, slot.text
    booked = await client.post("/api/v1/appointments", headers=grandma.headers, json={"slot_id": slot.json()["id"]})
    assert booked.status_code == 201, booked.text

    # The department switches on 秒批 for the password reset; she applies without uploading her card.
    rules = await client.put(f"/api/admin/v1/services/{reset['id']}/approval-rules", headers=catalogue_admin.headers(),
                             json={"rules": RULES})
    assert rules.status_code == 200, rules.text
    applied = await apply(client, grandma, reset["id"], materials=[
        {"name": "居民身份证", "upload_ref": await uploaded(client, grandma, scanned_png())}])
    assert applied.status_code == 201, applied.text
    body = applied.json()
    assert body["status"] == "completed" and body["decision"]["auto_approved"] is True
    assert {"name": "社会保障卡", "licence_id": grandma_card["id"], "licence_type": "social_security_card",
            "source": "wallet"} in body["materials"]
    assert "application_auto_approved" in await inbox_kinds(client, grandma)
    rated = await rate(client, grandma, body["id"], 5, ["办事快捷"], "不用跑腿")
    assert rated.status_code == 201, rated.text

    # The provident-fund system hangs: the home screen still answers, that card says so, the rest are live.
    await client.put("/api/v1/home/cards", headers=grandma.headers,
                     json={"types": ["health_code", "social_security", "provident_fund"]})
    app.ctx.services.card_backends["provident_fund"].mode = "hang"
    home = await client.get("/api/v1/home", headers=grandma.headers)
    assert home.status_code == 200
    cards = {card["type"]: card for card in home.json()["cards"]}
    assert list(cards) == ["health_code", "social_security", "provident_fund"]
    assert cards["provident_fund"]["status"] == "unavailable" and cards["social_security"]["status"] == "ok"
    assert cards["health_code"]["summary"]
