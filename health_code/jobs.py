"""Scheduled health-code work (APScheduler): statuses whose time has come are re-evaluated.

A yellow code turns green when its quiet period passes without new risk evidence, a negative
test stops counting after 48 h, evidence stamped ahead starts counting: each is a status whose
`next_change_at` has arrived. The job is idempotent (evaluating twice gives the same status),
runs on exactly one worker at a time (a lock in the shared cache), and catches up after
downtime by itself, because it looks for every status that is due, not for what changed since
the last run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache, LockNotAcquired, cache_lock
from health_code.interop.key_feed import PartnerKeyFeeds
from health_code.models import HealthStatus, IssuedHealthCode
from health_code.service import HealthCodeService

log = logging.getLogger("health_code.jobs")
REEVALUATE_EVERY = 60  # seconds
PURGE_EVERY = 3600
PARTNER_KEYS_EVERY = 600  # a partner's rotation is in our trust list within ten minutes of its publishing
ISSUED_CODE_RETENTION = timedelta(days=1)  # an expired code no longer verifies, so who held it stops mattering


async def reevaluate_due(service: HealthCodeService, batch: int = 500) -> int:
    """Re-evaluate every citizen whose status is due to change; returns how many were."""
    done = 0
    while True:
        due = await HealthStatus.filter(next_change_at__lte=service.p.clock.now()).order_by("next_change_at") \
            .limit(batch).values_list("citizen_id", flat=True)
        for citizen_id in due:
            try:
                await service.evaluate(citizen_id, trigger="scheduled")
            except LockNotAcquired:  # evaluated now by another request: it will be due again if still due
                log.warning("re-evaluation of one citizen skipped: another evaluation held it")
        done += len(due)
        if len(due) < batch:
            return done


async def purge_issued_codes(service: HealthCodeService) -> int:
    """Forget which citizen held a code once the code is long expired; returns how many were forgotten."""
    return await IssuedHealthCode.filter(expires_at__lt=service.p.clock.now() - ISSUED_CODE_RETENTION).delete()


async def run_exclusively(cache: Cache, name: str, job: Callable[[], Awaitable[object]], ttl: float = 300) -> bool:
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


def add_partner_key_jobs(scheduler: AsyncIOScheduler, cache: Cache, feeds: PartnerKeyFeeds) -> None:
    """`partner-key-feeds`: every partner's published keys fetched, verified and applied (first run now)."""
    scheduler.add_job(
        run_exclusively, "interval", seconds=PARTNER_KEYS_EVERY,
        args=[cache, "partner-key-feeds", feeds.refresh_all], id="partner-key-feeds",
        next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1, misfire_grace_time=None,
    )


def start_scheduler(service: HealthCodeService) -> AsyncIOScheduler:
    """Start the jobs on this worker's loop; the first run is now, which is the catch-up after downtime."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        run_exclusively, "interval", seconds=REEVALUATE_EVERY, args=[service.p.cache, "hc-reevaluate", lambda: reevaluate_due(service)],
        # APScheduler keeps wall-clock time; what is due is decided by the service clock inside the job.
        id="hc-reevaluate", next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1, misfire_grace_time=None,
    )
    scheduler.add_job(
        run_exclusively, "interval", seconds=PURGE_EVERY, args=[service.p.cache, "hc-purge-issued", lambda: purge_issued_codes(service)],
        id="hc-purge-issued", next_run_time=datetime.now(timezone.utc), coalesce=True, max_instances=1, misfire_grace_time=None,
    )
    scheduler.start()
    return scheduler
