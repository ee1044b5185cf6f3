"""Migration 0042: on PostgreSQL the append-only tables become monthly range partitions keeping every row,
key, index and trigger; on SQLite they stay plain tables with their rows. Run on the backend the environment
names, against a database of the test's own migrated to 0041 first with rows in it."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from app import audit, db
from app.audit import AuditEntry, verify_chain
from app.clock import MovableClock
from app.integrations.exchange.models import ExchangeMessage
from app.partitions import ArchivedPartition
from health_code.models import HealthEvidence, IssuedHealthCode
from tests.conftest import DATABASE_URL, ON_POSTGRES, _with_database

PAST = datetime(2025, 3, 14, 9, 26, tzinfo=timezone.utc)
LATER = datetime(2025, 7, 2, 18, 0, tzinfo=timezone.utc)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[MigrationExecutor]:
    """A database of this test's own, opened without migrating: the test migrates it step by step."""
    if ON_POSTGRES:
        name = f"test_mig_{secrets.token_hex(4)}"
        await _admin(f'CREATE DATABASE "{name}"')
        url = _with_database(DATABASE_URL, name)
    else:
        url = f"sqlite://{tmp_path / 'migrate.sqlite3'}"
    await db.init_db(url, migrate=False)
    config = db.tortoise_config(url)
    try:
        yield MigrationExecutor(connections.get("default"), config["apps"])
    finally:
        await Tortoise.close_connections()
        if ON_POSTGRES:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _rows_before_partitioning(clock: MovableClock) -> None:
    from app.accounts.models import Citizen

    await Citizen.create(id="c_migrated", phone_enc="x", phone_hash="h" * 64, created_at=PAST, updated_at=PAST)
    for moment in (PAST, LATER):
        clock.set(moment)
        await _audit_entry_of_0041(moment)
        await HealthEvidence.create(id=f"ev_{moment.month}", citizen_id="c_migrated", kind="test", source="lab",
                                    observed_at=moment, recorded_at=moment, data={"result": "negative"})
        await IssuedHealthCode.create(code_id=f"{moment.month:032x}", citizen_id="c_migrated", issued_at=moment,
                                      expires_at=moment)
        await ExchangeMessage.create(message_id=f"m{moment.month}", at=moment, client="c", service="s",
                                     purpose="p", user="u", request_hash="r", duration_ms=5)


async def _audit_entry_of_0041(moment: datetime) -> None:
    """An entry as the one chain of 0041 wrote it (no chain column, head row 1), in SQL: today's code writes chains."""
    conn = connections.get("default")
    head = await conn.execute_query_dict("SELECT seq, hash FROM audit_head WHERE id = 1")
    seq, prev_hash = (head[0]["seq"] + 1, head[0]["hash"]) if head else (1, audit.GENESIS_HASH)
    digest = audit.entry_hash(prev_hash, seq, moment, "event", "c_migrated", "citizen", "login", "c_migrated", [], None)
    at = AuditEntry._meta.fields_map["at"].to_db_value(moment, AuditEntry)
    await conn.execute_query(
        "INSERT INTO audit_entries (seq, at, category, actor, actor_type, action, subject_id, attributes, purpose, "
        f"prev_hash, hash) VALUES ({db.placeholders(conn, 7)}, '[]', NULL, {db.placeholders(conn, 2, first=8)})",
        [seq, at, "event", "c_migrated", "citizen", "login", "c_migrated", prev_hash, digest])
    if head:
        await conn.execute_query(f"UPDATE audit_head SET seq = {db.placeholders(conn, 1)}, "
                                 f"hash = {db.placeholders(conn, 1, first=2)} WHERE id = 1", [seq, digest])
    else:
        await conn.execute_query(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, {db.placeholders(conn, 2)})",
                                 [seq, digest])


async def _partitions(table: str) -> list[str]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = $1::regclass ORDER BY c.relname", [table])
    return [row["relname"] for row in rows]


async def test_the_rows_written_before_partitioning_are_all_there_after(executor: MigrationExecutor) -> None:
    await executor.migrate([MigrationTarget("models", "0041_data_exports")])
    await _rows_before_partitioning(MovableClock())
    await executor.migrate()

    assert await ArchivedPartition.all().count() == 0
    assert [e.seq for e in await AuditEntry.all().order_by("seq")] == [1, 2]
    report = await verify_chain()
    assert report.ok and report.checked == 2, report.problems
    assert sorted(e.id for e in await HealthEvidence.all()) == ["ev_3", "ev_7"]
    assert (await HealthEvidence.get(id="ev_3")).data == {"result": "negative"}
    assert await IssuedHealthCode.filter(citizen_id="c_migrated").count() == 2
    assert sorted(m.message_id for m in await ExchangeMessage.all()) == ["m3", "m7"]
    if not ON_POSTGRES:
        return
    now = datetime.now(timezone.utc)
    for table in ("audit_entries", "health_evidence", "issued_health_codes", "exchange_messages"):
        names = await _partitions(table)
        # every month from the first row's to three after this one, and the default
        assert names[0] == f"{table}_2025_03", names
        assert f"{table}_2025_07" in names and f"{table}_{now:%Y_%m}" in names and f"{table}_default" in names
        months = (now.year - 2025) * 12 + now.month - 3 + 1 + 3
        assert len(names) == months + 1
    sql = connections.get("default").execute_query_dict
    assert (await sql("SELECT count(*) AS n FROM audit_entries_2025_03"))[0]["n"] == 1
    primary = await sql("SELECT pg_get_constraintdef(oid) AS ddl FROM pg_constraint "
                        "WHERE conrelid = 'audit_entries'::regclass AND contype = 'p'")
    assert primary[0]["ddl"] == "PRIMARY KEY (seq, at)"
    foreign = await sql("SELECT pg_get_constraintdef(oid) AS ddl FROM pg_constraint "
                        "WHERE conrelid = 'health_evidence'::regclass AND contype = 'f'")
    assert [row["ddl"] for row in foreign] == ["FOREIGN KEY (citizen_id) REFERENCES citizens(id) ON DELETE CASCADE"]
    with pytest.raises(Exception, match="append-only"):
        await sql("UPDATE audit_entries SET action = 'nothing' WHERE seq = 1")
    with pytest.raises(Exception, match="append-only"):
        await sql("DELETE FROM audit_entries_2025_03")  # on a partition directly too


async def test_migrating_back_leaves_plain_tables_with_the_rows(executor: MigrationExecutor) -> None:
    await executor.migrate([MigrationTarget("models", "0041_data_exports")])
    await _rows_before_partitioning(MovableClock())
    await executor.migrate()
    await executor.migrate([MigrationTarget("models", "0041_data_exports")])

    assert await AuditEntry.all().order_by("seq").values_list("seq", flat=True) == [1, 2]
    assert await HealthEvidence.all().count() == 2
    if ON_POSTGRES:
        assert await _partitions("audit_entries") == []
        with pytest.raises(Exception, match="append-only"):
            await connections.get("default").execute_query("DELETE FROM audit_entries")
