"""The home screen's service cards: a citizen sees their pinned cards with live summaries, arranges
them, and the screen keeps working while a department backend hangs or fails (timeouts, last good
values marked stale, a circuit breaker that leaves a failing department alone for a while).
Lost while a department hangs: nothing. Every pinned card is still shown, the others live, and the
hanging one with its last good value and time when it had one."""

from __future__ import annotations

import itertools
import time

import pytest

from app.config import ConfigError, Settings
from app.server import create_app
from app.services.cards.backends import BackendError, StandInBackend, stand_in_backends
from app.services.cards.models import CardPin

from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name

HOME = "/api/v1/home"
CARDS = "/api/v1/home/cards"
TIMEOUT = 1.0  # 100 times the stand-ins' latency: a healthy backend is never late, even on a busy machine
MARGIN = 0.3  # scheduling slack on a busy test machine, far below a hanging backend's hour


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(card_timeout=TIMEOUT, card_stale_grace=0, card_breaker_failures=3, card_breaker_cooldown=30,
                          card_backend_latency=0.01)


_sequence = itertools.count(101)


async def verified(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence=f"{next(_sequence) % 1000:03d}"))
    return citizen


async def home(client, citizen, **headers):
    reply = await client.get(HOME, headers={**citizen.headers, **headers})
    assert reply.status_code == 200, reply.text
    return reply.json()


def card(body, card_type):
    return next(c for c in body["cards"] if c["type"] == card_type)


async def test_a_new_citizen_sees_the_default_cards_with_live_summaries(client, sms, app):
    citizen = await verified(client, sms)
    body = await home(client, citizen)

    assert body["preset"] == "standard"
    assert [c["type"] for c in body["cards"]] == ["health_code", "id_voucher", "social_security", "provident_fund"]
    assert [c["title"] for c in body["cards"]] == ["健康码", "居民身份电子凭证", "社会保险", "住房公积金"]
    assert all(c["status"] == "ok" and c["stale"] is False and c["updated_at"].endswith("Z") for c in body["cards"])
    assert card(body, "health_code")["summary"] == "绿码"
    assert card(body, "id_voucher")["summary"] == "未申领，完成人脸核验后可申领"
    assert card(body, "provident_fund")["summary"].startswith("账户余额 ¥")
    assert "个月" in card(body, "social_security")["summary"]
    assert app.ctx.services.card_backends["provident_fund"].calls == 1
    assert app.ctx.services.card_backends["medical_insurance"].calls == 0  # not pinned, never asked

    again = await home(client, citizen)  # sample data is stable per citizen
    assert card(again, "provident_fund")["summary"] == card(body, "provident_fund")["summary"]


async def test_each_card_names_the_service_a_tap_opens_and_it_is_there(client, sms):
    citizen = await verified(client, sms)
    body = await home(client, citizen)

    opens = [c["opens"] for c in body["cards"]]
    assert opens == ["/api/v1/health-code", "/api/v1/vouchers/current", "/api/v1/social-insurance",
                     "/api/v1/provident-fund"]
    for path in opens:  # the service answers (here without departments on the exchange: 503), never "no route"
        reply = await client.get(path, headers=citizen.headers)
        assert reply.status_code != 405 and reply.json().get("error", {}).get("code") != "NOT_FOUND", path


async def test_summaries_follow_the_language_asked_for(client, sms):
    citizen = await verified(client, sms)
    english = await home(client, citizen, **{"Accept-Language": "en"})
    assert [c["title"] for c in english["cards"]] == ["Health code", "Digital ID voucher", "Social security",
                                                      "Housing provident fund"]
    assert card(english, "health_code")["summary"] == "Green code"
    assert card(english, "provident_fund")["summary"].startswith("Balance ¥")
    traditional = await home(client, citizen, **{"Accept-Language": "zh-HK"})
    assert card(traditional, "provident_fund")["title"] == "住房公積金"
    assert card(traditional, "provident_fund")["summary"].startswith("帳戶餘額 ¥")


