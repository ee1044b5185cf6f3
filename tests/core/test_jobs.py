"""Scheduled jobs of any domain: each runs on one worker at a time, and a worker's scheduler runs it now."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from app.cache import LockNotAcquired, cache_lock
from app.jobs import add_exclusive_job, run_exclusively, start_scheduler


async def test_two_workers_starting_the_same_job_at_once_run_it_once(platform):
    runs = []

    async def slow_job():
        runs.append(1)
        await asyncio.sleep(0.05)

    ran = await asyncio.gather(run_exclusively(platform.cache, "demo", slow_job),
                               run_exclusively(platform.cache, "demo", slow_job))
    assert sorted(ran) == [False, True] and runs == [1]
    assert await run_exclusively(platform.cache, "demo", slow_job) is True  # the lock is released afterwards
    assert runs == [1, 1]


async def test_a_lock_the_job_itself_cannot_take_is_a_failure_not_another_workers_turn(platform):
    async def job_that_waits_too_long() -> None:
        raise LockNotAcquired("hc:evaluate:cit_1")

    with pytest.raises(LockNotAcquired):
        await run_exclusively(platform.cache, "hc-reevaluate", job_that_waits_too_long)
    assert await run_exclusively(platform.cache, "hc-reevaluate", lambda: asyncio.sleep(0)) is True


async def test_a_job_on_the_running_scheduler_runs_now_and_skips_its_turn_while_another_worker_runs_it(platform):
    runs: list[str] = []

    async def job() -> str:
        runs.append("ran")
        return "done"

    scheduler = start_scheduler()
    try:
        async with cache_lock(platform.cache, "job:demo", ttl=5):  # another worker is running it
            add_exclusive_job(scheduler, platform.cache, "demo", 3600, job)
            await asyncio.sleep(0.2)
            assert runs == []  # its turn now was skipped; the next is an hour away
            assert scheduler.get_job("demo").next_run_time > datetime.now(timezone.utc) + timedelta(minutes=59)
        add_exclusive_job(scheduler, platform.cache, "other", 3600, job)
        for _ in range(50):
            if runs:
                break
            await asyncio.sleep(0.02)
        assert runs == ["ran"]
        assert sorted(j.id for j in scheduler.get_jobs()) == ["demo", "other"]
    finally:
        scheduler.shutdown(wait=False)
