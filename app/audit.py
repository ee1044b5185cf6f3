"""The append-only, hash-chained audit log, and the citizen-visible access log built on it.

`record_event` notes what happened (logins, identity changes, revocations);
`record_access` is the one function every domain calls when anyone other than the citizen
(a relying party, a partner region, a family proxy, a clerk) reads the citizen's data. The
citizen sees those entries at `GET /api/v1/me/access-log`.

The log is many chains (`APP_AUDIT_CHAINS`, fixed in the database at first use): an entry goes to the
chain its subject hashes to (its actor's when it has none), so one citizen's entries are one chain, in
order, and writers of different chains share no lock. Each chain has its own head row; a worker's entries
that arrive together are chained in one transaction (group commit, see `_append_together`).
Each entry holds the hash of the one before it in its chain, and its chain's number is hashed with it;
every minute `anchor_heads` appends to the root chain the heads that moved. `verify_chain`
(`python -m app audit verify`) walks every chain and the root chain and finds a changed, inserted, moved or
deleted entry, and newest entries deleted after an anchor. The database also refuses UPDATE and DELETE on
the tables (triggers created by the migrations).

`seq` is one number across all chains, increasing along each chain: from a sequence on PostgreSQL, the
largest plus one on SQLite (one writer). The entries written when the log was one chain (up to the
layout's `legacy_seq`) are chain 0's first entries, hashed without a chain number, as they were written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring  # the encoder's own string writer (as with ensure_ascii=False)
from typing import Any, ClassVar, Sequence

from tortoise import connections, fields
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.clock import Clock
from app.config import ConfigError
from app.db import PRIMARY, inside_transaction, lag_tolerant, placeholders
from app.partitions import ArchivedPartition

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
DEFAULT_CHAINS = 64
# operator: a person at the servers running a maintenance command (`python -m app clients ...`)
ACTOR_TYPES = ("citizen", "system", "relying_party", "partner", "proxy", "admin", "department", "operator")


class AuditEntry(Model):
    seq = fields.BigIntField(pk=True, generated=False)
    at = fields.DatetimeField()
    category = fields.CharField(max_length=16)  # "event" or "access"
    actor = fields.CharField(max_length=128)
    actor_type = fields.CharField(max_length=32)
    action = fields.CharField(max_length=64)
    subject_id = fields.CharField(max_length=40, null=True, db_index=True)
    attributes: Any = fields.JSONField(default=list)
    purpose = fields.CharField(max_length=200, null=True)
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)
    chain = fields.IntField(default=0, db_default=0)  # indexed with seq by the migration (a chain is read in seq order)

    class Meta:
        table = "audit_entries"


class AuditHead(Model):
    """The last link of the chain, so that deleting the newest entries is detected too (model docstrings become table comments: Tortoise 1.1.9 writes them unescaped into DDL, so no apostrophes or semicolons)."""

    # One row per chain: id is the chain's number.
    id = fields.IntField(pk=True, generated=False)
    seq = fields.BigIntField()
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_head"


class AuditLayout(Model):
    """How many audit chains there are, fixed at first use, and the last entry written when the log was one chain."""

    id = fields.IntField(pk=True, generated=False)
    chains = fields.IntField()
    legacy_seq = fields.BigIntField()

    class Meta:
        table = "audit_layout"


class AuditRoot(Model):
    """The root chain: each entry anchors the heads of the audit chains that moved since the one before."""

    seq = fields.BigIntField(pk=True, generated=False)
    at = fields.DatetimeField()
    anchors: Any = fields.JSONField(default=list)  # [[chain, seq, hash], ...]
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_root"


class AuditRootHead(Model):
    """The last root entry, and the head of each chain it anchored."""

    id = fields.IntField(pk=True, generated=False)
    seq = fields.BigIntField()
    hash = fields.CharField(max_length=64)
    anchored: Any = fields.JSONField(default=dict)  # {"<chain>": seq}: what the last anchors said

    class Meta:
        table = "audit_root_head"


class PendingAudit(Model):
    """Audit entries written in a domain transaction and not yet chained (its worker may die before the chain write)."""

    # Chained and removed in one transaction: by the writer right after its commit, or by the sweep
    # (record_abandoned) when the writer is gone.

    id = fields.BigIntField(pk=True)
    records: Any = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "audit_pending"


# The canonical form of an entry, hashed into the chain: one encoder object, kept (json.dumps with
# these options builds a new one on every call).
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def entry_hash(prev_hash: str, seq: int, at: datetime, category: str, actor: str, actor_type: str,
               action: str, subject_id: str | None, attributes: Any, purpose: str | None) -> str:
    """SHA-256 of the entry's canonical JSON: [prev_hash, seq, at, category, actor, actor_type, action,
    subject_id, attributes, purpose], keys sorted, no spaces, UTF-8."""
    return _linked_hash(prev_hash, seq, at.isoformat(timespec="microseconds"), category, actor, actor_type, action,
                        subject_id, _CANONICAL.encode(attributes), purpose)


def chained_entry_hash(chain: int, prev_hash: str, seq: int, at: datetime, category: str, actor: str,
                       actor_type: str, action: str, subject_id: str | None, attributes: Any, purpose: str | None) -> str:
    """The hash of an entry written on one of many chains: `entry_hash` with the chain's number first,
    [chain, prev_hash, seq, ...], so an entry moved to another chain no longer matches its hash."""
    return _linked_hash(prev_hash, seq, at.isoformat(timespec="microseconds"), category, actor, actor_type, action,
                        subject_id, _CANONICAL.encode(attributes), purpose, chain=chain)


def _linked_hash(prev_hash: str, seq: int, at_text: str, category: str, actor: str, actor_type: str, action: str,
                 subject_id: str | None, attributes_json: str, purpose: str | None, chain: int | None = None) -> str:
    """`entry_hash` (or with `chain`, `chained_entry_hash`) with the attributes already in canonical JSON (a
    record encodes them once, when it is built). A JSON list is its items joined by ",": the text is the
    very one `entry_hash` hashes."""
    items = ",".join([_scalar_json(prev_hash), str(seq), _scalar_json(at_text), _scalar_json(category),
                      _scalar_json(actor), _scalar_json(actor_type), _scalar_json(action), _scalar_json(subject_id),
                      attributes_json, _scalar_json(purpose)])
    if chain is not None:
        items = f"{chain},{items}"
    return hashlib.sha256(f"[{items}]".encode("utf-8")).hexdigest()


def root_hash(prev_hash: str, seq: int, at: datetime, anchors: list[list[Any]]) -> str:
    """SHA-256 of a root entry's canonical JSON: [prev_hash, seq, at, anchors], anchors as [chain, seq, hash]."""
    canonical = _CANONICAL.encode([prev_hash, seq, at.isoformat(timespec="microseconds"), anchors])
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def chain_of(key: str, chains: int) -> int:
    """The chain of entries about `key` (a subject, else the actor): a stable hash, the same in every
    process and version, so one subject's entries stay on one chain."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % chains


def _scalar_json(value: str | None) -> str:
    # What the canonical encoder writes for a string or None, without its per-call set-up.
    return "null" if value is None else encode_basestring(value)


_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Lock]]" = weakref.WeakKeyDictionary()


def _local_lock(chain: int) -> asyncio.Lock:
    """One lock per chain and event loop: a lock waited on under one loop cannot be used under another
    (each test has its own loop; a server worker has one)."""
    loop = asyncio.get_running_loop()
    locks = _locks.get(loop)
    if locks is None:
        locks = _locks[loop] = {}
    lock = locks.get(chain)
    if lock is None:
        lock = locks[chain] = asyncio.Lock()
    return lock


@dataclass(frozen=True)
class Layout:
    """How the log is laid out: `chains` chains; entries up to `legacy_seq` were written as one chain."""

    chains: int
    legacy_seq: int


class AuditLayoutMismatch(ConfigError):
    """APP_AUDIT_CHAINS differs from the number of chains the log's entries are placed by."""