async def test_before_real_name_verification_cards_are_locked_and_no_department_is_asked(client, sms, app):
    citizen = await sign_in(client, sms)
    body = await home(client, citizen)
    assert {c["status"] for c in body["cards"]} == {"locked"}
    assert {c["summary"] for c in body["cards"]} == {"完成实名认证后可查看"}
    assert all(c["updated_at"] is None and c["stale"] is False for c in body["cards"])
    assert sum(b.calls for name, b in app.ctx.services.card_backends.items() if hasattr(b, "calls")) == 0


async def test_the_home_screen_needs_a_signed_in_citizen(client):
    reply = await client.get(HOME)
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "AUTH_REQUIRED"
    reply = await client.put(CARDS, json={"types": []})
    assert reply.status_code == 401


async def test_citizens_pin_unpin_and_reorder_their_own_cards(client, sms, app):
    alice, bob = await verified(client, sms), await verified(client, sms)

    listed = await client.get(CARDS, headers=alice.headers)
    assert listed.status_code == 200
    assert listed.json()["types"] == ["health_code", "id_voucher", "social_security", "provident_fund"]
    assert {"type": "utility_bills", "title": "水电燃气"} in listed.json()["available"]

    order = ["provident_fund", "traffic_violations", "health_code"]
    put = await client.put(CARDS, headers=alice.headers, json={"types": order})
    assert put.status_code == 200 and put.json()["types"] == order
    assert [c["type"] for c in (await home(client, alice))["cards"]] == order
    assert card(await home(client, alice), "traffic_violations")["summary"].startswith(("暂无", "未处理违法"))
    rows = await CardPin.filter(citizen_id=alice.id, position__gte=0).order_by("position").values_list("card_type", flat=True)
    assert rows == order

    pinned = await client.post(f"{CARDS}/utility_bills", headers=alice.headers)
    assert pinned.status_code == 200 and pinned.json()["types"] == order + ["utility_bills"]
    twice = await client.post(f"{CARDS}/utility_bills", headers=alice.headers)
    assert twice.status_code == 200 and twice.json()["types"] == order + ["utility_bills"]

    removed = await client.delete(f"{CARDS}/traffic_violations", headers=alice.headers)
    assert removed.status_code == 200
    assert removed.json()["types"] == ["provident_fund", "health_code", "utility_bills"]
    assert [c["type"] for c in (await home(client, alice))["cards"]] == ["provident_fund", "health_code", "utility_bills"]

    # Bob's home screen is his own.
    assert [c["type"] for c in (await home(client, bob))["cards"]] == \
        ["health_code", "id_voucher", "social_security", "provident_fund"]
    assert await CardPin.filter(citizen_id=bob.id).count() == 0


async def test_a_citizen_who_takes_every_card_off_keeps_an_empty_home_screen(client, sms):
    citizen = await verified(client, sms)
    emptied = await client.put(CARDS, headers=citizen.headers, json={"types": []})
    assert emptied.status_code == 200 and emptied.json()["types"] == []
    assert (await home(client, citizen))["cards"] == []  # not the defaults again

    await client.put(CARDS, headers=citizen.headers, json={"types": ["health_code"]})
    last = await client.delete(f"{CARDS}/health_code", headers=citizen.headers)
    assert last.status_code == 200 and last.json()["types"] == []
    assert (await home(client, citizen))["cards"] == []


