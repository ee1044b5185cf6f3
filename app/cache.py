"""One cache interface: `redis.asyncio` in production, in-memory for the embedded default.

Used for one-time codes, rate limits, locks and replay protection. The in-memory
implementation lives in one process, so `Settings` refuses several workers without Redis.
With Redis, the keys every signed-in request reads (session state, citizen snapshot, current
health code) are also mirrored in each worker by a `NearCache`, kept true by pub/sub.
Expiry that matters to a citizen (a code's 5 minutes) is checked against the clock by the
domain; cache TTLs only bound how long keys are kept.

A `redis+cluster://` (or `rediss+cluster://`) URL selects a Redis Cluster (`redis.asyncio.cluster`).
A key may carry a hash tag (`{...}`, Redis's rule: only the text between the first braces is hashed)
so that keys read or counted together live in one slot; `get_many` and `incr_many` of keys in
several slots are grouped by slot (see each). The near cache's invalidations then use sharded
pub/sub (SPUBLISH/SSUBSCRIBE) on one shard channel.
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
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.backoff import ExponentialWithJitterBackoff
from redis.crc import key_slot
from redis.exceptions import MaxConnectionsError
from redis.asyncio.retry import Retry

from app import metrics
from app.errors import Unavailable
from app.single_flight import SingleFlight

log = logging.getLogger(__name__)

# What every signed-in request reads: the session's state, the citizen snapshot, the current code;
# what every client request reads: the client with its keys; and what every partner request reads:
# the trust list's version.
NEAR_PREFIXES = ("sess:", "citizen:", "hc:code:", "client:", "interop:trust-version")

# A Redis Cluster is named by these schemes; redis-py's cluster client is given the plain one.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# A cluster command is retried on a connection error, MOVED or CLUSTERDOWN for about 10 seconds in all:
# longer than a primary's failover (its replica is promoted within a few node timeouts).
CLUSTER_RETRY = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=14)


def cluster_url(url: str) -> str | None:
    """The plain URL of a Redis Cluster's node if `url` names a cluster (`redis+cluster://`), else None."""
    scheme, _, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    return f"{plain}://{rest}" if plain else None


def redis_client(url: str, max_connections: int = 64, wait: float = 2.0) -> Any:
    """A `redis.asyncio` client for `url`, decoding replies to text: a `RedisCluster` for a cluster URL
    (a pool of `max_connections` per node), else a `Redis` on a bounded pool that waits up to `wait`
    seconds for a free connection (under a burst, 64 home screens of 6 cards each, callers queue for
    a moment instead of failing with "too many connections")."""
    nodes = cluster_url(url)
    if nodes is not None:
        cluster = cast(QueuedCluster, QueuedCluster.from_url(
            nodes, max_connections=max_connections, decode_responses=True, socket_timeout=2.0,
            socket_connect_timeout=2.0, retry=CLUSTER_RETRY))
        cluster.queue_for(max_connections, wait)
        return cluster
    pool = redis_asyncio.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=wait, decode_responses=True,
        socket_timeout=2.0, socket_connect_timeout=2.0,
    )
    return redis_asyncio.Redis.from_pool(pool)  # owns the pool: close() disconnects it


class QueuedCluster(RedisCluster):
    """redis-py's cluster client, whose callers queue for a free connection as on one Redis: its own pool
    per node fails at once with MaxConnectionsError when all are busy. At most `max_connections` commands
    or pipelines are in flight per worker (each holds one connection per node at most); a caller waits up
    to `wait` seconds for its turn, else MaxConnectionsError (a 503 to a request)."""

    _turns: asyncio.Semaphore
    _wait: float

    def queue_for(self, max_connections: int, wait: float) -> None:
        self._turns, self._wait = asyncio.Semaphore(max_connections), wait

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(self._turns.acquire(), self._wait)
        except asyncio.TimeoutError:
            raise MaxConnectionsError("no connection to the cluster came free in time") from None
        try:
            yield
        finally:
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)
        return QueuedPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py makes its own


