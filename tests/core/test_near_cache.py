"""The per-worker mirror of the hottest keys (近端缓存): fast, and never trusted beyond what Redis says.

Each test plays two workers as two caches on one Redis namespace. Redis only: the in-memory
cache lives in one process and has nothing to mirror.
"""

from __future__ import annotations

import asyncio
import os
from typing import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from app.cache import NearCache, RedisCache, cluster_url, redis_client
from tests.faults.proxy import FaultProxy
from tests.workers import eventually, invalidations, subscribed

REDIS_URL = os.environ.get("APP_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="APP_REDIS_URL not set: the near cache mirrors Redis")


@pytest.fixture
async def behind_its_back() -> AsyncIterator[redis_asyncio.Redis]:
    """A plain client (of the cluster on one): writes that bypass the cache interface publish nothing."""
    client = redis_client(REDIS_URL)
    yield client
    await client.aclose()


async def test_a_hot_key_is_read_from_the_worker_once_mirrored(workers, behind_its_back):
    worker = workers()
    await subscribed(worker)
    # Behind its back, so that no invalidation of its own is still on its way to drop the mirrored copy.
    await behind_its_back.set(worker._k("sess:s1"), "1", px=60_000)
    assert await worker.get("sess:s1") == "1"
    # Changed without going through the cache interface: this worker still answers from its mirror,
    # which is how we know the second read made no round trip.
    await behind_its_back.set(worker._k("sess:s1"), "0")
    assert await worker.get("sess:s1") == "1"
    assert await worker.get_many(["sess:s1"]) == ["1"]


async def test_other_keys_are_never_mirrored(workers, behind_its_back):
    worker = workers()
    await subscribed(worker)
    await worker.set("otp:13800138000", "123456", ttl=60)
    assert await worker.get("otp:13800138000") == "123456"
    await behind_its_back.set(worker._k("otp:13800138000"), "used")
    assert await worker.get("otp:13800138000") == "used"


async def test_a_revocation_on_one_worker_reaches_the_others_mirror_at_once(workers):
    first, second = workers(), workers()
    await subscribed(first)
    await subscribed(second)
    await first.set("sess:s1", "1", ttl=60)
    assert await second.get_many(["sess:s1", "citizen:c1"]) == ["1", None]
    await first.set("sess:s1", "0", ttl=60)  # signed out on the first worker
    assert await first.get("sess:s1") == "0"  # the writer's own mirror drops it before the reply
    took = await eventually(lambda: second.get("sess:s1"), "0", within=1.0)
    assert took < 0.5


async def test_a_deleted_citizen_snapshot_is_read_afresh_everywhere(workers):
    first, second = workers(), workers()
    await subscribed(first)
    await subscribed(second)
    await first.set("citizen:c1", '{"level": 1}', ttl=300)
    assert await second.get("citizen:c1") == '{"level": 1}'
    await first.delete("citizen:c1")
    await eventually(lambda: second.get("citizen:c1"), None)


async def test_a_read_in_flight_across_an_invalidation_stores_nothing():
    near = NearCache(("sess:",), ttl=10)
    near.live = True
    before = near.generation
    near.drop("sess:s1")  # an invalidation arrives while the read is on its way
    near.put("sess:s1", "1", before)
    assert near.get("sess:s1") is None
    near.put("sess:s1", "1", near.generation)
    assert near.get("sess:s1") == "1"


async def test_the_mirror_lapses_after_its_ttl_even_without_a_message(workers, behind_its_back):
    worker = workers(near_ttl=0.2)
    await subscribed(worker)
    await worker.set("hc:code:c1", "old", ttl=60)
    assert await worker.get("hc:code:c1") == "old"
    await behind_its_back.set(worker._k("hc:code:c1"), "new")
    await asyncio.sleep(0.3)
    assert await worker.get("hc:code:c1") == "new"


@pytest.mark.skipif(bool(cluster_url(REDIS_URL)), reason="a cluster's client finds its nodes past a proxy: "
                    "tests/core/test_redis_cluster.py fails a primary over instead")
async def test_a_lost_connection_empties_the_mirror_and_reads_fail_closed(workers):
    host, port = REDIS_URL.split("//", 1)[1].split("/", 1)[0].split(":")
    proxy = await FaultProxy(host, int(port)).start()
    try:
        worker = workers(url=f"redis://127.0.0.1:{proxy.port}/0")
        await subscribed(worker)
        await worker.set("sess:s1", "1", ttl=60)
        assert await worker.get("sess:s1") == "1"
        proxy.cut()
        for _ in range(100):  # the listener notices at once: its connection was reset
            if not worker.near.live:
                break
            await asyncio.sleep(0.01)
        assert worker.near.live is False
        with pytest.raises((redis_asyncio.RedisError, OSError)):
            await worker.get("sess:s1")  # not answered from a mirror that may have missed a revocation
        proxy.restore()
        await eventually(lambda: worker.get("sess:s1"), "1", within=5.0)
        await subscribed(worker)
    finally:
        await proxy.close()


class CountedReads:
    """Wraps a worker's Redis client: counts GET/MGET calls, and holds them until `release` is set."""

    def __init__(self, worker: RedisCache) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.release.set()
        for name in ("get", "mget", "mget_nonatomic"):
            if not hasattr(worker._redis, name):
                continue
            real = getattr(worker._redis, name)

            async def counted(*args, _real=real, **kwargs):
                self.calls += 1
                await self.release.wait()
                return await _real(*args, **kwargs)

            setattr(worker._redis, name, counted)


async def test_when_the_mirror_lapses_one_read_serves_every_request_in_flight(workers):
    # A phone's 64 connections all miss at the moment the mirror's copy lapses: that was 64 Redis
    # reads at once, and a stall for everyone on the worker (docs/capacity.md).
    worker = workers(near_ttl=0.2)
    await subscribed(worker)
    await worker.set("sess:s1", "1", ttl=60)
    await worker.set("citizen:c1", "{}", ttl=60)
    reads = CountedReads(worker)
    await asyncio.sleep(0.3)  # lapsed
    reads.release.clear()
    requests = [asyncio.ensure_future(worker.get_many(["sess:s1", "citizen:c1"])) for _ in range(64)]
    await asyncio.sleep(0.05)
    reads.release.set()
    assert await asyncio.gather(*requests) == [["1", "{}"]] * 64
    assert reads.calls == 1
    assert await worker.get_many(["sess:s1", "citizen:c1"]) == ["1", "{}"]  # mirrored again
    assert reads.calls == 1


async def test_a_request_after_a_revocation_never_shares_a_read_begun_before_it(workers):
    first, second = workers(), workers()
    await subscribed(first)
    await subscribed(second)
    await first.set("sess:s1", "1", ttl=60)
    reads = CountedReads(second)
    reads.release.clear()
    before = asyncio.ensure_future(second.get("sess:s1"))  # on its way to Redis...
    await asyncio.sleep(0.05)
    generation = second.near.generation
    await first.set("sess:s1", "0", ttl=60)  # ...when the session is revoked on another worker
    for _ in range(200):  # the invalidation reaches the second worker
        if second.near.generation != generation:
            break
        await asyncio.sleep(0.005)
    assert second.near.generation != generation
    after = asyncio.ensure_future(second.get("sess:s1"))
    await asyncio.sleep(0.05)
    reads.release.set()
    assert await after == "0"
    assert reads.calls == 2  # its own read, not the one from before
    await before
    assert await second.get("sess:s1") == "0"  # and the read from before stored nothing


async def test_a_replacement_reaches_the_other_workers_mirror(workers):
    first, second = workers(), workers()
    await subscribed(first)
    await subscribed(second)
    await first.set("hc:code:c1", "green", ttl=60)
    assert await second.get("hc:code:c1") == "green"
    assert await first.replace("hc:code:c1", "green", "red", ttl=60) is True
    await eventually(lambda: second.get("hc:code:c1"), "red")
    assert await first.replace("hc:code:c1", "green", "blue", ttl=60) is False
    assert await first.get("hc:code:c1") == "red" and await second.get("hc:code:c1") == "red"


async def test_an_unannounced_replacement_stays_off_the_channel_and_a_fresh_read_finds_it(workers, behind_its_back):
    first, second = workers(), workers()
    await subscribed(first)
    await subscribed(second)
    # Written behind the workers' backs: a write through the interface publishes an invalidation that
    # may reach the second worker after it has mirrored the value, and drop the copy this test keeps.
    await behind_its_back.set(second._k("hc:code:c1"), "code-1", px=60_000)
    assert await second.get("hc:code:c1") == "code-1"
    async with invalidations(first) as listener:
        assert await first.replace("hc:code:c1", "code-1", "code-2", ttl=60, announce=False) is True
        assert await first.get("hc:code:c1") == "code-2"  # the writer's own copy follows at once
        assert await listener.get_message(timeout=0.3) is None  # nothing was published
    assert await second.get("hc:code:c1") == "code-1"  # the other worker keeps its copy ...
    assert await second.get_fresh("hc:code:c1") == "code-2"  # ... until it asks Redis,
    assert await second.get("hc:code:c1") == "code-2"  # which renews its copy too
    await behind_its_back.delete(second._k("hc:code:c1"))
    assert await second.get_fresh("hc:code:c1") is None  # gone from Redis: gone from the mirror
    assert await second.get("hc:code:c1") is None
