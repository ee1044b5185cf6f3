"""Online checks answer with the holder's status now, not only with the code.

A code signed while its holder was green is still a well-formed, unexpired code after the holder
turns red. Offline, a verifier can only know the status at issue. Online (the partner API, a venue or
metro gate, the partner's border-pass check), we know better: a code issued before its holder's
status turned worse answers `valid: false`, `STATUS_CHANGED`, with the colour now. This covers the
180 s code on screen, the extended code of elderly mode, the printed card's code and the border pass.
"""

from __future__ import annotations

import pytest
import ujson

from app.audit import AuditEntry
from health_code.codec import StatusChanged
from health_code.models import IssuedHealthCode
from health_code.service import payload_digest, payload_key
from tests.elderly_mode.elderly_factory import elder
from tests.factories import make_department, refresh_tokens, sign_in, valid_id_number, verify_real_name
from tests.health_code.interop.partners_factory import CHINESE_WORDS, make_partner, make_partner_admin

CODE = "/api/v1/health-code"
PARTNER_CHECK = "/api/partner/v1/verifications"
BORDER_PASS_CHECK = "/api/partner/v1/border-pass-verifications"
GATE_CHECK = "/api/admin/v1/health-code/verifications"


@pytest.fixture
async def macau(app, client, clock):
    return await make_partner(client, await make_partner_admin(clock), "MO", name="澳门特别行政区卫生局（示例）",
                              status_mapping=CHINESE_WORDS)


async def green_citizen(client, sms, sequence: str):
    citizen = await sign_in(client, sms)
    id_number = valid_id_number(sequence=sequence)
    await verify_real_name(client, citizen, id_number=id_number)
    return citizen, id_number


async def turn_red(client, lab, clock, id_number: str, sample: str) -> None:
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": id_number, "result": "positive", "sampled_at": clock.now().isoformat(), "sample_id": sample})
    assert posted.json()["color"] == "red"


async def partner_checks(client, macau, *payloads: str) -> list[dict]:
    reply = await client.post(PARTNER_CHECK, headers=macau.headers(), json={"codes": list(payloads)})
    assert reply.status_code == 200, reply.text
    return reply.json()["results"]


async def gate_checks(client, gate, payload: str) -> dict:
    reply = await client.post(GATE_CHECK, headers=gate.headers(), json={"payload": payload, "purpose": "进站查验"})
    assert reply.status_code == 200, reply.text
    return reply.json()


def refused_as_changed(result: dict, colour_now: str) -> bool:
    return (result["valid"], result["error"], result["color"], result["current_color"]) == \
        (False, "STATUS_CHANGED", None, colour_now)


async def test_a_green_code_shown_before_a_positive_test_is_refused_online_with_the_colour_now(
        client, sms, lab, gate, macau, clock):
    citizen, id_number = await green_citizen(client, sms, "901")
    green = (await client.get(CODE, headers=citizen.headers)).json()["payload"]
    [before] = await partner_checks(client, macau, green)
    assert before["valid"] is True and before["color"] == "green"

    await turn_red(client, lab, clock, id_number, "S-901")
    [after] = await partner_checks(client, macau, green)
    assert refused_as_changed(after, "red") and after["current_partner_color"] == "红码"
    assert refused_as_changed(await gate_checks(client, gate, green), "red")

    red = (await client.get(CODE, headers=citizen.headers)).json()["payload"]
    [fresh] = await partner_checks(client, macau, red)
    assert fresh["valid"] is True and fresh["color"] == "red"
    log = (await client.get("/api/v1/me/access-log?limit=100", headers=citizen.headers)).json()["items"]
    changed = [e for e in log if e["action"] == "health_code_verified" and e["attributes"] == ["current_color"]]
    assert {e["actor"] for e in changed} == {"澳门特别行政区卫生局（示例）", "示例地铁站闸机"}


async def test_the_extended_code_of_elderly_mode_follows_the_status(app, client, sms, lab, gate, clock):
    grandma = await elder(client, sms)
    snapshot = await app.ctx.services.accounts.citizen(grandma.id)
    await client.get(CODE, headers=grandma.headers)
    extended = await client.post("/api/v1/health-code/extension", headers=grandma.headers)
    assert extended.status_code == 200 and extended.json()["extended"] is True
    assert (await gate_checks(client, gate, extended.json()["payload"]))["valid"] is True
    await app.ctx.services.health.record_evidence(snapshot.id, "declaration", clock.now(),
                                         {"symptoms": True, "confirmed_case": False}, source="self")
    assert refused_as_changed(await gate_checks(client, gate, extended.json()["payload"]), "yellow")


async def test_the_printed_cards_code_follows_the_status_for_its_twelve_hours(app, client, sms, lab, gate, clock):
    citizen, id_number = await green_citizen(client, sms, "902")
    card = await app.ctx.services.health.print_code(await app.ctx.services.accounts.citizen(citizen.id))
    assert card.expires_at - card.issued_at == app.ctx.services.platform.settings.health_code.print_card_ttl
    clock.advance(hours=6)
    assert (await gate_checks(client, gate, card.payload))["color"] == "green"
    await turn_red(client, lab, clock, id_number, "S-902")
    assert refused_as_changed(await gate_checks(client, gate, card.payload), "red")


