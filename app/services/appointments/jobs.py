"""Scheduled work of appointments: reminders the day before (预约提醒).

The job is idempotent and run on one worker at a time (`run_exclusively`, a lock in the shared
cache); what is due is decided by the service clock inside it, so it catches up after
downtime by itself.
"""

from __future__ import annotations

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.cache import Cache
from app.jobs import add_exclusive_job
from app.services.appointments.service import AppointmentService

REMIND_EVERY = 10 * 60  # seconds; a reminder goes out within ten minutes of 09:00 the day before


def add_appointment_jobs(scheduler: AsyncIOScheduler, cache: Cache, appointments: AppointmentService) -> None:
    """Add the reminders to the running scheduler; the first run is now."""
    add_exclusive_job(scheduler, cache, "appointment-reminders", REMIND_EVERY, lambda: appointments.send_reminders())
