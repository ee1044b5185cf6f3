"""A preference that sticks, search that finds it, and the simpler home of elderly mode."""

from __future__ import annotations

import pytest

from tests.factories import last_code, sign_in
from tests.elderly_mode.elderly_factory import elder

MARKETING_WORDS = ("广告", "推广", "优惠", "活动", "banner", "promotion", "ad")


async def test_the_switch_is_stored_on_the_account_and_every_new_device_gets_it_at_login(client, sms):
    grandma = await elder(client, sms)
    me = await client.get("/api/v1/me", headers=grandma.headers)
    assert me.json()["elderly_mode"] is True
    # A new phone: the preference comes with the account, not the device.
    await client.post("/api/v1/auth/otp", json={"phone": grandma.phone})
    login = await client.post("/api/v1/auth/login", json={"phone": grandma.phone, "code": last_code(sms, grandma.phone),
                                                          "device_name": "新手机"})
    assert login.status_code == 200 and login.json()["citizen"]["elderly_mode"] is True
    off = await client.put("/api/v1/me/preferences", headers=grandma.headers, json={"elderly_mode": False})
    assert off.json() == {"elderly_mode": False}
    second = login.json()["access_token"]
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"})).json()["elderly_mode"] is False


@pytest.mark.parametrize("words", ["长辈版", "关怀版", "老年", "大字", "亲情", "elder", "large text", "Large Text"])
async def test_search_finds_the_switch_first(client, words):
    reply = await client.get("/api/v1/services/search", params={"q": words})
    assert reply.status_code == 200
    first = reply.json()["items"][0]
    assert first["id"] == "feature-elderly-mode" and first["kind"] == "feature"
    assert first["action"]["method"] == "PUT" and first["action"]["path"] == "/api/v1/me/preferences"
    assert first["action"]["body"] == {"elderly_mode": True}


async def test_the_catalogue_still_answers_behind_the_switch(client):
    body = (await client.get("/api/v1/services/search", params={"q": "老年"})).json()
    others = [item for item in body["items"][1:]]
    assert others and all(item["kind"] == "item" for item in others)
    assert any("老年" in item["name"] for item in others)
    unrelated = (await client.get("/api/v1/services/search", params={"q": "社保卡"})).json()["items"]
    assert all(item["id"] != "feature-elderly-mode" for item in unrelated)


async def test_the_elderly_home_is_six_large_cards_with_words_icons_and_speech(client, sms):
    grandma = await elder(client, sms)
    reply = await client.get("/api/v1/home", headers=grandma.headers)
    assert reply.status_code == 200
    body = reply.json()
    assert body["preset"] == "elderly" and body["preset_url"] == "/api/v1/elderly/preset"
    assert body["catalogue_url"] == "/api/v1/services/search" and body["popups"] == []
    cards = body["cards"]
    assert [c["type"] for c in cards] == ["health_code", "id_voucher", "pension_certification", "medical_insurance",
                                          "help_line", "family"]
    for card in cards:
        assert card["size"] == "large" and card["status_label"] and card["icon"] and card["tts_text"]
        assert not any(word in (card["title"] + card["summary"]).lower() for word in MARKETING_WORDS)
        assert not any(ch.isdigit() for ch in card["tts_text"]), card["tts_text"]
    health = cards[0]
    assert health["summary"] == "绿码" and health["status_label"] == "绿码" and health["icon"] == "check-circle"
    assert cards[4]["action"] == {"type": "call", "phone": "12345"} and "一二三四五" in cards[4]["tts_text"]
    assert cards[5]["summary"] == "添加家人，请他们帮您办事"


async def test_pins_do_not_change_the_elderly_home_and_come_back_when_it_is_off(client, sms):
    grandma = await elder(client, sms)
    await client.put("/api/v1/home/cards", headers=grandma.headers, json={"types": ["traffic_violations"]})
    elderly = (await client.get("/api/v1/home", headers=grandma.headers)).json()
    assert "traffic_violations" not in [c["type"] for c in elderly["cards"]] and len(elderly["cards"]) <= 6
    await client.put("/api/v1/me/preferences", headers=grandma.headers, json={"elderly_mode": False})
    standard = (await client.get("/api/v1/home", headers=grandma.headers)).json()
    assert standard["preset"] == "standard" and [c["type"] for c in standard["cards"]] == ["traffic_violations"]


async def test_the_home_speaks_english_when_asked(client, sms):
    grandma = await elder(client, sms)
    body = (await client.get("/api/v1/home", headers={**grandma.headers, "Accept-Language": "en"})).json()
    titles = [c["title"] for c in body["cards"]]
    assert titles[0] == "Health code" and titles[4] == "Help line" and titles[5] == "Family"
    assert body["cards"][4]["tts_text"] == "Help line. Call one two three four five and someone will help you"


async def test_a_citizen_not_yet_verified_sees_locked_cards_in_words(client, sms):
    newcomer = await sign_in(client, sms)
    await client.put("/api/v1/me/preferences", headers=newcomer.headers, json={"elderly_mode": True})
    cards = (await client.get("/api/v1/home", headers=newcomer.headers)).json()["cards"]
    assert cards[0]["status"] == "locked" and cards[0]["status_label"] == "请先实名认证" and cards[0]["icon"] == "lock"
