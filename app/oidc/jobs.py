"""Scheduled upkeep of the OpenID Connect provider: codes and access tokens past use are deleted.

Run on one worker at a time (`run_exclusively`); what is past use is decided by the service clock.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache
from app.jobs import add_exclusive_job
from app.oidc.service import OidcService

PURGE_EVERY = 3600.0  # seconds: codes live a minute and tokens at most an hour, so hourly keeps the tables small


def add_oidc_jobs(scheduler: AsyncIOScheduler, cache: Cache, oidc: OidcService) -> None:
    """Add the purge of spent codes and expired tokens to the running scheduler; the first run is now."""
    add_exclusive_job(scheduler, cache, "oidc-purge", PURGE_EVERY, lambda: oidc.purge_expired())
