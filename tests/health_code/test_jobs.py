"""Scheduled changes: statuses whose time has come are re-evaluated, by one worker, and catch up."""

from __future__ import annotations

import asyncio
from functools import partial

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent

from app.jobs import start_scheduler
from health_code.jobs import add_health_code_jobs, purge_issued_codes, reevaluate_due
from health_code.models import HealthStatus, IssuedHealthCode, StatusEvaluation
from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name


async def exposed_citizen(client, sms, app, clock, sequence: str = "123"):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence=sequence))
    await app.ctx.services.health.record_evidence(citizen.id, "exposure", clock.now(), {"venue": "v_1"}, source="admin:test")
    return citizen


async def test_yellow_turns_green_after_the_quiet_period_without_anyone_opening_the_code(client, sms, app, clock):
    citizen = await exposed_citizen(client, sms, app, clock)
    assert (await HealthStatus.get(citizen_id=citizen.id)).colour == "yellow"
    clock.advance(days=6)
    assert await reevaluate_due(app.ctx.services.health) == 0  # not due yet: nothing touched
    clock.advance(days=1, seconds=1)
    assert await reevaluate_due(app.ctx.services.health) == 1
    status = await HealthStatus.get(citizen_id=citizen.id)
    assert status.colour == "green" and status.next_change_at is None
    row = await StatusEvaluation.filter(citizen_id=citizen.id, trigger="scheduled").first()
    assert row.colour == "green" and row.changed and row.rule_version == "2026.1"


async def test_the_citizen_is_told_when_the_colour_changes(client, sms, app, clock):
    citizen = await exposed_citizen(client, sms, app, clock)
    clock.advance(days=7, seconds=1)
    await reevaluate_due(app.ctx.services.health)
    headers = {**(await refresh_tokens(client, citizen)).headers, "Accept-Language": "en"}
    kinds = [m["kind"] for m in (await client.get("/api/v1/notifications", headers=headers)).json()["items"]]
    assert kinds[:2] == ["health_code_green", "health_code_yellow"]


async def test_the_job_is_idempotent_and_catches_up_after_downtime(client, sms, app, clock):
    citizens = [await exposed_citizen(client, sms, app, clock, sequence=s) for s in ("401", "402", "403")]
    clock.advance(days=30)  # the server was down for weeks: every due status is found on the first run
    assert await reevaluate_due(app.ctx.services.health) == 3
    assert await reevaluate_due(app.ctx.services.health) == 0
    for citizen in citizens:
        assert (await HealthStatus.get(citizen_id=citizen.id)).colour == "green"
        assert await StatusEvaluation.filter(citizen_id=citizen.id, trigger="scheduled").count() == 1


def _note_reevaluation(ended: asyncio.Event, event: JobExecutionEvent) -> None:
    """A scheduler's listener: `ended` is set once its re-evaluation job has run (or failed)."""
    if event.job_id == "hc-reevaluate":
        ended.set()


async def test_two_real_schedulers_evaluate_each_due_citizen_once(client, sms, app, clock):
    citizen = await exposed_citizen(client, sms, app, clock, sequence="404")
    clock.advance(days=8)
    schedulers = [start_scheduler(), start_scheduler()]  # as two workers would
    first_runs = [asyncio.Event() for _ in schedulers]
    for scheduler, ended in zip(schedulers, first_runs):
        scheduler.add_listener(partial(_note_reevaluation, ended), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        add_health_code_jobs(scheduler, app.ctx.services.health)
    try:
        await asyncio.wait_for(asyncio.gather(*(ended.wait() for ended in first_runs)), 10)  # each worker's ran
    finally:
        for scheduler in schedulers:
            scheduler.shutdown(wait=False)
    assert await StatusEvaluation.filter(citizen_id=citizen.id, trigger="scheduled").count() == 1
    assert (await HealthStatus.get(citizen_id=citizen.id)).colour == "green"


async def test_who_held_a_code_is_forgotten_a_day_after_it_expired(client, sms, app, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    await client.get("/api/v1/health-code", headers=citizen.headers)
    assert await IssuedHealthCode.filter(citizen_id=citizen.id).count() == 1
    clock.advance(hours=24)
    assert await purge_issued_codes(app.ctx.services.health) == 0  # expired, but not yet a day ago
    clock.advance(seconds=181)
    assert await purge_issued_codes(app.ctx.services.health) == 1
    assert await IssuedHealthCode.filter(citizen_id=citizen.id).count() == 0
