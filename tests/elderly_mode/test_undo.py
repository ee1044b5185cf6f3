"""Undo: an application submitted in elderly mode is withdrawn within ten minutes, without penalty."""

from __future__ import annotations

from app import audit
from app.audit import AuditEntry
from app.services.applications.models import Application, ApplicationEvent
from elderly_mode.models import UndoWindow
from tests.elderly_mode.elderly_factory import elder, family_member, linked
from tests.services.service_factory import make_item

APPLICATIONS = "/api/v1/applications"


async def submit(client, citizen, item_id: str, key: str) -> dict:
    reply = await client.post(APPLICATIONS, headers={**citizen.headers, "Idempotency-Key": key},
                              json={"item_id": item_id, "form": {"联系电话": "13900000000"}})
    assert reply.status_code == 201, reply.text
    return reply.json()


def code_of(reply) -> str:
    return reply.json()["error"]["code"]


async def test_grandma_withdraws_a_mistaken_application_within_ten_minutes(client, sms, clock):
    grandma = await elder(client, sms)
    item = await make_item(clock, materials=[])
    submitted = await submit(client, grandma, item.id, "undo-key-0001")
    assert submitted["status"] == "under_review" and submitted["undo_until"]
    assert "之前可以直接撤回" in submitted["tts_text"]
    clock.advance(9 * 60)
    withdrawn = await client.post(f"{APPLICATIONS}/{submitted['id']}/withdrawal", headers=grandma.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["status_text"] == "已撤回"
    events = await ApplicationEvent.filter(application_id=submitted["id"]).order_by("id")
    assert events[-1].to_status == "withdrawn" and events[-1].actor == grandma.id
    assert await AuditEntry.filter(subject_id=grandma.id, action="application_withdrawn").count() == 1
    inbox = (await client.get("/api/v1/notifications", headers=grandma.headers)).json()["items"]
    assert inbox[0]["kind"] == "application_withdrawn"
    again = await client.post(f"{APPLICATIONS}/{submitted['id']}/withdrawal", headers=grandma.headers)
    assert again.status_code == 409 and code_of(again) == "APPLICATION_STATE_CONFLICT"


async def test_after_ten_minutes_it_cannot_be_withdrawn_here(client, sms, clock):
    grandma = await elder(client, sms)
    item = await make_item(clock, materials=[])
    submitted = await submit(client, grandma, item.id, "undo-key-0002")
    clock.advance(10 * 60 + 1)
    late = await client.post(f"{APPLICATIONS}/{submitted['id']}/withdrawal", headers=grandma.headers)
    assert late.status_code == 409 and code_of(late) == "UNDO_WINDOW_CLOSED"
    error = late.json()["error"]
    assert "10 分钟" in error["message"] and "拨打办理部门电话" in error["next_step"]
    assert (await client.get(f"{APPLICATIONS}/{submitted['id']}", headers=grandma.headers)).json()["undo_until"] is None


async def test_outside_elderly_mode_there_is_no_undo_and_others_cannot_withdraw(client, sms, clock):
    young = await elder(client, sms, elderly=False, name="王小明", id_number=None)
    item = await make_item(clock, materials=[])
    submitted = await submit(client, young, item.id, "undo-key-0003")
    assert submitted["undo_until"] is None
    refused = await client.post(f"{APPLICATIONS}/{submitted['id']}/withdrawal", headers=young.headers)
    assert refused.status_code == 409 and code_of(refused) == "UNDO_NOT_AVAILABLE"
    grandma = await elder(client, sms)
    hers = await submit(client, grandma, item.id, "undo-key-0004")
    other = await client.post(f"{APPLICATIONS}/{hers['id']}/withdrawal", headers=young.headers)
    assert other.status_code == 404 and code_of(other) == "APPLICATION_NOT_FOUND"


async def test_withdrawing_carries_no_penalty_for_the_next_application(client, sms, clock):
    from tests.services.service_factory import ELDERLY_RULES

    grandma = await elder(client, sms)
    rules = {"all": [r for r in ELDERLY_RULES["all"] if r["fact"] in ("identity_level", "age", "prior_applications")]}
    item = await make_item(clock, materials=[], rules=rules)
    first = await submit(client, grandma, item.id, "undo-key-0005")
    assert first["status"] == "completed"  # 秒批
    withdrawn = await client.post(f"{APPLICATIONS}/{first['id']}/withdrawal", headers=grandma.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    second = await submit(client, grandma, item.id, "undo-key-0006")
    assert second["status"] == "completed", second["decision"]  # prior_applications == 0 still passes


async def test_a_proxys_submission_for_an_elder_in_elderly_mode_can_be_undone_by_her(client, sms, clock):
    mother = await elder(client, sms)
    son = await family_member(client, sms)
    await linked(client, sms, son, mother)
    item = await make_item(clock, materials=[])
    reply = await client.post(f"/api/v1/family/{mother.id}/applications",
                              headers={**son.headers, "Idempotency-Key": "undo-key-0007"},
                              json={"item_id": item.id, "form": {}})
    assert reply.status_code == 201
    undone = await client.post(f"{APPLICATIONS}/{reply.json()['id']}/withdrawal", headers=mother.headers)
    assert undone.status_code == 200 and undone.json()["status"] == "withdrawn"


async def test_the_undo_window_is_stored_with_the_application_or_not_at_all(client, sms, clock, monkeypatch):
    grandma = await elder(client, sms)
    item = await make_item(clock, materials=[])

    async def fails(*args, **kwargs):
        raise ConnectionError("database connection lost")  # after the window's row, before the commit

    monkeypatch.setattr(audit, "add_pending", fails)
    failed = await client.post(APPLICATIONS, headers={**grandma.headers, "Idempotency-Key": "undo-key-0009"},
                               json={"item_id": item.id, "form": {"联系电话": "13900000000"}})
    assert failed.status_code >= 500
    monkeypatch.undo()
    assert await Application.all().count() == 0 and await UndoWindow.all().count() == 0

    submitted = await submit(client, grandma, item.id, "undo-key-0009")
    assert submitted["undo_until"]
    assert await UndoWindow.filter(application_id=submitted["id"]).count() == 1
