"""Scheduled work of payments: settle what was not notified, expire old payments, reconcile daily (对账).

Each job is idempotent and runs on one worker at a time (`run_exclusively`, a lock in the shared
cache). What is due is decided by the service clock inside each job, so they catch up after downtime.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache
from app.jobs import add_exclusive_job
from app.payments.service import PaymentService

SETTLE_EVERY = 30  # seconds; unnotified payments are asked of the provider after APP_PAYMENT_SETTLE_AFTER
RECONCILE_EVERY = 30 * 60  # yesterday's statement is compared once, from 10:00 Beijing time


def add_payment_jobs(scheduler: AsyncIOScheduler, cache: Cache, payments: PaymentService) -> None:
    """Add the jobs to the running scheduler; the first run of each is now."""
    jobs = (
        # Settling by query also expires payments past their time (the order is closed at the provider first).
        ("payments-settle", SETTLE_EVERY, payments.settle_unnotified),
        ("payments-reconcile", RECONCILE_EVERY, payments.reconcile_yesterday),
    )
    for name, seconds, job in jobs:
        add_exclusive_job(scheduler, cache, name, seconds, job)
