"""A phone on a bad network sends the same complaint again: the Idempotency-Key files it once, as for an
application, while another complaint under a used key is refused and a request without a key is not filed."""

from __future__ import annotations

import asyncio

from app.audit import AuditEntry
from app.hotline.models import Ticket, TicketEvent
from app.uploads.models import Upload
from tests.factories import sign_in
from tests.hotline.hotline_factory import TICKETS, COMPLAINT, error_code, file_ticket, key
from tests.uploads.upload_factory import uploaded


async def test_a_retry_gets_the_same_ticket_and_files_nothing(client, sms):
    citizen = await sign_in(client, sms)
    photo = await uploaded(client, citizen)
    the_key = key()
    first = await file_ticket(client, citizen, the_key, uploads=[photo])
    again = await file_ticket(client, citizen, the_key, uploads=[photo])
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["uploads"] == [photo]
    assert await Ticket.filter(citizen_id=citizen.id).count() == 1
    assert await TicketEvent.filter(ticket_id=first.json()["id"]).count() == 1
    assert await AuditEntry.filter(action="hotline_ticket_submitted").count() == 1
    assert (await Upload.get(id=photo)).owner_id == first.json()["id"]


async def test_the_same_key_with_another_ticket_is_refused(client, sms):
    citizen = await sign_in(client, sms)
    the_key = key()
    first = await file_ticket(client, citizen, the_key)
    other = await file_ticket(client, citizen, the_key, category="suggestion")
    assert other.status_code == 409 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert other.json()["error"]["ticket_id"] == first.json()["id"]
    assert "工单" in other.json()["error"]["message"]
    assert await Ticket.filter(citizen_id=citizen.id).count() == 1


async def test_the_same_key_sent_at_the_same_moment_files_one_ticket(client, sms):
    citizen = await sign_in(client, sms)
    the_key = key()
    replies = await asyncio.gather(*[file_ticket(client, citizen, the_key) for _ in range(5)])
    assert [r.status_code for r in replies] == [201] * 5, [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert await Ticket.filter(citizen_id=citizen.id).count() == 1
    assert await TicketEvent.all().count() == 1


async def test_keys_belong_to_one_citizen(client, sms):
    one, another = await sign_in(client, sms), await sign_in(client, sms)
    the_key = key()
    mine, theirs = await file_ticket(client, one, the_key), await file_ticket(client, another, the_key)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


async def test_a_refused_ticket_does_not_use_up_its_key(client, sms):
    citizen = await sign_in(client, sms)
    the_key = key()
    refused = await file_ticket(client, citizen, the_key, department_id="no-such-bureau")
    assert refused.status_code == 404
    fixed = await file_ticket(client, citizen, the_key)
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers


async def test_the_key_is_required_and_well_formed(client, sms):
    citizen = await sign_in(client, sms)
    missing = await client.post(TICKETS, headers=citizen.headers, json=COMPLAINT)
    assert missing.status_code == 400 and error_code(missing) == "IDEMPOTENCY_KEY_REQUIRED"
    for bad in ("short", "x" * 65, "key/with/slashes", "key with spaces"):
        reply = await file_ticket(client, citizen, bad)
        assert reply.status_code == 400 and error_code(reply) == "IDEMPOTENCY_KEY_INVALID", bad
    assert await Ticket.filter(citizen_id=citizen.id).count() == 0
