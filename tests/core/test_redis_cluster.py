"""The cache on a Redis Cluster (`APP_REDIS_URL=redis+cluster://...`, `make redis-cluster`): a primary is failed
over under load, and nothing acknowledged is lost, one-time codes are used at most once (an error refuses), and
the near cache's sharded invalidations come back. Skipped on one Redis and on the embedded default.

The failover is `CLUSTER FAILOVER` sent to a replica: the coordinated switch, in which the replica takes over
only once it holds every write its primary acknowledged. (A primary killed outright may lose what it had not
replicated yet: Redis replicates asynchronously; see README, "Redis Cluster".)
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from datetime import datetime, timezone
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from app.cache import CacheUnavailable, RedisCache, by_slot, cluster_url
from app.clock import MovableClock
from app.errors import AppError
from app.security.one_time_codes import CodeErrors, OneTimeCodes, new_code
from app.security.pii import PiiCipher
from app.security.ratelimit import Limit, hit_all
from tests.workers import eventually, subscribed

REDIS_URL = os.environ.get("APP_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not cluster_url(REDIS_URL), reason="APP_REDIS_URL is not a redis+cluster:// URL")
LAPSED = CodeErrors(lapsed=lambda: AppError("TEST_CODE_LAPSED", status=410), wrong="TEST_CODE_WRONG")
# What a call raises while its slot has no primary it can reach, once redis-py's retries are spent, or while a
# one-time marker is not confirmed on a replica (its slot moved, or the replica was being promoted).
OUTAGE = (redis_asyncio.RedisError, OSError, asyncio.TimeoutError, CacheUnavailable)
HOUR_START = MovableClock(datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc))  # no window ends during the test


@pytest.fixture
async def caches() -> AsyncIterator[tuple[RedisCache, RedisCache]]:
    """Two workers' caches on one namespace, each with its near cache."""
    namespace = f"test-cluster:{secrets.token_hex(6)}"
    first, second = RedisCache(REDIS_URL, namespace, near_ttl=10.0), RedisCache(REDIS_URL, namespace, near_ttl=10.0)
    yield first, second
    await first.clear()
    await first.close()
    await second.close()


def _node(address: str) -> redis_asyncio.Redis:
    host, port = address.rsplit(":", 1)
    return redis_asyncio.Redis(host=host, port=int(port), decode_responses=True, socket_timeout=5.0)


async def _role(address: str) -> str:
    node = _node(address)
    try:
        return str((await node.execute_command("ROLE"))[0])
    finally:
        await node.aclose()


async def _switch(replica_address: str) -> None:
    """CLUSTER FAILOVER on a replica, once it is in sync; returns when it serves as primary. Asked again while
    it is not: the primaries refuse a second vote for one shard within two node timeouts (4 s here)."""
    replica = _node(replica_address)
    try:
        deadline = time.monotonic() + 40
        while (await replica.info("replication")).get("master_link_status") != "up":
            assert time.monotonic() < deadline, f"{replica_address} never caught up with its primary"
            await asyncio.sleep(0.1)
        while await _role(replica_address) != "master":
            assert time.monotonic() < deadline, f"{replica_address} was not promoted"
            await replica.execute_command("CLUSTER", "FAILOVER")
            asked = time.monotonic()
            while await _role(replica_address) != "master" and time.monotonic() - asked < 6:
                await asyncio.sleep(0.05)
    finally:
        await replica.aclose()


@asynccontextmanager
async def failed_over(cache: RedisCache, key: str) -> AsyncIterator[asyncio.Task[None]]:
    """Fails over the primary serving `key` (a key as Redis names it) to its replica, in a task started at once;
    afterwards fails back, so that the next test finds the cluster as it was."""
    primary = cache._redis.get_node_from_key(key)
    primary_address = f"{primary.host}:{primary.port}"
    node = _node(primary_address)
    try:
        replica = (await node.info("replication"))["slave0"]
    finally:
        await node.aclose()
    replica_address = f"{replica['ip']}:{replica['port']}"
    switching = asyncio.ensure_future(_switch(replica_address))
    try:
        yield switching
    finally:
        await switching
        await _switch(primary_address)


