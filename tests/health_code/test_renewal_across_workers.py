"""Two workers show one citizen's code. A routine renewal is not announced on the near caches'
invalidation channel (at the peak that would be ~20,000 messages a second to every worker), yet
no worker shows a code close to its expiry, none signs again a code another has just renewed,
and a status change still reaches every worker at once. Redis only: the embedded default has
one worker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from datetime import datetime
from typing import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from app.cache import RedisCache
from health_code.models import IssuedHealthCode
from health_code.rules import load_ruleset
from health_code.service import HealthCodeService
from tests.elderly_mode.elderly_factory import elder
from tests.factories import sign_in, valid_id_number, verify_real_name
from tests.workers import invalidations, subscribed

REDIS_URL = os.environ.get("APP_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="APP_REDIS_URL not set: one worker has nobody to tell")
CODE = "/api/v1/health-code"


@pytest.fixture
async def second_worker(app, platform) -> AsyncIterator[HealthCodeService]:
    """Another worker's health-code service: its own near cache on the same Redis namespace."""
    cache = RedisCache(platform.settings.redis_url, platform.settings.cache_namespace,
                       near_ttl=platform.settings.cache_near_ttl)
    await subscribed(cache)  # it mirrors only once its invalidation channel is subscribed
    yield HealthCodeService(dataclasses.replace(platform, cache=cache), load_ruleset())
    await cache.close()


@pytest.fixture
async def channel(platform) -> AsyncIterator[redis_asyncio.client.PubSub]:
    """What the workers are told: the keys published on the invalidation channel."""
    async with invalidations(platform.cache) as listener:
        yield listener


async def published(listener: redis_asyncio.client.PubSub, within: float = 0.3) -> list[str]:
    keys, deadline = [], time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=left)
        if message is not None:
            keys.append(message["data"])
    return keys


async def test_a_renewal_is_not_announced_and_the_other_worker_shows_it_without_signing_again(
        client, sms, app, clock, second_worker, channel):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="451"))
    key = f"hc:code:{citizen.id}"
    first = (await client.get(CODE, headers=citizen.headers)).json()
    snapshot = await app.ctx.services.accounts.citizen(citizen.id)
    assert (await second_worker.current_code(snapshot)).payload == first["payload"]  # now in its mirror
    await published(channel)  # whatever the sign-in announced

    clock.advance(151)  # under 30 s left: the next fetch renews the code
    renewed = (await client.get(CODE, headers=citizen.headers)).json()
    assert renewed["payload"] != first["payload"]
    assert key not in await published(channel)  # nobody was told
    mirrored = json.loads(await second_worker.platform.cache.get(key))
    assert mirrored["payload"] == first["payload"]  # the other worker still mirrors the old one

    signed = await IssuedHealthCode.filter(citizen_id=citizen.id).count()
    shown = await second_worker.current_code(snapshot)
    assert shown.payload == renewed["payload"]  # not the old one, with under 30 s left
    assert await IssuedHealthCode.filter(citizen_id=citizen.id).count() == signed  # and no third code

    # A status change is still announced: the other worker shows red at once, from a code signed for red.
    await app.ctx.services.health.record_evidence(citizen.id, "test_result", clock.now(),
                                         {"result": "positive", "lab": "lab_1"}, source="lab:lab_1")
    assert key in await published(channel, within=1.0)
    for _ in range(100):
        if (await second_worker.current_code(snapshot)).colour == "red":
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the other worker still shows the code signed before the status change")


async def test_an_extension_on_the_other_worker_extends_the_renewed_code(client, sms, app, clock, second_worker):
    grandma = await elder(client, sms)
    first = (await client.get(CODE, headers=grandma.headers)).json()
    snapshot = await app.ctx.services.accounts.citizen(grandma.id)
    assert (await second_worker.current_code(snapshot)).payload == first["payload"]  # mirrored there
    clock.advance(151)
    renewed = (await client.get(CODE, headers=grandma.headers)).json()
    assert renewed["payload"] != first["payload"]
    # Her phone shows the renewed code; the extension lands on the worker that mirrors the old one.
    extended = await second_worker.extend(snapshot)
    # Twice the renewed code's lifetime, counted from its signing (the old one's would end 151 s earlier).
    # Counted from `issued_at`, not from a clock read after `extend` returns, which a loaded machine delays.
    renewed_at = datetime.fromisoformat(renewed["issued_at"]).timestamp()
    assert extended.expires_at == renewed_at + 2 * 180
    assert extended.expires_at > clock.timestamp() + 2 * 180 - 30  # under 30 s of its life had gone
