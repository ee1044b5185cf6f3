"""Fixed-window rate limits kept in the shared cache; windows follow the service clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from app.cache import Cache, amounts_of
from app.clock import Clock
from app.errors import RateLimited


@dataclass(frozen=True)
class Limit:
    """At most `limit` events for `name` per `window` seconds; a 429 names `code` (RATE_LIMITED if None)."""

    name: str
    limit: int
    window: int
    code: str | None = None


async def hit(cache: Cache, clock: Clock, name: str, limit: int, window: int, code: str | None = None,
              amount: int = 1) -> int:
    """Count `amount` events for `name`; raise 429 with Retry-After when over `limit` per `window` seconds."""
    return (await hit_all(cache, clock, [Limit(name, limit, window, code)], amount))[0]


async def hit_all(cache: Cache, clock: Clock, limits: Sequence[Limit], amount: int | Sequence[int] = 1) -> list[int]:
    """Count `amount` against every limit (or each limit its own of `amount`'s; 0 looks at a limit
    without counting) in one round trip to the cache; 429 for the first limit it goes over. The limits
    after that one are given back, so each ends as if counted in turn and the counting had stopped at
    the refusal (a partner over its per-minute rate keeps its daily quota). The counters carry no common hash tag: the limits of one call are of different subjects (a phone and
    an address), so on a Redis Cluster they are counted as one transaction per slot (see `incr_many`)."""
    now = clock.timestamp()
    windows = [int(now // limit.window) for limit in limits]
    counters = [(f"rl:{limit.name}:{limit.window}:{index}", limit.window + 5.0) for limit, index in zip(limits, windows)]
    amounts = amounts_of(counters, amount)
    counts = await cache.incr_many(counters, amounts)
    for position, (limit, index, count) in enumerate(zip(limits, windows, counts)):
        if count > limit.limit:
            given_back = [(counter, -by) for counter, by in zip(counters[position + 1:], amounts[position + 1:]) if by]
            if given_back:
                await cache.incr_many([counter for counter, _ in given_back], [by for _, by in given_back])
            raise RateLimited(retry_after=int((index + 1) * limit.window - now) + 1, code=limit.code)
    return counts
