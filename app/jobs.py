"""Scheduled work of every domain (APScheduler), run on one worker at a time.

Each worker starts a scheduler on its own loop; a job takes a lock in the shared cache before it
runs, so with several workers only one runs it at a time and the others skip that turn. Jobs are
idempotent and decide what is due by the service clock inside them, so they catch up after
downtime by themselves; that is why the first run of each is now.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import audit
from app.cache import Cache, LockNotAcquired, cache_lock
from app.clock import Clock

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
AUDIT_SWEEP_EVERY = 60  # seconds; entries pending for over a minute had a writer that died after its commit


def start_scheduler() -> AsyncIOScheduler:
    """This worker's scheduler, started on the running loop; each domain adds its jobs to it. It keeps
    wall-clock UTC; what is due is decided by the service clock inside each job."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    return scheduler


async def run_exclusively(cache: Cache, name: str, job: Job, ttl: float = 300) -> bool:
    """Run `job` unless another worker is running it now; True when this worker ran it."""
    try:
        async with cache_lock(cache, f"job:{name}", ttl=ttl):
            result = await job()
            log.info("job %s done: %s", name, result)
            return True
    except LockNotAcquired as busy:
        if busy.lock_name != f"job:{name}":
            raise  # a lock the job itself could not take: the job failed, it was not someone else's turn
        return False


def add_exclusive_job(scheduler: AsyncIOScheduler, cache: Cache, name: str, seconds: float, job: Job) -> None:
    """`job` every `seconds` under the id `name`, through `run_exclusively`; the first run is now. Runs
    missed while the worker was busy or down are folded into one run, however late."""
    scheduler.add_job(
        run_exclusively, "interval", seconds=seconds, args=[cache, name, job], id=name,
        next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1, misfire_grace_time=None,
    )


def add_core_jobs(scheduler: AsyncIOScheduler, cache: Cache, clock: Clock) -> None:
    """The core's own work: chaining audit entries a worker that died after its commit left pending."""
    add_exclusive_job(scheduler, cache, "audit-pending-sweep", AUDIT_SWEEP_EVERY, lambda: audit.record_abandoned(clock))
