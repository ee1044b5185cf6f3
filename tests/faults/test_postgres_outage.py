"""PostgreSQL is cut while citizens are submitting applications (办件).

While the database is unreachable, clients get 503 SERVICE_UNAVAILABLE with Retry-After, never a
500 and never a false "accepted". A phone retries with the same Idempotency-Key after the advised
wait, so when the database is back every submission exists exactly once, with all its events.
Lost: nothing. Duplicated: nothing.
"""

from __future__ import annotations

import asyncio
import secrets

from app.services.applications.models import Application, ApplicationEvent
from tests.factories import sign_in, valid_id_number, verify_real_name
from tests.faults.conftest import needs_postgres
from tests.services.service_factory import make_item

pytestmark = needs_postgres


async def submit_until_accepted(client, citizen, item_id: str, key: str, seen: list[int]) -> dict:
    """What a phone does: send, and on 503 wait (a fraction of Retry-After in a test) and send again."""
    body = {"item_id": item_id, "form": {"联系电话": "13900000000", "申请原因": "办理优待证（示例）"}, "materials": []}
    for _ in range(200):
        reply = await client.post("/api/v1/applications", json=body,
                                  headers={**citizen.headers, "Idempotency-Key": key})
        seen.append(reply.status_code)
        if reply.status_code == 201:
            return reply.json()
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and reply.headers["retry-after"] == "7"
        await asyncio.sleep(0.05)
    raise AssertionError("never accepted")


async def test_no_application_is_lost_or_duplicated_when_the_database_is_cut_mid_load(
        client, sms, clock, postgres_proxy, faults):
    citizens = []
    for n in range(3):
        citizen = await sign_in(client, sms)
        await verify_real_name(client, citizen, id_number=valid_id_number(sequence=f"31{n}"))
        citizens.append(citizen)
    items = [await make_item(clock, materials=[]) for _ in range(4)]
    seen: list[int] = []
    keys = {(c.id, item.id): f"key-{secrets.token_hex(8)}" for c in citizens for item in items}
    by_id = {c.id: c for c in citizens}

    async def outage() -> None:
        await asyncio.sleep(0.05)
        postgres_proxy.cut()
        await asyncio.sleep(0.4)
        postgres_proxy.restore()

    cut = asyncio.create_task(outage())
    accepted = await asyncio.gather(*[submit_until_accepted(client, by_id[cid], item_id, key, seen)
                                      for (cid, item_id), key in keys.items()])
    await cut

    assert 503 in seen, "the outage did not hit any request: the test proved nothing"
    assert set(seen) <= {201, 503}
    stored = await Application.filter(citizen_id__in=list(by_id)).values_list("id", "citizen_id", "idempotency_key")
    assert len(stored) == len(keys), "an application was lost or duplicated"
    assert {(cid, key) for _, cid, key in stored} == {(cid, key) for (cid, _), key in keys.items()}
    assert {a["id"] for a in accepted} == {row[0] for row in stored}  # every reply names a stored application
    for application_id, _, _ in stored:  # none half-written: each has its whole history
        events = await ApplicationEvent.filter(application_id=application_id).values_list("to_status", flat=True)
        assert sorted(events) == sorted(["submitted", "accepted", "under_review"]), events


async def test_while_the_database_is_down_reads_say_retry_and_then_answer_again(client, sms, postgres_proxy, faults):
    citizen = await sign_in(client, sms)
    assert (await client.get("/api/v1/applications", headers=citizen.headers)).status_code == 200
    postgres_proxy.cut()
    down = await client.get("/api/v1/applications", headers=citizen.headers)
    assert down.status_code == 503 and down.headers["retry-after"] == "7", down.text
    assert down.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and "asyncpg" not in down.text
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    postgres_proxy.restore()
    for _ in range(50):  # the pool reconnects on its own: no restart
        if (await client.get("/api/v1/applications", headers=citizen.headers)).status_code == 200:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the service did not recover when the database came back")
    assert (await client.get("/readyz")).status_code == 200
