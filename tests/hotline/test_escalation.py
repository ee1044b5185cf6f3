"""Time limits of 12345 tickets: a department that does not accept a ticket within one working day, or does not
answer it within five, has it escalated (督办) by the scheduled job, once per limit missed: in the ticket's
timeline, in the audit, in the citizen's inbox and in the department's queue."""

from __future__ import annotations

from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.audit import AuditEntry
from app.hotline.jobs import add_hotline_jobs
from app.jobs import run_exclusively
from tests.factories import refresh_tokens, sign_in
from tests.hotline.hotline_factory import (
    ADMIN_TICKETS, FRIDAY_MORNING, TICKETS, accept, answer, filed, inbox_kinds, market_clerk,
)


async def escalate(app) -> int:
    return await app.ctx.services.hotline.escalate_overdue()


async def test_a_ticket_not_accepted_by_monday_night_is_escalated_once_then_again_when_unanswered(app, client, sms,
                                                                                                    clock):
    clock.set(FRIDAY_MORNING)
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)

    clock.set(FRIDAY_MORNING + timedelta(days=3, hours=14))  # Monday 23:00: still within the day
    assert await escalate(app) == 0
    clock.advance(hours=1, minutes=1)  # Tuesday 00:01 in Guangzhou
    assert await escalate(app) == 1
    assert await escalate(app) == 0  # once per limit missed
    await refresh_tokens(client, citizen)
    shown = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()
    assert shown["escalated"] is True and shown["status"] == "submitted"
    assert (shown["events"][-1]["action"], shown["events"][-1]["note"]) == ("escalated", "超过受理时限，已督办")
    assert await inbox_kinds(client, citizen) == ["hotline_ticket_escalated"]
    entry = await AuditEntry.get(action="hotline_ticket_escalated", subject_id=citizen.id)
    assert (entry.actor_type, entry.attributes["missed"]) == ("system", "accept")
    # The department learns of it where it works its tickets: its queue and the ticket's timeline.
    queue = (await client.get(ADMIN_TICKETS, headers=market.headers())).json()["items"]
    assert [(t["id"], t["escalated"]) for t in queue] == [(ticket["id"], True)]
    read = (await client.get(f"{ADMIN_TICKETS}/{ticket['id']}", headers=market.headers())).json()
    assert (read["escalated"], read["events"][-1]["note"]) == (True, "超过受理时限，已督办")

    accepted = await accept(client, market, ticket["id"])  # late, but accepted: the answer limit now runs
    assert accepted.status_code == 200 and accepted.json()["escalated"] is False
    await refresh_tokens(client, citizen)
    assert (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()["escalated"] is False
    clock.set(FRIDAY_MORNING + timedelta(days=7, hours=15, minutes=1))  # past the end of the next Friday
    assert await escalate(app) == 1
    assert await escalate(app) == 0
    await refresh_tokens(client, citizen)
    shown = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()
    assert shown["escalated"] is True
    assert [e["note"] for e in shown["events"] if e["action"] == "escalated"] == [
        "超过受理时限，已督办", "超过答复时限，已督办"]

    late = await answer(client, market, ticket["id"])
    assert late.status_code == 200 and late.json()["events"][-1]["note"] == "逾期答复"
    assert late.json()["escalated"] is True  # the answer was late: that stays visible
    assert await escalate(app) == 0  # answered: nothing is waiting on the department


async def test_a_ticket_answered_in_time_is_never_escalated(app, client, sms, clock):
    clock.set(FRIDAY_MORNING)
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    clock.advance(days=3)  # Monday
    await accept(client, market, ticket["id"])
    await answer(client, market, ticket["id"])
    clock.advance(days=30)
    assert await escalate(app) == 0
    assert await AuditEntry.filter(action="hotline_ticket_escalated").count() == 0


async def test_the_escalation_job_joins_the_scheduler_and_runs_on_one_worker_at_a_time(app, platform):
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_hotline_jobs(scheduler, platform.cache, app.ctx.services.hotline, 600)
    assert [job.id for job in scheduler.get_jobs()] == ["hotline-escalation"]
    assert await run_exclusively(platform.cache, "hotline-escalation", app.ctx.services.hotline.escalate_overdue)


async def test_a_reopened_ticket_has_a_new_answer_limit_escalated_on_its_own(app, client, sms, clock):
    clock.set(FRIDAY_MORNING)
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    await accept(client, market, ticket["id"])
    clock.advance(days=8)  # the first answer limit (the next Friday) has passed
    assert await escalate(app) == 1
    await answer(client, market, ticket["id"])
    await refresh_tokens(client, citizen)
    reopened = await client.post(f"{TICKETS}/{ticket['id']}/reopen", headers=citizen.headers,
                                 json={"reason": "答复与事实不符"})
    assert reopened.json()["escalated"] is False and reopened.json()["answer_due"] == "2026-12-18T16:00:00Z"
    assert await escalate(app) == 0  # the new limit (five working days from Saturday) is still running
    clock.advance(days=7)
    assert await escalate(app) == 1
    missed = await AuditEntry.filter(action="hotline_ticket_escalated", subject_id=citizen.id).order_by("seq")
    assert [entry.attributes["missed"] for entry in missed] == ["answer-1", "answer-2"]


async def test_an_acceptance_escalated_before_a_reopening_does_not_show_in_the_new_round(app, client, sms, clock):
    clock.set(FRIDAY_MORNING)
    citizen, market = await sign_in(client, sms), await market_clerk(clock)
    ticket = await filed(client, citizen)
    clock.advance(days=4)  # Tuesday: the acceptance limit (Monday) was missed
    assert await escalate(app) == 1
    await accept(client, market, ticket["id"])
    answered = await answer(client, market, ticket["id"])  # answered within the answer limit
    assert answered.json()["escalated"] is False
    await refresh_tokens(client, citizen)
    reopened = await client.post(f"{TICKETS}/{ticket['id']}/reopen", headers=citizen.headers,
                                 json={"reason": "答复与事实不符"})
    assert reopened.json()["status"] == "reopened" and reopened.json()["escalated"] is False
    clock.advance(days=8)  # the new round's answer limit has passed
    assert await escalate(app) == 1
    await refresh_tokens(client, citizen)
    shown = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()
    assert shown["escalated"] is True


async def test_a_ticket_never_accepted_shows_its_answer_limit_escalated_too(app, client, sms, clock):
    clock.set(FRIDAY_MORNING)
    citizen = await sign_in(client, sms)
    ticket = await filed(client, citizen)
    clock.advance(days=4)
    assert await escalate(app) == 1  # the acceptance limit
    clock.advance(days=4)  # past the end of the next Friday, still not accepted
    assert await escalate(app) == 1  # and the answer limit
    await refresh_tokens(client, citizen)
    shown = (await client.get(f"{TICKETS}/{ticket['id']}", headers=citizen.headers)).json()
    assert (shown["status"], shown["escalated"]) == ("submitted", True)
    missed = await AuditEntry.filter(action="hotline_ticket_escalated", subject_id=citizen.id).order_by("seq")
    assert [entry.attributes["missed"] for entry in missed] == ["accept", "answer-1"]
