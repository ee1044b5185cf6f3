"""One cache interface, the same behaviour in memory and in Redis.

Every test runs against the in-memory cache, and against Redis (a private namespace) when
APP_REDIS_URL is set: codes, rate limits and locks must not change meaning with the backend.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import AsyncIterator, Callable

import pytest
from redis.exceptions import MaxConnectionsError

from app.accounts.service import citizen_key, session_key
from app.services.cards.service import _breaker_key, _refresh_failed_key, _value_key
from app.cache import (
    CacheUnavailable,
    LockNotAcquired,
    MemoryCache,
    RedisCache,
    by_slot,
    cache_lock,
    cluster_url,
    create_cache,
    get_json,
    redis_client,
    set_json,
)

REDIS_URL = os.environ.get("APP_REDIS_URL", "")
BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.skipif(not REDIS_URL, reason="APP_REDIS_URL not set"))]


@pytest.fixture(params=BACKENDS)
async def make_cache(request) -> AsyncIterator[Callable[[], object]]:
    """A factory of caches of one backend; each Redis cache gets its own namespace."""
    made = []

    def make():
        cache = MemoryCache() if request.param == "memory" else RedisCache(REDIS_URL, f"test-cache:{secrets.token_hex(6)}")
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.clear()
        await cache.close()


@pytest.fixture
def cache(make_cache):
    return make_cache()


async def test_a_value_is_kept_until_its_ttl_passes(cache):
    await cache.set("greeting", "你好", ttl=0.3)
    assert await cache.get("greeting") == "你好"
    await asyncio.sleep(0.45)
    assert await cache.get("greeting") is None


async def test_an_unknown_key_reads_as_none(cache):
    assert await cache.get("never-set") is None


async def test_set_overwrites_and_restarts_the_ttl(cache):
    await cache.set("k", "old", ttl=0.3)
    await cache.set("k", "new", ttl=30)
    await asyncio.sleep(0.45)
    assert await cache.get("k") == "new"


async def test_set_if_absent_only_sets_once(cache):
    assert await cache.set_if_absent("nonce", "first", ttl=30) is True
    assert await cache.set_if_absent("nonce", "second", ttl=30) is False
    assert await cache.get("nonce") == "first"


async def test_set_if_absent_succeeds_again_after_expiry(cache):
    assert await cache.set_if_absent("nonce", "first", ttl=0.2) is True
    await asyncio.sleep(0.35)
    assert await cache.set_if_absent("nonce", "second", ttl=30) is True
    assert await cache.get("nonce") == "second"


async def test_only_one_of_many_concurrent_set_if_absent_wins(cache):
    results = await asyncio.gather(*(cache.set_if_absent("race", str(i), ttl=30) for i in range(20)))
    assert results.count(True) == 1


async def test_a_one_time_marker_is_claimed_once(cache):
    assert await cache.claim_once("used:n1", "1", ttl=30) is True
    assert await cache.claim_once("used:n1", "1", ttl=30) is False
    results = await asyncio.gather(*(cache.claim_once("used:race", str(i), ttl=30) for i in range(20)))
    assert results.count(True) == 1


async def _replicas(cache: RedisCache) -> int:
    return int((await cache._redis.info("replication"))["connected_slaves"])


async def test_a_one_time_marker_no_replica_acknowledged_is_refused():
    """With a replica required (APP_CACHE_ONE_TIME_REPLICAS=1) and none there, a claim fails closed: it waits its
    time for the replica, then raises CacheUnavailable (a 503 to a request) and takes its marker back, so the
    client's retry with the same token is not refused as replayed. One Redis requires none by default: no WAIT."""
    if not REDIS_URL or cluster_url(REDIS_URL):
        pytest.skip("needs one Redis (APP_REDIS_URL=redis://...)")
    namespace = f"test-cache:{secrets.token_hex(6)}"
    plain, strict = RedisCache(REDIS_URL, namespace), RedisCache(REDIS_URL, namespace, one_time_replicas=1,
                                                                  one_time_wait_ms=150)
    try:
        if await _replicas(plain):
            pytest.skip("this Redis has replicas")
        assert plain.one_time_replicas == 0 and await plain.claim_once("used:a", "1", ttl=30) is True
        started = asyncio.get_running_loop().time()
        with pytest.raises(CacheUnavailable, match="0 of 1 replicas"):
            await strict.claim_once("used:b", "1", ttl=30)
        assert asyncio.get_running_loop().time() - started >= 0.15
        assert await plain.get("used:b") is None  # taken back: the 503 is retryable
        assert await plain.claim_once("used:b", "1", ttl=30) is True  # the retry (replicas not required) takes it
        assert await strict.claim_once("used:b", "1", ttl=30) is False  # once claimed: refused, not raised
        assert await plain.claim_once("used:b", "1", ttl=30) is False
    finally:
        await plain.clear()
        await plain.close()
        await strict.close()