_chains_wanted = DEFAULT_CHAINS
_layouts: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Layout]" = weakref.WeakKeyDictionary()


def configure(chains: int) -> None:
    """The number of chains this process writes with (APP_AUDIT_CHAINS); checked against the database at first use."""
    global _chains_wanted
    _chains_wanted = chains


async def layout() -> Layout:
    """The log's layout, fixed in the database by the first writer; AuditLayoutMismatch when this process
    is set up for another number of chains (its entries would go to other chains than before)."""
    loop = asyncio.get_running_loop()
    known = _layouts.get(loop)
    if known is not None and known.chains == _chains_wanted:
        return known
    for _ in range(3):
        found = await stored_layout()
        if found is not None:
            break
        try:
            # Every entry already there was written as one chain (no layout, no chains yet). In a caller's
            # transaction this is a savepoint: losing the race to another worker does not abort the caller's.
            async with in_transaction() as conn:
                await conn.execute_query(f"INSERT INTO audit_layout (id, chains, legacy_seq) SELECT 1, "
                                         f"CAST({placeholders(conn, 1)} AS INTEGER), COALESCE(MAX(seq), 0) "
                                         "FROM audit_entries", [_chains_wanted])
        except IntegrityError:
            continue  # another worker fixed it first: read theirs
    else:
        raise RuntimeError("the audit layout could not be read")
    if found.chains != _chains_wanted:
        raise AuditLayoutMismatch(
            f"APP_AUDIT_CHAINS is {_chains_wanted}, but the audit log was started with {found.chains} chains and "
            f"its entries are placed by that number: set APP_AUDIT_CHAINS={found.chains}")
    _layouts[loop] = found
    return found


