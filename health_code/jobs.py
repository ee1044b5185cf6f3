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
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache, LockNotAcquired
from app.db import column
from app.jobs import add_exclusive_job, run_exclusively
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
        due: list[str] = await column(HealthStatus.filter(next_change_at__lte=service.platform.clock.now())
                                      .order_by("next_change_at").limit(batch), "citizen_id")
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
    return await IssuedHealthCode.filter(expires_at__lt=service.platform.clock.now() - ISSUED_CODE_RETENTION).delete()


def add_partner_key_jobs(scheduler: AsyncIOScheduler, cache: Cache, feeds: PartnerKeyFeeds) -> None:
    """`partner-key-feeds`: every partner's published keys fetched, verified and applied (first run now)."""
    add_exclusive_job(scheduler, cache, "partner-key-feeds", PARTNER_KEYS_EVERY, feeds.refresh_all)


def add_health_code_jobs(scheduler: AsyncIOScheduler, service: HealthCodeService) -> None:
    """`hc-reevaluate` and `hc-purge-issued` on the running scheduler (first run now, which is the catch-up after
    downtime). APScheduler keeps wall-clock time; what is due is decided by the service clock inside the job."""
    add_exclusive_job(scheduler, service.platform.cache, "hc-reevaluate", REEVALUATE_EVERY, lambda: reevaluate_due(service))
    add_exclusive_job(scheduler, service.platform.cache, "hc-purge-issued", PURGE_EVERY,
                      lambda: purge_issued_codes(service))


# `run_exclusively` is the core's (app.jobs); still importable from here for the callers that look for it here.
__all__ = ["add_health_code_jobs", "add_partner_key_jobs", "purge_issued_codes", "reevaluate_due", "run_exclusively"]
