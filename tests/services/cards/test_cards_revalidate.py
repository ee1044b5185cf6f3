"""Home cards past their freshness but within the stale grace window: the last value is shown at once,
marked stale, while one refresh (across workers) runs in the background; past the window the request
waits for the department as before. The timeout and the breaker apply to the background refresh too.

The provident fund card stays fresh for 600 s; the grace window here is another 600 s."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from app.accounts.rules import LEVEL_REAL_NAME
from app.accounts.service import CitizenSnapshot
from app.config import ConfigError, Settings
from app.services.cards.service import HomeCards

from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name

HOME = "/api/v1/home"
TIMEOUT = 1.5  # the card timeout: above SLOW, so a slow department still answers a refresh
SLOW = 1.0  # a slow department's answer time
FAST_REPLY = SLOW / 2  # a reply that did not wait for the slow department (ratio, not a tight timing)
MARGIN = 0.3  # scheduling slack on a busy test machine
FRESH, GRACE = 600, 600
REFRESHING = "正在更新，显示的是此前的数据"
CANNOT_REFRESH = "暂时无法刷新，显示的是此前的数据"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(card_timeout=TIMEOUT, card_breaker_failures=3, card_breaker_cooldown=30,
                          card_backend_latency=0.01, card_stale_grace=GRACE)


_sequence = itertools.count(501)


async def verified(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence=f"{next(_sequence) % 1000:03d}"))
    return citizen


async def home(client, citizen):
    reply = await client.get(HOME, headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


def card(body, card_type="provident_fund"):
    return next(c for c in body["cards"] if c["type"] == card_type)


async def timed_home(client, citizen):
    started = time.perf_counter()
    body = await home(client, citizen)
    return body, time.perf_counter() - started


async def test_within_the_grace_window_a_slow_department_does_not_slow_the_reply(client, sms, app, clock):
    citizen = await verified(client, sms)
    before = card(await home(client, citizen))
    fund = app.ctx.services.card_backends["provident_fund"]
    fund.latency, fund.calls = SLOW, 0

    clock.advance(FRESH + 1)
    body, elapsed = await timed_home(client, citizen)
    assert elapsed < FAST_REPLY  # the department takes SLOW to answer: it was not waited for
    shown = card(body)
    assert shown["status"] == "stale" and shown["stale"] is True and shown["notice"] == REFRESHING
    assert shown["summary"] == before["summary"] and shown["updated_at"] == before["updated_at"]
    assert card(body, "health_code")["status"] == "ok"  # a card asked every time is never shown stale

    await app.ctx.services.cards.refreshed()
    assert fund.calls == 1
    fresh = card(await home(client, citizen))
    assert fresh["status"] == "ok" and fresh["notice"] is None and fresh["updated_at"] > before["updated_at"]
    assert fund.calls == 1 and app.ctx.services.cards.refreshing == 0


async def test_five_requests_at_once_start_one_refresh_and_the_next_sees_the_fresh_value(client, sms, app, clock):
    citizen = await verified(client, sms)
    before = card(await home(client, citizen))
    fund = app.ctx.services.card_backends["provident_fund"]
    fund.latency, fund.calls = SLOW, 0

    clock.advance(FRESH + 1)
    bodies = await asyncio.gather(*(home(client, citizen) for _ in range(5)))
    assert [card(b)["status"] for b in bodies] == ["stale"] * 5
    assert {card(b)["updated_at"] for b in bodies} == {before["updated_at"]}
    await app.ctx.services.cards.refreshed()
    assert fund.calls == 1

    fresh = card(await home(client, citizen))
    assert fresh["status"] == "ok" and fresh["updated_at"] > before["updated_at"]
    assert fund.calls == 1


async def test_workers_sharing_the_cache_refresh_a_card_once(client, sms, app, platform, clock):
    citizen = await verified(client, sms)
    await home(client, citizen)
    fund = app.ctx.services.card_backends["provident_fund"]
    fund.latency, fund.calls = SLOW, 0
    workers = [app.ctx.services.cards, HomeCards(platform, app.ctx.services.card_backends)]  # another worker, the same cache
    snapshot = CitizenSnapshot(citizen.id, "", "", None, None, None, LEVEL_REAL_NAME, False)

    clock.advance(FRESH + 1)
    views = await asyncio.gather(*(w.home(snapshot, "zh-Hans", ["provident_fund"]) for w in workers for _ in range(3)))
    assert {v[0].status for v in views} == {"stale"}
    await asyncio.gather(*(w.refreshed() for w in workers))
    assert fund.calls == 1
    assert (await workers[1].home(snapshot, "zh-Hans", ["provident_fund"]))[0].status == "ok"


async def test_past_the_grace_window_the_request_waits_for_the_department(client, sms, app, clock):
    citizen = await verified(client, sms)
    before = card(await home(client, citizen))
    fund = app.ctx.services.card_backends["provident_fund"]
    fund.latency, fund.calls = SLOW, 0

    clock.advance(FRESH + GRACE + 1)
    citizen = await refresh_tokens(client, citizen)  # the phone refreshes its sign-in meanwhile
    body, elapsed = await timed_home(client, citizen)
    assert elapsed >= SLOW - 0.05  # waited for the answer, as before there was a grace window
    shown = card(body)
    assert shown["status"] == "ok" and shown["updated_at"] > before["updated_at"]
    assert fund.calls == 1 and app.ctx.services.cards.refreshing == 0


async def test_a_hanging_department_never_slows_the_home_screen_beyond_the_timeout(client, sms, app, clock):
    neighbour, citizen = await verified(client, sms), await verified(client, sms)
    _, answered = await timed_home(client, neighbour)  # what the screen costs when every department answers
    before = card(await home(client, citizen))
    fund = app.ctx.services.card_backends["provident_fund"]
    fund.mode, fund.calls = "hang", 0

    clock.advance(FRESH + 1)  # within the window: not waited for at all
    body, elapsed = await timed_home(client, citizen)
    assert elapsed < FAST_REPLY
    assert card(body)["status"] == "stale" and card(body)["updated_at"] == before["updated_at"]
    started = time.perf_counter()
    await app.ctx.services.cards.refreshed()  # the refresh gives up at the timeout
    assert time.perf_counter() - started < TIMEOUT + MARGIN
    assert fund.calls == 1

    clock.advance(GRACE)  # past the window: waited for, up to the timeout
    citizen = await refresh_tokens(client, citizen)
    body, elapsed = await timed_home(client, citizen)
    assert elapsed < answered + TIMEOUT + MARGIN
    shown = card(body)
    assert shown["status"] == "stale" and shown["notice"] == CANNOT_REFRESH
    assert shown["updated_at"] == before["updated_at"] and fund.calls == 2


async def test_a_failed_refresh_keeps_the_stale_value_says_so_and_counts_against_the_breaker(client, sms, app, clock):
    citizens = [await verified(client, sms) for _ in range(3)]
    before = [card(await home(client, citizen)) for citizen in citizens]
    fund = app.ctx.services.card_backends["provident_fund"]
    fund.mode, fund.calls = "fail", 0

    clock.advance(FRESH + 1)
    for citizen, was in zip(citizens, before):  # three failures in a row (three citizens) open the breaker
        shown = card(await home(client, citizen))
        assert shown["status"] == "stale" and shown["notice"] == REFRESHING
        assert shown["summary"] == was["summary"] and shown["updated_at"] == was["updated_at"]
        await app.ctx.services.cards.refreshed()
        again = card(await home(client, citizen))  # the refresh failed: said so, and not tried again at once
        assert again["notice"] == CANNOT_REFRESH and again["summary"] == was["summary"]
        assert app.ctx.services.cards.refreshing == 0
    assert fund.calls == 3

    fund.mode = "ok"  # recovered, but the breaker is open: nobody asks it during the cool-down
    shown = card(await home(client, citizens[0]))
    assert shown["status"] == "stale" and shown["notice"] == CANNOT_REFRESH
    assert app.ctx.services.cards.refreshing == 0 and fund.calls == 3

    clock.advance(31)  # cool-down over: the background refresh is the trial call, and it closes the breaker
    assert card(await home(client, citizens[0]))["status"] == "stale"
    await app.ctx.services.cards.refreshed()
    assert fund.calls == 4
    assert card(await home(client, citizens[0]))["status"] == "ok"


async def test_refreshes_still_running_at_stop_are_cancelled_not_leaked(client, sms, app, clock):
    citizen = await verified(client, sms)
    await home(client, citizen)
    app.ctx.services.card_backends["provident_fund"].mode = "hang"
    clock.advance(FRESH + 1)
    await home(client, citizen)
    assert app.ctx.services.cards.refreshing == 1

    started = time.perf_counter()
    await app.ctx.services.cards.close()
    assert time.perf_counter() - started < FAST_REPLY  # cancelled, not waited for until the timeout
    assert app.ctx.services.cards.refreshing == 0


def test_the_grace_window_is_validated():
    with pytest.raises(ConfigError, match="APP_CARD_STALE_GRACE"):
        Settings(card_stale_grace=-1)
    with pytest.raises(ConfigError, match="APP_CARD_STALE_GRACE"):
        Settings(card_stale_grace=8 * 24 * 3600)
    assert Settings().cards.stale_grace == 600  # ten minutes of stale-at-once by default
    assert Settings.from_env({"APP_CARD_STALE_GRACE": "0"}).cards.stale_grace == 0  # 0: always wait