async def stored_layout() -> Layout | None:
    """The layout in the database, or None before the first entry was written with chains."""
    _, rows = await connections.get("default").execute_query("SELECT chains, legacy_seq FROM audit_layout WHERE id = 1")
    return Layout(int(rows[0]["chains"]), int(rows[0]["legacy_seq"])) if rows else None


@dataclass(frozen=True)
class AuditRecord:
    """One entry to append; build it with `event(...)` or `access(...)`, write many with `record_all`."""

    category: str
    actor: str
    actor_type: str
    action: str
    subject_id: str | None
    attributes: list[Any] | dict[str, Any]
    purpose: str | None
    # The attributes in canonical JSON, what is hashed into the chain and stored, encoded once as the
    # record is made. Not a field (a ClassVar is not), so a record kept in audit_pending is its seven
    # fields only. Set by __post_init__ rather than a cached_property, whose lock on Python 3.11 made
    # every entry slower (docs/capacity.md).
    attributes_json: ClassVar[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes_json", _CANONICAL.encode(self.attributes))


def event(*, actor: str, actor_type: str, action: str, subject_id: str | None = None,
          attributes: Sequence[Any] | dict[str, Any] = (), purpose: str | None = None) -> AuditRecord:
    """Something that happened (a login, an identity change, a revocation). No PII values."""
    return _record("event", actor, actor_type, action, subject_id, attributes, purpose)


def access(*, citizen_id: str, actor: str, actor_type: str, action: str, attributes: Sequence[str],
           purpose: str) -> AuditRecord:
    """Someone other than the citizen read the citizen's data (shown in their access log).

    `attributes` names what was disclosed (e.g. ["name", "id_number_masked"]), never the values.
    """
    if actor_type == "citizen":
        raise ValueError("record_access is for reads by someone other than the citizen")
    return _record("access", actor, actor_type, action, citizen_id, attributes, purpose)


_MAX_LENGTH: dict[str, int] = {name: getattr(AuditEntry._meta.fields_map[name], "max_length")
               for name in ("category", "actor", "actor_type", "action", "subject_id", "purpose")}


def _record(category: str, actor: str, actor_type: str, action: str, subject_id: str | None,
            attributes: Sequence[Any] | dict[str, Any], purpose: str | None) -> AuditRecord:
    if actor_type not in ACTOR_TYPES:
        raise ValueError(f"unknown actor_type {actor_type!r}")
    attrs = list(attributes) if not isinstance(attributes, dict) else attributes
    for name, value in (("category", category), ("actor", actor), ("actor_type", actor_type), ("action", action),
                        ("subject_id", subject_id), ("purpose", purpose)):
        if value is not None and len(value) > _MAX_LENGTH[name]:
            raise ValueError(f"audit {name} is longer than {_MAX_LENGTH[name]} characters")
    # Refused here, at its caller (the attributes are encoded as the record is made): in a group (group
    # commit) a record the database or the hash would refuse would fail every caller grouped with it.
    try:
        return AuditRecord(category, actor, actor_type, action, subject_id, attrs, purpose)
    except (TypeError, ValueError) as error:
        raise ValueError(f"audit attributes must be JSON: {error}") from None


async def record_all(clock: Clock, records: Sequence[AuditRecord]) -> None:
    """Append several entries in one transaction (a partner's batch of 100 verifications is one write)."""
    if records:
        await _append(clock, records)


_ALREADY_CHAINED = object()  # what `_append` returns when the pending entries were chained by someone else


async def add_pending(conn: Any, clock: Clock, records: Sequence[AuditRecord]) -> int:
    """Inside the caller's transaction: `records` will be chained even if this worker dies right
    after the commit. Chain them with `record_pending` once the transaction is over."""
    row = await PendingAudit.create(records=[asdict(r) for r in records], created_at=clock.now(), using_db=conn)
    return int(row.id)


async def record_pending(clock: Clock, pending_id: int, records: Sequence[AuditRecord]) -> None:
    """Chain the entries kept as `pending_id` and remove them from pending, in one transaction:
    chained once, whether by their writer or by the sweep."""
    await _append(clock, records, pending_id=pending_id)


async def record_abandoned(clock: Clock, older_than: timedelta = timedelta(minutes=1), limit: int = 500) -> int:
    """The sweep: chain pending entries whose writer did not (its worker died after the commit).
    Returns how many sets of entries were chained."""
    rows = await PendingAudit.filter(created_at__lt=clock.now() - older_than).order_by("id").limit(limit)
    chained = 0
    for row in rows:
        try:
            records = [AuditRecord(**r) for r in row.records]
        except (TypeError, KeyError):  # written by another version: kept for a person to look at, not a stop
            log.error("pending audit entries %s are unreadable; left in audit_pending", row.id)
            continue
        # Stamped with when they happened (the commit), not with when they were found.
        if await _append(clock, records, pending_id=row.id, at=row.created_at) is not _ALREADY_CHAINED:
            chained += 1
    return chained


Placed = list[tuple[int, AuditRecord]]  # each record with its chain, in the order given
Row = tuple[int, AuditRecord, str, str, datetime, int]  # an entry written: seq, record, prev_hash, hash, at, chain


def _placed(records: Sequence[AuditRecord], chains: int) -> Placed:
    return [(chain_of(r.subject_id or r.actor, chains), r) for r in records]


async def _append(clock: Clock, records: Sequence[AuditRecord], pending_id: int | None = None,
                  at: datetime | None = None) -> Any:
    """Chain and write `records`: with this worker's other waiting entries (group commit), unless they
    belong to the caller's own transaction or to a pending set (those are chained on their own)."""
    placed = _placed(records, (await layout()).chains)
    if pending_id is None and at is None:
        if inside_transaction():  # its entries then commit or roll back with its work
            # With the caller's work: the head rows stay locked until the caller commits, so this takes
            # no lock of the worker's (a second entry in the same transaction must not wait for a
            # writer that is itself waiting for those rows).
            placed = _on_held_chains(placed)
            written = await _chain(clock, placed)
            _hold_heads(placed)
            return _single(written)
        return await _append_together(clock, placed)
    # A pending set: a transaction of its own.
    # The in-process locks order this worker's writers; the row locks on the heads order workers. Both
    # are taken in the order of the chains' numbers, so two writers never wait for each other.
    async with AsyncExitStack() as locks:
        for chain in sorted({chain for chain, _ in placed}):
            await locks.enter_async_context(_local_lock(chain))
        written = await _chain(clock, placed, pending_id, at)
    return written if written is _ALREADY_CHAINED else _single(written)


# The chains whose heads a caller's open transaction holds (locked until it ends), by that transaction.
_held_heads: "weakref.WeakKeyDictionary[Any, frozenset[int]]" = weakref.WeakKeyDictionary()


def _on_held_chains(placed: Placed) -> Placed:
    """Inside a caller's transaction: its entries on chains whose heads it holds already. Its first entries
    take their subjects' heads (in the order of the chains' numbers); a later entry whose own chain it does
    not hold goes on the lowest one it does, since taking another head then, out of that order, could make it
    and another transaction (or this worker's audit writer) wait for each other for ever. The entry records
    its chain, so verification follows it there."""
    held = _held_heads.get(connections.get(PRIMARY))
    if not held:
        return placed
    return [(chain if chain in held else min(held), record) for chain, record in placed]


def _hold_heads(placed: Placed) -> None:
    """The caller's transaction now holds the heads of the chains `placed` went on."""
    transaction = connections.get(PRIMARY)
    _held_heads[transaction] = _held_heads.get(transaction, frozenset()) | {chain for chain, _ in placed}


async def _chain(clock: Clock, placed: Placed, pending_id: int | None = None, at: datetime | None = None) -> Any:
    """One transaction: take the heads of the chains `placed` touches (in the order of their numbers),
    link each record after its chain's head, write them, move the heads. Returns the entries written
    (`Row`s), numbered in the order given."""
    for _ in range(3):
        try:
            async with in_transaction() as conn:
                chains = sorted({chain for chain, _ in placed})
                locked = await _locked_heads(conn, chains)
                found = {chain: locked.get(chain) for chain in chains}
                # Under the heads' locks: of a writer and the sweep, only the first finds the pending row.
                if pending_id is not None and not await PendingAudit.filter(id=pending_id).using_db(conn).delete():
                    return _ALREADY_CHAINED
                heads: dict[int, tuple[int, str]] = {}
                for chain, head in found.items():
                    if head is None:  # the chain's first entry
                        await conn.execute_query(f"INSERT INTO audit_head (id, seq, hash) VALUES "
                                                 f"({placeholders(conn, 3)})", [chain, 0, GENESIS_HASH])
                    heads[chain] = head or (0, GENESIS_HASH)
                rows: list[Row] = []
                at = at or clock.now()
                at_text = at.isoformat(timespec="microseconds")
                for seq, (chain, r) in zip(await _next_seqs(conn, len(placed)), placed):
                    prev_hash = heads[chain][1]
                    digest = _linked_hash(prev_hash, seq, at_text, r.category, r.actor, r.actor_type, r.action,
                                          r.subject_id, r.attributes_json, r.purpose, chain=chain)
                    rows.append((seq, r, prev_hash, digest, at, chain))
                    heads[chain] = (seq, digest)
                if rows:
                    await _write_rows(conn, at, rows, heads)
                return rows
        except IntegrityError:
            continue  # another worker created a head or took this seq first: retry
    raise RuntimeError("audit log is busy")


async def _next_seqs(conn: Any, count: int) -> list[int]:
    """`count` new entry numbers, increasing. PostgreSQL: from the sequence, shared by every chain with no
    lock. SQLite: after the largest, which its one writer makes safe."""
    if conn.capabilities.dialect == "sqlite":
        _, rows = await conn.execute_query("SELECT COALESCE(MAX(seq), 0) AS seq FROM audit_entries")
        last = int(rows[0]["seq"])
        return list(range(last + 1, last + 1 + count))
    _, rows = await conn.execute_query("SELECT nextval('audit_entry_seq') AS seq FROM generate_series(1, $1)", [count])
    return sorted(int(row["seq"]) for row in rows)


# The heads are read and moved in SQL of our own, not through the ORM: building those queries cost
# nearly as much CPU as the rest of a transaction of one entry (docs/capacity.md). One statement
# however many chains a group touches.
async def _locked_heads(conn: Any, chains: list[int]) -> dict[int, tuple[int, str]]:
    """The (seq, hash) heads of `chains` that exist, locked until the transaction ends, in the order of the
    chains' numbers (so two transactions never wait for each other); SQLite has one writer anyway."""
    if conn.capabilities.dialect == "sqlite":
        _, rows = await conn.execute_query(f"SELECT id, seq, hash FROM audit_head WHERE id IN "
                                           f"({placeholders(conn, len(chains))})", chains)
    else:
        _, rows = await conn.execute_query("SELECT id, seq, hash FROM audit_head WHERE id = ANY($1::int[]) "
                                           "ORDER BY id FOR UPDATE", [chains])
    return {int(row["id"]): (int(row["seq"]), str(row["hash"])) for row in rows}


@dataclass
class _Queue:
    """This worker's entries waiting for its next audit transaction, and the task that writes them."""

    waiting: list[tuple[Clock, Placed, "asyncio.Future[list[Row]]"]] = field(default_factory=list)
    writer: "asyncio.Task[None] | None" = None


_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue]" = weakref.WeakKeyDictionary()