class QueuedPipeline(ClusterPipeline):
    """A cluster pipeline that waits for its client's turn (see `QueuedCluster`)."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        client = cast(QueuedCluster, self.cluster_client)
        async with client.turn():
            return await super().execute(raise_on_error, allow_redirections)


def amounts_of(counters: Sequence[tuple[str, float]], amount: int | Sequence[int]) -> list[int]:
    """`incr_many`'s amount for each counter: the one `amount`, or each its own (as many as counters)."""
    if isinstance(amount, int):
        return [amount] * len(counters)
    if len(amount) != len(counters):
        raise ValueError(f"{len(counters)} counters, {len(amount)} amounts")
    return list(amount)


def by_slot(keys: Sequence[str]) -> dict[int, list[int]]:
    """The positions of `keys` grouped by their cluster hash slot, in first-seen order."""
    groups: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key_slot(key.encode()), []).append(position)
    return groups


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def get_fresh(self, key: str) -> str | None: ...
    async def get_many(self, keys: list[str]) -> list[str | None]: ...
    async def set(self, key: str, value: str, ttl: float) -> None: ...
    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool: ...
    async def claim_once(self, key: str, value: str, ttl: float) -> bool: ...
    async def replace(self, key: str, expected: str | None, value: str, ttl: float, announce: bool = True) -> bool: ...
    async def incr(self, key: str, ttl: float, amount: int = 1) -> int: ...
    async def incr_many(self, counters: Sequence[tuple[str, float]], amount: int | Sequence[int] = 1) -> list[int]: ...
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
        return metrics.cache_read("shared", self._live(key))

    async def get_fresh(self, key: str) -> str | None:
        return self._live(key)

    async def get_many(self, keys: list[str]) -> list[str | None]:
        return cast(list[str | None], metrics.cache_reads("shared", [self._live(key) for key in keys]))

    async def set(self, key: str, value: str, ttl: float) -> None:
        self._data[key] = (value, time.monotonic() + ttl)

    async def set_if_absent(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._data[key] = (value, time.monotonic() + ttl)
        return True

    async def claim_once(self, key: str, value: str, ttl: float) -> bool:
        """A one-time marker (see `RedisCache.claim_once`): in one process, set-if-absent is the whole claim."""
        return await self.set_if_absent(key, value, ttl)

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

    async def incr_many(self, counters: Sequence[tuple[str, float]], amount: int | Sequence[int] = 1) -> list[int]:
        return [await self.incr(key, ttl, by) for (key, ttl), by in zip(counters, amounts_of(counters, amount))]

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
        return metrics.cache_read("near", self._get(key))

    def _get(self, key: str) -> str | None:
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
                 near_ttl: float = 0.0, one_time_replicas: int | None = None, one_time_wait_ms: int = 500) -> None:
        self.cluster = cluster_url(url) is not None
        # Replicas that must hold a one-time marker before its claim counts (`claim_once`): by default 1 on a
        # cluster, none on one Redis.
        self.one_time_replicas = (1 if self.cluster else 0) if one_time_replicas is None else one_time_replicas
        self.one_time_wait_ms = one_time_wait_ms
        self._redis = redis_client(url, max_connections, wait)
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
            return metrics.cache_read("shared", cast(str | None, await self._redis.get(self._k(key))))  # decode_responses: text
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
            return cast(list[str | None], metrics.cache_reads("shared", await self._mget([self._k(key) for key in keys])))
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
            values = await self._guarded(self._mget([self._k(key) for key in keys]))
        for key, value in zip(keys, values):
            if value is not None and self.near.covers(key):
                self.near.put(key, value, generation)
        return cast(list[str | None], metrics.cache_reads("shared", values))

    async def _mget(self, names: list[str]) -> list[str | None]:
        """MGET; on a cluster redis-py's `mget_nonatomic`: one MGET per hash slot, all sent in one pipeline
        (a round trip to each node holding some). Keys read together are tagged to share a slot where they
        belong to one subject (a session and its citizen: one MGET); a batch that spans subjects by nature
        (100 payload digests, each shared by many citizens) is grouped by slot here instead, because a
        common tag would put every such key on one shard. Reads of different slots are no atomic snapshot."""
        if self.cluster:
            return cast(list[str | None], await self._redis.mget_nonatomic(names))
        return cast(list[str | None], await self._redis.mget(names))

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

    async def claim_once(self, key: str, value: str, ttl: float) -> bool:
        """A one-time marker (a used code's nonce, a ticket, a jti): set if absent, True for the one caller that
        set it. Redis replicates asynchronously, so a primary killed before passing the marker on would let its
        promoted replica take the token again: with `one_time_replicas`, the SET NX is followed by WAIT on the same
        connection of the key's node, and a claim that fewer replicas acknowledged in `one_time_wait_ms` raises
        CacheUnavailable (a 503: the token is not taken as used) after taking its marker back (`_unclaim`), so that
        the client may retry with the same token."""
        if self.near.covers(key):
            raise ValueError(f"a one-time marker is never mirrored: {key!r}")
        if not self.one_time_replicas:
            return await self.set_if_absent(key, value, ttl)
        name, node = self._k(key), None
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(name, value, px=max(1, int(ttl * 1000)), nx=True)
        if self.cluster:
            # WAIT counts the writes of its own connection: it goes to the key's node, in the pipeline that
            # sends the SET there on one connection.
            await self._redis.initialize()  # the slot map, read at the first command (at once afterwards)
            node = self._redis.get_node_from_key(name)
            pipe.execute_command("WAIT", self.one_time_replicas, self.one_time_wait_ms, target_nodes=node)
        else:
            pipe.execute_command("WAIT", self.one_time_replicas, self.one_time_wait_ms)
        claimed, acknowledged = await pipe.execute()
        if node is not None and self._redis.get_node_from_key(name) != node:
            # The slot moved (a failover) while the claim was sent: the WAIT may have asked another node.
            raise CacheUnavailable("the one-time marker's slot moved while it was claimed")
        if claimed and int(acknowledged) < self.one_time_replicas:
            log.warning("one-time marker held by %s of %s replicas in %s ms: claim refused",
                        acknowledged, self.one_time_replicas, self.one_time_wait_ms)
            await self._unclaim(key, value)
            raise CacheUnavailable(f"the one-time marker reached {acknowledged} of {self.one_time_replicas} replicas")
        return bool(claimed)

    async def _unclaim(self, key: str, value: str) -> None:
        """The marker this claim set (it won the SET NX) but too few replicas acknowledged: taken back, so that
        the client's retry after the 503 is a first use again, not refused as replayed. If it cannot be taken
        back the marker stays: the claim still fails closed (the token is refused, never accepted twice)."""
        try:
            await self.delete_if(key, value)
        except Exception as failure:  # the 503 stands either way; the caller is told of the refused claim
            log.warning("one-time marker not taken back after a refused claim: %s", type(failure).__name__)

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
                  self._channel if mirrored and announce and not self.cluster else "", key]))
        if replaced and mirrored and announce and self.cluster:
            await self._guarded(self._announce(key))
        if mirrored:
            self.near.drop(key)  # a read that began between the first drop and the write stores nothing
        return bool(replaced)

    async def incr(self, key: str, ttl: float, amount: int = 1) -> int:
        if self.near.covers(key):
            return int(await self._written(key, lambda pipe: self._count(pipe, key, ttl, amount)))
        return (await self.incr_many([(key, ttl)], amount))[0]

    async def incr_many(self, counters: Sequence[tuple[str, float]], amount: int | Sequence[int] = 1) -> list[int]:
        """`incr` of each (key, ttl) by `amount` (or by its own of `amount`'s), in one round trip (and one
        transaction) when none is mirrored."""
        amounts = amounts_of(counters, amount)
        if any(self.near.covers(key) for key, _ in counters):
            return [await self.incr(key, ttl, by) for (key, ttl), by in zip(counters, amounts)]
        groups = by_slot([self._k(key) for key, _ in counters]) if self.cluster else {0: list(range(len(counters)))}
        counted = await asyncio.gather(*(self._count_together([counters[p] for p in positions],
                                                              [amounts[p] for p in positions])
                                         for positions in groups.values()))
        counts = [0] * len(counters)
        for positions, found in zip(groups.values(), counted):
            for position, count in zip(positions, found):
                counts[position] = count
        return counts

    async def _count_together(self, counters: Sequence[tuple[str, float]], amounts: Sequence[int]) -> list[int]:
        """Counters of one slot in one transaction. On a cluster a call's counters of different slots
        (a phone's and an address's limit: different subjects, so no common tag) are one transaction
        per slot, sent at once; each counter's count and expiry stay one step, which is what a limit needs."""
        pipe = self._redis.pipeline(transaction=True)
        for (key, ttl), amount in zip(counters, amounts):
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
            keys=[self._k(key)], args=[expected, self._channel if mirrored and not self.cluster else "", key]))
        if deleted and mirrored and self.cluster:
            await self._guarded(self._announce(key))
        if mirrored:
            self.near.drop(key)
        return bool(deleted)

    async def _written(self, key: str, write: Any) -> Any:
        """A write to a mirrored key: dropped here at once, and on every other worker by pub/sub."""
        self.near.drop(key)
        pipe = self._redis.pipeline(transaction=True)
        write(pipe)
        if not self.cluster:
            pipe.publish(self._channel, key)
        result = (await self._guarded(pipe.execute()))[0]
        if self.cluster:
            await self._guarded(self._announce(key))
        self.near.drop(key)  # a read that began between the first drop and the write stores nothing
        return result

    async def _announce(self, key: str) -> None:
        """On a cluster: a mirrored key's invalidation, sent after its write (a shard channel lives in one
        slot, not the key's, so the two cannot be one step). Should it fail after the write, the caller gets
        the error and other workers may show the old value until their subscription to that shard breaks
        or `near_ttl` lapses; the command is retried across a failover first."""
        await self._redis.spublish(self._channel, key)

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

    async def _subscribe(self) -> tuple[Any, Any]:
        """The invalidation channel subscribed: plain pub/sub on one Redis; on a cluster sharded pub/sub, on
        a connection of its own to the node that serves the channel's slot now (after a failover the
        promoted replica), so that losing that node is seen here as a lost subscription. Returns the
        subscription and the node's client to close with it (None on one Redis)."""
        if not self.cluster:
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(self._channel)
            return pubsub, None
        await self._redis.exists(self._channel)  # moves the client's slot map on after a failover
        node = self._redis.get_node_from_key(self._channel)
        client = redis_asyncio.Redis(host=node.host, port=node.port, decode_responses=True, socket_timeout=2.0,
                                     socket_connect_timeout=2.0, **self._node_credentials())
        pubsub = client.pubsub()
        try:
            await pubsub.ssubscribe(self._channel)
        except BaseException:
            await _close_quietly(pubsub, client)
            raise
        return pubsub, client

    def _node_credentials(self) -> dict[str, Any]:
        kwargs = self._redis.get_connection_kwargs()
        return {name: kwargs[name] for name in ("username", "password", "ssl") if kwargs.get(name)}

    def _heard(self, message: dict[str, Any]) -> None:
        """A message on the invalidation channel: subscribed (again), a key to drop, or the channel gone away."""
        if message["type"] in ("subscribe", "ssubscribe"):
            self.near.suspend()  # anything published while we were away was missed
            self.near.live = True
        elif message["type"] in ("message", "smessage"):
            self.near.drop(message["data"])
        elif message["type"] == "sunsubscribe":  # the channel's slot moved to another node (a failover)
            raise ConnectionError("the invalidation channel moved")

    async def _invalidations(self) -> None:
        backoff = 0.1
        while True:
            pubsub: Any = None
            node_client: Any = None
            try:
                pubsub, node_client = await self._subscribe()
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
                    self._heard(message)
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
                await _close_quietly(pubsub, node_client)

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


async def _close_quietly(pubsub: Any, node_client: Any) -> None:
    """Close a subscription and, on a cluster, the node client it was made from."""
    for closing in (pubsub, node_client):
        if closing is None:
            continue
        try:
            await closing.aclose()
        except Exception:  # noqa: BLE001 - the connection is already gone
            pass


def create_cache(redis_url: str, namespace: str, max_connections: int = 64, near_ttl: float = 0.0,
                 one_time_replicas: int | None = None, one_time_wait_ms: int = 500) -> Cache:
    if not redis_url:
        return MemoryCache()
    return RedisCache(redis_url, namespace, max_connections, near_ttl=near_ttl, one_time_replicas=one_time_replicas,
                      one_time_wait_ms=one_time_wait_ms)


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
