"""One cache interface: `redis.asyncio` in production, in-memory for the embedded default.

Used for one-time codes, rate limits, locks and replay protection. The in-memory
implementation lives in one process, so `Settings` refuses several workers without Redis.
With Redis, the keys every signed-in request reads (session state, citizen snapshot, current
health code) are also mirrored in each worker by a `NearCache`, kept true by pub/sub.
Expiry that matters to a citizen (a code's 5 minutes) is checked against the clock by the
domain; cache TTLs only bound how long keys are kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Generic, Protocol, Sequence, TypeVar, cast

import redis.asyncio as redis_asyncio

from app.errors import Unavailable
from app.single_flight import SingleFlight

log = logging.getLogger(__name__)

# What every signed-in request reads: the session's state, the citizen snapshot, the current code;
# what every client request reads: the client with its keys; and what every partner request reads:
# the trust list's version.
NEAR_PREFIXES = ("sess:", "citizen:", "hc:code:", "client:", "interop:trust-version")


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def get_fresh(self, key: str) -> str | None: ...
    async def get_many(self, keys: list[str]) -> list[str | None]: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...
    async def replace(self, key: str, expected: str | None, value: str, ttl: float, announce: bool = True) -> bool: ...
    async def incr(self, key: str, ttl: float, amount: int = 1) -> int: ...
    async def incr_many(self, counters: Sequence[tuple[str, float]], amount: int = 1) -> list[int]: ...
    async def delete(self, key: str) -> bool: ...
    async def delete_if(self, key: str, expected: str) -> bool: ...
    async def ping(self) -> None: ...
    async def clear(self) -> None: ...
    async def close(self) -> None: ...


class CacheUnavailable(RuntimeError):
    """The cache could not be reached."""


class MemoryCache:
    """A per-process cache with the same behaviour as the Redis one."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float]] = {}

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item[0]

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def get_fresh(self, key: str) -> str | None:
        return self._live(key)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return [self._live(key) for key in keys]

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl)

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._data[key] = (value, time.monotonic() + ttl)
        return True

    async def replace(self, key: str, expected: str | None, value: str, ttl: float, announce: bool = True) -> bool:
        if self._live(key) != expected:
            return False
        self._data[key] = (value, time.monotonic() + ttl)
        return True

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        current = self._live(key)
        if current is None:
            self._data[key] = (str(amount), time.monotonic() + ttl)
            return amount
        value = int(current) + amount
        self._data[key] = (str(value), self._data[key][1])
        return value

    async def incr_many(self, counters: Sequence[tuple[str, float]], amount: int = 1) -> list[int]:
        return [await self.incr(key, ttl, amount) for key, ttl in counters]

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    async def delete_if(self, key: str, expected: str) -> bool:
        if self._live(key) != expected:
            return False
        del self._data[key]
        return True

    async def ping(self) -> None:
        return None

    async def clear(self) -> None:
        self._data.clear()

    async def close(self) -> None:
        return None