def _single(rows: list[Row]) -> AuditEntry | None:
    """The entry written, when a caller wrote exactly one (`record_event` and `record_access` return it;
    it is what was stored, not a row to save again)."""
    if len(rows) != 1:
        return None
    seq, r, prev_hash, digest, at, chain = rows[0]
    return AuditEntry(seq=seq, at=at, category=r.category, actor=r.actor, actor_type=r.actor_type, action=r.action,
                      subject_id=r.subject_id, attributes=r.attributes, purpose=r.purpose, prev_hash=prev_hash,
                      hash=digest, chain=chain)


async def _append_together(clock: Clock, placed: Placed) -> AuditEntry | None:
    """Group commit. Every entry takes its chain's head row in turn, so with a transaction per entry
    that lock, not the CPU, set how many venue scans a worker served; grouped, the CPU does
    (docs/capacity.md; `single_verification` and `audit_chain` in `make bench`). Entries that arrive
    while a transaction is being written wait and go together in the next one, whatever their chains:
    it locks the head of each chain it touches, so another worker's transaction waits only if it
    touches one of those chains too. (A queue per chain was measured: each chain's transaction then
    carried one or two entries, and 2 workers wrote 0.6 of what they wrote with every entry on one chain.)

    The transactions are written by a task of the worker's own, not by a caller: a caller whose
    request is cancelled (the client hung up) stops waiting, but a transaction is never cut off
    half-way (cancelled during its COMMIT, it could have been written and then written again), and
    the cancelled caller's entry is written all the same. Each caller returns once its own entries
    are committed, or raises what the write raised."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop) or _queues.setdefault(loop, _Queue())
    written: asyncio.Future[list[Row]] = loop.create_future()
    queue.waiting.append((clock, placed, written))
    if queue.writer is None or queue.writer.done():
        queue.writer = loop.create_task(_write_waiting(queue))
    return _single(await written)


async def _write_waiting(queue: _Queue) -> None:
    """Write the waiting entries, a transaction per group, until none wait."""
    while queue.waiting:
        group, queue.waiting = queue.waiting, []
        placed = [p for _, records, _ in group for p in records]
        try:
            async with AsyncExitStack() as locks:
                for chain in sorted({chain for chain, _ in placed}):
                    await locks.enter_async_context(_local_lock(chain))
                rows = await _chain(group[0][0], placed)
        except asyncio.CancelledError:  # the worker is stopping
            _tell(group + queue.waiting, None, "the worker stopped before they were written")
            queue.waiting = []
            raise
        except Exception as error:
            _tell(group, error, f"{type(error).__name__}: {error}")
            continue
        start = 0
        for _, records, written in group:
            if not written.done():
                written.set_result(rows[start:start + len(records)])
            start += len(records)


def _tell(group: list[Any], error: Exception | None, why: str) -> None:
    """The callers of a group that was not written learn why; entries whose caller is gone are logged."""
    orphaned = 0
    for _, records, written in group:
        if written.done():
            orphaned += len(records)
        elif error is None:
            written.cancel()
        else:
            written.set_exception(error)
    if orphaned:
        log.error("%d audit entries of cancelled requests were not written: %s", orphaned, why)


_COLUMNS = ("seq", "at", "category", "actor", "actor_type", "action", "subject_id", "attributes", "purpose",
            "prev_hash", "hash", "chain")


# PostgreSQL: the entries as arrays, one row each, and the heads moved in the same statement: a statement
# per entry (executemany) cost PostgreSQL more than the rest of the transaction, and the callers waited.
_WRITE_UNNESTED = (
    "WITH moved AS (UPDATE audit_head AS h SET seq = m.seq, hash = m.hash "
    "FROM unnest($13::int[], $14::bigint[], $15::text[]) AS m(id, seq, hash) WHERE h.id = m.id) "
    f'INSERT INTO "audit_entries" ({", ".join(_COLUMNS)}) '
    "SELECT v.seq, $1::timestamptz, v.category, v.actor, v.actor_type, v.action, v.subject_id, v.attributes::jsonb, "
    "v.purpose, v.prev_hash, v.hash, v.chain FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int[]) "
    "AS v(seq, category, actor, actor_type, action, subject_id, attributes, purpose, prev_hash, hash, chain)")


async def _write_rows(conn: Any, at: datetime, rows: list[Row], heads: dict[int, tuple[int, str]]) -> None:
    """Insert the entries and move the chains' heads to their last ones, without building a model per entry
    (that cost more than the signature check of the verification being audited; docs/capacity.md). Values
    are converted by the model's own fields."""
    at_db = AuditEntry._meta.fields_map["at"].to_db_value(at, AuditEntry)
    entries = [[seq, r.category, r.actor, r.actor_type, r.action, r.subject_id, r.attributes_json, r.purpose, prev,
                digest, chain] for seq, r, prev, digest, _, chain in rows]
    moves = [[chain, seq, digest] for chain, (seq, digest) in heads.items()]
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(_WRITE_UNNESTED, [at_db, *map(list, zip(*entries)), *map(list, zip(*moves))])
        return
    query = f'INSERT INTO "audit_entries" ({", ".join(_COLUMNS)}) VALUES ({placeholders(conn, len(_COLUMNS))})'
    await conn.execute_many(query, [[entry[0], at_db, *entry[1:]] for entry in entries])
    await conn.execute_many("UPDATE audit_head SET seq = ?, hash = ? WHERE id = ?",
                            [[seq, digest, chain] for chain, seq, digest in moves])


