"""Group commit: a worker's audit entries that arrive together are chained in one transaction.

A venue scanner's check, a relying party's read, a login: each writes an audit entry, and every
entry takes its chain's head row in turn. Entries of a chain that arrive while its transaction is
being written go together in the next one (the scans below are of citizens whose entries share one
chain; other chains' writers do not wait for it). What each caller sees does not change: it returns once its
own entry is committed (or raises what the write raised), and the chain stays whole. What was
lost in each story below: nothing, unless the database refused the write and the caller was told.
"""

from __future__ import annotations

import asyncio
import itertools
from functools import cache
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app import audit
from app.audit import AuditEntry, record_access, record_event, verify_chain


@pytest.fixture
def transactions(monkeypatch) -> list[int]:
    """The number of entries each audit transaction carried, in order."""
    sizes: list[int] = []
    chain = audit._chain

    async def counted(clock: Any, records: Any, *args: Any) -> Any:
        sizes.append(len(records))
        return await chain(clock, records, *args)

    monkeypatch.setattr(audit, "_chain", counted)
    return sizes


@cache
def who(i: int) -> str:
    """The i-th citizen (from 1) of those whose entries go to the chain of c_1."""
    ours = audit.chain_of("c_1", audit.DEFAULT_CHAINS)
    same = (f"c_{n}" for n in itertools.count(1) if audit.chain_of(f"c_{n}", audit.DEFAULT_CHAINS) == ours)
    return next(itertools.islice(same, i - 1, None))


def scan(clock: Any, i: int) -> Any:
    return record_access(clock, citizen_id=who(i), actor="白云机场卫生检疫查验点（示例）", actor_type="department",
                         action="health_code_verified", attributes=["color"], purpose="机场查验")


async def test_twenty_scans_at_once_share_a_few_transactions_and_each_gets_its_own_entry(app, platform,
                                                                                           transactions):
    entries = await asyncio.gather(*(scan(platform.clock, i) for i in range(1, 21)))

    assert sum(transactions) == 20
    assert len(transactions) < 20  # the first waits alone; the rest arrive while it is written
    assert [e.subject_id for e in entries] == [who(i) for i in range(1, 21)]
    stored = {e.seq: e for e in await AuditEntry.all()}
    assert sorted(stored) == list(range(1, 21))
    for entry in entries:  # what each caller got back is what is stored
        assert (stored[entry.seq].subject_id, stored[entry.seq].hash) == (entry.subject_id, entry.hash)
    report = await verify_chain()
    assert report.ok and report.checked == 20, report.problems


async def test_one_scan_alone_is_written_at_once(app, platform, transactions):
    entry = await scan(platform.clock, 1)

    assert transactions == [1]
    assert (await AuditEntry.get(seq=entry.seq)).subject_id == who(1)


async def test_a_scan_whose_request_was_cancelled_while_waiting_is_still_recorded(app, platform, transactions):
    first = asyncio.ensure_future(scan(platform.clock, 1))
    await asyncio.sleep(0)  # the first is writing: the next two wait for its transaction to end
    waiting = asyncio.ensure_future(scan(platform.clock, 2))
    after = asyncio.ensure_future(scan(platform.clock, 3))
    await asyncio.sleep(0)
    waiting.cancel()  # the scanner hung up: its verification was still made, so it is still recorded

    await first
    await after
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert sorted(e.subject_id for e in await AuditEntry.all()) == sorted([who(1), who(2), who(3)])
    assert (await verify_chain()).ok


async def test_when_the_only_waiter_gave_up_its_entry_is_written_all_the_same(app, platform, transactions):
    first = asyncio.ensure_future(scan(platform.clock, 1))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(scan(platform.clock, 2))
    await asyncio.sleep(0)
    waiting.cancel()

    await first
    for _ in range(50):  # written by a task of the audit log's own, once the first transaction ends
        if await AuditEntry.all().count() == 2:
            break
        await asyncio.sleep(0.02)
    assert sorted(e.subject_id for e in await AuditEntry.all()) == sorted([who(1), who(2)])
    assert (await verify_chain()).ok