def test_the_replicas_a_one_time_marker_needs_follow_the_setting():
    assert create_cache("redis+cluster://127.0.0.1:7000/0", "gov").one_time_replicas == 1  # type: ignore[attr-defined]
    assert create_cache("redis://127.0.0.1:6379/0", "gov").one_time_replicas == 0  # type: ignore[attr-defined]
    assert create_cache("redis://127.0.0.1:6379/0", "gov", one_time_replicas=1).one_time_replicas == 1  # type: ignore[attr-defined]
    assert create_cache("redis+cluster://127.0.0.1:7000/0", "gov",
                        one_time_replicas=0).one_time_replicas == 0  # type: ignore[attr-defined]


async def test_many_keys_are_read_at_once_in_order(cache):
    await cache.set("a", "1", ttl=30)
    await cache.set("c", "3", ttl=30)
    assert await cache.get_many(["a", "b", "c"]) == ["1", None, "3"]
    assert await cache.get_many([]) == []


async def test_incr_counts_from_one(cache):
    assert await cache.incr("counter", ttl=30) == 1
    assert await cache.incr("counter", ttl=30) == 2
    assert await cache.get("counter") == "2"
    assert await cache.incr("counter", ttl=30, amount=100) == 102  # a batch of 100 counts as 100


async def test_incr_many_counts_each_counter_with_its_own_window(cache):
    assert await cache.incr_many([("minute", 0.5), ("day", 30)], amount=2) == [2, 2]
    assert await cache.incr_many([("minute", 0.5), ("day", 30)], amount=2) == [4, 4]
    assert await cache.incr_many([("day", 30)], amount=-2) == [2]  # given back
    await asyncio.sleep(0.6)  # the short window is over, the long one is not
    assert await cache.incr_many([("minute", 0.5), ("day", 30)]) == [1, 3]


async def test_incr_many_counts_each_counter_by_its_own_amount(cache):
    """A redemption counts itself and only looks at the invalid-token lockout (amount 0), in one call."""
    assert await cache.incr_many([("redeemed", 30), ("invalid", 30)], amount=[1, 0]) == [1, 0]
    assert await cache.incr_many([("redeemed", 30), ("invalid", 30)], amount=[1, 0]) == [2, 0]
    assert await cache.incr_many([("invalid", 30), ("redeemed", 30)], amount=[3, -2]) == [3, 0]
    with pytest.raises(ValueError):
        await cache.incr_many([("redeemed", 30), ("invalid", 30)], amount=[1])


async def test_fifty_concurrent_increments_count_fifty(cache):
    results = await asyncio.gather(*(cache.incr("hits", ttl=30) for _ in range(50)))
    assert sorted(results) == list(range(1, 51))
    assert await cache.get("hits") == "50"


async def test_incr_keeps_the_window_of_its_first_hit(cache):
    """A rate-limit window is fixed: later hits do not push its end further out."""
    assert await cache.incr("window", ttl=0.5) == 1
    await asyncio.sleep(0.3)
    assert await cache.incr("window", ttl=0.5) == 2
    await asyncio.sleep(0.3)  # 0.6 s after the first hit: the window is over
    assert await cache.incr("window", ttl=0.5) == 1


async def test_replace_sets_only_over_the_value_expected(cache):
    assert await cache.replace("code", None, "first", ttl=60) is True  # None: only if absent
    assert await cache.replace("code", None, "again", ttl=60) is False
    assert await cache.replace("code", "stale", "second", ttl=60) is False
    assert await cache.get("code") == "first"
    assert await cache.replace("code", "first", "second", ttl=0.3) is True
    assert await cache.get("code") == "second"
    await asyncio.sleep(0.45)
    assert await cache.get("code") is None  # with the new value's ttl


