"""How many audit entries one worker chains per second, 16 writers at once, without HTTP.

Every entry takes the chain's one head row in turn. Written as the service writes them (a worker's
entries that arrive together share a transaction: group commit), against each entry in a
transaction of its own (what an entry written inside a caller's transaction costs), on the same
database in the same run. `make bench` adds the figure to its table.

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
async def _database() -> AsyncIterator[Any]:
    """A throw-away PostgreSQL database of its own, migrated; yields a clock. The chain must still
    verify at the end (a figure from a broken chain would be worthless)."""
    from app import audit, db
    from app.clock import Clock
    from bench._load import database_url, pg_admin

    name = f"bench_chain_{secrets.token_hex(4)}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        await db.init_db(database_url(name), migrate=True)
        yield Clock()
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

    async with _database() as clock:
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

    async with _database() as clock:
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


def measure(seconds: float) -> tuple[float, float]:
    """(grouped, one transaction each), entries/s, each in a database and event loop of its own."""
    grouped = asyncio.run(entries_per_second(True, seconds))
    alone = asyncio.run(entries_per_second(False, seconds))
    return grouped, alone


def main(seconds: float = 4.0) -> None:
    grouped, alone = measure(seconds)
    print(f"audit chain, {WRITERS} writers in one worker: grouped {grouped:,.0f} entries/s, "
          f"one transaction each {alone:,.0f} entries/s ({grouped / alone:.1f}x)")
    print(f"an entry of a partner's batch of 100: {asyncio.run(batch_entry_cpu(seconds)) * 1e6:.1f} µs of this "
          "process's CPU")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
