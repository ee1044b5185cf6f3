"""Scheduled work of every domain (APScheduler), run on one worker at a time.

Each worker starts a scheduler on its own loop; a job takes a lock in the shared cache before it
runs, so with several workers only one runs it at a time and the others skip that turn. Jobs are
idempotent and decide what is due by the service clock inside them, so they catch up after
downtime by themselves; that is why the first run of each is now.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import audit, metrics
from app.cache import Cache, LockNotAcquired, cache_lock
from app.clock import Clock

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
AUDIT_SWEEP_EVERY = 60  # seconds; entries pending for over a minute had a writer that died after its commit
AUDIT_ANCHOR_EVERY = 60  # seconds; the newest entries of a chain deleted within this are not found by `audit verify`


def start_scheduler() -> AsyncIOScheduler:
    """This worker's scheduler, started on the running loop; each domain adds its jobs to it. It keeps
    wall-clock UTC; what is due is decided by the service clock inside each job."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    return scheduler


async def run_exclusively(cache: Cache, name: str, job: Job, ttl: float = 300) -> bool:
    """Run `job` unless another worker is running it now; True when this worker ran it. Each turn is counted
    (app_job_runs_total): ok, failed (it raised) or skipped (another worker had it)."""
    started = time.perf_counter()
    try:
        async with cache_lock(cache, f"job:{name}", ttl=ttl):
            result = await job()
            log.info("job %s done: %s", name, result)
    except LockNotAcquired as busy:
        if busy.lock_name != f"job:{name}":
            metrics.job_run(name, "failed", time.perf_counter() - started)
            raise  # a lock the job itself could not take: the job failed, it was not someone else's turn
        metrics.job_run(name, "skipped")
        return False
    except Exception:
        metrics.job_run(name, "failed", time.perf_counter() - started)
        raise
    metrics.job_run(name, "ok", time.perf_counter() - started)
    return True


def add_exclusive_job(scheduler: AsyncIOScheduler, cache: Cache, name: str, seconds: float, job: Job) -> None:
    """`job` every `seconds` under the id `name`, through `run_exclusively`; the first run is now. Runs
    missed while the worker was busy or down are folded into one run, however late."""
    scheduler.add_job(
        run_exclusively, "interval", seconds=seconds, args=[cache, name, job], id=name,
        next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1, misfire_grace_time=None,
    )


def add_core_jobs(scheduler: AsyncIOScheduler, cache: Cache, clock: Clock) -> None:
    """The core's own work: chaining audit entries a worker that died after its commit left pending, and
    anchoring the audit chains' heads in the root chain."""
    add_exclusive_job(scheduler, cache, "audit-pending-sweep", AUDIT_SWEEP_EVERY, lambda: audit.record_abandoned(clock))
    add_exclusive_job(scheduler, cache, "audit-root-anchor", AUDIT_ANCHOR_EVERY, lambda: audit.anchor_heads(clock))
