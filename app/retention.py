"""The two jobs of the partitioned append-only tables (PostgreSQL; app/partitions.py).

`make_coming_partitions` (job `partition-maintenance`): each table has a partition for this month and the
next `APP_PARTITION_MONTHS_AHEAD`, made before rows arrive, so that nothing lands in the DEFAULT partition.
Rows already in DEFAULT are never moved: a month whose rows DEFAULT holds is left unmade and reported
(`in_default`), the rows stay where they are (docs/operations.md says how an operator moves them).

`archive_old_partitions` (job `partition-retention`): a month wholly older than its table's retention
(`RetentionSettings`) is DETACHed, written to object storage as gzip JSON lines (one `row_to_json` a row,
oldest first), sealed with a sub-key of the PII master key, read back and checked (SHA-256, row count, and
for the audit log the last entry), recorded in `archived_partitions` with an audit entry, and only then
dropped. A failure at any step leaves the month attached, or detached but present, and the next run
takes it up again: rows are never lost.

On SQLite (no partitions) both jobs do nothing and say so: their result is `not partitioned`.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from tortoise import connections
from tortoise.transactions import in_transaction

from app import audit
from app.cache import Cache
from app.clock import Clock
from app.config import RetentionSettings
from app.jobs import add_exclusive_job
from app.partitions import (BY_NAME, TABLES, ArchivedPartition, Month, PartitionedTable, month_of, month_of_partition,
                            month_partitions, month_start, next_month, partition_name, partitioned)
from app.security.pii import PiiCipher
from app.storage import ObjectStorage

log = logging.getLogger(__name__)

NOT_PARTITIONED = "not partitioned"
PAGE = 5000  # rows read at a time while a month is written out
LOCK_TIMEOUT = "5s"  # DDL waits this long for the table's lock, then the run fails and the next one tries again


@dataclass
class MaintenanceRun:
    made: list[str] = field(default_factory=list)
    in_default: list[str] = field(default_factory=list)  # months left unmade: DEFAULT holds rows of them

    def __str__(self) -> str:
        return f"made {self.made or 'none'}" + (f"; left in DEFAULT {self.in_default}" if self.in_default else "")


@dataclass
class RetentionRun:
    archived: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # old months that could not go yet, with why

    def __str__(self) -> str:
        return f"archived {self.archived or 'none'}" + (f"; held {self.held}" if self.held else "")


def archive_key(table: str, partition: str) -> str:
    return f"partition-archives/{table}/{partition}"


def _sealing_context(partition: str) -> str:
    return f"partition-archive:{partition}"


# -- partitions made ahead ---------------------------------------------------------------------------

async def make_coming_partitions(clock: Clock, settings: RetentionSettings) -> MaintenanceRun | str:
    """This month's and the next `months_ahead` months' partitions of every table, those missing made."""
    conn = connections.get("default")
    if not partitioned(conn):
        return NOT_PARTITIONED
    run = MaintenanceRun()
    first = month_of(clock.now())
    for table in TABLES:
        existing = await month_partitions(conn, table.name)
        month = first
        for _ in range(settings.months_ahead + 1):
            if month not in existing:
                await _make_month(table, month, run)
            month = next_month(month)
    if run.in_default:
        log.warning("partition months left unmade, their rows are in DEFAULT: %s", run.in_default)
    return run


async def _make_month(table: PartitionedTable, month: Month, run: MaintenanceRun) -> None:
    name = partition_name(table.name, month)
    start, end = month_start(month), month_start(next_month(month))
    async with in_transaction() as conn:
        await conn.execute_script(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        # Made while DEFAULT holds rows of the month, the partition would be refused: those rows stay.
        _, rows = await conn.execute_query(
            f'SELECT 1 FROM "{table.name}_default" WHERE "{table.column}" >= $1 AND "{table.column}" < $2 LIMIT 1',
            [start, end])
        if rows:
            run.in_default.append(name)
            return
        await conn.execute_script(
            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table.name}" '
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")
    run.made.append(name)


# -- retention ---------------------------------------------------------------------------------------

async def archive_old_partitions(clock: Clock, settings: RetentionSettings, storage: ObjectStorage,
                                 pii: PiiCipher) -> RetentionRun | str:
    """Every month wholly older than its table's retention: archived, checked, recorded, dropped."""
    conn = connections.get("default")
    if not partitioned(conn):
        return NOT_PARTITIONED
    run = RetentionRun()
    now = clock.now()
    for table in TABLES:
        cutoff = now - timedelta(days=getattr(settings, table.retention_setting))
        for month, name in await _old_months(conn, table, cutoff):
            try:
                await _archive(clock, table, month, name, storage, pii, run)
            except Exception as held:  # the month stays (attached again); the next run tries again
                run.held.append(f"{name}: {held}")
                log.error("partition %s not archived: %s", name, held)
                break  # the later months wait for it (the audit chain is archived in order)
    return run


class _Held(Exception):
    """A month that cannot be archived now; it stays in the database."""


