"""Every move of an application reaches the audit chain and the citizen's inbox, even when its worker
dies just after the commit: the message and the audit entries (pending) are written in the
application's own transaction; the entries are chained at once by their writer, or after a minute
by the sweep. A transaction that fails leaves none of them."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from app import audit
from app.audit import AuditEntry, PendingAudit
from app.notifications.models import Notification
from app.services.applications.models import Application, ApplicationEvent

from tests.services.service_factory import apply, inbox_kinds


async def audit_actions(application_id: str) -> list[str]:
    entries = await AuditEntry.filter(action__startswith="application_").order_by("seq")
    return [e.action for e in entries if e.attributes.get("application_id") == application_id]


async def test_a_submission_chains_its_moves_and_leaves_nothing_pending(client, grandma, grandma_card, elderly_item):
    reply = await apply(client, grandma, elderly_item.id)
    assert reply.status_code == 201 and reply.json()["status"] == "completed"
    assert await audit_actions(reply.json()["id"]) == [
        "application_submitted", "application_accepted", "application_auto_approved", "application_completed"]
    assert await PendingAudit.all().count() == 0


async def test_a_worker_dying_after_the_commit_leaves_its_audit_entries_to_the_sweep(
        client, grandma, grandma_card, elderly_item, clock, monkeypatch):
    async def dies(*args, **kwargs):
        raise SystemExit("worker killed")  # between the application's commit and the chain write

    monkeypatch.setattr(audit, "record_pending", dies)
    with pytest.raises(SystemExit):
        await apply(client, grandma, elderly_item.id)
    monkeypatch.undo()
    application = await Application.get(citizen_id=grandma.id)
    assert application.status == "completed" and await ApplicationEvent.filter(application_id=application.id).count() == 4
    assert await audit_actions(application.id) == []  # not chained yet...
    assert await PendingAudit.all().count() == 1  # ...but kept
    assert await inbox_kinds(client, grandma) == ["application_auto_approved"]  # committed with the application

    assert await audit.record_abandoned(clock) == 0  # under a minute old: its writer may still be at work
    clock.advance(minutes=2)
    assert await audit.record_abandoned(clock) == 1
    assert await audit_actions(application.id) == [
        "application_submitted", "application_accepted", "application_auto_approved", "application_completed"]
    assert await PendingAudit.all().count() == 0
    assert await audit.record_abandoned(clock) == 0  # chained once
    assert len(await audit_actions(application.id)) == 4
    assert (await audit.verify_chain()).ok


async def test_a_submission_failing_inside_its_transaction_leaves_no_trace_and_its_retry_makes_one(
        client, grandma, grandma_card, elderly_item, monkeypatch):
    async def fails(*args, **kwargs):
        raise ConnectionError("database connection lost")  # after the application row, before the commit

    monkeypatch.setattr(audit, "add_pending", fails)
    failed = await apply(client, grandma, elderly_item.id, idempotency_key="atomic-key-0001")
    assert failed.status_code >= 500
    monkeypatch.undo()
    assert await Application.filter(citizen_id=grandma.id).count() == 0
    assert await ApplicationEvent.all().count() == 0
    assert await Notification.filter(citizen_id=grandma.id, kind__startswith="application_").count() == 0
    assert await PendingAudit.all().count() == 0
    assert await AuditEntry.filter(action__startswith="application_").count() == 0

    retried = await apply(client, grandma, elderly_item.id, idempotency_key="atomic-key-0001")
    assert retried.status_code == 201 and retried.json()["status"] == "completed"
    assert await inbox_kinds(client, grandma) == ["application_auto_approved"]
    assert len(await audit_actions(retried.json()["id"])) == 4


async def test_the_writer_and_the_sweep_at_once_chain_the_entries_once(app, clock):
    records = [audit.event(actor="c_1", actor_type="citizen", action="application_submitted", subject_id="c_1",
                           attributes={"application_id": "ap_race", "item_id": "i", "from": None, "to": "submitted"})]
    async with in_transaction() as conn:
        pending = await audit.add_pending(conn, clock, records)
    clock.advance(minutes=2)  # a slow writer: the sweep already counts it as abandoned
    await asyncio.gather(audit.record_abandoned(clock), audit.record_pending(clock, pending, records))
    assert await audit_actions("ap_race") == ["application_submitted"]
    assert await PendingAudit.all().count() == 0
    assert (await audit.verify_chain()).ok


async def test_an_unreadable_pending_row_does_not_stop_the_sweep(app, clock):
    records = [audit.event(actor="c_2", actor_type="citizen", action="application_submitted", subject_id="c_2",
                           attributes={"application_id": "ap_after", "item_id": "i", "from": None, "to": "submitted"})]
    async with in_transaction() as conn:
        await PendingAudit.create(records=[{"written_by": "a later version"}], created_at=clock.now(), using_db=conn)
        await audit.add_pending(conn, clock, records)
    clock.advance(minutes=2)
    assert await audit.record_abandoned(clock) == 1
    assert await audit_actions("ap_after") == ["application_submitted"]
    assert await PendingAudit.all().count() == 1  # left for a person to look at
