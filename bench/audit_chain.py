"""How many audit entries one worker chains per second, 16 writers at once, without HTTP.

Every entry takes its chain's head row in turn. Written as the service writes them (a worker's
entries of a chain that arrive together share a transaction: group commit), against each entry in a
transaction of its own (what an entry written inside a caller's transaction costs), on the same
database in the same run. Then 2 worker processes at once, their entries spread over the chains (as
citizens' entries are) against all on one chain (what the log was before it had chains). `make bench`
adds the figures to its table.

Run: `.venv/bin/python -m bench.audit_chain [seconds]` (PostgreSQL at BENCH_DATABASE_URL, or the
test database at 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from contextlib import asynccontextmanager, nullcontext
from typing import Any, AsyncIterator

WRITERS = 16


@asynccontextmanager
async def _database() -> AsyncIterator[tuple[Any, str]]:
    """A throw-away PostgreSQL database of its own, migrated; yields a clock and its URL. The chains must
    still verify at the end (a figure from a broken chain would be worthless)."""
    from app import audit, db
    from app.clock import Clock
    from bench._load import database_url, pg_admin

    name = f"bench_chain_{secrets.token_hex(4)}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        await db.init_db(database_url(name), migrate=True)
        yield Clock(), database_url(name)
        report = await audit.verify_chain()
        if not report.ok:
            raise RuntimeError(f"the chain broke under load: {report.problems[:3]}")
        await db.close_db()
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def entries_per_second(grouped: bool, seconds: float) -> float:
    """In a throw-away database of its own: entries/s over `seconds` with `WRITERS` writers."""
    from tortoise.transactions import in_transaction

    from app import audit

    async with _database() as (clock, _):
        written, stop = 0, time.perf_counter() + seconds

        async def writer(i: int) -> None:
            nonlocal written
            while time.perf_counter() < stop:
                async with (nullcontext() if grouped else in_transaction()):
                    await audit.record_access(clock, citizen_id=f"c_{i}", actor="白云机场卫生检疫查验点（示例）",
                                              actor_type="department", action="health_code_verified",
                                              attributes=["color"], purpose="基准")
                written += 1

        started = time.perf_counter()
        await asyncio.gather(*(writer(i) for i in range(WRITERS)))
        return written / (time.perf_counter() - started)


async def batch_entry_cpu(seconds: float, batch: int = 100) -> float:
    """CPU seconds this process spends on one audit entry when a partner's batch writes `batch` at once:
    building each record and chaining and inserting them (the database's own work is on its side)."""
    from app import audit

    async with _database() as (clock, _):
        def records() -> list[audit.AuditRecord]:
            return [audit.event(actor="MO", actor_type="partner", action="partner_verification",
                                attributes={"code": secrets.token_hex(8), "result": "valid"}) for _ in range(batch)]

        await audit.record_all(clock, records())  # the head row and the connection exist before timing
        written, used, stop = 0, 0.0, time.perf_counter() + seconds
        while time.perf_counter() < stop:
            started = time.process_time()
            await audit.record_all(clock, records())
            used += time.process_time() - started
            written += batch
        return used / written


def _worker_entries(url: str, spread: bool, worker: int, start_at: float, seconds: float) -> int:
    """One worker process: WRITERS writers from `start_at` for `seconds`; how many entries it wrote."""
    from app import audit, db
    from app.clock import Clock

    async def run() -> int:
        await db.init_db(url, migrate=False)
        clock, written = Clock(), 0
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop = time.perf_counter() + seconds

        async def writer(i: int) -> None:
            nonlocal written
            citizen = f"c_{worker}_{i}" if spread else "c_0"  # c_0: every entry on c_0's chain
            while time.perf_counter() < stop:
                await audit.record_access(clock, citizen_id=citizen, actor="白云机场卫生检疫查验点（示例）",
                                          actor_type="department", action="health_code_verified",
                                          attributes=["color"], purpose="基准")
                written += 1

        await asyncio.gather(*(writer(i) for i in range(WRITERS)))
        await db.close_db()
        return written

    return asyncio.run(run())


async def two_workers(spread: bool, seconds: float, workers: int = 2) -> float:
    """In a throw-away database of its own: entries/s of `workers` processes writing at once, their
    entries spread over the chains (each writer its own citizen) or all on one chain."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    async with _database() as (_, url):
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            start_at = time.time() + 3.0  # after every process has started and connected
            loop = asyncio.get_running_loop()
            counts = await asyncio.gather(*(loop.run_in_executor(pool, _worker_entries, url, spread, w, start_at,
                                                                 seconds) for w in range(workers)))
        return sum(counts) / seconds


def measure_chains(seconds: float) -> tuple[float, float]:
    """(spread over the chains, all on one chain), entries/s of 2 worker processes, each in a database of its own."""
    spread = asyncio.run(two_workers(True, seconds))
    one = asyncio.run(two_workers(False, seconds))
    return spread, one


def measure(seconds: float) -> tuple[float, float]:
    """(grouped, one transaction each), entries/s, each in a database and event loop of its own."""
    grouped = asyncio.run(entries_per_second(True, seconds))
    alone = asyncio.run(entries_per_second(False, seconds))
    return grouped, alone


def main(seconds: float = 4.0) -> None:
    grouped, alone = measure(seconds)
    print(f"audit chain, {WRITERS} writers in one worker: grouped {grouped:,.0f} entries/s, "
          f"one transaction each {alone:,.0f} entries/s ({grouped / alone:.1f}x)")
    spread, one = measure_chains(seconds)
    print(f"audit chains, 2 workers x {WRITERS} writers: spread over the chains {spread:,.0f} entries/s, "
          f"all on one chain {one:,.0f} entries/s ({spread / one:.2f}x)")
    print(f"an entry of a partner's batch of 100: {asyncio.run(batch_entry_cpu(seconds)) * 1e6:.1f} µs of this "
          "process's CPU")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
