"""Migration 0043 going down: refused once an entry was written with chains (the one-chain code could neither
verify nor continue such a log), allowed on a log without any, and then audit_entries is still append-only
(on SQLite removing the chain column rebuilds the table, which drops its triggers). Run on the backend the
environment names, against a database of the test's own."""

from __future__ import annotations

import weakref

import pytest
from tortoise import connections
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from app import audit
from app.clock import MovableClock
from tests.core.test_partitions_migration import _audit_entry_of_0041, executor  # noqa: F401  (a fixture)

BEFORE_CHAINS = MigrationTarget("models", "0042_monthly_partitions")


async def test_going_below_0043_is_refused_once_an_entry_was_chained(executor: MigrationExecutor,  # noqa: F811
                                                                     monkeypatch) -> None:
    await executor.migrate()
    monkeypatch.setattr(audit, "_layouts", weakref.WeakKeyDictionary())  # this database has no layout yet
    await audit.record_event(MovableClock(), actor="c_chained", actor_type="citizen", action="login",
                             subject_id="c_chained")
    with pytest.raises(Exception, match="migration 0043 cannot be undone: audit entries were written with chains"):
        await executor.migrate([BEFORE_CHAINS])
    assert await audit.AuditEntry.filter(subject_id="c_chained").count() == 1
    assert (await audit.verify_chain()).ok  # nothing was undone


async def test_going_below_0043_works_on_a_log_without_chains_and_keeps_it_append_only(
        executor: MigrationExecutor) -> None:  # noqa: F811
    await executor.migrate([BEFORE_CHAINS])
    await _audit_entry_of_0041(MovableClock().now())  # as the one chain wrote it: head row 1
    await executor.migrate()
    await executor.migrate([BEFORE_CHAINS])

    sql = connections.get("default").execute_query_dict
    assert [row["id"] for row in await sql("SELECT id FROM audit_head")] == [1]  # the one chain's head again
    with pytest.raises(Exception, match="append-only"):
        await sql("UPDATE audit_entries SET action = 'nothing' WHERE seq = 1")
    with pytest.raises(Exception, match="append-only"):
        await sql("DELETE FROM audit_entries")
    assert (await sql("SELECT COUNT(*) AS n FROM audit_entries"))[0]["n"] == 1
