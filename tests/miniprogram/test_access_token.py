"""The platform access token: fetched once and shared by every worker through the cache, renewed
before it expires by one worker only, fetched again when the platform no longer takes it."""

from __future__ import annotations

import asyncio

import pytest

from app.cache import create_cache
from app.miniprogram.platform import MiniProgramPlatform, PlatformError
from app.miniprogram.topics import TOPICS
from tests.miniprogram.conftest import calls, fault
from tests.miniprogram.mp_factory import in_mini_program, messages_to
from tests.miniprogram.platform_process import APPID, SECRET


def worker(app, platform) -> MiniProgramPlatform:
    """A second worker's adapter: its own HTTP client and, on Redis, its own connection to the same
    cache (on the embedded default, one process: the same in-memory cache)."""
    settings = app.ctx.services.settings
    cache = create_cache(settings.redis_url, settings.cache_namespace) if settings.redis_url else platform.cache
    return MiniProgramPlatform(settings.miniprogram.api_url, APPID, SECRET, cache, platform.clock)


async def test_twenty_sends_at_once_on_two_workers_fetch_one_token(app, platform, platform_api):
    other = worker(app, platform)
    before = (await calls(platform_api))["token"]
    try:
        tokens = await asyncio.gather(*[(app.ctx.services.mini_program if n % 2 else other).access_token() for n in range(20)])
    finally:
        await other.close()
        if other.cache is not platform.cache:
            await other.cache.close()
    assert len(set(tokens)) == 1
    assert (await calls(platform_api))["token"] == before + 1


async def test_the_token_is_renewed_before_it_expires_and_the_old_one_still_works(app, clock, platform_api):
    await platform_api.post("/mock/token-ttl", json={"seconds": 400})  # renewed 300 s early: after 100 s
    adapter = app.ctx.services.mini_program
    before = (await calls(platform_api))["token"]
    first = await adapter.access_token()
    clock.advance(90)
    assert await adapter.access_token() == first
    clock.advance(20)
    second = await adapter.access_token()
    assert second != first
    assert (await calls(platform_api))["token"] == before + 2
    assert (await platform_api.get("/mock/stats")).json()["live_tokens"] >= 2  # the old one is not cut off


async def test_a_token_the_platform_no_longer_takes_is_fetched_again_once(app, client, platform_api):
    mp = await in_mini_program(client, platform_api, "13712340001", "appointment")
    adapter = app.ctx.services.mini_program
    await adapter.access_token()
    await fault(platform_api, "subscribe_send", "errcode", errcode=40001)
    before = (await calls(platform_api))["token"]
    msgid = await adapter.send_subscription(mp.openid, TOPICS["appointment"]["template_id"], {"thing1": "预约办事提醒"}, None)
    assert msgid > 0 and len(await messages_to(platform_api, mp)) == 1
    assert (await calls(platform_api))["token"] == before + 1


async def test_a_token_endpoint_refusal_is_reported_with_its_code(app, platform_api):
    await fault(platform_api, "token", "errcode", errcode=40013)
    with pytest.raises(PlatformError) as refused:
        await app.ctx.services.mini_program.access_token()
    assert (refused.value.kind, refused.value.errcode) == ("refused", 40013)
    assert await app.ctx.services.mini_program.access_token()  # and works again once the platform does


async def test_a_wrong_secret_is_refused_by_the_platform(app, platform):
    wrong = MiniProgramPlatform(app.ctx.services.settings.miniprogram.api_url, APPID, "not-our-secret", platform.cache, platform.clock)
    try:
        with pytest.raises(PlatformError) as refused:
            await wrong.access_token()
    finally:
        await wrong.close()
    assert refused.value.errcode == 40125
