"""The audit log is append-only and hash-chained; citizens see who else read their data.

An auditor runs `python -m app audit verify`: it says "intact" for an untouched log and
"BROKEN" naming the entry when anyone changed, removed or truncated entries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from tortoise import connections

from app import audit, db
from app.audit import AuditEntry, record_access, record_event, verify_chain
from tests.factories import sign_in

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"

RESTORE_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_entries_no_update BEFORE UPDATE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_entries_no_delete BEFORE DELETE ON audit_entries "
        "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END",
    ],
    "postgres": [
        "DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries",
        "CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries "
        "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()",
    ],
}
DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER audit_entries_no_update", "DROP TRIGGER audit_entries_no_delete"],
    "postgres": ["DROP TRIGGER audit_entries_append_only ON audit_entries"],
}


ALICE = audit.chain_of("c_alice", audit.DEFAULT_CHAINS)  # the chain of every entry of three_events


def sql(statement: str):
    return connections.get("default").execute_query(statement)


@pytest.fixture
async def tamper(app):
    """Lets a test play the attacker with direct database access: the append-only triggers are
    dropped, and put back afterwards (on PostgreSQL the database is shared by the whole run)."""
    dialect = db.dialect()
    for statement in DROP_TRIGGERS[dialect]:
        await sql(statement)
    try:
        yield sql
    finally:
        for statement in RESTORE_TRIGGERS[dialect]:
            await sql(statement)


async def three_events(clock) -> list[AuditEntry]:
    return [
        await record_event(clock, actor="c_alice", actor_type="citizen", action="login", subject_id="c_alice",
                           attributes={"session_id": "ses_1"}),
        await record_event(clock, actor="c_alice", actor_type="citizen", action="identity_verified",
                           subject_id="c_alice", attributes=["name", "id_number"]),
        await record_event(clock, actor="system", actor_type="system", action="session_revoked",
                           subject_id="c_alice", attributes={"reason": "refresh_reuse", "score": 0.93}),
    ]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    environ.update(env)
    return subprocess.run([str(PYTHON), "-m", "app", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)


# -- the chain ---------------------------------------------------------------------------

async def test_each_entry_links_to_the_one_before(app, platform):
    first, second, third = await three_events(platform.clock)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert [first.seq, second.seq, third.seq] == [first.seq, first.seq + 1, first.seq + 2]
    assert len({first.hash, second.hash, third.hash}) == 3


async def test_an_untouched_log_verifies(app, platform):
    await three_events(platform.clock)
    report = await verify_chain()
    assert report.ok, report.problems
    assert report.checked == 3


async def test_an_empty_log_verifies(app):
    report = await verify_chain()
    assert report.ok and report.checked == 0


async def test_concurrent_writers_keep_one_unbroken_chain(app, platform):
    entries = await asyncio.gather(*(
        record_event(platform.clock, actor=f"c_{i}", actor_type="citizen", action="login") for i in range(20)
    ))
    assert sorted(e.seq for e in entries) == list(range(1, 21))
    report = await verify_chain(batch=7)  # several batches
    assert report.ok, report.problems
    assert report.checked == 20


async def test_the_database_refuses_to_update_or_delete_entries(app, platform):
    await three_events(platform.clock)
    with pytest.raises(Exception, match="append-only"):
        await sql("UPDATE audit_entries SET action = 'nothing_happened' WHERE seq = 2")
    with pytest.raises(Exception, match="append-only"):
        await sql("DELETE FROM audit_entries WHERE seq = 2")
    assert (await AuditEntry.get(seq=2)).action == "identity_verified"
    assert await AuditEntry.all().count() == 3


async def test_the_database_refuses_to_wipe_the_whole_log_at_once(app, platform):
    """TRUNCATE (PostgreSQL) and an unfiltered DELETE (SQLite) are deletions too."""
    await three_events(platform.clock)
    wipe = "TRUNCATE audit_entries" if db.dialect() == "postgres" else "DELETE FROM audit_entries"
    with pytest.raises(Exception, match="append-only"):
        await sql(wipe)
    assert await AuditEntry.all().count() == 3


async def test_a_changed_entry_is_found(app, platform, tamper):
    await three_events(platform.clock)
    await tamper("UPDATE audit_entries SET action = 'nothing_happened' WHERE seq = 2")
    report = await verify_chain()
    assert not report.ok
    assert report.problems == [f"chain {ALICE}, entry 2: content does not match its hash (changed, or moved from "
                               "another chain)"]


async def test_a_changed_entry_with_a_recomputed_hash_breaks_the_next_link(app, platform, tamper):
    await three_events(platform.clock)
    await tamper("UPDATE audit_entries SET actor = 'c_mallory', hash = "
                 "CASE WHEN substr(hash, 1, 1) = 'f' THEN 'e' ELSE 'f' END || substr(hash, 2) WHERE seq = 2")
    report = await verify_chain()
    assert not report.ok
    assert any(p.startswith(f"chain {ALICE}, entry 3: link") for p in report.problems), report.problems


async def test_a_deleted_entry_in_the_middle_is_reported_missing(app, platform, tamper):
    await three_events(platform.clock)
    await tamper("DELETE FROM audit_entries WHERE seq = 2")
    report = await verify_chain()
    assert not report.ok
    assert report.problems == [f"chain {ALICE}, entry 3: link to the previous entry (entry 1) is broken: an entry "
                               "between them was deleted or inserted, or that entry changed"]
    assert report.checked == 2


async def test_deleting_the_newest_entry_is_reported(app, platform, tamper):
    await three_events(platform.clock)
    await tamper("DELETE FROM audit_entries WHERE seq = 3")
    report = await verify_chain()
    assert not report.ok
    assert len(report.problems) == 1 and "newest entries deleted" in report.problems[0]


async def test_recording_continues_the_chain_after_restart(app, platform):
    await three_events(platform.clock)
    audit_head = await audit.AuditHead.get(id=ALICE)
    nxt = await record_event(platform.clock, actor="system", actor_type="system", action="session_revoked",
                             subject_id="c_alice")
    assert nxt.seq == audit_head.seq + 1 and nxt.prev_hash == audit_head.hash
    assert (await verify_chain()).ok


async def test_an_unknown_actor_type_is_refused(app, platform):
    with pytest.raises(ValueError, match="actor_type"):
        await record_event(platform.clock, actor="x", actor_type="hacker", action="login")
    assert await AuditEntry.all().count() == 0


# -- the auditor's command ---------------------------------------------------------------

async def test_audit_verify_command_on_the_service_database(app, platform, settings, tamper, tmp_path):
    await three_events(platform.clock)
    env = {"APP_DATA_DIR": str(tmp_path / "cli"), "APP_DATABASE_URL": settings.database_url}
    intact = await asyncio.to_thread(run_cli, "audit", "verify", **env)
    assert intact.returncode == 0, intact.stderr
    assert "intact: 64 chains, 3 entries" in intact.stdout

    await tamper("UPDATE audit_entries SET purpose = 'curiosity' WHERE seq = 1")
    broken = await asyncio.to_thread(run_cli, "audit", "verify", **env)
    assert broken.returncode == 1
    assert "BROKEN" in broken.stdout and f"chain {ALICE}, entry 1: content" in broken.stdout


WRITE_ENTRIES = """
import asyncio
from app.audit import record_event
from app.clock import Clock
from app.db import close_db, init_db
from app.config import Settings

