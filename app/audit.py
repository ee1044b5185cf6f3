"""The append-only, hash-chained audit log, and the citizen-visible access log built on it.

`record_event` notes what happened (logins, identity changes, revocations);
`record_access` is the one function every domain calls when anyone other than the citizen
(a relying party, a partner region, a family proxy, a clerk) reads the citizen's data. The
citizen sees those entries at `GET /api/v1/me/access-log`.

A worker's entries that arrive together are chained in one transaction (group commit, see
`_append_together`). Each entry holds the hash of the one before it; `verify_chain` (`python -m app audit verify`)
finds a changed, inserted or deleted entry. The database also refuses UPDATE and DELETE on
the table (triggers created by the migration).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring  # the encoder's own string writer (as with ensure_ascii=False)
from typing import Any, ClassVar, Sequence

from tortoise import connections, fields
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from app.clock import Clock
from app.db import placeholders

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
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

    class Meta:
        table = "audit_entries"


class AuditHead(Model):
    """The last link of the chain, so that deleting the newest entries is detected too (model docstrings become table comments: Tortoise 1.1.9 writes them unescaped into DDL, so no apostrophes or semicolons)."""

    id = fields.IntField(pk=True, generated=False)
    seq = fields.BigIntField()
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_head"


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


def _linked_hash(prev_hash: str, seq: int, at_text: str, category: str, actor: str, actor_type: str, action: str,
                 subject_id: str | None, attributes_json: str, purpose: str | None) -> str:
    """`entry_hash` with the attributes already in canonical JSON (a record encodes them once, when it
    is built). A JSON list is its items joined by ",": the text is the very one `entry_hash` hashes."""
    items = ",".join([_scalar_json(prev_hash), str(seq), _scalar_json(at_text), _scalar_json(category),
                      _scalar_json(actor), _scalar_json(actor_type), _scalar_json(action), _scalar_json(subject_id),
                      attributes_json, _scalar_json(purpose)])
    return hashlib.sha256(f"[{items}]".encode("utf-8")).hexdigest()


def _scalar_json(value: str | None) -> str:
    # What the canonical encoder writes for a string or None, without its per-call set-up.
    return "null" if value is None else encode_basestring(value)


_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _local_lock() -> asyncio.Lock:
    """One lock per event loop: a lock waited on under one loop cannot be used under another
    (each test has its own loop; a server worker has one)."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


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


async def _append(clock: Clock, records: Sequence[AuditRecord], pending_id: int | None = None,
                  at: datetime | None = None) -> Any:
    """Chain and write `records`: with this worker's other waiting entries (group commit), unless they
    belong to the caller's own transaction or to a pending set (those are chained on their own)."""
    if pending_id is None and at is None:
        if _inside_transaction():
            # With the caller's work: the head row stays locked until the caller commits, so this takes
            # no lock of the worker's (a second entry in the same transaction must not wait for a
            # writer that is itself waiting for that row).
            return _single(await _chain(clock, records))
        return await _append_together(clock, records)
    # The in-process lock orders this worker's writers; the row lock on the head orders workers.
    async with _local_lock():
        written = await _chain(clock, records, pending_id, at)
    return written if written is _ALREADY_CHAINED else _single(written)


async def _chain(clock: Clock, records: Sequence[AuditRecord], pending_id: int | None = None,
                 at: datetime | None = None) -> Any:
    """One transaction: take the head, link `records` after it, write them, move the head. Returns the
    entries written, as (seq, record, prev_hash, hash, at)."""
    for _ in range(3):
        try:
            async with in_transaction() as conn:
                head = await _locked_head(conn)
                # Under the head's lock: of a writer and the sweep, only the first finds the pending row.
                if pending_id is not None and not await PendingAudit.filter(id=pending_id).using_db(conn).delete():
                    return _ALREADY_CHAINED
                if head is None:
                    await AuditHead.create(id=1, seq=0, hash=GENESIS_HASH, using_db=conn)
                    head = (0, GENESIS_HASH)
                rows, (seq, prev_hash), at = [], head, at or clock.now()
                at_text = at.isoformat(timespec="microseconds")
                for r in records:
                    seq += 1
                    digest = _linked_hash(prev_hash, seq, at_text, r.category, r.actor, r.actor_type, r.action,
                                          r.subject_id, r.attributes_json, r.purpose)
                    rows.append((seq, r, prev_hash, digest, at))
                    prev_hash = digest
                if rows:
                    await _insert_many(conn, at, rows)
                    await conn.execute_query(f"UPDATE audit_head SET seq = {placeholders(conn, 1)}, "
                                             f"hash = {placeholders(conn, 1, first=2)} WHERE id = 1", [seq, prev_hash])
                return rows
        except IntegrityError:
            continue  # another worker created the head or took this seq first: retry
    raise RuntimeError("audit log is busy")