def failing_transaction(monkeypatch: pytest.MonkeyPatch, number: int) -> list[int]:
    """The `number`-th audit transaction is refused; the first takes long enough for others to queue
    behind it. Returns the number of entries each transaction carried."""
    chain, sizes = audit._chain, []

    async def chain_(clock: Any, records: Any, *args: Any) -> Any:
        sizes.append(len(records))
        if len(sizes) == 1:
            await asyncio.sleep(0.05)
        if len(sizes) == number:
            raise ConnectionError("database went away")
        return await chain(clock, records, *args)

    monkeypatch.setattr(audit, "_chain", chain_)
    return sizes


async def one_scan_then_two_behind_it(clock: Any) -> list[Any]:
    first = asyncio.ensure_future(scan(clock, 1))
    await asyncio.sleep(0)
    behind = [asyncio.ensure_future(scan(clock, i)) for i in (2, 3)]
    return await asyncio.gather(first, *behind, return_exceptions=True)


async def test_a_refused_write_fails_every_caller_in_it_and_the_next_scan_is_written(app, platform, monkeypatch):
    sizes = failing_transaction(monkeypatch, 1)
    outcomes = await one_scan_then_two_behind_it(platform.clock)

    # The first write failed: its caller was told. The two behind it went in the next transaction.
    assert isinstance(outcomes[0], ConnectionError)
    assert [e.subject_id for e in outcomes[1:]] == [who(2), who(3)]
    assert sizes == [1, 2]
    entry = await scan(platform.clock, 4)  # the queue is not stuck
    assert sorted(e.subject_id for e in await AuditEntry.all()) == sorted([who(2), who(3), who(4)])
    assert entry.seq == 3 and (await verify_chain()).ok


async def test_a_failing_group_tells_every_caller_in_it(app, platform, monkeypatch):
    failing_transaction(monkeypatch, 2)
    outcomes = await one_scan_then_two_behind_it(platform.clock)

    assert outcomes[0].subject_id == who(1)
    assert all(isinstance(o, ConnectionError) for o in outcomes[1:])  # neither is told it was recorded
    assert [e.subject_id for e in await AuditEntry.all()] == [who(1)]


def signal_at_commit(monkeypatch: pytest.MonkeyPatch, after: bool) -> asyncio.Event:
    """Set when the first audit transaction's COMMIT is about to run (or has just run)."""
    from tortoise.backends.asyncpg.client import TransactionWrapper
    from tortoise.backends.sqlite.client import SqliteTransactionWrapper

    at_commit, commits = asyncio.Event(), []
    for wrapper in (SqliteTransactionWrapper, TransactionWrapper):
        async def commit(self: Any, _commit: Any = wrapper.commit) -> None:
            first = not commits
            commits.append(1)
            if first and not after:
                at_commit.set()
                await asyncio.sleep(0)  # the request is cancelled here, as the COMMIT starts
            await _commit(self)
            if first and after:
                at_commit.set()
                await asyncio.sleep(0.05)  # or here, as the connection goes back to its pool
        monkeypatch.setattr(wrapper, "commit", commit)
    return at_commit


@pytest.mark.parametrize("after", [False, True], ids=["as-its-commit-starts", "after-its-commit"])
async def test_a_request_cancelled_during_its_entrys_commit_leaves_it_written_once(app, platform, monkeypatch, after):
    at_commit = signal_at_commit(monkeypatch, after)
    first = asyncio.ensure_future(scan(platform.clock, 1))
    await asyncio.sleep(0)
    other = asyncio.ensure_future(scan(platform.clock, 2))
    await at_commit.wait()
    first.cancel()  # the scanner hung up while its entry was being committed

    assert (await other).subject_id == who(2)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert sorted(e.subject_id for e in await AuditEntry.all()) == sorted([who(1), who(2)])  # once each
    assert (await verify_chain()).ok