class NearCache:
    """A per-worker mirror (近端缓存) of chosen Redis keys, so the hottest reads skip the round trip.

    It is trusted only while its invalidation channel is subscribed: every write to a mirrored key,
    by any worker, publishes the key and each worker drops its copy on receipt (the window is the
    pub/sub delivery time on the network, not `ttl`). When the subscription is lost the mirror is
    emptied and not used until it is back, so a Redis outage behaves as without it. A read stores
    its result only if no invalidation arrived while it was in flight. `ttl` is a safety net only.
    The one write not published is a `replace(..., announce=False)`: a successor whose predecessor
    may still be shown where it is mirrored (a health code's routine renewal), read with `get_fresh`.
    """

    def __init__(self, prefixes: tuple[str, ...], ttl: float, max_entries: int = 100_000) -> None:
        self.prefixes = prefixes
        self.ttl = ttl
        self.max_entries = max_entries
        self.live = False
        self.generation = 0  # counts invalidations; a read in flight across one does not store
        self._items: dict[str, tuple[str, float]] = {}

    def covers(self, key: str) -> bool:
        return self.ttl > 0 and key.startswith(self.prefixes)

    def get(self, key: str) -> str | None:
        if not self.live:
            return None
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= time.monotonic():
            self._items.pop(key, None)
            return None
        return item[0]

    def put(self, key: str, value: str, generation: int) -> None:
        if not self.live or generation != self.generation:
            return
        if len(self._items) >= self.max_entries:
            self._items.pop(next(iter(self._items)))  # the oldest entry
        self._items[key] = (value, time.monotonic() + self.ttl)

    def drop(self, key: str) -> None:
        self.generation += 1
        self._items.pop(key, None)

    def forget(self, key: str) -> None:
        """Redis no longer holds `key`: no write happened, so reads in flight may still store theirs."""
        self._items.pop(key, None)

    def drop_all(self) -> None:
        self.generation += 1
        self._items.clear()

    def suspend(self) -> None:
        """Not subscribed: nothing mirrored can be trusted."""
        self.live = False
        self.drop_all()


# replace(): compare, set and (for a mirrored key) publish its invalidation, atomically.
_REPLACE = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return 1
"""

# Compare-and-delete: the key is deleted only while it holds ARGV[1]; the key is published on ARGV[2] if given.
_DELETE_IF = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
"""


