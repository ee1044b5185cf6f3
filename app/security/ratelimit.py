"""Fixed-window rate limits kept in the shared cache; windows follow the service clock."""

from __future__ import annotations

from app.cache import Cache
from app.clock import Clock
from app.errors import RateLimited


async def hit(cache: Cache, clock: Clock, name: str, limit: int, window: int, code: str | None = None,
              amount: int = 1) -> int:
    """Count `amount` events for `name`; raise 429 with Retry-After when over `limit` per `window` seconds."""
    now = clock.timestamp()
    index = int(now // window)
    count = await cache.incr(f"rl:{name}:{window}:{index}", ttl=window + 5, amount=amount)
    if count > limit:
        raise RateLimited(retry_after=int((index + 1) * window - now) + 1, code=code)
    return count