async def test_a_request_cancelled_while_its_group_fails_ends_cancelled(app, platform, monkeypatch):
    """Its task ends as cancelled (what `asyncio.timeout` turns into a timeout), not with the database's error."""
    chain, tasks = audit._chain, {}

    async def failing_group(clock: Any, records: Any, *args: Any) -> Any:
        if len(records) == 1:
            await asyncio.sleep(0.05)  # the first writes alone; the next two queue behind it
            return await chain(clock, records, *args)
        asyncio.get_running_loop().call_soon(tasks["third"].cancel)  # cancelled as its group fails
        raise ConnectionError("database went away")

    monkeypatch.setattr(audit, "_chain", failing_group)
    first = asyncio.ensure_future(scan(platform.clock, 1))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(scan(platform.clock, 2))
    tasks["third"] = third = asyncio.ensure_future(scan(platform.clock, 3))
    await asyncio.gather(first, second, third, return_exceptions=True)

    assert third.cancelled()
    assert isinstance(second.exception(), ConnectionError)
    assert [e.subject_id for e in await AuditEntry.all()] == [who(1)]


async def test_a_record_the_log_cannot_hold_is_refused_to_its_caller_alone(app, platform):
    first = asyncio.ensure_future(scan(platform.clock, 1))
    await asyncio.sleep(0)
    not_json = asyncio.ensure_future(record_event(platform.clock, actor="system", actor_type="system",
                                                  action="key_rotated", attributes={"when": object()}))
    too_long = asyncio.ensure_future(record_event(platform.clock, actor="system", actor_type="system",
                                                  action="key_rotated", purpose="很长" * 101))
    grouped = asyncio.ensure_future(scan(platform.clock, 2))
    outcomes = await asyncio.gather(first, not_json, too_long, grouped, return_exceptions=True)

    assert isinstance(outcomes[1], ValueError) and "JSON" in str(outcomes[1])
    assert isinstance(outcomes[2], ValueError) and "purpose" in str(outcomes[2])
    assert [o.subject_id for o in (outcomes[0], outcomes[3])] == [who(1), who(2)]
    assert sorted(e.subject_id for e in await AuditEntry.all()) == sorted([who(1), who(2)])


async def test_two_entries_in_one_transaction_while_scans_wait_do_not_stall_the_worker(app, platform):
    """The caller's transaction holds the chain's head until it commits; a scan's writer waits for it
    meanwhile. The caller's second entry must not wait for that writer in turn."""
    holding = asyncio.Event()

    async def two_in_one_transaction() -> None:
        async with in_transaction():
            await record_event(platform.clock, actor=who(1), actor_type="citizen", action="login")
            holding.set()
            await asyncio.sleep(0.05)  # a scan of the same chain arrives meanwhile, and its writer waits for the head
            await record_event(platform.clock, actor=who(1), actor_type="citizen", action="identity_verified")

    work = asyncio.ensure_future(two_in_one_transaction())
    await asyncio.wait_for(holding.wait(), 10)  # the transaction holds the head
    entry = await asyncio.wait_for(asyncio.gather(work, scan(platform.clock, 1)), timeout=10)

    assert entry[1].seq == 3
    assert [e.action for e in await AuditEntry.all().order_by("seq")] == ["login", "identity_verified",
                                                                          "health_code_verified"]
    assert (await verify_chain()).ok


async def test_an_entry_inside_a_transaction_rolls_back_with_it(app, platform, transactions):
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with in_transaction():
            await record_event(platform.clock, actor="c_alice", actor_type="citizen", action="login")
            raise RuntimeError("changed my mind")

    assert await AuditEntry.all().count() == 0
    entry = await record_event(platform.clock, actor="c_alice", actor_type="citizen", action="login")
    # On PostgreSQL the rolled-back entry's number was taken from the sequence and is not used again.
    assert [e.seq for e in await AuditEntry.all()] == [entry.seq] and (await verify_chain()).ok
