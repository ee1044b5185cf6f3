"""Scheduled work of 12345 tickets: escalation (督办) of tickets past their time limits.

The job is idempotent (a ticket is escalated once per limit missed) and run on one worker at a time
(`run_exclusively`); what is overdue is decided by the service clock, so it catches up after downtime.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache
from app.hotline.service import HotlineService
from app.jobs import add_exclusive_job


def add_hotline_jobs(scheduler: AsyncIOScheduler, cache: Cache, hotline: HotlineService, every: float) -> None:
    """Add the escalation job to the running scheduler, every `every` seconds; the first run is now."""
    add_exclusive_job(scheduler, cache, "hotline-escalation", every, lambda: hotline.escalate_overdue())
