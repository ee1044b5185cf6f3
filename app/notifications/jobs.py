"""Scheduled work of notifications: retrying the deliveries that failed (短信、推送、订阅消息重试).

Idempotent and run on one worker at a time (`app.jobs.add_exclusive_job`); what is due is decided by
each delivery's next attempt time, so retries catch up after downtime by themselves.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.jobs import add_exclusive_job
from app.notifications import channels
from app.platform import Platform

RETRY_EVERY = 15  # seconds; the shortest backoff is 30 s


def add_notification_jobs(scheduler: AsyncIOScheduler, platform: Platform) -> None:
    add_exclusive_job(scheduler, platform.cache, "notification-retries", RETRY_EVERY,
                      lambda: channels.retry_due(platform))