async def test_of_many_replacements_of_one_value_one_wins(cache):
    await cache.set("code", "v0", ttl=60)
    won = await asyncio.gather(*(cache.replace("code", "v0", f"v{i}", ttl=60) for i in range(1, 21)))
    assert won.count(True) == 1
    assert await cache.get("code") == f"v{won.index(True) + 1}"


async def test_delete_says_whether_something_was_deleted(cache):
    await cache.set("k", "v", ttl=30)
    assert await cache.delete("k") is True
    assert await cache.get("k") is None
    assert await cache.delete("k") is False


async def test_clear_only_clears_its_own_namespace(make_cache):
    mine, theirs = make_cache(), make_cache()
    await mine.set("shared-name", "mine", ttl=30)
    await theirs.set("shared-name", "theirs", ttl=30)
    await mine.set("other", "x", ttl=30)
    await mine.clear()
    assert await mine.get("shared-name") is None and await mine.get("other") is None
    assert await theirs.get("shared-name") == "theirs"


async def test_ping_answers(cache):
    await cache.ping()


async def test_json_values_round_trip(cache):
    await set_json(cache, "record", {"nonce": "ab", "sent_at": 1.5, "中文": ["是"]}, ttl=30)
    assert await get_json(cache, "record") == {"nonce": "ab", "sent_at": 1.5, "中文": ["是"]}
    assert await get_json(cache, "missing") is None


async def test_a_lock_excludes_a_second_holder_until_released(cache):
    async with cache_lock(cache, "nightly-job"):
        with pytest.raises(LockNotAcquired):
            async with cache_lock(cache, "nightly-job"):
                pytest.fail("two holders of one lock")
        async with cache_lock(cache, "another-job"):
            pass  # other names are independent
    async with cache_lock(cache, "nightly-job"):
        pass  # released: free again


async def test_a_lock_is_released_when_the_holder_fails(cache):
    with pytest.raises(RuntimeError):
        async with cache_lock(cache, "job"):
            raise RuntimeError("job crashed")
    async with cache_lock(cache, "job"):
        pass


async def test_an_expired_holder_does_not_release_the_next_holders_lock(cache):
    async with cache_lock(cache, "job", ttl=0.2):
        await asyncio.sleep(0.35)  # our lock expired while we worked
        async with cache_lock(cache, "job", ttl=30):
            pass
        # A third worker takes it now; when we exit, its lock must survive.
        third = cache_lock(cache, "job", ttl=30)
        await third.__aenter__()
    with pytest.raises(LockNotAcquired):
        async with cache_lock(cache, "job"):
            pass
    await third.__aexit__(None, None, None)


class LapsesBeforeRelease:
    """A cache through which a lock holder works slowly: the moment its release reaches the cache (a
    read of the lock, or the release itself), its lock lapses and the next holder takes it."""

    def __init__(self, cache, lock_key: str, next_token: str) -> None:
        self._cache, self._lock_key, self._next_token = cache, lock_key, next_token
        self.taken_over = False

    def __getattr__(self, name: str):
        return getattr(self._cache, name)

    async def _take_over(self) -> None:
        if not self.taken_over:
            self.taken_over = True
            await self._cache.delete(self._lock_key)  # the old holder's lock lapses
            assert await self._cache.set_if_absent(self._lock_key, self._next_token, 30)

    async def get(self, key: str):
        value = await self._cache.get(key)
        if key == self._lock_key:
            await self._take_over()
        return value

    async def delete(self, key: str):
        if key == self._lock_key:
            await self._take_over()
        return await self._cache.delete(key)

    async def delete_if(self, key: str, expected: str):
        if key == self._lock_key:
            await self._take_over()
        return await self._cache.delete_if(key, expected)


async def test_a_holder_whose_lock_lapsed_cannot_release_the_next_holders_lock(cache):
    slow_worker = LapsesBeforeRelease(cache, "lock:nightly-job", next_token="second-worker")
    async with cache_lock(slow_worker, "nightly-job", ttl=30):
        pass  # the job ran; its lock lapses just as it is released
    assert slow_worker.taken_over
    assert await cache.get("lock:nightly-job") == "second-worker"
    with pytest.raises(LockNotAcquired):  # so a third worker cannot run the job beside the second
        async with cache_lock(cache, "nightly-job"):
            pytest.fail("two workers ran one exclusive job")


