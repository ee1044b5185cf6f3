"""Regressions: defects found while writing the health-code tests, now fixed."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta

from app import db
from health_code.models import HealthEvidence, HealthStatus, IssuedHealthCode, StatusEvaluation
from health_code.rules import Evidence
from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name

ON_POSTGRES = os.environ.get("APP_DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
CODE = "/api/v1/health-code"


async def test_opening_the_code_and_its_image_at_once_for_the_first_time_works(client, sms, app):
    # The app's first screen asks for the JSON and the images together; a lab result may land meanwhile.
    citizens = []
    for sequence in ("301", "302", "303"):
        citizen = await sign_in(client, sms)
        await verify_real_name(client, citizen, id_number=valid_id_number(sequence=sequence))
        citizens.append(citizen)
    for citizen in citizens:
        replies = await asyncio.gather(*(
            client.get(CODE, params={"format": fmt}, headers=citizen.headers) for fmt in ("json", "png", "json", "svg", "json")
        ))
        assert [r.status_code for r in replies] == [200] * 5, [r.text[:120] for r in replies]
    # The same race, straight at the service: several first evaluations of one citizen at once.
    late = await sign_in(client, sms)
    results = await asyncio.gather(*(app.ctx.services.health.evaluate(late.id, trigger="first_use") for _ in range(6)),
                                   return_exceptions=True)
    assert [type(r).__name__ for r in results if isinstance(r, BaseException)] == []
    assert await HealthStatus.filter(citizen_id=late.id).count() == 1


async def test_a_lab_result_stamped_ahead_by_a_skewed_clock_counts_once_its_time_comes(client, sms, clock, app):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    status = await app.ctx.services.health.record_evidence(citizen.id, "test_result", clock.now() + timedelta(hours=1),
                                                  {"result": "positive", "lab": "lab_1"}, source="lab:lab_1")
    assert status.colour == "green"  # not yet: the lab's clock runs an hour ahead

    clock.advance(hours=2)
    await refresh_tokens(client, citizen)
    shown = (await client.get(CODE, headers=citizen.headers)).json()

    stored = await HealthEvidence.filter(citizen_id=citizen.id)
    due = app.ctx.services.health.rules.evaluate([Evidence(e.kind, e.observed_at, e.data) for e in stored], clock.now())
    assert due.colour == "red"  # the rules over what is stored say red by now...
    assert shown["color"] == due.colour  # ...and the code must say the same


async def test_a_phone_asking_many_times_at_once_gets_one_code(client, sms):
    # Opening the app fires several requests together; each used to sign (and store) a code of its own.
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="311"))
    replies = await asyncio.gather(*(client.get(CODE, headers=citizen.headers) for _ in range(20)))
    assert [r.status_code for r in replies] == [200] * 20
    assert len({r.json()["payload"] for r in replies}) == 1
    assert await IssuedHealthCode.filter(citizen_id=citizen.id).count() == 1


async def test_a_status_change_while_a_code_is_being_signed_leaves_no_earlier_colour_on_screen(
        client, sms, clock, app, monkeypatch):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="312"))
    await client.get(CODE, headers=citizen.headers)
    clock.advance(160)  # the code is due for renewal
    health, cache = app.ctx.services.health, app.ctx.services.health.platform.cache
    real_issue, signing, go_on = health._issue, asyncio.Event(), asyncio.Event()

    async def slow_first_issue(*args, **kwargs):
        if not signing.is_set():  # the renewal: its status (green) already read
            signing.set()
            await go_on.wait()
        return await real_issue(*args, **kwargs)

    cached_colours: list[str] = []  # every code the cache held for her, in order
    real_set, real_replace = cache.set, cache.replace

    async def noted(key: str, value: str) -> None:
        if key == f"hc:code:{citizen.id}" and (await cache.get(key)) == value and '"payload"' in value:
            cached_colours.append(json.loads(value)["colour"])

    async def set_and_note(key, value, ttl):
        await real_set(key, value, ttl)
        await noted(key, value)

    async def replace_and_note(key, expected, value, ttl, **options):
        replaced = await real_replace(key, expected, value, ttl, **options)
        await noted(key, value)
        return replaced

    monkeypatch.setattr(health, "_issue", slow_first_issue)
    monkeypatch.setattr(cache, "set", set_and_note)
    monkeypatch.setattr(cache, "replace", replace_and_note)
    renewing = asyncio.ensure_future(client.get(CODE, headers=citizen.headers))
    await asyncio.wait_for(signing.wait(), 10)
    # Meanwhile a positive lab result lands: the status turns red.
    status = await health.record_evidence(citizen.id, "test_result", clock.now(),
                                          {"result": "positive", "lab": "lab_1"}, source="lab:lab_1")
    assert status.colour == "red"
    # Asked after the change: it does not wait for the renewal begun before it.
    asked_after = await asyncio.wait_for(client.get(CODE, headers=citizen.headers), 10)
    assert asked_after.json()["color"] == "red"
    go_on.set()
    assert (await asyncio.wait_for(renewing, 10)).json()["color"] == "red"
    assert (await client.get(CODE, headers=citizen.headers)).json()["color"] == "red"
    assert cached_colours and set(cached_colours) == {"red"}  # the green renewal was never cached


async def test_a_lab_result_during_the_first_evaluation_is_not_overwritten_by_it(client, sms, clock, app, monkeypatch):
    # The first fetch evaluates an empty record (green) while a positive result arrives: whichever
    # stored last used to win, so a green could overwrite the red.
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="313"))
    health = app.ctx.services.health
    real_appeal_check, judged, go_on = health._apply_upheld_appeal, asyncio.Event(), asyncio.Event()

    async def slow_first_verdict(citizen_id, verdict, now):
        if not judged.is_set():  # the first evaluation has read the (empty) evidence
            judged.set()
            await go_on.wait()
        return await real_appeal_check(citizen_id, verdict, now)

    cache, lock, refused = health.platform.cache, f"lock:hc:evaluate:{citizen.id}", asyncio.Event()
    real_set_if_absent = cache.set_if_absent

    async def noting_refusals(key: str, *args, **kwargs) -> bool:
        taken = await real_set_if_absent(key, *args, **kwargs)
        if key == lock and not taken:
            refused.set()
        return taken

    monkeypatch.setattr(health, "_apply_upheld_appeal", slow_first_verdict)
    monkeypatch.setattr(cache, "set_if_absent", noting_refusals)
    first_fetch = asyncio.ensure_future(client.get(CODE, headers=citizen.headers))
    await asyncio.wait_for(judged.wait(), 10)
    lab = asyncio.ensure_future(health.record_evidence(citizen.id, "test_result", clock.now(),
                                                       {"result": "positive", "lab": "lab_1"}, source="lab:lab_1"))
    # The lab result's evaluation waits its turn (its citizen's lock is taken), or, were there no lock, is done.
    waiting = asyncio.ensure_future(refused.wait())
    await asyncio.wait({waiting, lab}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert refused.is_set() or lab.done(), "the lab result's evaluation neither waited nor ended in 10 s"
    go_on.set()
    assert (await asyncio.wait_for(lab, 10)).colour == "red"
    await asyncio.wait_for(first_fetch, 10)
    assert (await HealthStatus.get(citizen_id=citizen.id)).colour == "red"
    assert (await client.get(CODE, headers=citizen.headers)).json()["color"] == "red"


class _HealthyReplica(db.Replica):
    """A replica that is always caught up, without a database: only the routing decision is looked at."""

    async def _probe(self) -> str | None:
        return None


@db.lag_tolerant
async def _served_by() -> str:
    return db.serving_connection()


async def test_a_status_evaluated_while_shown_sends_the_citizens_history_to_the_primary(app, platform, monkeypatch):
    """Showing the code (a GET) may evaluate the status and store the evaluation: the citizen's history read
    next must not come from a replica without it, contradicting the colour just shown."""
    replica = _HealthyReplica(platform.cache, sticky_seconds=10, max_lag=5)
    monkeypatch.setattr(db, "_replica", replica)
    monkeypatch.setattr(db, "inside_transaction", lambda: False)
    db.reading_as("cit_shown")
    assert await _served_by() == "replica"
    status = await app.ctx.services.health.status("cit_shown")  # its first use: evaluated and stored
    assert status.colour == "green" and await StatusEvaluation.filter(citizen_id="cit_shown").count() == 1
    assert (await _served_by(), await platform.cache.get(db.STICKY_KEY + "cit_shown")) == ("default", "1")
