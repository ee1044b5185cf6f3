"""A phone on a bad network sends the same application again: the Idempotency-Key makes sure that
nothing is created twice, while a different request under an old key is refused."""

from __future__ import annotations

import asyncio

from app.audit import AuditEntry
from app.notifications.models import Notification
from app.services.applications.models import Application, ApplicationEvent

from tests.services.service_factory import apply, error_code, key


async def test_a_retry_gets_the_same_application_and_creates_nothing(client, grandma, grandma_card, elderly_item):
    the_key = key()
    first = await apply(client, grandma, elderly_item.id, idempotency_key=the_key)
    again = await apply(client, grandma, elderly_item.id, idempotency_key=the_key)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "completed"
    # Replayed as the original: had the retry been decided afresh, prior_applications would now fail.
    assert again.json()["decision"] == first.json()["decision"]
    assert await Application.all().count() == 1
    assert await ApplicationEvent.all().count() == 4
    assert await Notification.filter(citizen_id=grandma.id, kind__startswith="application_").count() == 1
    assert await AuditEntry.filter(action="application_submitted").count() == 1


async def test_the_same_key_with_another_request_is_refused(client, grandma, grandma_card, elderly_item):
    the_key = key()
    first = await apply(client, grandma, elderly_item.id, idempotency_key=the_key)
    other = await apply(client, grandma, elderly_item.id, idempotency_key=the_key, form={"联系电话": "13911111111"})
    assert other.status_code == 409 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert other.json()["error"]["application_id"] == first.json()["id"]
    assert await Application.all().count() == 1


async def test_the_same_key_sent_at_the_same_moment_makes_one_application(client, grandma, grandma_card, elderly_item):
    the_key = key()
    replies = await asyncio.gather(*[apply(client, grandma, elderly_item.id, idempotency_key=the_key)
                                     for _ in range(5)])
    assert [r.status_code for r in replies] == [201] * 5, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert await Application.all().count() == 1
    assert await ApplicationEvent.all().count() == 4


async def test_keys_belong_to_one_citizen(client, grandma, grandma_card, young, clock):
    from tests.services.service_factory import make_item

    item = await make_item(clock, materials=[])
    the_key = key()
    mine = await apply(client, grandma, item.id, idempotency_key=the_key, materials=[])
    theirs = await apply(client, young, item.id, idempotency_key=the_key, materials=[])
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_refused_submission_does_not_use_up_its_key(client, grandma, grandma_card, elderly_item):
    the_key = key()
    refused = await apply(client, grandma, elderly_item.id, idempotency_key=the_key, materials=[])
    assert refused.status_code == 422
    fixed = await apply(client, grandma, elderly_item.id, idempotency_key=the_key)
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers


async def test_the_key_is_required_and_well_formed(client, grandma, elderly_item):
    missing = await client.post("/api/v1/applications", headers=grandma.headers,
                                json={"item_id": elderly_item.id, "form": {}, "materials": []})
    assert missing.status_code == 400 and error_code(missing) == "IDEMPOTENCY_KEY_REQUIRED"
    for bad in ("short", "x" * 65, "key/with/slashes", "key with spaces"):
        reply = await apply(client, grandma, elderly_item.id, idempotency_key=bad)
        assert reply.status_code == 400 and error_code(reply) == "IDEMPOTENCY_KEY_INVALID", bad
    assert await Application.all().count() == 0


async def test_two_applications_sent_at_once_under_different_keys_are_not_both_first(client, grandma, grandma_card,
                                                                                      elderly_item):
    replies = await asyncio.gather(*[apply(client, grandma, elderly_item.id) for _ in range(3)])
    assert [r.status_code for r in replies] == [201] * 3
    assert sorted(r.json()["status"] for r in replies) == ["completed", "under_review", "under_review"]
    assert await Application.all().count() == 3


async def test_a_twin_whose_uploads_were_used_first_gets_the_same_application(client, grandma, grandma_card,
                                                                               elderly_item, monkeypatch):
    """The slower of two identical requests finds its uploads already attached, by its twin: it is
    answered with the twin's application, not told that its uploads are taken."""
    from app.services.applications.service import ApplicationService

    real_prepare = ApplicationService.prepare
    slow_one_waits, twin_stored = asyncio.Event(), asyncio.Event()
    calls = 0

    async def prepare_after_the_twin(self: ApplicationService, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            slow_one_waits.set()
            await twin_stored.wait()
        return await real_prepare(self, *args, **kwargs)

    monkeypatch.setattr(ApplicationService, "prepare", prepare_after_the_twin)
    the_key = key()

    async def twin() -> object:
        await slow_one_waits.wait()
        reply = await apply(client, grandma, elderly_item.id, idempotency_key=the_key)
        twin_stored.set()
        return reply

    slow, fast = await asyncio.gather(apply(client, grandma, elderly_item.id, idempotency_key=the_key), twin())
    assert fast.status_code == slow.status_code == 201, slow.text
    assert slow.json()["id"] == fast.json()["id"] and slow.headers["idempotent-replayed"] == "true"
    assert await Application.all().count() == 1