async def test_a_border_pass_checked_online_answers_with_the_status_now(client, sms, lab, macau, clock):
    citizen, id_number = await green_citizen(client, sms, "903")
    issued = await client.post("/api/v1/border-passes", headers=citizen.headers,
                               json={"partner": "MO", "document_type": "resident_id"})
    assert issued.status_code == 201, issued.text
    border_pass = issued.json()["payload"]
    checked = await client.post(BORDER_PASS_CHECK, headers=macau.headers(), json={"passes": [border_pass, "GDBP1:XX"]})
    valid, garbage = checked.json()["results"]
    assert valid["valid"] is True and valid["color"] == "green" and valid["partner_color"] == "绿码"
    assert valid["document_type"] == "resident_id" and valid["document_last4"] == id_number[-4:]
    assert valid["expires_at"] == issued.json()["expires_at"] and valid["subject_masked"] == issued.json()["subject_masked"]
    assert garbage["valid"] is False and garbage["error"]

    await turn_red(client, lab, clock, id_number, "S-903")
    [after] = (await client.post(BORDER_PASS_CHECK, headers=macau.headers(), json={"passes": [border_pass]})).json()["results"]
    assert refused_as_changed(after, "red") and after["current_partner_color"] == "红码"
    log = (await client.get("/api/v1/me/access-log?limit=100", headers=citizen.headers)).json()["items"]
    assert [e["actor"] for e in log if e["action"] == "border_pass_verified"] == ["澳门特别行政区卫生局（示例）"] * 2


async def test_a_border_pass_for_macau_is_refused_to_hong_kong_and_bad_batches_are_refused(client, sms, clock):
    admin = await make_partner_admin(clock)
    macau = await make_partner(client, admin, "MO", name="澳门特别行政区卫生局（示例）")
    hong_kong = await make_partner(client, admin, "HK", name="香港特别行政区卫生署（示例）")
    citizen, _ = await green_citizen(client, sms, "904")
    border_pass = (await client.post("/api/v1/border-passes", headers=citizen.headers,
                                     json={"partner": "MO", "document_type": "resident_id"})).json()["payload"]
    [other] = (await client.post(BORDER_PASS_CHECK, headers=hong_kong.headers(),
                                 json={"passes": [border_pass]})).json()["results"]
    assert (other["valid"], other["error"], other["color"]) == (False, "WRONG_AUDIENCE", None)
    empty = await client.post(BORDER_PASS_CHECK, headers=macau.headers(), json={"passes": []})
    assert empty.status_code == 422
    too_many = await client.post(BORDER_PASS_CHECK, headers=macau.headers(), json={"passes": [border_pass] * 101})
    assert too_many.status_code == 422
    unsigned = await client.post(BORDER_PASS_CHECK, json={"passes": [border_pass]})
    assert unsigned.status_code == 401


async def test_after_a_cache_loss_the_database_still_refuses_a_code_behind_the_status(
        app, client, sms, lab, gate, macau, clock):
    citizen, id_number = await green_citizen(client, sms, "905")
    green = (await client.get(CODE, headers=citizen.headers)).json()["payload"]
    await app.ctx.services.platform.cache.clear()  # the cache is lost before the change: the change finds no entry to mark
    await turn_red(client, lab, clock, id_number, "S-905")
    assert refused_as_changed(await gate_checks(client, gate, green), "red")
    await app.ctx.services.platform.cache.clear()  # and after it
    [result] = await partner_checks(client, macau, green)
    assert refused_as_changed(result, "red")
    assert await IssuedHealthCode.filter(citizen_id=citizen.id, status_changed_to="red").count() == 1


async def test_a_code_signed_from_a_status_read_just_before_a_change_is_refused(app, client, sms, lab, gate, clock):
    citizen, id_number = await green_citizen(client, sms, "906")
    await client.get(CODE, headers=citizen.headers)
    snapshot = await app.ctx.services.accounts.citizen(citizen.id)
    await turn_red(client, lab, clock, id_number, "S-906")
    # A renewal that read the status while it was green, and stores its code after the change looked for codes:
    late = await app.ctx.services.health._issue(snapshot, "green", (1,), int(clock.timestamp()) + 180)
    [(outcome, holder)] = await app.ctx.services.health.verify_many([late.payload])
    assert isinstance(outcome, StatusChanged) and outcome.colour_now == "red" and holder == citizen.id
    assert refused_as_changed(await gate_checks(client, gate, late.payload), "red")