async def record_event(clock: Clock, *, actor: str, actor_type: str, action: str, subject_id: str | None = None,
                       attributes: Sequence[Any] | dict[str, Any] = (), purpose: str | None = None) -> AuditEntry:
    """Record something that happened (a login, an identity change, a revocation). No PII values."""
    record = event(actor=actor, actor_type=actor_type, action=action, subject_id=subject_id, attributes=attributes,
                   purpose=purpose)
    entry: AuditEntry | None = await _append(clock, [record])
    assert entry is not None
    return entry


async def record_access(clock: Clock, *, citizen_id: str, actor: str, actor_type: str, action: str,
                        attributes: Sequence[str], purpose: str) -> AuditEntry:
    """Record that someone other than the citizen read the citizen's data (shown in their access log).

    `attributes` names what was disclosed (e.g. ["name", "id_number_masked"]), never the values.
    """
    record = access(citizen_id=citizen_id, actor=actor, actor_type=actor_type, action=action, attributes=attributes,
                    purpose=purpose)
    entry: AuditEntry | None = await _append(clock, [record])
    assert entry is not None
    return entry


async def record_own_copy(clock: Clock, *, citizen_id: str, action: str, attributes: Sequence[str],
                          purpose: str) -> AuditEntry:
    """Record that the citizen themself took a copy of their data out of the service (个人信息副本 downloaded).

    The one read by the citizen that their access log shows: the data leaves the service then, and a
    download they did not make is what they look for there. `attributes` names the areas, never values.
    """
    record = _record("access", citizen_id, "citizen", action, citizen_id, attributes, purpose)
    entry: AuditEntry | None = await _append(clock, [record])
    assert entry is not None
    return entry