async def test_pin_changes_that_cannot_be_made_are_refused_with_reasons(client, sms):
    citizen = await verified(client, sms)

    unknown = await client.post(f"{CARDS}/lottery", headers=citizen.headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "CARD_TYPE_UNKNOWN"
    assert unknown.json()["error"]["message"] == "没有这种服务卡片：lottery。"
    unknown = await client.delete(f"{CARDS}/lottery", headers=citizen.headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "CARD_TYPE_UNKNOWN"
    # An ID number typed where a card type goes is not repeated back whole.
    mistyped = await client.post(f"{CARDS}/440106199001011234", headers=citizen.headers)
    assert mistyped.status_code == 404 and mistyped.json()["error"]["message"] == "没有这种服务卡片：******************。"

    not_pinned = await client.delete(f"{CARDS}/utility_bills", headers={**citizen.headers, "Accept-Language": "en"})
    assert not_pinned.status_code == 404 and not_pinned.json()["error"]["code"] == "CARD_NOT_PINNED"
    assert not_pinned.json()["error"]["message"] == "The card utility_bills is not on your home screen."

    bad = await client.put(CARDS, headers=citizen.headers, json={"types": ["health_code", "lottery"]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "CARD_TYPE_UNKNOWN"
    repeated = await client.put(CARDS, headers=citizen.headers, json={"types": ["health_code", "health_code"]})
    assert repeated.status_code == 422 and repeated.json()["error"]["code"] == "CARD_TYPE_REPEATED"
    shapeless = await client.put(CARDS, headers=citizen.headers, json={"types": "health_code"})
    assert shapeless.status_code == 422 and shapeless.json()["error"]["code"] == "VALIDATION_FAILED"
    too_many = await client.put(CARDS, headers=citizen.headers, json={"types": ["health_code"] * 21})
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "VALIDATION_FAILED"
    not_json = await client.put(CARDS, headers=citizen.headers, content=b"{types")
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "MALFORMED_JSON"

    # Nothing above changed the pins.
    assert (await client.get(CARDS, headers=citizen.headers)).json()["types"] == \
        ["health_code", "id_voucher", "social_security", "provident_fund"]
    assert await CardPin.filter(citizen_id=citizen.id).count() == 0


async def test_a_hanging_backend_never_held_a_value_shows_unavailable_within_the_timeout(client, sms, app):
    neighbour, citizen = await verified(client, sms), await verified(client, sms)
    started = time.perf_counter()
    await home(client, neighbour)  # the first home screen of this service, every backend answering
    answered = time.perf_counter() - started
    app.ctx.services.card_backends["provident_fund"].mode = "hang"

    started = time.perf_counter()
    body = await home(client, citizen)
    elapsed = time.perf_counter() - started

    # Within the timeout of what the same screen costs when every backend answers (a busy machine
    # slows both alike); the backend itself would hang for an hour.
    assert elapsed < answered + TIMEOUT + MARGIN
    fund = card(body, "provident_fund")
    assert fund["status"] == "unavailable" and fund["stale"] is False and fund["updated_at"] is None
    assert fund["summary"] == "暂时无法获取，请稍后再试" and fund["title"] == "住房公积金"
    others = [c for c in body["cards"] if c["type"] != "provident_fund"]
    assert all(c["status"] == "ok" and c["stale"] is False for c in others)


async def test_a_hanging_backend_serves_its_last_good_value_marked_stale_with_its_time(client, sms, app, clock):
    citizen = await verified(client, sms)
    first = await home(client, citizen)
    before = card(first, "provident_fund")

    clock.advance(601)  # past the provident fund card's freshness: it must ask again
    app.ctx.services.card_backends["provident_fund"].mode = "hang"
    started = time.perf_counter()
    body = await home(client, citizen)
    assert time.perf_counter() - started < TIMEOUT + MARGIN

    fund = card(body, "provident_fund")
    assert fund["status"] == "stale" and fund["stale"] is True
    assert fund["summary"] == before["summary"] and fund["updated_at"] == before["updated_at"]
    assert fund["notice"] == "暂时无法刷新，显示的是此前的数据"
    social = card(body, "social_security")
    assert social["status"] == "ok" and social["stale"] is False
    assert [c["type"] for c in body["cards"]] == [c["type"] for c in first["cards"]]  # no card lost


async def test_an_erroring_backend_falls_back_the_same_way(client, sms, app, clock):
    citizen = await verified(client, sms)
    app.ctx.services.card_backends["social_security"].mode = "fail"
    first = card(await home(client, citizen), "social_security")
    assert first["status"] == "unavailable" and first["updated_at"] is None

    app.ctx.services.card_backends["social_security"].mode = "ok"
    clock.advance(31)  # one failure does not open the breaker, but be clear of any cool-down anyway
    good = card(await home(client, citizen), "social_security")
    assert good["status"] == "ok"

    clock.advance(3601)  # past social security's hour of freshness (the phone refreshes its sign-in meanwhile)
    citizen = await refresh_tokens(client, citizen)
    app.ctx.services.card_backends["social_security"].mode = "fail"
    body = await home(client, citizen)
    stale = card(body, "social_security")
    assert stale["status"] == "stale" and stale["summary"] == good["summary"] and stale["updated_at"] == good["updated_at"]
    assert card(body, "provident_fund")["status"] == "ok"


async def test_the_breaker_opens_after_repeated_failures_and_half_opens_after_the_cool_down(client, sms, app, clock):
    alice, bob = await verified(client, sms), await verified(client, sms)
    backend = app.ctx.services.card_backends["provident_fund"]
    backend.mode = "fail"

    for citizen in (alice, bob, alice):  # failures count per department, whoever asked
        assert card(await home(client, citizen), "provident_fund")["status"] == "unavailable"
    assert backend.calls == 3

    backend.mode = "ok"  # recovered, but the breaker is open: nobody asks it during the cool-down
    for citizen in (alice, bob):
        assert card(await home(client, citizen), "provident_fund")["status"] == "unavailable"
    clock.advance(29)
    assert card(await home(client, bob), "provident_fund")["status"] == "unavailable"
    assert backend.calls == 3
    assert card(await home(client, bob), "social_security")["status"] == "ok"  # other departments unaffected

    clock.advance(2)  # cool-down over: one trial call, and it answers, so the breaker closes
    assert card(await home(client, alice), "provident_fund")["status"] == "ok"
    assert card(await home(client, bob), "provident_fund")["status"] == "ok"
    assert backend.calls == 5


async def test_a_failed_trial_call_opens_the_breaker_again_at_once(client, sms, app, clock):
    citizen = await verified(client, sms)
    backend = app.ctx.services.card_backends["provident_fund"]
    backend.mode = "hang"
    for _ in range(3):
        await home(client, citizen)
    assert backend.calls == 3

    clock.advance(31)
    started = time.perf_counter()
    assert card(await home(client, citizen), "provident_fund")["status"] == "unavailable"  # the trial hangs too
    assert time.perf_counter() - started < TIMEOUT + MARGIN
    assert backend.calls == 4
    started = time.perf_counter()
    await home(client, citizen)  # open again: answered without waiting for the timeout
    assert time.perf_counter() - started < TIMEOUT
    assert backend.calls == 4


async def test_within_its_freshness_a_card_is_not_fetched_again(client, sms, app, clock):
    citizen = await verified(client, sms)
    fund, social = app.ctx.services.card_backends["provident_fund"], app.ctx.services.card_backends["social_security"]
    first = card(await home(client, citizen), "provident_fund")
    clock.advance(599)
    again = card(await home(client, citizen), "provident_fund")
    assert (fund.calls, social.calls) == (1, 1)
    assert again["updated_at"] == first["updated_at"] and again["status"] == "ok"

    clock.advance(2)  # 601 s: the provident fund (10 minutes) is asked again, social security (1 hour) is not
    refreshed = card(await home(client, citizen), "provident_fund")
    assert (fund.calls, social.calls) == (2, 1)
    assert refreshed["updated_at"] > first["updated_at"]


async def test_the_health_code_card_follows_the_citizen_status_at_once(client, sms):
    citizen = await verified(client, sms)
    assert card(await home(client, citizen), "health_code")["summary"] == "绿码"
    declared = await client.post("/api/v1/health-code/declarations", headers=citizen.headers,
                                 json={"symptoms": True, "travel_regions": [], "truthful": True})
    assert declared.status_code in (200, 201), declared.text
    assert card(await home(client, citizen), "health_code")["summary"] in ("黄码", "红码")


async def test_elderly_mode_switches_the_preset(client, sms):
    citizen = await verified(client, sms)
    switched = await client.put("/api/v1/me/preferences", headers=citizen.headers, json={"elderly_mode": True})
    assert switched.status_code == 200
    body = await home(client, citizen)
    assert body["preset"] == "elderly"
    # The elderly home is its own (tests/elderly_mode/test_home.py): six large cards, whatever was pinned.
    assert [c["type"] for c in body["cards"]] == ["health_code", "id_voucher", "pension_certification",
                                                  "medical_insurance", "help_line", "family"]


def test_card_settings_are_validated():
    with pytest.raises(ConfigError, match="APP_CARD_TIMEOUT"):
        Settings(card_timeout=0)
    with pytest.raises(ConfigError, match="APP_CARD_BREAKER_FAILURES"):
        Settings(card_breaker_failures=0)
    with pytest.raises(ConfigError, match="APP_CARD_BREAKER_COOLDOWN"):
        Settings(card_breaker_cooldown=0)
    with pytest.raises(ConfigError, match="APP_CARD_BACKEND_FAILURE_RATE"):
        Settings(card_backend_failure_rate=1.5)
    assert Settings.from_env({"APP_CARD_TIMEOUT": "0.5", "APP_CARD_BACKEND_HANG": "provident_fund"}).cards.timeout == 0.5
    with pytest.raises(ConfigError, match="not production"):
        Settings(env="production", database_url="postgres://db/x", redis_url="redis://r/0", keys_dir="k",
                 pii_key="", card_backend_hang="provident_fund")


def test_the_hang_setting_names_real_backends(settings, platform):
    hanging = create_app(settings.with_(card_backend_hang="provident_fund, utility_bills"), platform=platform,
                         name="hang_setting")
    assert {n for n, b in hanging.ctx.services.card_backends.items() if getattr(b, "mode", "ok") == "hang"} == \
        {"provident_fund", "utility_bills"}
    with pytest.raises(ConfigError, match="APP_CARD_BACKEND_HANG"):
        create_app(settings.with_(card_backend_hang="lottery"), platform=platform, name="hang_unknown")


async def test_stand_in_departments_answer_stable_sample_data_and_fail_on_demand():
    backends = stand_in_backends(latency=0)
    fund = await backends["provident_fund"].fetch("c_sample_1")
    assert fund == await backends["provident_fund"].fetch("c_sample_1")  # the same citizen, the same figures
    assert fund != await backends["provident_fund"].fetch("c_sample_2")
    assert fund["sample"] is True and 8_000 <= fund["balance"] <= 150_000 and 600 <= fund["monthly_deposit"] <= 4_200
    violations = await backends["traffic_violations"].fetch("c_sample_1")
    assert violations["fines"] == 200 * violations["count"] and violations["points"] == 3 * violations["count"]

    flaky = StandInBackend("medical_insurance", backends["medical_insurance"].sample, latency=0, failure_rate=1.0)
    with pytest.raises(BackendError):
        await flaky.fetch("c_sample_1")
    assert flaky.calls == 1
    with pytest.raises(ValueError, match="lottery"):
        stand_in_backends(latency=0, hang=["lottery"])


async def test_departments_are_asked_at_the_same_time_not_one_after_another(client, sms, app):
    citizen = await verified(client, sms)
    departments = ["social_security", "provident_fund", "medical_insurance", "traffic_violations", "utility_bills"]
    await client.put(CARDS, headers=citizen.headers, json={"types": departments})
    for name in departments:
        app.ctx.services.card_backends[name].latency = 0.5  # one after another would take 2.5 s

    started = time.perf_counter()
    body = await home(client, citizen)
    # Half a second each, at once: well under the 2.5 s one after another would take, even on a busy machine.
    assert time.perf_counter() - started < 1.5
    assert [c["status"] for c in body["cards"]] == ["ok"] * 5
