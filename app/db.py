"""Database wiring: Tortoise ORM on SQLite (embedded default) or PostgreSQL, schema by migrations.

Migrations live in `app/migrations/` (Tortoise's own migration framework, dialect-neutral
operations) and are applied at start on the embedded default, or by `python -m app migrate`.

With `APP_DATABASE_REPLICA_URL` (a PostgreSQL streaming replica) the reads that tolerate lag are served by the
replica: the service functions that make them are decorated `@lag_tolerant` (a citizen's history lists, their
access log, the catalogue, the copy of their data). Inside one, Tortoise's router (`ReplicaRouter`) sends reads
to the connection named "replica"; writes, and every read outside one, go to the primary ("default"). A
lag-tolerant read still goes to the primary when the signed-in citizen wrote within
`APP_DATABASE_REPLICA_STICKY_SECONDS` (read-your-writes: `remember_write`, a marker in the shared cache), when
the replica is further behind than `APP_DATABASE_REPLICA_MAX_LAG` or receives nothing from the primary (its WAL
receiver is not streaming), or when it cannot be reached (a read that
fails on it is made again on the primary); those fallbacks are logged and counted (`metrics.replica_fallback`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from contextvars import ContextVar
from typing import Any, Awaitable, Callable, ParamSpec, TypeVar, cast

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import OperationalError
from tortoise.queryset import QuerySet
from tortoise.migrations.executor import MigrationExecutor

from app import metrics
from app.cache import Cache
from app.config import REPLICA_PROBE_SECONDS, Settings, sqlite_path
from app.file_modes import create_private_file, make_private_dir

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("app.db")

PRIMARY = "default"
REPLICA = "replica"
# What a lost or refused database connection raises: refused/reset sockets (ConnectionError, also Tortoise's
# DBConnectionError), asyncpg's lost connection and server shutdown/start-up, a time limit met.
DATABASE_OUTAGES: tuple[type[BaseException], ...] = (
    ConnectionError, asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.OperatorInterventionError, asyncio.TimeoutError,
)
# On the replica also: an unknown host (OSError) and a query cancelled by the replay of the primary's changes
# (a recovery conflict, SQLSTATE 40001): the same read on the primary answers.
_REPLICA_FAILURES = DATABASE_OUTAGES + (OSError, asyncpg.exceptions.TransactionRollbackError)
PROBE_EVERY = REPLICA_PROBE_SECONDS  # seconds a worker trusts its last look at the replica's lag
PROBE_TIMEOUT = 2.0  # seconds the look may take: a replica that does not answer in time is not read from
# How far the replica's replay is behind what it has received (0 when it has replayed everything, and on a
# promoted replica, which is a primary now): seconds since the last transaction it replayed. NULL (lagging)
# when it receives nothing: a replica cut off from the primary (a network split, the primary restarted) has
# replayed all it received and would otherwise look current forever. pg_stat_wal_receiver shows its status
# only to roles with pg_read_all_stats: without it the status reads NULL and the replica is never read from.
LAG_SQL = """SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
                    WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN NULL
                    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag"""
STICKY_KEY = "db:wrote:"  # + citizen id: the citizen wrote within the sticky window

_replica: "Replica | None" = None
# Inside a lag-tolerant read: True once it is served by the replica, False by the primary; None outside one.
_on_replica: ContextVar[bool | None] = ContextVar("on_replica", default=None)
_reader: ContextVar[str | None] = ContextVar("reader", default=None)  # the signed-in citizen of the request


class ReplicaRouter:
    """Tortoise's router (with a replica only): a read inside a lag-tolerant read served by the replica goes to
    it; every other read, and every write (no `db_for_write`: the model's own connection), to the primary."""

    def db_for_read(self, model: Any) -> str:
        return REPLICA if _on_replica.get() else PRIMARY


class Replica:
    """This worker's view of the replica: whether a lag-tolerant read may go to it now, and what a fallback costs."""

    def __init__(self, cache: Cache, sticky_seconds: float, max_lag: float) -> None:
        self.cache = cache
        self.sticky_seconds = sticky_seconds
        self.max_lag = max_lag
        self._probed_until = 0.0  # monotonic time until which the last probe's answer holds
        self._trouble: str | None = "unprobed"  # why the replica is not read from; None: it is

    @classmethod
    def of(cls, settings: Settings, cache: Cache) -> "Replica | None":
        if not settings.database_replica_url:
            return None
        return cls(cache, settings.database_replica_sticky_seconds, settings.database_replica_max_lag)

    async def serves(self, reader: str | None) -> bool:
        """Whether a lag-tolerant read by `reader` (None: no citizen signed in) goes to the replica."""
        if reader is not None and self.sticky_seconds and await self.cache.get(STICKY_KEY + reader) is not None:
            return False
        if time.monotonic() >= self._probed_until:
            self._probed_until = time.monotonic() + PROBE_EVERY  # the other reads meanwhile keep the last answer
            self._became(await self._probe())
        if self._trouble is not None:
            metrics.replica_fallback(self._trouble)
            return False
        return True

    async def _probe(self) -> str | None:
        try:
            rows = await asyncio.wait_for(connections.get(REPLICA).execute_query_dict(LAG_SQL), PROBE_TIMEOUT)
        except Exception as failure:
            if not replica_failure(failure):
                raise
            log.debug("replica probe failed: %s", type(failure).__name__)
            return "unreachable"
        lag = rows[0]["lag"]
        return "lagging" if lag is None or float(lag) > self.max_lag else None

    def _became(self, trouble: str | None) -> None:
        if trouble != self._trouble:
            if trouble is not None:
                log.warning("database replica %s: lag-tolerant reads go to the primary", trouble)
            elif self._trouble != "unprobed":
                log.info("database replica: read from again")
        self._trouble = trouble

    def failed(self, failure: BaseException) -> None:
        """A read on the replica failed: it is made again on the primary, and so are the others until the next probe."""
        log.warning("database replica: a read failed (%s), made again on the primary", type(failure).__name__)
        metrics.replica_fallback("unreachable")
        if not isinstance(failure, asyncpg.exceptions.TransactionRollbackError):
            self._trouble, self._probed_until = "unreachable", time.monotonic() + PROBE_EVERY


def replica_failure(failure: BaseException) -> bool:
    """Whether `failure` says the replica cannot serve the read (so the primary should)."""
    return isinstance(failure, _REPLICA_FAILURES) or (
        isinstance(failure, OperationalError) and isinstance(failure.__cause__, _REPLICA_FAILURES))


def lag_tolerant(read: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Marks a read that may be served from the replica: one that writes nothing (it may be made twice: again
    on the primary when the replica fails under it) and whose reader can live with a few seconds of lag."""

    @functools.wraps(read)
    async def routed(*args: P.args, **kwargs: P.kwargs) -> T:
        replica = _replica
        if replica is None or _on_replica.get() is not None or inside_transaction():
            return await read(*args, **kwargs)  # no replica, already decided, or inside a write's transaction
        token = _on_replica.set(await replica.serves(_reader.get()))
        try:
            return await read(*args, **kwargs)
        except Exception as failure:
            if not _on_replica.get() or not replica_failure(failure):
                raise
            replica.failed(failure)
        finally:
            _on_replica.reset(token)
        token = _on_replica.set(False)
        try:
            return await read(*args, **kwargs)
        finally:
            _on_replica.reset(token)

    return routed


def inside_transaction() -> bool:
    """Is the caller inside `in_transaction()` (on the primary)? Its reads then stay in it."""
    return isinstance(connections.get(PRIMARY), TransactionalDBClient)


def reading_as(citizen_id: str) -> None:
    """The signed-in citizen of the request being handled: their lag-tolerant reads honour their sticky window."""
    _reader.set(citizen_id)


async def remember_write(citizen_id: str) -> None:
    """The citizen wrote (or was written to): their lag-tolerant reads go to the primary for the sticky window."""
    replica = _replica
    if replica is not None and replica.sticky_seconds:
        await replica.cache.set(STICKY_KEY + citizen_id, "1", replica.sticky_seconds)


def serving_connection() -> str:
    """The connection a read made now goes to: "replica" inside a lag-tolerant read served by it, else "default"."""
    return REPLICA if _on_replica.get() else PRIMARY

# Every module that defines models, in one Tortoise app called "models".
MODEL_MODULES = [
    "app.audit",
    "app.security.clients",
    "app.accounts.models",
    "app.notifications.models",
    "health_code.models",
    "health_code.interop.models",
    "app.vouchers.models",
    "app.services.catalogue.models",
    "app.services.applications.models",
    "app.services.appointments.models",
    "app.services.ratings.models",
    "app.services.cards.models",
    "elderly_mode.models",
    "app.payments.models",
    "app.miniprogram.models",
    "app.integrations.exchange.models",
    "app.departments.models",
    "app.hotline.models",
    "app.uploads.models",
    "app.exports.models",
    "app.oidc.models",
    "app.partitions",
]


def tortoise_config(database_url: str, replica_url: str = "") -> dict[str, Any]:
    url = database_url.replace("postgresql://", "postgres://", 1)
    if url.startswith("sqlite://") and "synchronous=" not in url:
        # The embedded default runs in WAL mode (Tortoise sets it); with synchronous=NORMAL a commit
        # no longer waits for an fsync. The database stays consistent on a crash; a power cut may lose
        # the last commits, which is acceptable for the embedded default (production is PostgreSQL).
        url += ("&" if "?" in url else "?") + "synchronous=NORMAL"
    config: dict[str, Any] = {
        "connections": {PRIMARY: url},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": PRIMARY, "migrations": "app.migrations"}},
        "use_tz": True,
        "timezone": "UTC",
    }
    if replica_url:
        # Tortoise opens the replica's pool at its first read: a replica down at start does not stop the service.
        config["connections"][REPLICA] = replica_url.replace("postgresql://", "postgres://", 1)
        config["routers"] = [ReplicaRouter]
    return config


async def init_db(database_url: str, migrate: bool, replica_url: str = "", replica: Replica | None = None) -> None:
    """Tortoise on `database_url`; with `replica_url` and `replica` (`Replica.of(settings, cache)`) also on the
    replica, for the lag-tolerant reads."""
    global _replica
    path = sqlite_path(database_url)
    if path is not None:
        # Made private before SQLite opens it: SQLite gives its -wal and -shm files the database file's mode.
        make_private_dir(path.parent)
        create_private_file(path)
    config = tortoise_config(database_url, replica_url if replica is not None else "")
    _replica = replica if replica_url else None
    # Sanic runs listeners and handlers in different tasks: share the context (as tortoise.contrib.sanic does).
    await Tortoise.init(config=config, _enable_global_fallback=True)
    if REPLICA in config["connections"]:
        # Tortoise made the replica's client (its pool opens at the first read); out of the configured
        # connections it stays reachable by name for the router, while `in_transaction()` without a name
        # keeps meaning the primary (Tortoise asks for a name when several are configured).
        connections.db_config.pop(REPLICA)
    if migrate:
        await apply_migrations(config)


async def apply_migrations(config: dict[str, Any]) -> None:
    executor = MigrationExecutor(connections.get("default"), config["apps"])
    await executor.migrate()


async def ping_db() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def close_db() -> None:
    global _replica
    if _replica is not None:
        await connections.get(REPLICA).close()
    _replica = None
    await Tortoise.close_connections()


def dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


def placeholders(conn: Any, count: int, first: int = 1) -> str:
    """Parameter placeholders for SQL of our own (on hot paths, where building an ORM query costs
    more than running it), in `conn`'s dialect: "?, ?" on SQLite, "$1, $2" on PostgreSQL."""
    if conn.capabilities.dialect == "sqlite":
        return ", ".join("?" * count)
    return ", ".join(f"${number}" for number in range(first, first + count))


def parameter(conn: Any, number: int) -> str:
    """The placeholder of parameter `number` (from 1) in SQL of our own, which may name it more than once:
    "?1" on SQLite, "$1" on PostgreSQL."""
    return f"?{number}" if conn.capabilities.dialect == "sqlite" else f"${number}"


async def column(query: QuerySet[Any], field: str) -> list[Any]:
    """`field` of every row `query` selects: `values_list(field, flat=True)`, which Tortoise declares as
    a list of tuples although with one field it returns the values themselves. Callers name the type."""
    return cast(list[Any], await query.values_list(field, flat=True))