@lag_tolerant
async def access_log(citizen_id: str, limit: int = 50, before_seq: int | None = None) -> list[AuditEntry]:
    query = AuditEntry.filter(subject_id=citizen_id, category="access")
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    return await query.order_by("-seq").limit(limit)


async def entries_about(citizen_id: str, category: str, batch: int = 500) -> list[AuditEntry]:
    """Every entry of one category ("event" or "access") about a citizen, oldest first, read in batches."""
    entries: list[AuditEntry] = []
    after = 0
    while True:
        page = await AuditEntry.filter(subject_id=citizen_id, category=category, seq__gt=after).order_by("seq").limit(batch)
        entries += page
        if len(page) < batch:
            return entries
        after = page[-1].seq


@dataclass
class ChainReport:
    checked: int = 0  # entries of every chain
    chains: int = 0
    anchors: int = 0
    root_entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def archived_ends() -> dict[int, tuple[int, str]]:
    """(seq, hash) of the last entry of each chain moved out to object storage by the retention job
    (app/retention.py), by chain; a chain wholly in the database is not in it."""
    ends: dict[int, tuple[int, str]] = {}
    for archived in await ArchivedPartition.filter(table_name="audit_entries").order_by("-range_end"):
        for chain, end in archived.chain_ends.items():  # an empty month has no end
            ends.setdefault(int(chain), (int(end["seq"]), str(end["hash"])))
    return ends