async def test_a_better_status_does_not_refuse_a_code_of_a_worse_colour(client, sms, gate, clock):
    citizen, _ = await green_citizen(client, sms, "907")
    await client.post("/api/v1/health-code/declarations", headers=citizen.headers, json={
        "symptoms": True, "confirmed_case": False, "travel_regions": [], "truthful": True})
    yellow = (await client.get(CODE, headers=citizen.headers)).json()
    assert yellow["color"] == "yellow"
    cdc = await make_department(clock, "示例市疾控中心", ["health_admin"])
    appeal = (await client.post("/api/v1/health-code/appeals", headers=citizen.headers,
                                json={"reason": "只是普通感冒，已就医排除"})).json()
    await client.post(f"/api/admin/v1/appeals/{appeal['id']}/decision", headers=cdc.headers(),
                      json={"decision": "approve", "note": "经核实为普通感冒"})
    assert (await client.get(CODE, headers=citizen.headers)).json()["color"] == "green"
    # A stricter code than the status asks nothing more of its holder than the status does: it stays as issued.
    checked = await gate_checks(client, gate, yellow["payload"])
    assert checked["valid"] is True and checked["color"] == "yellow"
    assert await AuditEntry.filter(subject_id=citizen.id, action="health_code_verified").count() == 1


async def test_codes_issued_before_this_release_are_checked_against_the_database(
        app, client, sms, lab, gate, macau, clock):
    """A code of the older cache form (8 values under hc:payload:) and a row with no colour or digest:
    the change still reaches it, through the database."""
    citizen, id_number = await green_citizen(client, sms, "908")
    card = await app.ctx.services.health.print_code(await app.ctx.services.accounts.citizen(citizen.id))
    digest = payload_digest(card.payload)
    cache = app.ctx.services.platform.cache
    old_entry = ujson.loads(await cache.get(payload_key(card.payload)))[:8]
    await cache.delete(payload_key(card.payload))
    await cache.set(f"hc:payload:{digest}", ujson.dumps(old_entry), ttl=3600)
    await IssuedHealthCode.filter(payload_digest=digest).update(colour=None, payload_digest=None)
    await turn_red(client, lab, clock, id_number, "S-908")
    assert refused_as_changed(await gate_checks(client, gate, card.payload), "red")
    [result] = await partner_checks(client, macau, card.payload)
    assert refused_as_changed(result, "red")


async def test_a_border_pass_whose_holder_is_not_on_record_is_not_vouched_for(app, client, sms, macau, clock):
    citizen, _ = await green_citizen(client, sms, "909")
    issued = (await client.post("/api/v1/border-passes", headers=citizen.headers,
                                json={"partner": "MO", "document_type": "resident_id"})).json()
    await IssuedHealthCode.filter(citizen_id=citizen.id).delete()  # a pass from before passes were recorded
    [result] = (await client.post(BORDER_PASS_CHECK, headers=macau.headers(),
                                  json={"passes": [issued["payload"]]})).json()["results"]
    assert (result["valid"], result["error"], result["color"]) == (False, "STATUS_UNKNOWN", None)


async def test_a_failure_after_the_red_status_is_stored_leaves_no_green_code_valid(
        app, client, sms, lab, gate, clock, monkeypatch):
    citizen, id_number = await green_citizen(client, sms, "910")
    green = (await client.get(CODE, headers=citizen.headers)).json()["payload"]
    card = await app.ctx.services.health.print_code(await app.ctx.services.accounts.citizen(citizen.id))

    async def cache_fails(citizen_id: str) -> None:
        raise RuntimeError("the cache went away after the status was stored")

    monkeypatch.setattr(app.ctx.services.health, "_void_shown_code", cache_fails)
    with pytest.raises(RuntimeError):
        await app.ctx.services.health.record_evidence(citizen.id, "test_result", clock.now(), {"result": "positive"},
                                             source="lab:示例")
    monkeypatch.undo()
    for payload in (green, card.payload):
        assert refused_as_changed(await gate_checks(client, gate, payload), "red")


async def test_a_code_shown_under_an_override_does_not_outlive_it(app, client, sms, lab, gate, clock):
    citizen, id_number = await green_citizen(client, sms, "911")
    await turn_red(client, lab, clock, id_number, "S-911")
    cdc = await make_department(clock, "示例市疾控中心", ["health_admin"])
    appeal = (await client.post("/api/v1/health-code/appeals", headers=citizen.headers,
                                json={"reason": "检测机构已更正结果"})).json()
    decided = await client.post(f"/api/admin/v1/appeals/{appeal['id']}/decision", headers=cdc.headers(),
                                json={"decision": "approve", "note": "待复检", "override_hours": 1})
    clock.advance(minutes=59, seconds=50)
    headers = (await refresh_tokens(client, citizen)).headers
    shown = (await client.get(CODE, headers=headers)).json()
    assert shown["color"] == "green" and shown["expires_at"] == decided.json()["override_until"]
    clock.advance(seconds=11)  # the override has ended; no job has run yet
    checked = await gate_checks(client, gate, shown["payload"])
    assert checked["valid"] is False and checked["color"] is None