# The head is read and moved in SQL of our own, not through the ORM: building those two queries cost
# nearly as much CPU as the rest of a transaction of one entry (docs/capacity.md).
async def _locked_head(conn: Any) -> tuple[int, str] | None:
    """The chain's (seq, hash) head, locked until the transaction ends (SQLite has one writer anyway)."""
    lock = "" if conn.capabilities.dialect == "sqlite" else " FOR UPDATE"
    _, rows = await conn.execute_query(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")
    return (rows[0]["seq"], rows[0]["hash"]) if rows else None


def _inside_transaction() -> bool:
    """Is the caller inside `in_transaction()`? Its entries then commit or roll back with its work."""
    return isinstance(connections.get("default"), TransactionalDBClient)


@dataclass
class _Queue:
    """This worker's entries waiting for the next audit transaction, and the task that writes them."""

    waiting: list[tuple[Clock, Sequence[AuditRecord], "asyncio.Future[AuditEntry | None]"]] = field(default_factory=list)
    writer: "asyncio.Task[None] | None" = None


_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue]" = weakref.WeakKeyDictionary()


def _single(rows: list[Any]) -> AuditEntry | None:
    """The entry written, when a caller wrote exactly one (`record_event` and `record_access` return it;
    it is what was stored, not a row to save again)."""
    if len(rows) != 1:
        return None
    seq, r, prev_hash, digest, at = rows[0]
    return AuditEntry(seq=seq, at=at, category=r.category, actor=r.actor, actor_type=r.actor_type, action=r.action,
                      subject_id=r.subject_id, attributes=r.attributes, purpose=r.purpose, prev_hash=prev_hash,
                      hash=digest)


async def _append_together(clock: Clock, records: Sequence[AuditRecord]) -> AuditEntry | None:
    """Group commit. Every entry takes the chain's one head row in turn, so with a transaction per
    entry that lock, not the CPU, set how many venue scans a worker served; grouped, the CPU does
    (docs/capacity.md; `single_verification` and `audit_chain` in `make bench`). Entries that arrive
    while a transaction is being written wait and go together in the next one.

    The transactions are written by a task of the worker's own, not by a caller: a caller whose
    request is cancelled (the client hung up) stops waiting, but a transaction is never cut off
    half-way (cancelled during its COMMIT, it could have been written and then written again), and
    the cancelled caller's entry is written all the same. Each caller returns once its own entries
    are committed, or raises what the write raised."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop) or _queues.setdefault(loop, _Queue())
    written: asyncio.Future[AuditEntry | None] = loop.create_future()
    queue.waiting.append((clock, records, written))
    if queue.writer is None or queue.writer.done():
        queue.writer = loop.create_task(_write_waiting(queue))
    return await written


async def _write_waiting(queue: _Queue) -> None:
    """Write the waiting entries, a transaction per group, until none wait."""
    while queue.waiting:
        group, queue.waiting = queue.waiting, []
        try:
            async with _local_lock():
                rows = await _chain(group[0][0], [r for _, records, _ in group for r in records])
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
                written.set_result(_single(rows[start:start + len(records)]))
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
            "prev_hash", "hash")


async def _insert_many(conn: Any, at: datetime, rows: list[Any]) -> None:
    """One multi-row insert without building a model per entry (that cost more than the signature
    check of the verification being audited; docs/capacity.md). Values are converted by the model's
    own fields."""
    fields_map = AuditEntry._meta.fields_map
    at_db = fields_map["at"].to_db_value(at, AuditEntry)
    query = f'INSERT INTO "audit_entries" ({", ".join(_COLUMNS)}) VALUES ({placeholders(conn, len(_COLUMNS))})'
    await conn.execute_many(query, [
        [seq, at_db, r.category, r.actor, r.actor_type, r.action, r.subject_id, r.attributes_json,
         r.purpose, prev, digest]
        for seq, r, prev, digest, _ in rows
    ])


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


async def access_log(citizen_id: str, limit: int = 50, before_seq: int | None = None) -> list[AuditEntry]:
    query = AuditEntry.filter(subject_id=citizen_id, category="access")
    if before_seq is not None:
        query = query.filter(seq__lt=before_seq)
    return await query.order_by("-seq").limit(limit)


@dataclass
class ChainReport:
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_chain(batch: int = 1000) -> ChainReport:
    """Walk the whole chain; report every broken link, gap, altered entry or truncation."""
    report = ChainReport()
    prev_hash, expected_seq, last_seq = GENESIS_HASH, 1, 0
    while True:
        rows = await AuditEntry.filter(seq__gte=expected_seq).order_by("seq").limit(batch)
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                report.problems.append(f"entries {expected_seq}..{row.seq - 1} are missing")
            if row.prev_hash != prev_hash:
                report.problems.append(f"entry {row.seq}: link to the previous entry is broken")
            digest = entry_hash(row.prev_hash, row.seq, row.at, row.category, row.actor, row.actor_type,
                                row.action, row.subject_id, row.attributes, row.purpose)
            if digest != row.hash:
                report.problems.append(f"entry {row.seq}: content does not match its hash (changed)")
            prev_hash, expected_seq, last_seq = row.hash, row.seq + 1, row.seq
            report.checked += 1
    head = await AuditHead.get_or_none(id=1)
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        report.problems.append(f"the chain ends at entry {last_seq} but the head says {head.seq}: newest entries deleted")
    return report