@dataclass(frozen=True)
class _Anchor:
    hash: str
    root_seq: int


async def verify_chain(batch: int = 1000) -> ChainReport:
    """Walk the root chain and every chain; report every broken link, gap, altered or moved entry,
    truncation, and entry an anchor names that is gone or different."""
    report = ChainReport()
    found = await stored_layout()
    # Before the first entry written with chains, every entry is of the one chain of before.
    placed = found or Layout(chains=1, legacy_seq=2 ** 63 - 1)
    anchors = await _verify_root(report, batch)
    heads = {row.id: (row.seq, row.hash) for row in await AuditHead.all()}
    archived = await archived_ends()
    for chain in range(placed.chains):
        await _verify_one(report, chain, placed, heads.get(chain), anchors.pop(chain, {}), batch,
                          archived.get(chain))
    report.chains = placed.chains
    strays = await AuditEntry.filter(Q(chain__lt=0) | Q(chain__gte=placed.chains)).order_by("seq").limit(10)
    for row in strays:
        report.problems.append(f"entry {row.seq} is on chain {row.chain}, which does not exist (moved)")
    for chain in sorted(anchors):
        report.problems.append(f"root entries anchor chain {chain}, which does not exist")
    for seq, count in await _duplicate_numbers():
        report.problems.append(f"entry {seq} is given {count} times: a number the log gives once (inserted, or "
                               "written by a worker of an older version beside this one)")
    return report


async def _duplicate_numbers() -> list[tuple[int, int]]:
    """Entry numbers held by more than one entry (the first ten). The key is (seq, at) since the log is
    partitioned by month: the database no longer refuses a second entry with a number already given."""
    _, rows = await connections.get("default").execute_query(
        "SELECT seq, COUNT(*) AS n FROM audit_entries GROUP BY seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 10")
    return [(int(row["seq"]), int(row["n"])) for row in rows]


async def _verify_root(report: ChainReport, batch: int) -> dict[int, dict[int, _Anchor]]:
    """Walk the root chain; returns what its entries anchor, by chain and entry."""
    anchors: dict[int, dict[int, _Anchor]] = {}
    prev_hash, last_seq = GENESIS_HASH, 0
    while rows := await AuditRoot.filter(seq__gt=last_seq).order_by("seq").limit(batch):
        for row in rows:
            if row.seq != last_seq + 1:
                report.problems.append(f"root entries {last_seq + 1}..{row.seq - 1} are missing")
            if row.prev_hash != prev_hash:
                report.problems.append(f"root entry {row.seq}: link to the previous root entry is broken")
            if root_hash(row.prev_hash, row.seq, row.at, row.anchors) != row.hash:
                report.problems.append(f"root entry {row.seq}: content does not match its hash (changed)")
            for chain, seq, digest in row.anchors:
                anchors.setdefault(int(chain), {})[int(seq)] = _Anchor(str(digest), row.seq)
                report.anchors += 1
            prev_hash, last_seq = row.hash, row.seq
            report.root_entries += 1
    head = await AuditRootHead.get_or_none(id=1)
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        report.problems.append(f"the root chain ends at root entry {last_seq} but its head says {head.seq}: "
                               "newest root entries deleted")
    return anchors


async def _verify_one(report: ChainReport, chain: int, placed: Layout, head: tuple[int, str] | None,
                      anchors: dict[int, _Anchor], batch: int, archived: tuple[int, str] | None = None) -> None:
    """Walk one chain in seq order against its head and the root's anchors of it. Once months of the log were
    archived (`archived`: the chain's last archived entry), the walk starts after it: the first kept entry
    must link to the hash `archived_partitions` recorded, and anchors of archived entries are not looked for."""
    prev_hash, last_seq, after = GENESIS_HASH, 0, -2 ** 63
    if archived is not None:
        last_seq, prev_hash = archived
        after = last_seq
        _drop_archived_anchors(report, chain, anchors, archived)
    while rows := await AuditEntry.filter(chain=chain, seq__gt=after).order_by("seq").limit(batch):
        after = rows[-1].seq
        for row in rows:
            report.problems.extend(_entry_problems(row, chain, placed, last_seq, prev_hash, anchors.pop(row.seq, None)))
            prev_hash, last_seq = row.hash, row.seq
            report.checked += 1
    report.problems.extend(_end_problems(chain, head, last_seq, prev_hash, anchors))


