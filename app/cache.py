"""One cache interface: `redis.asyncio` in production, in-memory for the embedded default.

Used for one-time codes, rate limits, locks and replay protection. The in-memory
implementation lives in one process, so `Settings` refuses several workers without Redis.
Expiry that matters to a citizen (a code's 5 minutes) is checked against the clock by the
domain; cache TTLs only bound how long keys are kept.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Protocol

import redis.asyncio as redis_asyncio


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def get_many(self, keys: list[str]) -> list[str | None]: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...
    async def incr(self, key: str, ttl: float, amount: int = 1) -> int: ...
    async def delete(self, key: str) -> bool: ...
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

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return [self._live(key) for key in keys]

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl)

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
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

    async def delete(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    async def ping(self) -> None:
        return None

    async def clear(self) -> None:
        self._data.clear()

    async def close(self) -> None:
        return None


class RedisCache:
    """The shared cache for several workers and hosts (redis-py's `redis.asyncio`)."""

    def __init__(self, url: str, namespace: str, max_connections: int = 64, wait: float = 2.0) -> None:
        # A bounded pool that waits for a free connection: under a burst (64 home screens of 6 cards
        # each) callers queue for a moment instead of failing with "too many connections".
        pool = redis_asyncio.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=wait, decode_responses=True,
            socket_timeout=2.0, socket_connect_timeout=2.0,
        )
        self._redis = redis_asyncio.Redis.from_pool(pool)  # owns the pool: close() disconnects it
        self._prefix = f"{namespace}:"

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> str | None:
        return await self._redis.get(self._k(key))

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return await self._redis.mget([self._k(key) for key in keys]) if keys else []

    async def set(self, key: str, value: str, ttl: float) -> None:
        await self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self._redis.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True))

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(self._k(key), amount)
        pipe.pexpire(self._k(key), max(1, int(ttl * 1000)), nx=True)
        value, _ = await pipe.execute()
        return int(value)

    async def delete(self, key: str) -> bool:
        return bool(await self._redis.delete(self._k(key)))

    async def ping(self) -> None:
        try:
            await self._redis.ping()
        except (redis_asyncio.RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def clear(self) -> None:
        """Delete this namespace's keys (used by tests; never FLUSHDB on a shared server)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*", count=500):
            await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.aclose()


def create_cache(redis_url: str, namespace: str, max_connections: int = 64) -> Cache:
    return RedisCache(redis_url, namespace, max_connections) if redis_url else MemoryCache()


async def get_json(cache: Cache, key: str) -> Any:
    raw = await cache.get(key)
    return None if raw is None else json.loads(raw)


async def set_json(cache: Cache, key: str, value: Any, ttl: float) -> None:
    await cache.set(key, json.dumps(value, separators=(",", ":")), ttl)


class LockNotAcquired(RuntimeError):
    """Another worker holds the lock."""


@asynccontextmanager
async def cache_lock(cache: Cache, name: str, ttl: float = 30.0) -> AsyncIterator[None]:
    """A set-if-absent lock shared by every worker using the same cache."""
    token = secrets.token_hex(8)
    if not await cache.set_if_absent(f"lock:{name}", token, ttl):
        raise LockNotAcquired(name)
    try:
        yield
    finally:
        if await cache.get(f"lock:{name}") == token:
            await cache.delete(f"lock:{name}")


@asynccontextmanager
async def waited_lock(cache: Cache, name: str, wait: float = 10.0) -> AsyncIterator[None]:
    """A set-if-absent lock shared by every worker, waited for up to `wait` seconds (then 503 SERVICE_UNAVAILABLE):
    for requests that must take turns (one submission per citizen and item, one payment per reference)."""
    from app.errors import Unavailable

    lock, token, deadline = f"lock:{name}", secrets.token_hex(8), time.monotonic() + wait
    while not await cache.set_if_absent(lock, token, wait):
        if time.monotonic() > deadline:
            raise Unavailable()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        if await cache.get(lock) == token:
            await cache.delete(lock)
