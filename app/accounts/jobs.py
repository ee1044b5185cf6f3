"""Scheduled work of accounts: the erasure of accounts whose deletion cooling-off period has passed (注销).

The job is idempotent and run on one worker at a time (`run_exclusively`, a lock in the shared cache); what is
due is decided by the service clock inside it, so it catches up after downtime.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.accounts.deletion import AccountDeletions
from app.cache import Cache
from app.jobs import add_exclusive_job



def add_account_jobs(scheduler: AsyncIOScheduler, cache: Cache, deletions: AccountDeletions, every: float) -> None:
    """Add the erasure of due accounts to the running scheduler, every `every` seconds; the first run is now."""
    add_exclusive_job(scheduler, cache, "account-erasure", every, lambda: deletions.erase_due())