async def main():
    await init_db(Settings.from_env().resolved_database_url, migrate=False)
    for action in ("login", "identity_verified", "logout"):
        await record_event(Clock(), actor="c_1", actor_type="citizen", action=action, subject_id="c_1")
    await close_db()

asyncio.run(main())
"""


@pytest.mark.same_on_every_backend  # the command line on a SQLite file of its own
def test_audit_verify_command_on_a_fresh_sqlite_file(tmp_path):
    path = tmp_path / "x.sqlite3"
    env = {"APP_DATA_DIR": str(tmp_path / "data"), "APP_DATABASE_URL": f"sqlite://{path}"}
    migrated = run_cli("migrate", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert "migrations applied" in migrated.stdout

    empty = run_cli("audit", "verify", **env)
    assert empty.returncode == 0 and "intact: 1 chains, 0 entries" in empty.stdout

    environ = {k: v for k, v in os.environ.items() if not k.startswith("APP_")} | env
    wrote = subprocess.run([str(PYTHON), "-c", WRITE_ENTRIES], cwd=ROOT, env=environ,
                           capture_output=True, text=True, timeout=120)
    assert wrote.returncode == 0, wrote.stderr

    intact = run_cli("audit", "verify", **env)
    assert intact.returncode == 0, intact.stderr
    assert "intact: 64 chains, 3 entries" in intact.stdout

    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_entries WHERE seq = 2")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER audit_entries_no_delete")
        conn.execute("DELETE FROM audit_entries WHERE seq = 2")

    broken = run_cli("audit", "verify", **env)
    assert broken.returncode == 1
    assert "BROKEN" in broken.stdout
    assert f"chain {audit.chain_of('c_1', 64)}, entry 3: link to the previous entry (entry 1) is broken" in broken.stdout


# -- the citizen's access log ------------------------------------------------------------

async def test_reads_by_others_appear_in_the_citizens_access_log_and_only_there(client, sms, platform, clock):
    alice = await sign_in(client, sms)
    bob = await sign_in(client, sms)
    await record_access(platform.clock, citizen_id=alice.id, actor="rp_grand_hotel", actor_type="relying_party",
                        action="voucher_redeemed", attributes=["name", "id_number_masked"], purpose="酒店入住登记")
    clock.advance(5)
    await record_access(platform.clock, citizen_id=alice.id, actor="partner_macau", actor_type="partner",
                        action="health_code_verified", attributes=["health_color"], purpose="通关查验")

    reply = await client.get("/api/v1/me/access-log", headers=alice.headers)
    assert reply.status_code == 200
    items = reply.json()["items"]
    assert [i["actor"] for i in items] == ["partner_macau", "rp_grand_hotel"]  # newest first
    hotel = items[1]
    assert set(hotel) == {"at", "actor", "actor_type", "action", "attributes", "purpose"}
    assert hotel["actor_type"] == "relying_party"
    assert hotel["action"] == "voucher_redeemed"
    assert hotel["attributes"] == ["name", "id_number_masked"]
    assert hotel["purpose"] == "酒店入住登记"
    assert hotel["at"].endswith("Z") and "T" in hotel["at"]

    # Alice's own login is an event, not a read by someone else; Bob sees nothing of Alice's.
    others = await client.get("/api/v1/me/access-log", headers=bob.headers)
    assert others.status_code == 200 and others.json() == {"items": []}


async def test_the_access_log_needs_a_signed_in_citizen(client):
    reply = await client.get("/api/v1/me/access-log")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTH_REQUIRED"


async def test_a_citizen_reading_their_own_data_is_not_an_access(app, platform):
    with pytest.raises(ValueError):
        await record_access(platform.clock, citizen_id="c_1", actor="c_1", actor_type="citizen",
                            action="profile_read", attributes=["name"], purpose="self")
    assert await AuditEntry.all().count() == 0


async def test_a_batch_is_written_in_one_go_and_the_chain_still_verifies(app, platform):
    before = await record_event(platform.clock, actor="system", actor_type="system", action="before")
    batch = [audit.access(citizen_id="ctz_1", actor="澳门卫生局（示例）", actor_type="partner", action="health_code_verified",
                          attributes=["color"], purpose="跨境互认查验（MO）"),
             audit.event(actor="MO", actor_type="partner", action="partner_verification",
                         attributes={"code": "00ff", "result": "EXPIRED"})]
    await audit.record_all(platform.clock, batch * 3)
    after = await record_event(platform.clock, actor="system", actor_type="system", action="after")
    assert after.seq == before.seq + 7
    rows = await AuditEntry.filter(seq__gt=before.seq, seq__lt=after.seq).order_by("seq")
    assert [r.action for r in rows] == ["health_code_verified", "partner_verification"] * 3
    assert rows[1].attributes == {"code": "00ff", "result": "EXPIRED"} and rows[0].subject_id == "ctz_1"
    # Each chain links on: the system's entries, the citizen's, the partner's (no subject: by its actor).
    system, citizen, partner = (audit.chain_of(key, audit.DEFAULT_CHAINS) for key in ("system", "ctz_1", "MO"))
    assert len({system, citizen, partner}) == 3
    assert [r.chain for r in rows] == [citizen, partner] * 3 and after.prev_hash == before.hash
    assert [r.prev_hash for r in rows[2::2]] == [r.hash for r in rows[0:-2:2]]
    report = await verify_chain()
    assert report.ok, report.problems
    assert len(await audit.access_log("ctz_1")) == 3


# The hashes of two entries as the chain has always computed them (json.dumps of the entry, keys
# sorted, no spaces): entries already stored must still verify after any change to how hashes are made.
AT = datetime(2026, 12, 4, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
STORED = [
    (("0" * 64, 7, AT, "access", "澳门特别行政区卫生局（示例）", "partner", "health_code_verified", "ct_abc",
      ["color", "subject_masked"], '跨境互认查验（MO · 码 0a1b）"引号"\\'),
     "fd3bb74d110bdf1802b995293e7976b628d9c64b74f6227b0ba62b5119351006"),
    (("f" * 64, 8, AT, "event", "MO", "partner", "partner_verification", None,
      {"result": "valid", "code": "ab", "n": 1.5, "z": [1, None, True]}, None),
     "4e6faca0c5e2fd9639137f59b4688864a14ab35ba3c8e16e81f14ef42fdfc452"),
]


@pytest.mark.parametrize("fields, stored", STORED)
def test_entries_hash_as_they_always_have(fields, stored):
    assert audit.entry_hash(*fields) == stored


def _as_first_written(prev_hash, seq, at, category, actor, actor_type, action, subject_id, attributes, purpose):
    canonical = json.dumps([prev_hash, seq, at.isoformat(timespec="microseconds"), category, actor, actor_type, action,
                            subject_id, attributes, purpose], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # any text a column can hold
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(prev=st.text("0123456789abcdef", min_size=64, max_size=64), seq=st.integers(1, 2**62),
       category=st.sampled_from(["event", "access"]), actor=text, actor_type=st.sampled_from(audit.ACTOR_TYPES),
       action=text, subject_id=st.none() | text, attributes=st.lists(json_values, max_size=4) | st.dictionaries(text, json_values, max_size=4),
       purpose=st.none() | text)
def test_a_record_hashes_to_what_the_chain_has_always_hashed(prev, seq, category, actor, actor_type, action, subject_id,
                                                             attributes, purpose):
    """A record encodes its attributes once when it is built (the hot path of a partner's batch);
    the hash is the same as the whole entry encoded at once, for any entry."""
    record = audit.AuditRecord(category, actor, actor_type, action, subject_id, attributes, purpose)
    at_text = AT.isoformat(timespec="microseconds")
    fast = audit._linked_hash(prev, seq, at_text, category, actor, actor_type, action, subject_id,
                              record.attributes_json, purpose)
    assert fast == _as_first_written(prev, seq, AT, category, actor, actor_type, action, subject_id, attributes, purpose)
    assert fast == audit.entry_hash(prev, seq, AT, category, actor, actor_type, action, subject_id, attributes, purpose)
