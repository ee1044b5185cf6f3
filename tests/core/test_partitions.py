"""The partition jobs: months made ahead of time, old months archived to object storage and dropped, the
audit chain still verifying after its oldest months left the database. PostgreSQL partitions the tables;
on SQLite both jobs say they have nothing to do and touch nothing."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from tortoise import connections

from app import audit
from app.audit import AuditEntry, verify_chain
from app.integrations.exchange.models import ExchangeMessage
from app.partitions import ArchivedPartition
from app.retention import NOT_PARTITIONED, archive_old_partitions, make_coming_partitions, read_archive
from app.storage import LocalStorage
from tests.conftest import ON_POSTGRES
from tests.core.test_audit import tamper  # noqa: F401  (a fixture)

postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="SQLite has no partitions")

OLD = datetime(2020, 1, 15, 8, 0, tzinfo=timezone.utc)
YEARS_LATER = datetime(2023, 6, 1, 12, 0, tzinfo=timezone.utc)  # 2020-01 is then over three years old


def sql(statement: str, *values: object):
    return connections.get("default").execute_query_dict(statement, list(values))


async def where(table: str, condition: str) -> list[str]:
    """The partition holding each row of `table` matching `condition`."""
    return [row["p"] for row in await sql(f"SELECT tableoid::regclass::text AS p FROM {table} WHERE {condition}")]


async def attached(table: str) -> set[str]:
    return {row["relname"] for row in await sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
        table)}


class BrokenStorage(LocalStorage):
    """Object storage that refuses every write (a full disk, a bucket gone)."""

    async def put(self, key: str, data: bytes) -> None:
        raise OSError("no space left on device")


class ForgetfulStorage(LocalStorage):
    """Object storage that says it kept the object but returns other bytes."""

    async def get(self, key: str) -> bytes:
        return (await super().get(key))[:-1] + b"\0"


async def old_month_of_rows(platform, clock) -> list[AuditEntry]:
    """Partitions made for January 2020, and three audit entries and an exchange message written in it."""
    clock.set(OLD)
    await make_coming_partitions(clock, platform.settings.retention)
    entries = [await audit.record_event(clock, actor="c_old", actor_type="citizen", action="login", subject_id="c_old")
               for _ in range(3)]
    await ExchangeMessage.create(message_id="m_old", at=OLD, client="c", service="s", purpose="p", user="u",
                                 request_hash="r", duration_ms=5)
    return entries


# -- SQLite ------------------------------------------------------------------------------------------

@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL partitions the tables")
async def test_on_sqlite_the_jobs_say_not_partitioned_and_keep_every_row(app, platform, clock, tmp_path: Path):
    await old_month_of_rows(platform, clock)
    clock.set(YEARS_LATER)
    storage = LocalStorage(tmp_path / "archives")
    assert await make_coming_partitions(clock, platform.settings.retention) == NOT_PARTITIONED
    assert await archive_old_partitions(clock, platform.settings.retention, storage, platform.pii) == NOT_PARTITIONED
    assert await AuditEntry.all().count() == 3 and await ExchangeMessage.all().count() == 1
    assert await ArchivedPartition.all().count() == 0
    assert not (tmp_path / "archives").exists()
    assert (await verify_chain()).ok


# -- months made ahead -------------------------------------------------------------------------------

@postgres_only
async def test_the_coming_months_are_made_ahead_and_rows_land_in_their_month(app, platform, clock):
    clock.set(datetime(2031, 5, 10, tzinfo=timezone.utc))
    run = await make_coming_partitions(clock, platform.settings.retention)
    for table in ("audit_entries", "health_evidence", "issued_health_codes", "exchange_messages"):
        for month in ("2031_05", "2031_06", "2031_07", "2031_08"):
            assert f"{table}_{month}" in run.made and f"{table}_{month}" in await attached(table)
        assert f"{table}_2031_09" not in await attached(table)
    assert (await make_coming_partitions(clock, platform.settings.retention)).made == []  # made once

    await ExchangeMessage.create(message_id="m_june", at=datetime(2031, 6, 30, 23, 59, tzinfo=timezone.utc),
                                 client="c", service="s", purpose="p", user="u", request_hash="r", duration_ms=5)
    await ExchangeMessage.create(message_id="m_far", at=datetime(2040, 1, 1, tzinfo=timezone.utc), client="c",
                                 service="s", purpose="p", user="u", request_hash="r", duration_ms=5)
    assert await where("exchange_messages", "message_id = 'm_june'") == ["exchange_messages_2031_06"]
    assert await where("exchange_messages", "message_id = 'm_far'") == ["exchange_messages_default"]
    await ExchangeMessage.create(message_id="m_past", at=datetime(2019, 5, 1, tzinfo=timezone.utc), client="c",
                                 service="s", purpose="p", user="u", request_hash="r", duration_ms=5)
    assert await where("exchange_messages", "message_id = 'm_past'") == ["exchange_messages_default"]


@postgres_only
async def test_a_month_whose_rows_wait_in_default_is_left_unmade_and_the_rows_stay(app, platform, clock):
    await ExchangeMessage.create(message_id="m_early", at=datetime(2041, 2, 3, tzinfo=timezone.utc), client="c",
                                 service="s", purpose="p", user="u", request_hash="r", duration_ms=5)
    clock.set(datetime(2041, 1, 20, tzinfo=timezone.utc))
    run = await make_coming_partitions(clock, platform.settings.retention)
    assert "exchange_messages_2041_02" in run.in_default and "exchange_messages_2041_01" in run.made
    assert "audit_entries_2041_02" in run.made  # the other tables have no rows of that month
    assert await where("exchange_messages", "message_id = 'm_early'") == ["exchange_messages_default"]


# -- retention ---------------------------------------------------------------------------------------

@postgres_only
async def test_an_old_month_is_archived_readable_recorded_audited_and_dropped(app, platform, clock, tmp_path: Path):
    entries = await old_month_of_rows(platform, clock)
    assert (await verify_chain()).ok
    storage = LocalStorage(tmp_path / "archives")
    clock.set(YEARS_LATER)
    run = await archive_old_partitions(clock, platform.settings.retention, storage, platform.pii)

    assert "audit_entries_2020_01" in run.archived and "exchange_messages_2020_01" in run.archived, run
    assert "audit_entries_2020_01" not in await attached("audit_entries")
    assert not await sql("SELECT 1 FROM pg_class WHERE relname = 'audit_entries_2020_01'")  # dropped
    assert await AuditEntry.filter(seq__lte=3).count() == 0
    assert await ExchangeMessage.filter(message_id="m_old").count() == 0

    record = await ArchivedPartition.get(partition_name="audit_entries_2020_01")
    assert record.rows == 3 and record.table_name == "audit_entries"
    assert (record.range_start, record.range_end) == (datetime(2020, 1, 1, tzinfo=timezone.utc),
                                                      datetime(2020, 2, 1, tzinfo=timezone.utc))
    assert record.chain_ends == {str(entries[2].chain): {"seq": 3, "hash": entries[2].hash}}
    stored = await storage.get(record.storage_key)
    assert hashlib.sha256(stored).hexdigest() == record.sha256 and len(stored) == record.size
    rows = read_archive(stored, record.partition_name, platform.pii)
    assert [(r["seq"], r["hash"], r["action"]) for r in rows] == [(e.seq, e.hash, "login") for e in entries]
    assert rows[0]["prev_hash"] == "0" * 64
    message = read_archive(await storage.get((await ArchivedPartition.get(
        partition_name="exchange_messages_2020_01")).storage_key), "exchange_messages_2020_01", platform.pii)
    assert [m["message_id"] for m in message] == ["m_old"]

    logged = await AuditEntry.filter(action="partition_archived").order_by("seq")
    assert {e.attributes["partition"] for e in logged} >= {"audit_entries_2020_01", "exchange_messages_2020_01"}
    first = next(e for e in logged if e.attributes["partition"] == "audit_entries_2020_01")
    assert first.attributes["sha256"] == record.sha256 and first.attributes["rows"] == 3

    report = await verify_chain()
    assert report.ok, report.problems
    assert report.checked == len(logged)  # the kept entries: those the job wrote
    again = await archive_old_partitions(clock, platform.settings.retention, storage, platform.pii)
    assert again.archived == [] and again.held == []


@postgres_only
@pytest.mark.parametrize("broken", [BrokenStorage, ForgetfulStorage])
async def test_an_archive_that_fails_leaves_the_month_in_place_for_the_next_run(app, platform, clock, tmp_path: Path,
                                                                                broken):
    await old_month_of_rows(platform, clock)
    clock.set(YEARS_LATER)
    run = await archive_old_partitions(clock, platform.settings.retention, broken(tmp_path / "a"), platform.pii)
    assert run.archived == [] and run.held and run.held[0].startswith("audit_entries_2020_01: ")
    assert "audit_entries_2020_01" in await attached("audit_entries")
    assert await AuditEntry.filter(seq__lte=3).count() == 3
    with pytest.raises(Exception, match="append-only"):  # attached again with its triggers
        await sql("DELETE FROM audit_entries_2020_01")
    assert await ArchivedPartition.all().count() == 0
    assert (await verify_chain()).ok

    run = await archive_old_partitions(clock, platform.settings.retention, LocalStorage(tmp_path / "b"), platform.pii)
    assert "audit_entries_2020_01" in run.archived
    assert (await verify_chain()).ok


@postgres_only
async def test_a_month_left_detached_by_an_interrupted_run_is_archived_by_the_next(app, platform, clock, tmp_path):
    await old_month_of_rows(platform, clock)
    await sql("ALTER TABLE exchange_messages DETACH PARTITION exchange_messages_2020_01")
    clock.set(YEARS_LATER)
    run = await archive_old_partitions(clock, platform.settings.retention, LocalStorage(tmp_path), platform.pii)
    assert "exchange_messages_2020_01" in run.archived
    assert (await ArchivedPartition.get(partition_name="exchange_messages_2020_01")).rows == 1


@postgres_only
async def test_a_month_younger_than_its_retention_stays(app, platform, clock, tmp_path: Path):
    await old_month_of_rows(platform, clock)
    clock.set(datetime(2020, 7, 15, tzinfo=timezone.utc))  # under six months after January ended
    run = await archive_old_partitions(clock, platform.settings.retention, LocalStorage(tmp_path), platform.pii)
    assert run.archived == []
    assert await ExchangeMessage.filter(message_id="m_old").count() == 1


# -- the chain after archiving -----------------------------------------------------------------------

async def archived_then_more(platform, clock, tmp_path: Path) -> list[AuditEntry]:
    await old_month_of_rows(platform, clock)
    clock.set(YEARS_LATER)
    await archive_old_partitions(clock, platform.settings.retention, LocalStorage(tmp_path), platform.pii)
    # On the archived entries' chain: the first kept entry links to the last archived one.
    kept = [await audit.record_event(clock, actor="c_old", actor_type="citizen", action="login", subject_id="c_old")
            for _ in range(2)]
    assert (await verify_chain()).ok
    return kept


@postgres_only
async def test_after_archiving_a_changed_kept_entry_is_found(app, platform, clock, tmp_path, tamper):  # noqa: F811
    first, _ = await archived_then_more(platform, clock, tmp_path)
    await tamper(f"UPDATE audit_entries SET action = 'nothing' WHERE seq = {first.seq}")
    assert (await verify_chain()).problems == [f"chain {first.chain}, entry {first.seq}: content does not match "
                                               "its hash (changed, or moved from another chain)"]


@postgres_only
async def test_after_archiving_a_missing_first_kept_entry_is_found(app, platform, clock, tmp_path, tamper):  # noqa: F811
    kept = await AuditEntry.all().count()
    assert kept == 0
    first, second = await archived_then_more(platform, clock, tmp_path)
    await tamper(f"DELETE FROM audit_entries WHERE seq = {first.seq}")
    assert (await verify_chain()).problems == [f"chain {first.chain}, entry {second.seq}: link to the previous entry "
                                               "(entry 3) is broken: an entry between them was deleted or inserted, "
                                               "or that entry changed"]


@postgres_only
async def test_after_archiving_a_changed_or_missing_archive_record_breaks_the_link(app, platform, clock, tmp_path):
    first, _ = await archived_then_more(platform, clock, tmp_path)
    record = await ArchivedPartition.get(partition_name="audit_entries_2020_01")
    broken = (f"chain {first.chain}, entry {first.seq}: link to the previous entry (entry {{}}) is broken: an entry "
              "between them was deleted or inserted, or that entry changed")
    await sql("UPDATE archived_partitions SET chain_ends = $1 WHERE id = $2",
              '{"' + str(first.chain) + '":{"seq":3,"hash":"' + "f" * 64 + '"}}', record.id)
    assert (await verify_chain()).problems == [broken.format(3)]
    await sql("DELETE FROM archived_partitions")
    assert (await verify_chain()).problems == [broken.format(0)]


@postgres_only
async def test_an_archived_month_is_restored_into_a_table_of_its_own(app, platform, clock, tmp_path: Path):
    from app.retention import restore_archive

    entries = await old_month_of_rows(platform, clock)
    clock.set(YEARS_LATER)
    storage = LocalStorage(tmp_path)
    await archive_old_partitions(clock, platform.settings.retention, storage, platform.pii)
    try:
        table, rows = await restore_archive(clock, storage, platform.pii, "audit_entries_2020_01")
        assert (table, rows) == ("restored_audit_entries_2020_01", 3)
        restored = await sql(f"SELECT seq, at, hash, attributes FROM {table} ORDER BY seq")
        assert [(r["seq"], r["at"], r["hash"]) for r in restored] == [(e.seq, e.at, e.hash) for e in entries]
        assert (await verify_chain()).ok  # the restored copy is not part of the log
        assert await AuditEntry.filter(action="partition_restored").count() == 1
    finally:
        await sql("DROP TABLE IF EXISTS restored_audit_entries_2020_01")
    record = await ArchivedPartition.get(partition_name="audit_entries_2020_01")
    stored = await storage.get(record.storage_key)
    await storage.put(record.storage_key, stored[:-1] + bytes([stored[-1] ^ 1]))  # one bit changed
    with pytest.raises(ValueError, match="does not match its SHA-256"):
        await restore_archive(clock, storage, platform.pii, "audit_entries_2020_01")
