"""Scheduled work of the citizen services: appointment reminders (预约提醒), notification retries,
and the sweep of audit entries a dead worker left pending.

The jobs are idempotent and run on one worker at a time (`run_exclusively`, a lock in the shared
cache); what is due is decided by the service clock inside each job, so they catch up after
downtime by themselves.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app import audit
from app.cache import Cache
from app.clock import Clock
from app.jobs import add_exclusive_job
from app.notifications import channels
from app.services.appointments.service import AppointmentService

REMIND_EVERY = 10 * 60  # seconds; a reminder goes out within ten minutes of 09:00 the day before
RETRY_EVERY = 15  # the shortest backoff is 30 s
AUDIT_SWEEP_EVERY = 60  # entries pending for over a minute had a writer that died after its commit


def add_service_jobs(scheduler: AsyncIOScheduler, cache: Cache, clock: Clock, appointments: AppointmentService) -> None:
    """Add the jobs to the running scheduler; the first run of each is now."""
    jobs = (
        ("appointment-reminders", REMIND_EVERY, lambda: appointments.send_reminders()),
        ("notification-retries", RETRY_EVERY, lambda: channels.retry_due(clock)),
        ("audit-pending-sweep", AUDIT_SWEEP_EVERY, lambda: audit.record_abandoned(clock)),
    )
    for name, seconds, job in jobs:
        add_exclusive_job(scheduler, cache, name, seconds, job)