async def _old_months(conn: Any, table: PartitionedTable, cutoff: datetime) -> list[tuple[Month, str]]:
    """The months of `table` ending before `cutoff`, oldest first: attached ones, and ones a run before
    detached but did not finish with (standalone tables of the partition's name)."""
    months = await month_partitions(conn, table.name)
    _, rows = await conn.execute_query(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition AND relnamespace = 'public'::regnamespace "
        "AND relname LIKE $1", [f"{table.name}\\_%"])
    for row in rows:
        month = month_of_partition(table.name, row["relname"])
        if month is not None:
            months[month] = row["relname"]
    return sorted((month, name) for month, name in months.items() if month_start(next_month(month)) <= cutoff)


async def _archive(clock: Clock, table: PartitionedTable, month: Month, name: str, storage: ObjectStorage,
                   pii: PiiCipher, run: RetentionRun) -> None:
    conn = connections.get("default")
    if table.name == "audit_entries":
        await _check_audit_order(conn, name)
    await _detach(conn, table, name)
    try:
        await _archive_detached(clock, table, month, name, storage, pii)
    except Exception:
        await _reattach(table, month, name)
        raise
    run.archived.append(name)


async def _archive_detached(clock: Clock, table: PartitionedTable, month: Month, name: str, storage: ObjectStorage,
                            pii: PiiCipher) -> None:
    rows, data, chain_ends = await _write_out(table, name)
    sealed = await asyncio.to_thread(pii.seal, data, _sealing_context(name))
    digest = hashlib.sha256(sealed).hexdigest()
    key = archive_key(table.name, name)
    try:
        await storage.put(key, sealed)
        kept = await storage.get(key)
    except Exception as failure:
        raise _Held(f"object storage: {type(failure).__name__}: {failure}") from None
    problem = await asyncio.to_thread(_check_archive, kept, digest, pii, name, rows, chain_ends)
    if problem:
        raise _Held(f"archive read back differs: {problem}")
    start, end = month_start(month), month_start(next_month(month))
    async with in_transaction() as tx:
        await ArchivedPartition.create(table_name=table.name, partition_name=name, range_start=start, range_end=end,
                                       rows=rows, sha256=digest, storage_key=key, size=len(sealed),
                                       chain_ends=chain_ends, archived_at=clock.now(), using_db=tx)
        await audit.record_event(clock, actor="system", actor_type="system", action="partition_archived",
                                 attributes={"table": table.name, "partition": name, "rows": rows, "sha256": digest,
                                             "storage_key": key, "chain_ends": chain_ends})
        await tx.execute_script(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await tx.execute_script(f'DROP TABLE "{name}"')


async def _reattach(table: PartitionedTable, month: Month, name: str) -> None:
    """A month whose archive failed goes back where it was, its rows readable as before; if even that
    fails it stays detached beside the table, and the next run takes it up again."""
    start, end = month_start(month), month_start(next_month(month))
    try:
        async with in_transaction() as tx:
            await tx.execute_script(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await tx.execute_script(f'ALTER TABLE "{table.name}" ATTACH PARTITION "{name}" '
                                    f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")
    except Exception as failure:
        log.error("partition %s left detached beside %s: %s", name, table.name, failure)


async def _check_audit_order(conn: Any, name: str) -> None:
    """An audit month goes only when every entry it holds comes before, by seq, every entry kept: the
    retained chain then starts right after the archived one's end."""
    _, rows = await conn.execute_query(
        f'SELECT (SELECT max(seq) FROM "{name}") AS last, '
        f'(SELECT min(seq) FROM audit_entries WHERE tableoid <> \'"{name}"\'::regclass) AS first_kept')
    last, first_kept = rows[0]["last"], rows[0]["first_kept"]
    if last is not None and first_kept is not None and first_kept < last:
        raise _Held(f"its entries interleave by seq with later ones (entry {first_kept} is kept, {last} would go)")


async def _detach(conn: Any, table: PartitionedTable, name: str) -> None:
    """No row can be added to the month from here on (one for it would land in DEFAULT)."""
    _, rows = await conn.execute_query("SELECT 1 FROM pg_inherits WHERE inhrelid = $1::regclass",
                                       [f'public."{name}"'])
    if not rows:
        return  # detached by an earlier run that did not finish
    async with in_transaction() as tx:
        await tx.execute_script(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        await tx.execute_script(f'ALTER TABLE "{table.name}" DETACH PARTITION "{name}"')


async def _primary_key(conn: Any, name: str) -> list[str]:
    _, rows = await conn.execute_query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary", [f'public."{name}"'])
    return sorted(row["attname"] for row in rows)


async def _write_out(table: PartitionedTable, name: str) -> tuple[int, bytes, dict[str, Any]]:
    """The month as gzip JSON lines, oldest first, read through a cursor a page at a time; its row count;
    for the audit log the last entry of each chain."""
    async with in_transaction() as tx:
        key = [column for column in await _primary_key(tx, name) if column != table.column]
        order = ", ".join(f'"{column}"' for column in [table.column, *key])
        await tx.execute_script(f'DECLARE month_rows NO SCROLL CURSOR FOR '
                                f'SELECT row_to_json(t)::text AS line FROM "{name}" t ORDER BY {order}')
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip file
        parts: list[bytes] = []
        rows = 0
        while True:
            _, page = await tx.execute_query(f"FETCH {PAGE} FROM month_rows")
            if not page:
                break
            text = "".join(row["line"] + "\n" for row in page)
            parts.append(await asyncio.to_thread(compressor.compress, text.encode("utf-8")))
            rows += len(page)
        parts.append(compressor.flush())
        chain_ends = await _chain_ends(tx, name) if table.name == "audit_entries" else {}
    return rows, b"".join(parts), chain_ends


async def _chain_ends(conn: Any, name: str) -> dict[str, Any]:
    """The last entry of each chain in an audit month: {"<chain>": {"seq": n, "hash": "…"}}. One chain, "0",
    unless the table has a `chain` column."""
    _, columns = await conn.execute_query(
        "SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'chain' AND NOT attisdropped",
        [f'public."{name}"'])
    if columns:
        _, rows = await conn.execute_query(f'SELECT DISTINCT ON (chain) chain::text AS chain, seq, hash FROM "{name}" '
                                           f"ORDER BY chain, seq DESC")
    else:
        _, rows = await conn.execute_query(f'SELECT \'0\' AS chain, seq, hash FROM "{name}" ORDER BY seq DESC LIMIT 1')
    return {row["chain"]: {"seq": row["seq"], "hash": row["hash"]} for row in rows}


def _check_archive(kept: bytes, digest: str, pii: PiiCipher, name: str, rows: int,
                   chain_ends: dict[str, Any]) -> str | None:
    """What is wrong with the object read back, or None: its hash, then its rows and their last audit entries."""
    if hashlib.sha256(kept).hexdigest() != digest:
        return "SHA-256 differs"
    try:
        lines = gzip.decompress(pii.unseal(kept, _sealing_context(name))).decode("utf-8").splitlines()
    except Exception as failure:
        return f"unreadable: {type(failure).__name__}"
    if len(lines) != rows:
        return f"{len(lines)} rows, not {rows}"
    if chain_ends:
        found: dict[str, Any] = {}
        for line in lines:
            entry = json.loads(line)
            chain = str(entry.get("chain", "0"))
            if chain not in found or entry["seq"] > found[chain]["seq"]:
                found[chain] = {"seq": entry["seq"], "hash": entry["hash"]}
        if found != chain_ends:
            return "the last audit entries differ"
    return None


def read_archive(sealed: bytes, partition: str, pii: PiiCipher) -> list[dict[str, Any]]:
    """The rows of an archived month, from its stored object (as `python -m app partitions show` prints them)."""
    text = gzip.decompress(pii.unseal(sealed, _sealing_context(partition))).decode("utf-8")
    return [json.loads(line) for line in text.splitlines()]


async def restore_archive(clock: Clock, storage: ObjectStorage, pii: PiiCipher, partition: str) -> tuple[str, int]:
    """An archived month read back into a table of its own, `restored_<partition>` (never attached: the
    month stays archived and the audit chain unchanged); its object's SHA-256 checked first. Returns the
    table's name and its row count. Audited."""
    record = await ArchivedPartition.get_or_none(partition_name=partition)
    if record is None:
        raise LookupError(f"no archived partition {partition!r}")
    sealed = await storage.get(record.storage_key)
    if hashlib.sha256(sealed).hexdigest() != record.sha256:
        raise ValueError(f"the archive of {partition} in object storage does not match its SHA-256")
    lines = await asyncio.to_thread(
        lambda: gzip.decompress(pii.unseal(sealed, _sealing_context(partition))).decode("utf-8").splitlines())
    table = f"restored_{partition}"
    async with in_transaction() as tx:
        await tx.execute_script(f'CREATE TABLE "{table}" (LIKE "{record.table_name}" INCLUDING DEFAULTS)')
        if lines:
            await tx.execute_many(f'INSERT INTO "{table}" SELECT * FROM json_populate_record(NULL::"{table}", $1::json)',
                                  [[line] for line in lines])
        await audit.record_event(clock, actor="operator", actor_type="operator", action="partition_restored",
                                 attributes={"partition": partition, "table": table, "rows": len(lines)})
    return table, len(lines)


def add_partition_jobs(scheduler: AsyncIOScheduler, cache: Cache, clock: Clock, settings: RetentionSettings,
                       storage: ObjectStorage, pii: PiiCipher) -> None:
    """The two jobs, every `APP_PARTITION_JOB_INTERVAL` seconds; the first run is now."""
    add_exclusive_job(scheduler, cache, "partition-maintenance", settings.interval,
                      lambda: make_coming_partitions(clock, settings))
    add_exclusive_job(scheduler, cache, "partition-retention", settings.interval,
                      lambda: archive_old_partitions(clock, settings, storage, pii))


__all__ = ["BY_NAME", "NOT_PARTITIONED", "add_partition_jobs", "archive_old_partitions", "make_coming_partitions",
           "read_archive", "restore_archive"]
