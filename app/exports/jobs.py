"""Scheduled work of data copies: an expired copy's file removed from storage (its row kept, marked expired).

The job is idempotent and run on one worker at a time (`run_exclusively`, a lock in the shared cache);
what has expired is decided by the service clock inside it, so it catches up after downtime.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache
from app.exports.service import ExportService
from app.jobs import add_exclusive_job

SWEEP_EVERY = 5 * 60  # seconds; an expired copy is gone within five minutes of its link's end


def add_export_jobs(scheduler: AsyncIOScheduler, cache: Cache, exports: ExportService) -> None:
    """Add the sweep of expired copies to the running scheduler; the first run is now."""
    add_exclusive_job(scheduler, cache, "data-export-sweep", SWEEP_EVERY, lambda: exports.sweep_expired())
