"""Scheduled work of uploads: unused uploads deleted once they expire (object and row).

The job is idempotent and run on one worker at a time (`run_exclusively`, a lock in the shared
cache); what has expired is decided by the service clock inside it, so it catches up after downtime.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache
from app.jobs import add_exclusive_job
from app.uploads.service import UploadService

SWEEP_EVERY = 15 * 60  # seconds; an unused upload is gone within a quarter of an hour of its expiry


def add_upload_jobs(scheduler: AsyncIOScheduler, cache: Cache, uploads: UploadService) -> None:
    """Add the sweep of expired uploads to the running scheduler; the first run is now."""
    add_exclusive_job(scheduler, cache, "upload-expiry-sweep", SWEEP_EVERY, lambda: uploads.sweep_expired())