@dataclass
class Load:
    """What writers were told was done, and how many calls failed."""

    acknowledged: dict[str, str] = field(default_factory=dict)
    counted: Counter[str] = field(default_factory=Counter)
    tried: Counter[str] = field(default_factory=Counter)
    failures: int = 0


async def _write(cache: RedisCache, writer: int, load: Load, stop: asyncio.Event) -> None:
    """Plain and mirrored writes and counters, over every slot, until `stop`."""
    step = 0
    while not stop.is_set():
        step += 1
        for key in (f"w{writer}:{step}", f"citizen:{{w{writer}-{step}}}"):
            try:
                await cache.set(key, f"{writer}-{step}", ttl=600)
                load.acknowledged[key] = f"{writer}-{step}"
            except OUTAGE:
                load.failures += 1
        counter = f"n{writer}:{step % 7}"
        load.tried[counter] += 1
        try:
            await hit_all(cache, HOUR_START, [Limit(counter, 10**6, 3600)])
            load.counted[counter] += 1
        except OUTAGE:
            load.failures += 1
        await asyncio.sleep(0)


async def test_a_primary_failed_over_under_load_loses_nothing_acknowledged(caches):
    first, second = caches
    await subscribed(first)
    await subscribed(second)
    load, stop = Load(), asyncio.Event()
    writers = [asyncio.ensure_future(_write(first, n, load, stop)) for n in range(8)]
    await asyncio.sleep(0.3)
    # The primary serving the near cache's invalidation channel: its subscribers must follow it too.
    async with failed_over(first, first._channel) as switching:
        await switching
        await asyncio.sleep(0.5)  # writes go on against the promoted replica
        stop.set()
        await asyncio.gather(*writers)
        assert len(load.acknowledged) > 100
        assert len(by_slot([first._k(key) for key in load.acknowledged])) > 50  # spread over the cluster
        keys = sorted(load.acknowledged)
        for start in range(0, len(keys), 100):
            batch = keys[start:start + 100]
            assert await first.get_many(batch) == [load.acknowledged[key] for key in batch]
        window = int(HOUR_START.timestamp() // 3600)
        counts = await first.get_many([f"rl:{counter}:3600:{window}" for counter in load.tried])
        for counter, count in zip(load.tried, counts):
            assert load.counted[counter] <= int(count or 0) <= load.tried[counter], counter
        # The invalidation channel's slot moved: each worker resubscribed on the promoted replica.
        await eventually(lambda: _told(first, second), True, within=15.0)


async def _told(first: RedisCache, second: RedisCache) -> bool:
    """Whether a write on the first worker reaches the second worker's mirror (it answers from it only once its
    invalidation channel is subscribed again)."""
    try:
        await second.get("sess:{told}:s1")
        await first.set("sess:{told}:s1", secrets.token_hex(4), ttl=60)
        expected = await first.get("sess:{told}:s1")
        return second.near.live and await second.get("sess:{told}:s1") == expected
    except OUTAGE:
        return False


async def _use(codes: OneTimeCodes, key: str, code: str, accepted: Counter[str]) -> None:
    """Tries a code until the cache answers: accepted (counted), lapsed (used already); an error refuses."""
    for _ in range(50):
        try:
            await codes.use(key, code, ttl=600)
        except AppError as refused:
            assert refused.code == "TEST_CODE_LAPSED"
            return
        except OUTAGE:
            await asyncio.sleep(0.05)  # refused; the citizen tries again
            continue
        accepted[key] += 1
        return


async def test_one_time_codes_are_used_once_across_a_failover(caches):
    cache = caches[0]
    codes = OneTimeCodes(cache, PiiCipher(os.urandom(32)), MovableClock(), prefix="test-otc:", purpose="test",
                         max_tries=10, errors=LAPSED)
    kept: dict[str, str] = {}
    for n in range(150):
        kept[f"test-otc:{n}"] = code = new_code()
        await codes.keep(f"test-otc:{n}", code, expires_at=codes.clock.timestamp() + 600, keep_for=660)
    accepted: Counter[str] = Counter()
    async with failed_over(cache, cache._k("test-otc:used:x")):
        # Each code twice at once, and the same again later: four uses of each, during and after the switch.
        for round_ in range(2):
            await asyncio.gather(*(_use(codes, key, code, accepted) for key, code in kept.items() for _ in range(2)))
            if round_ == 0:
                await asyncio.sleep(0.5)
    assert max(accepted.values()) == 1  # never twice
    assert len(accepted) > 100  # and most were used at once
    for key, code in kept.items():
        with pytest.raises(AppError):
            await codes.use(key, code, ttl=600)


async def _wait_calls(address: str) -> int:
    """How many WAIT commands a node has run."""
    node = _node(address)
    try:
        return int((await node.info("commandstats")).get("cmdstat_wait", {}).get("calls", 0))
    finally:
        await node.aclose()


async def _replica_value(cache: RedisCache, name: str) -> str | None:
    """What the replica of `name`'s slot holds for it, read from the replica itself (READONLY)."""
    primary = cache._redis.get_node_from_key(name)
    owner = _node(f"{primary.host}:{primary.port}")
    try:
        # ROLE on a primary: ["master", offset, [[host, port, offset], ...]], the replicas connected now (the
        # client's own map of the cluster may not list a replica that came back after a failover yet).
        _, _, replicas = await owner.execute_command("ROLE")
    finally:
        await owner.aclose()
    assert replicas, f"{primary.host}:{primary.port} has no replica connected"
    host, port, _ = replicas[0]
    node = _node(f"{host}:{port}")
    try:
        await node.execute_command("READONLY")
        return await node.get(name)
    finally:
        await node.aclose()


async def test_a_one_time_marker_counts_once_the_keys_replica_holds_it(caches):
    """On a cluster a claim is followed by WAIT at the key's own primary: when it returns, the replica that a
    failover would promote already holds the marker, so a primary killed right after cannot take it with it."""
    cache = caches[0]
    assert cache.one_time_replicas == 1  # the default on a cluster
    await cache._redis.initialize()  # the slot map, to name each key's primary below
    for n in range(6):  # keys of several slots, so of several primaries
        key = f"test-otc:used:{secrets.token_hex(4)}{n}"
        name = cache._k(key)
        primary = cache._redis.get_node_from_key(name)
        waits = await _wait_calls(primary.name)
        assert await cache.claim_once(key, "1", ttl=60) is True
        assert await _wait_calls(primary.name) == waits + 1  # asked of the primary that took the SET
        assert await _replica_value(cache, name) == "1"  # no sleep: the claim returned after the replica had it
        assert await cache.claim_once(key, "1", ttl=60) is False


async def test_a_one_time_marker_more_replicas_than_the_cluster_has_is_refused(caches):
    """A claim that fewer replicas acknowledged in time than asked is refused (503), not taken as done; its
    marker is taken back, so the client's retry of the same token is not refused as a replay."""
    namespace = f"test-cluster:{secrets.token_hex(6)}"
    strict = RedisCache(REDIS_URL, namespace, one_time_replicas=2, one_time_wait_ms=200)  # each primary has one
    try:
        started = time.monotonic()
        with pytest.raises(CacheUnavailable, match="1 of 2 replicas"):
            await strict.claim_once("test-otc:used:strict", "1", ttl=60)
        assert time.monotonic() - started >= 0.2  # it waited for the second replica that never came
        with pytest.raises(CacheUnavailable, match="1 of 2 replicas"):  # refused again, not "already used"
            await strict.claim_once("test-otc:used:strict", "1", ttl=60)
        usual = RedisCache(REDIS_URL, namespace, one_time_replicas=1, one_time_wait_ms=1000)
        try:
            assert await usual.claim_once("test-otc:used:strict", "1", ttl=60) is True
            assert await usual.claim_once("test-otc:used:strict", "1", ttl=60) is False
        finally:
            await usual.close()
    finally:
        await strict.clear()
        await strict.close()