def _drop_archived_anchors(report: ChainReport, chain: int, anchors: dict[int, _Anchor],
                           archived: tuple[int, str]) -> None:
    """Anchors of entries gone to the archive are not looked for; the last one must name the recorded hash."""
    last_seq, last_hash = archived
    for seq in [seq for seq in anchors if seq <= last_seq]:
        gone = anchors.pop(seq)
        if seq == last_seq and gone.hash != last_hash:
            report.problems.append(f"chain {chain}, entry {seq}: archived, but not the entry root entry "
                                   f"{gone.root_seq} anchored (replaced)")


def _entry_problems(row: AuditEntry, chain: int, placed: Layout, last_seq: int, prev_hash: str,
                    anchor: _Anchor | None) -> list[str]:
    """What is wrong with one entry of a chain, given the entry before it and the root's anchor of it."""
    problems: list[str] = []
    if row.seq < 1:
        problems.append(f"chain {chain}, entry {row.seq}: a number the log never gives (inserted)")
    legacy = 1 <= row.seq <= placed.legacy_seq
    if legacy and chain != 0:
        problems.append(f"chain {chain}, entry {row.seq}: written before the chains, so of chain 0 (moved)")
    if legacy and row.seq != last_seq + 1:  # the one chain of before numbered its entries without gaps
        problems.append(f"entries {last_seq + 1}..{row.seq - 1} are missing")
    elif row.prev_hash != prev_hash:
        problems.append(f"chain {chain}, entry {row.seq}: link to the previous entry (entry {last_seq}) "
                        "is broken: an entry between them was deleted or inserted, or that entry changed")
    fields = (row.prev_hash, row.seq, row.at, row.category, row.actor, row.actor_type, row.action,
              row.subject_id, row.attributes, row.purpose)
    if (entry_hash(*fields) if legacy else chained_entry_hash(chain, *fields)) != row.hash:
        problems.append(f"chain {chain}, entry {row.seq}: content does not match its hash "
                        "(changed, or moved from another chain)")
    if anchor is not None and anchor.hash != row.hash:
        problems.append(f"chain {chain}, entry {row.seq}: not the entry root entry {anchor.root_seq} "
                        "anchored (replaced)")
    return problems


def _end_problems(chain: int, head: tuple[int, str] | None, last_seq: int, prev_hash: str,
                  anchors: dict[int, _Anchor]) -> list[str]:
    """The chain's end against its head, and the anchored entries the walk did not meet."""
    problems: list[str] = []
    if head is not None and (head[0] != last_seq or head[1] != prev_hash):
        problems.append(f"chain {chain} ends at entry {last_seq} but its head says {head[0]}: "
                        + ("newest entries deleted" if head[0] > last_seq else
                           "the head was moved back or entries were added after it"))
    for seq, anchor in sorted(anchors.items()):
        problems.append(f"chain {chain}, entry {seq}: anchored by root entry {anchor.root_seq}, missing (deleted)")
    return problems


async def anchor_heads(clock: Clock) -> int:
    """The root job (every minute): append one root entry anchoring the head (chain, seq, hash) of every
    chain that moved since the last root entry; returns how many were anchored (0: none moved, nothing
    written). Deleting a chain's newest entries and moving its head back is then found by `verify_chain`
    for every entry anchored before; only entries written since the last anchor are not yet covered."""
    for _ in range(3):
        try:
            async with in_transaction() as conn:
                lock = "" if conn.capabilities.dialect == "sqlite" else " FOR UPDATE"
                _, rows = await conn.execute_query(f"SELECT seq, hash, anchored FROM audit_root_head WHERE id = 1{lock}")
                if rows:
                    root_seq, prev_hash = int(rows[0]["seq"]), str(rows[0]["hash"])
                    anchored: dict[str, int] = json.loads(rows[0]["anchored"]) if isinstance(
                        rows[0]["anchored"], str) else dict(rows[0]["anchored"])
                else:
                    await AuditRootHead.create(id=1, seq=0, hash=GENESIS_HASH, anchored={}, using_db=conn)
                    root_seq, prev_hash, anchored = 0, GENESIS_HASH, {}
                _, heads = await conn.execute_query("SELECT id, seq, hash FROM audit_head WHERE seq > 0 ORDER BY id")
                moved: list[list[Any]] = [[int(h["id"]), int(h["seq"]), str(h["hash"])] for h in heads
                                          if anchored.get(str(h["id"])) != int(h["seq"])]
                if not moved:
                    return 0
                root_seq += 1
                at = clock.now()
                digest = root_hash(prev_hash, root_seq, at, moved)
                await AuditRoot.create(seq=root_seq, at=at, anchors=moved, prev_hash=prev_hash, hash=digest,
                                       using_db=conn)
                anchored.update({str(chain): int(seq) for chain, seq, _ in moved})
                await AuditRootHead.filter(id=1).using_db(conn).update(seq=root_seq, hash=digest, anchored=anchored)
                return len(moved)
        except IntegrityError:
            continue  # another worker made the root head first: retry
    raise RuntimeError("audit root chain is busy")
