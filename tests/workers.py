"""Waiting on several workers' caches (the `workers` fixture in conftest): for a worker's invalidation
channel to be subscribed (its near cache mirrors nothing before), and for a change to reach it."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable

from app.cache import RedisCache


async def subscribed(cache: RedisCache, key: str = "sess:warm-up") -> None:
    await cache.get(key)
    for _ in range(100):
        if cache.near.live:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the invalidation channel was not subscribed")


async def eventually(read: Callable, expected: object, within: float = 1.0) -> float:
    """Seconds until `await read()` gives `expected`; AssertionError after `within`."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await read() == expected:
            return time.monotonic() - started
        await asyncio.sleep(0.002)
    raise AssertionError(f"still {await read()!r}, not {expected!r}, after {within} s")


@asynccontextmanager
async def invalidations(cache: RedisCache) -> AsyncIterator[Any]:
    """A listener on `cache`'s invalidation channel as its workers hear it (pub/sub on one Redis, sharded
    pub/sub on a cluster), past the subscription's own confirmation."""
    listener, node_client = await cache._subscribe()
    try:
        await listener.get_message(timeout=1.0)
        yield listener
    finally:
        await listener.aclose()
        if node_client is not None:
            await node_client.aclose()
