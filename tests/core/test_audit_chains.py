"""The audit log as many chains anchored into a root chain: where entries go, and what `verify_chain` finds.

Each test plays the auditor (`verify_chain`, what `python -m app audit verify` prints) after an attacker
with direct database access changed something: the append-only triggers are dropped for that, and put
back afterwards.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app import audit, db
from app.audit import AuditEntry, AuditHead, AuditRoot, anchor_heads, record_event, verify_chain
from tests.conftest import ON_POSTGRES

CHAINS = audit.DEFAULT_CHAINS
ALICE, BOB = audit.chain_of("c_alice", CHAINS), audit.chain_of("c_bob", CHAINS)

APPEND_ONLY = ("audit_entries", "audit_root", "audit_layout")
TRIGGERS: dict[str, list[tuple[str, str]]] = {  # dialect -> (drop, create again)
    "sqlite": [(f"DROP TRIGGER {table}_no_{verb.lower()}",
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
               for table in APPEND_ONLY for verb in ("UPDATE", "DELETE")],
    "postgres": [(f"DROP TRIGGER {table}_append_only ON {table}",
                  f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                  "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()")
                 for table in APPEND_ONLY],
}


def sql(statement: str, values: list[Any] | None = None) -> Any:
    return connections.get("default").execute_query(statement, values)


@pytest.fixture
async def tamper(app):
    """Direct database access with the audit tables' append-only triggers dropped (put back afterwards:
    on PostgreSQL the database is shared by the whole run)."""
    triggers = TRIGGERS[db.dialect()]
    for drop, _ in triggers:
        await sql(drop)
    try:
        yield sql
    finally:
        for _, create in triggers:
            await sql(create)


async def entries(clock: Any) -> list[AuditEntry]:
    """Alice's three entries and Bob's two, interleaved: two chains."""
    written = []
    for who, action in (("c_alice", "login"), ("c_bob", "login"), ("c_alice", "identity_verified"),
                        ("c_bob", "logout"), ("c_alice", "logout")):
        written.append(await record_event(clock, actor=who, actor_type="citizen", action=action, subject_id=who))
    return written


def p(report: audit.ChainReport) -> list[str]:
    return report.problems


# -- where entries go ----------------------------------------------------------------------

async def test_each_subjects_entries_are_one_chain_and_seq_is_one_number_across_chains(app, platform):
    assert ALICE != BOB
    a1, b1, a2, b2, a3 = await entries(platform.clock)

    assert [e.chain for e in (a1, a2, a3)] == [ALICE] * 3 and [e.chain for e in (b1, b2)] == [BOB] * 2
    assert [e.seq for e in (a1, b1, a2, b2, a3)] == sorted({a1.seq, b1.seq, a2.seq, b2.seq, a3.seq})
    assert (a1.prev_hash, a2.prev_hash, a3.prev_hash) == ("0" * 64, a1.hash, a2.hash)
    assert (b1.prev_hash, b2.prev_hash) == ("0" * 64, b1.hash)
    heads = {h.id: (h.seq, h.hash) for h in await AuditHead.all()}
    assert heads == {ALICE: (a3.seq, a3.hash), BOB: (b2.seq, b2.hash)}
    # No subject: the actor's chain (a partner's batch goes to the partner's).
    system = await record_event(platform.clock, actor="system", actor_type="system", action="key_rotated")
    assert system.chain == audit.chain_of("system", CHAINS)

    report = await verify_chain()
    assert report.ok, p(report)
    assert (report.chains, report.checked) == (CHAINS, 6)


async def test_the_access_log_pages_by_seq_across_chains(app, platform):
    for i in range(5):
        await audit.record_access(platform.clock, citizen_id="c_alice", actor=f"hotel_{i}", actor_type="relying_party",
                                  action="voucher_redeemed", attributes=["name"], purpose="入住登记")
        await audit.record_access(platform.clock, citizen_id="c_bob", actor=f"hotel_{i}", actor_type="relying_party",
                                  action="voucher_redeemed", attributes=["name"], purpose="入住登记")
    first = await audit.access_log("c_alice", limit=3)
    rest = await audit.access_log("c_alice", limit=3, before_seq=first[-1].seq)
    assert [e.actor for e in first + rest] == [f"hotel_{i}" for i in (4, 3, 2, 1, 0)]
    assert {e.chain for e in first + rest} == {ALICE}


async def test_another_number_of_chains_is_refused_once_entries_are_placed(app, platform):
    await entries(platform.clock)
    audit.configure(8)
    try:
        with pytest.raises(audit.AuditLayoutMismatch, match="APP_AUDIT_CHAINS is 8, but the audit log was started "
                                                           "with 64 chains.*set APP_AUDIT_CHAINS=64"):
            await record_event(platform.clock, actor="c_alice", actor_type="citizen", action="login")
    finally:
        audit.configure(CHAINS)
    assert await AuditEntry.all().count() == 5
    assert (await verify_chain()).ok


# -- what the auditor finds -------------------------------------------------------------------

async def test_an_entry_moved_to_another_chain_is_found(app, platform, tamper):
    a1, b1, a2, *_ = await entries(platform.clock)
    await tamper(f"UPDATE audit_entries SET chain = {BOB} WHERE seq = {a2.seq}")
    problems = p(await verify_chain())
    assert f"chain {BOB}, entry {a2.seq}: content does not match its hash (changed, or moved from another chain)" \
        in problems
    assert any(x.startswith(f"chain {ALICE}, entry ") and "link to the previous entry" in x for x in problems)


async def test_reordered_entries_are_found(app, platform, tamper):
    a1, b1, a2, *_ = await entries(platform.clock)
    # Alice's first two entries swap places (their numbers): the order of what happened is changed.
    await tamper(f"UPDATE audit_entries SET seq = -1 WHERE seq = {a1.seq}")
    await tamper(f"UPDATE audit_entries SET seq = {a1.seq} WHERE seq = {a2.seq}")
    await tamper(f"UPDATE audit_entries SET seq = {a2.seq} WHERE seq = -1")
    problems = p(await verify_chain())
    assert f"chain {ALICE}, entry {a1.seq}: content does not match its hash (changed, or moved from another chain)" \
        in problems
    assert f"chain {ALICE}, entry {a2.seq}: content does not match its hash (changed, or moved from another chain)" \
        in problems


async def test_an_inserted_entry_is_found_even_with_a_correct_hash(app, platform, tamper):
    a1, *_ = await entries(platform.clock)
    forged = audit.chained_entry_hash(ALICE, "0" * 64, 0, a1.at, "event", "c_alice", "citizen", "consented",
                                      "c_alice", [], None)
    await tamper("INSERT INTO audit_entries (seq, at, category, actor, actor_type, action, subject_id, attributes, "
                 "purpose, prev_hash, hash, chain) VALUES (0, "
                 f"'{a1.at.isoformat()}', 'event', 'c_alice', 'citizen', 'consented', 'c_alice', '[]', NULL, "
                 f"'{'0' * 64}', '{forged}', {ALICE})")
    report = await verify_chain()
    assert p(report) == [f"chain {ALICE}, entry 0: a number the log never gives (inserted)",
                         f"chain {ALICE}, entry {a1.seq}: link to the previous entry (entry 0) is broken: an entry "
                         "between them was deleted or inserted, or that entry changed"]
    assert report.checked == 6


async def test_an_entry_number_given_twice_is_found(app, platform, tamper):
    """The key is (seq, at): a second entry with a number already given, at another time, is stored. A worker
    of the version before chains (running beside this one during a deploy) would write such entries."""
    a1, b1, a2, *_ = await entries(platform.clock)
    later = (a2.at + timedelta(seconds=1)).isoformat()
    insert = tamper("INSERT INTO audit_entries (seq, at, category, actor, actor_type, action, subject_id, "
                    f"attributes, purpose, prev_hash, hash, chain) VALUES ({a2.seq}, '{later}', 'event', 'c_bob', "
                    f"'citizen', 'consented', 'c_bob', '[]', NULL, '{b1.hash}', '{'1' * 64}', {BOB})")
    if db.dialect() == "sqlite":  # not partitioned: its key is still seq alone, which refuses the second entry
        with pytest.raises(IntegrityError):
            await insert
        assert p(await verify_chain()) == []
        return
    await insert
    problems = p(await verify_chain())
    assert problems[-1] == (f"entry {a2.seq} is given 2 times: a number the log gives once (inserted, or written "
                            "by a worker of an older version beside this one)")


async def test_a_deleted_entry_in_one_chain_is_found_and_the_other_chain_is_intact(app, platform, tamper):
    a1, b1, a2, b2, a3 = await entries(platform.clock)
    await tamper(f"DELETE FROM audit_entries WHERE seq = {a2.seq}")
    assert p(await verify_chain()) == [
        f"chain {ALICE}, entry {a3.seq}: link to the previous entry (entry {a1.seq}) is broken: an entry between "
        "them was deleted or inserted, or that entry changed"]


# -- the root chain -----------------------------------------------------------------------------

async def test_the_root_anchors_the_heads_that_moved_and_nothing_when_none_did(app, platform):
    a1, b1, a2, b2, a3 = await entries(platform.clock)
    assert await anchor_heads(platform.clock) == 2
    assert await anchor_heads(platform.clock) == 0  # nothing moved: no root entry
    later = await record_event(platform.clock, actor="c_bob", actor_type="citizen", action="login", subject_id="c_bob")
    assert await anchor_heads(platform.clock) == 1

    roots = await AuditRoot.all().order_by("seq")
    assert [r.anchors for r in roots] == [[[min(ALICE, BOB), *_head(min(ALICE, BOB), a3, b2)],
                                           [max(ALICE, BOB), *_head(max(ALICE, BOB), a3, b2)]],
                                          [[BOB, later.seq, later.hash]]]
    assert roots[1].prev_hash == roots[0].hash
    report = await verify_chain()
    assert report.ok, p(report)
    assert (report.checked, report.anchors, report.root_entries) == (6, 3, 2)


def _head(chain: int, alice: AuditEntry, bob: AuditEntry) -> list[Any]:
    last = alice if chain == ALICE else bob
    return [last.seq, last.hash]


async def test_newest_entries_deleted_after_an_anchor_are_found_though_the_head_was_moved_back(app, platform, tamper):
    a1, b1, a2, b2, a3 = await entries(platform.clock)
    await anchor_heads(platform.clock)
    # The attacker removes Alice's last entry and moves her chain's head back onto the one before.
    await tamper(f"DELETE FROM audit_entries WHERE seq = {a3.seq}")
    await tamper(f"UPDATE audit_head SET seq = {a2.seq}, hash = '{a2.hash}' WHERE id = {ALICE}")
    assert p(await verify_chain()) == [f"chain {ALICE}, entry {a3.seq}: anchored by root entry 1, missing (deleted)"]


async def test_newest_entries_deleted_with_the_head_untouched_are_found(app, platform, tamper):
    *_, a3 = await entries(platform.clock)
    await tamper(f"DELETE FROM audit_entries WHERE seq = {a3.seq}")
    assert p(await verify_chain()) == [f"chain {ALICE} ends at entry {_[2].seq} but its head says {a3.seq}: "
                                       "newest entries deleted"]


async def test_a_changed_root_entry_is_found(app, platform, tamper):
    a1, b1, a2, b2, a3 = await entries(platform.clock)
    await anchor_heads(platform.clock)
    # The anchor of Alice's chain rewritten to her second entry, as if the third had never been.
    root = await AuditRoot.get(seq=1)
    anchors = [[c, a2.seq, a2.hash] if c == ALICE else [c, s, h] for c, s, h in root.anchors]
    await tamper("UPDATE audit_root SET anchors = " + db.parameter(connections.get("default"), 1) + " WHERE seq = 1",
                 [audit._CANONICAL.encode(anchors)])
    assert p(await verify_chain()) == ["root entry 1: content does not match its hash (changed)"]


async def test_deleting_the_newest_root_entry_is_found(app, platform, tamper):
    await entries(platform.clock)
    await anchor_heads(platform.clock)
    await record_event(platform.clock, actor="c_bob", actor_type="citizen", action="login", subject_id="c_bob")
    await anchor_heads(platform.clock)
    await tamper("DELETE FROM audit_root WHERE seq = 2")
    assert p(await verify_chain()) == ["the root chain ends at root entry 1 but its head says 2: "
                                       "newest root entries deleted"]


# -- the entries written as one chain, before the chains ------------------------------------------

async def test_entries_written_as_one_chain_stay_chain_0s_first_entries(app, platform, tamper):
    """A log from before the chains: entries hashed without a chain number, one head (now chain 0's), no layout."""
    prev = "0" * 64
    at = platform.clock.now()
    for seq, action in ((1, "login"), (2, "logout")):
        digest = audit.entry_hash(prev, seq, at, "event", "c_carol", "citizen", action, "c_carol", [], None)
        await tamper("INSERT INTO audit_entries (seq, at, category, actor, actor_type, action, subject_id, "
                     f"attributes, purpose, prev_hash, hash, chain) VALUES ({seq}, '{at.isoformat()}', 'event', "
                     f"'c_carol', 'citizen', '{action}', 'c_carol', '[]', NULL, '{prev}', '{digest}', 0)")
        prev = digest
    await tamper(f"INSERT INTO audit_head (id, seq, hash) VALUES (0, 2, '{prev}')")
    if ON_POSTGRES:  # as migration 0043 leaves it: the sequence after the entries already there
        await tamper("SELECT setval('audit_entry_seq', 2)")
    await tamper("DELETE FROM audit_layout")  # the layout fixed as the app started: as if never written
    audit._layouts.clear()

    before = await verify_chain()
    assert before.ok and (before.chains, before.checked) == (1, 2), p(before)
    # The first entry written with chains fixes the layout; chain 0 carries on from the old head.
    new = await record_event(platform.clock, actor="system", actor_type="system", action="key_rotated",
                             subject_id=_subject_of_chain(0))
    assert (new.chain, new.seq, new.prev_hash) == (0, 3, prev)
    assert (await audit.stored_layout()) == audit.Layout(chains=CHAINS, legacy_seq=2)
    after = await verify_chain()
    assert after.ok and after.checked == 3, p(after)

    await tamper("UPDATE audit_entries SET action = 'nothing' WHERE seq = 1")
    assert p(await verify_chain()) == ["chain 0, entry 1: content does not match its hash (changed, or moved from "
                                       "another chain)"]


def _subject_of_chain(chain: int) -> str:
    return next(f"s_{n}" for n in range(10_000) if audit.chain_of(f"s_{n}", CHAINS) == chain)


# -- entries written inside a caller's transaction -----------------------------------------------

async def _work_about(clock: Any, first: str, second: str, both_hold_one: asyncio.Barrier | None = None
                      ) -> list[AuditEntry]:
    """A caller's transaction that records an entry about `first`, then (once the other caller has too, when
    there is one) one about `second`: two family members' records changed in one piece of work."""
    async with in_transaction():
        one = await record_event(clock, actor="d_hrss", actor_type="department", action="record_changed",
                                 subject_id=first)
        if both_hold_one is not None:
            await both_hold_one.wait()
        two = await record_event(clock, actor="d_hrss", actor_type="department", action="record_changed",
                                 subject_id=second)
    return [one, two]


async def test_a_transactions_later_entries_go_on_the_chain_whose_head_it_holds(app, platform):
    alice_then_bob = await _work_about(platform.clock, "c_alice", "c_bob")
    bob_alone = await record_event(platform.clock, actor="c_bob", actor_type="citizen", action="login",
                                   subject_id="c_bob")

    assert [e.chain for e in alice_then_bob] == [ALICE, ALICE]  # Bob's entry follows Alice's, in her chain
    assert bob_alone.chain == BOB  # outside that transaction, Bob's entries are in his own chain
    report = await verify_chain()
    assert report.ok and report.checked == 3, p(report)


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite has one writer: its transactions never overlap")
async def test_two_transactions_recording_two_subjects_in_opposite_orders_both_commit(app, platform):
    """Each holds its first chain's head until it commits. Taking the other chain's head next would make each
    wait for the other (PostgreSQL would abort one as a deadlock, and its citizen's work with it)."""
    both_hold_one = asyncio.Barrier(2)
    alice_then_bob, bob_then_alice = await asyncio.wait_for(asyncio.gather(
        _work_about(platform.clock, "c_alice", "c_bob", both_hold_one),
        _work_about(platform.clock, "c_bob", "c_alice", both_hold_one)), timeout=30)

    assert [e.chain for e in alice_then_bob] == [ALICE, ALICE] and [e.chain for e in bob_then_alice] == [BOB, BOB]
    stored = await AuditEntry.all().order_by("seq")
    assert sorted((e.subject_id, e.chain) for e in stored) == [("c_alice", ALICE), ("c_alice", BOB),
                                                               ("c_bob", ALICE), ("c_bob", BOB)]
    report = await verify_chain()
    assert report.ok and report.checked == 4, p(report)