class RedisCache:
    """The shared cache for several workers and hosts (redis-py's `redis.asyncio`)."""

    def __init__(self, url: str, namespace: str, max_connections: int = 64, wait: float = 2.0,
                 near_ttl: float = 0.0) -> None:
        # A bounded pool that waits for a free connection: under a burst (64 home screens of 6 cards
        # each) callers queue for a moment instead of failing with "too many connections".
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=wait, decode_responses=True,
            socket_timeout=2.0, socket_connect_timeout=2.0,
        )
        self._redis = redis_asyncio.Redis.from_pool(pool)  # owns the pool: close() disconnects it
        self._prefix = f"{namespace}:"
        self.near = NearCache(NEAR_PREFIXES, near_ttl)
        self._channel = f"{namespace}:near-invalidate"
        self._listener: asyncio.Task[None] | None = None
        self._reads: SingleFlight[list[str | None]] = SingleFlight()
        self._replace = self._redis.register_script(_REPLACE)
        self._delete_if = self._redis.register_script(_DELETE_IF)

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> str | None:
        if not self.near.covers(key):
            return cast(str | None, await self._redis.get(self._k(key)))  # decode_responses: text
        self._listen()
        value = self.near.get(key)
        if value is not None:
            return value
        return (await self._read_through((key,)))[0]

    async def get_fresh(self, key: str) -> str | None:
        """What Redis holds now, past this worker's copy (which it then replaces): for a key whose
        successor may have been written unannounced."""
        if not self.near.covers(key):
            return cast(str | None, await self._redis.get(self._k(key)))
        self._listen()
        value = (await self._read((key,), self.near.generation))[0]
        if value is None:
            self.near.forget(key)
        return value

    async def get_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        if not any(self.near.covers(key) for key in keys):
            return cast(list[str | None], await self._redis.mget([self._k(key) for key in keys]))
        self._listen()
        mirrored = [self.near.get(key) for key in keys]
        if all(value is not None for value in mirrored):
            return mirrored
        return await self._read_through(tuple(keys))

    async def _read_through(self, keys: tuple[str, ...]) -> list[str | None]:
        """Mirrored keys the mirror lacks, read from Redis once for all callers in flight (when the
        mirror lapses, every connection of a busy phone misses at the same moment). A caller joins
        only a read that began after the last invalidation it could know of."""
        generation = self.near.generation
        if not self.near.live:  # no invalidations arrive to move the generation on: nothing may be shared
            return await self._read(keys, generation)
        return await self._reads.run((keys, generation), lambda: self._read(keys, generation))

    async def _read(self, keys: tuple[str, ...], generation: int) -> list[str | None]:
        if len(keys) == 1:
            values = [await self._guarded(self._redis.get(self._k(keys[0])))]
        else:
            values = await self._guarded(self._redis.mget([self._k(key) for key in keys]))
        for key, value in zip(keys, values):
            if value is not None and self.near.covers(key):
                self.near.put(key, value, generation)
        return values

    async def set(self, key: str, value: str, ttl: float) -> None:
        if self.near.covers(key):
            await self._written(key, lambda pipe: pipe.set(self._k(key), value, px=max(1, int(ttl * 1000))))
            return
        await self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        if self.near.covers(key):
            return bool(await self._written(
                key, lambda pipe: pipe.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True)))
        return bool(await self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True))

    async def replace(self, key: str, expected: str | None, value: str, ttl: float, announce: bool = True) -> bool:
        """Set `key` to `value` only if it still holds `expected` (None: absent), in one step on the server.
        `announce=False` publishes nothing: other workers keep their copy of `expected` until it lapses
        or they `get_fresh`. Only for a successor the old value may stand in for meanwhile."""
        mirrored = self.near.covers(key)
        if mirrored:
            self.near.drop(key)
        replaced = await self._guarded(self._replace(
            keys=[self._k(key)],
            args=["0" if expected is None else "1", expected or "", value, max(1, int(ttl * 1000)),
                  self._channel if mirrored and announce else "", key]))
        if mirrored:
            self.near.drop(key)  # a read that began between the first drop and the write stores nothing
        return bool(replaced)

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        if self.near.covers(key):
            return int(await self._written(key, lambda pipe: self._count(pipe, key, ttl, amount)))
        return (await self.incr_many([(key, ttl)], amount))[0]

    async def incr_many(self, counters: Sequence[tuple[str, float]], amount: int = 1) -> list[int]:
        """`incr` of each (key, ttl), in one round trip (and one transaction) when none is mirrored."""
        if any(self.near.covers(key) for key, _ in counters):
            return [await self.incr(key, ttl, amount) for key, ttl in counters]
        pipe = self._redis.pipeline(transaction=True)
        for key, ttl in counters:
            self._count(pipe, key, ttl, amount)
        return [int(count) for count in (await pipe.execute())[0::2]]

    def _count(self, pipe: Any, key: str, ttl: float, amount: int) -> None:
        """Add `amount` to a counter; its window starts at its first count (a later one does not extend it)."""
        pipe.incr(self._k(key), amount)
        pipe.pexpire(self._k(key), max(1, int(ttl * 1000)), nx=True)

    async def delete(self, key: str) -> bool:
        if self.near.covers(key):
            return bool(await self._written(key, lambda pipe: pipe.delete(self._k(key))))
        return bool(await self._redis.delete(self._k(key)))

    async def delete_if(self, key: str, expected: str) -> bool:
        """Delete `key` only if it still holds `expected`, in one step on the server."""
        mirrored = self.near.covers(key)
        if mirrored:
            self.near.drop(key)
        deleted = await self._guarded(self._delete_if(
            keys=[self._k(key)], args=[expected, self._channel if mirrored else "", key]))
        if mirrored:
            self.near.drop(key)
        return bool(deleted)

    async def _written(self, key: str, write: Any) -> Any:
        """A write to a mirrored key: dropped here at once, and on every other worker by pub/sub."""
        self.near.drop(key)
        pipe = self._redis.pipeline(transaction=True)
        write(pipe)
        pipe.publish(self._channel, key)
        result = (await self._guarded(pipe.execute()))[0]
        self.near.drop(key)  # a read that began between the first drop and the write stores nothing
        return result

    async def _guarded(self, call: Any) -> Any:
        try:
            return await call
        except (redis_asyncio.RedisError, OSError):
            # Whatever failed may have cut the invalidation channel too: resubscribe before trusting again.
            self.near.suspend()
            if self._listener is not None:
                self._listener.cancel()
            raise

    def _listen(self) -> None:
        """Start (or restart) this worker's invalidation listener; the mirror is trusted once it is subscribed."""
        if self.near.ttl > 0 and (self._listener is None or self._listener.done()):
            self._listener = asyncio.get_running_loop().create_task(self._invalidations())

    async def _invalidations(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                heard = time.monotonic()
                pinged = heard
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    now = time.monotonic()
                    if message is None:
                        if now - heard > 6.0:
                            raise ConnectionError("no reply to the invalidation channel's ping")
                        if now - pinged > 2.0:
                            await pubsub.ping()
                            pinged = now
                        continue
                    heard, backoff = now, 0.1
                    if message["type"] == "subscribe":
                        self.near.suspend()  # anything published while we were away was missed
                        self.near.live = True
                    elif message["type"] == "message":
                        self.near.drop(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: stop trusting the mirror, retry
                if self.near.live:
                    log.warning("near cache suspended: %s", type(exc).__name__)
                self.near.suspend()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.near.suspend()
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001 - the connection is already gone
                    pass

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (redis_asyncio.RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def clear(self) -> None:
        """Delete this namespace's keys (used by tests; never FLUSHDB on a shared server)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
            await self._redis.delete(key)
        self.near.drop_all()  # the keys went without a message

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass
            self._listener = None
        await self._redis.aclose()


def create_cache(redis_url: str, namespace: str, max_connections: int = 64, near_ttl: float = 0.0) -> Cache:
    return RedisCache(redis_url, namespace, max_connections, near_ttl=near_ttl) if redis_url else MemoryCache()


async def get_json(cache: Cache, key: str) -> Any:
    raw = await cache.get(key)
    return None if raw is None else json.loads(raw)


async def set_json(cache: Cache, key: str, value: Any, ttl: float) -> None:
    await cache.set(key, json.dumps(value, separators=(",", ":")), ttl)


T = TypeVar("T")


class ParsedOnce(Generic[T]):
    """Each distinct cached text parsed once per worker: the near cache hands back the same text on
    every request, so the hot path skips `json.loads` and object building. `parse` must build
    immutable objects, because every caller shares them."""

    def __init__(self, parse: Callable[[str], T], size: int = 10_000) -> None:
        self._parse = parse
        self._size = size
        self._parsed: dict[str, T] = {}

    def __call__(self, raw: str) -> T:
        value = self._parsed.get(raw)
        if value is None:
            if len(self._parsed) >= self._size:
                self._parsed.clear()
            value = self._parsed[raw] = self._parse(raw)
        return value


class LockNotAcquired(Unavailable):
    """Another worker holds the lock (to a request: 503 SERVICE_UNAVAILABLE, try again shortly)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.lock_name = name


@asynccontextmanager
async def cache_lock(cache: Cache, name: str, ttl: float = 30.0, wait: float = 0.0) -> AsyncIterator[None]:
    """A lock shared by every worker using the same cache: taken with set-if-absent, waited for up to
    `wait` seconds (0: tried once), else LockNotAcquired. It lapses after `ttl` seconds, so a holder
    that died frees it; released by compare-and-delete in one step, so a holder whose lock lapsed
    can never release the lock the next holder took meanwhile."""
    lock, token, deadline = f"lock:{name}", secrets.token_hex(8), time.monotonic() + wait
    while not await cache.set_if_absent(lock, token, ttl):
        if time.monotonic() >= deadline:
            raise LockNotAcquired(name)
        await asyncio.sleep(LOCK_POLL)
    try:
        yield
    finally:
        await cache.delete_if(lock, token)


LOCK_POLL = 0.02  # seconds between tries while waiting for a lock