async def test_a_lock_can_be_waited_for(cache):
    taken = asyncio.Event()

    async def hold_briefly() -> None:
        async with cache_lock(cache, "one-payment", ttl=5):
            taken.set()
            await asyncio.sleep(0.15)

    holder = asyncio.create_task(hold_briefly())
    await asyncio.wait_for(taken.wait(), 10)
    with pytest.raises(LockNotAcquired):
        async with cache_lock(cache, "one-payment", ttl=5, wait=0.05):
            pytest.fail("taken while held")
    async with cache_lock(cache, "one-payment", ttl=5, wait=2):
        assert holder.done()  # waited until the first holder released it
    await holder


async def test_a_value_is_deleted_only_while_it_holds_what_was_expected(cache):
    await cache.set("lock:x", "mine", ttl=30)
    assert not await cache.delete_if("lock:x", "someone-else")
    assert await cache.get("lock:x") == "mine"
    assert await cache.delete_if("lock:x", "mine")
    assert await cache.get("lock:x") is None
    assert not await cache.delete_if("lock:x", "mine")


async def test_namespaces_on_one_redis_do_not_see_each_other():
    if not REDIS_URL:
        pytest.skip("APP_REDIS_URL not set")
    a = RedisCache(REDIS_URL, f"test-cache:{secrets.token_hex(6)}")
    b = RedisCache(REDIS_URL, f"test-cache:{secrets.token_hex(6)}")
    try:
        await a.set("k", "a", ttl=30)
        assert await b.get("k") is None
        assert await b.set_if_absent("k", "b", ttl=30) is True
    finally:
        for c in (a, b):
            await c.clear()
            await c.close()


async def test_a_burst_larger_than_the_connection_pool_waits_instead_of_failing():
    # 64 home screens of 6 cards once made 384 calls at once and redis-py's default pool (100)
    # answered "too many connections": a 500 for citizens. The pool now waits for a free connection.
    if not REDIS_URL:
        pytest.skip("APP_REDIS_URL not set")
    cache = RedisCache(REDIS_URL, f"test-cache:{secrets.token_hex(6)}", max_connections=4)
    try:
        await asyncio.gather(*(cache.set(f"k{i}", str(i), ttl=30) for i in range(200)))
        assert await asyncio.gather(*(cache.get(f"k{i}") for i in range(200))) == [str(i) for i in range(200)]
    finally:
        await cache.clear()
        await cache.close()


def test_create_cache_picks_the_backend_from_the_url():
    assert isinstance(create_cache("", "gov"), MemoryCache)
    assert isinstance(create_cache("redis://127.0.0.1:6379/0", "gov"), RedisCache)


async def test_an_unreachable_redis_is_reported_as_unavailable():
    cache = RedisCache("redis://127.0.0.1:1/0", "nowhere")
    try:
        with pytest.raises(CacheUnavailable):
            await cache.ping()
    finally:
        await cache.close()


def test_a_cluster_is_named_by_its_scheme():
    assert cluster_url("redis+cluster://127.0.0.1:7000/0") == "redis://127.0.0.1:7000/0"
    assert cluster_url("rediss+cluster://:secret@cache.internal:7000/0") == "rediss://:secret@cache.internal:7000/0"
    assert cluster_url("redis://127.0.0.1:6379/0") is None


def test_keys_read_together_share_a_slot_and_a_batch_of_digests_is_grouped_by_slot():
    # A session and its citizen (one MGET per signed-in request); a citizen's cards with the breakers: two slots.
    assert len(by_slot(["gov:" + session_key("c_1", "s_1"), "gov:" + citizen_key("c_1")])) == 1
    card_keys = [_value_key("social_insurance", "c_1"), _refresh_failed_key("provident_fund", "c_1"),
                 _breaker_key("bo", "hrss"), _breaker_key("bf", "gjj")]
    assert len(by_slot(["gov:" + key for key in card_keys])) == 2
    digests = [f"gov:hc:payload:v2:{n:064x}" for n in range(100)]
    groups = by_slot(digests)
    assert len(groups) > 50 and sorted(p for positions in groups.values() for p in positions) == list(range(100))


async def test_a_cluster_client_queues_for_its_turn_and_then_gives_up():
    cluster = redis_client("redis+cluster://127.0.0.1:7000/0", max_connections=1, wait=0.05)  # nothing is sent
    async with cluster.turn():
        with pytest.raises(MaxConnectionsError):  # a 503 to a request
            async with cluster.turn():
                pass
    async with cluster.turn():  # given back
        pass
