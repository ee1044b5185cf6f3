"""A citizen opens the health code (健康码) in the app: they must have verified their real name,
they see a signed, short-lived QR with its colour in words and the reasons, and the colour
follows what they declare, what the lab reports and what time does."""

from __future__ import annotations

from io import BytesIO

import PIL.Image
import zxingcpp

from health_code import codec
from health_code.models import HealthEvidence, StatusEvaluation
from tests.factories import refresh_tokens, sign_in, valid_id_number, verify_real_name

CODE = "/api/v1/health-code"
HISTORY = "/api/v1/health-code/history"
DECLARE = "/api/v1/health-code/declarations"
KEYS = {"payload", "color", "color_text", "reasons", "issued_at", "expires_at", "seconds_left",
        "tts_text", "status_label"}  # added for elderly mode: spoken words, label and icon


async def verified_citizen(client, sms, name: str = "李小龙", sequence: str = "123"):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name=name, id_number=valid_id_number(sequence=sequence))
    return citizen


async def show_code(client, citizen, **headers) -> dict:
    reply = await client.get(CODE, headers={**citizen.headers, **headers})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def come_back(client, citizen, clock, **kwargs) -> None:
    """Time passes (days, hours...); the app then swaps its refresh token for a fresh access token."""
    clock.advance(**kwargs)
    await refresh_tokens(client, citizen)


async def jwks(client) -> dict:
    reply = await client.get("/.well-known/jwks.json")
    assert reply.status_code == 200
    return reply.json()


async def test_a_citizen_without_real_name_verification_cannot_open_the_code(client, sms):
    citizen = await sign_in(client, sms)
    reply = await client.get(CODE, headers=citizen.headers)
    assert reply.status_code == 403
    error = reply.json()["error"]
    assert error["code"] == "IDENTITY_LEVEL_REQUIRED"
    assert error["required_level"] == 2 and error["current_level"] == 1
    for path in (f"{CODE}?format=png", HISTORY):
        assert (await client.get(path, headers=citizen.headers)).status_code == 403
    declared = await client.post(DECLARE, headers=citizen.headers, json={"symptoms": True, "truthful": True})
    assert declared.status_code == 403
    assert await HealthEvidence.filter(citizen_id=citizen.id).count() == 0


async def test_without_a_token_the_code_is_not_shown(client):
    assert (await client.get(CODE)).status_code == 401


async def test_a_verified_citizen_sees_a_green_code_in_words(client, sms, clock):
    citizen = await verified_citizen(client, sms)
    body = await show_code(client, citizen)
    assert set(body) == KEYS
    assert body["color"] == "green"
    assert body["color_text"] == "绿码"
    assert body["reasons"] == [{"code": 1, "text": "未发现风险"}]
    assert 0 < body["seconds_left"] <= 180
    assert body["payload"].startswith("GDHC1:")
    assert body["issued_at"].endswith("Z") and body["expires_at"].endswith("Z")

    verified = codec.verify_offline(body["payload"], await jwks(client), now=clock.now())
    assert verified.colour == "green" and verified.reasons == (1,)
    assert verified.subject_masked == "*龙"  # one star, whatever the length of the name
    assert verified.issuer == "CN-GD"
    assert verified.expires_at - verified.issued_at <= 180


async def test_the_colour_and_reasons_are_in_the_citizens_language(client, sms):
    citizen = await verified_citizen(client, sms)
    english = await show_code(client, citizen, **{"Accept-Language": "en"})
    assert english["color_text"] == "Green"
    assert english["reasons"] == [{"code": 1, "text": "No risk found"}]
    traditional = await show_code(client, citizen, **{"Accept-Language": "zh-Hant"})
    assert traditional["color_text"] == "綠碼"
    assert traditional["reasons"] == [{"code": 1, "text": "未發現風險"}]


async def test_the_same_code_is_shown_until_it_nears_expiry_then_a_new_one(client, sms, clock):
    citizen = await verified_citizen(client, sms)
    first = await show_code(client, citizen)
    clock.advance(10)
    again = await show_code(client, citizen)
    assert again["payload"] == first["payload"]
    assert again["expires_at"] == first["expires_at"]
    assert again["seconds_left"] < first["seconds_left"]

    clock.advance(141)  # 151 s after issue: fewer than 30 s left
    fresh = await show_code(client, citizen)
    assert fresh["payload"] != first["payload"]
    assert fresh["expires_at"] > first["expires_at"]
    assert fresh["seconds_left"] > 150
    assert codec.verify_offline(fresh["payload"], await jwks(client), now=clock.now()).colour == "green"
    # The old code has now run out for a verifier.
    clock.advance(30)
    try:
        codec.verify_offline(first["payload"], await jwks(client), now=clock.now())
    except codec.CodeError as exc:
        assert exc.code == "EXPIRED"
    else:
        raise AssertionError("a code past its expiry still verified")


async def test_the_png_image_scans_back_to_the_payload(client, sms):
    citizen = await verified_citizen(client, sms)
    body = await show_code(client, citizen)
    reply = await client.get(CODE, params={"format": "png"}, headers=citizen.headers)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/png"
    assert "no-store" in reply.headers.get("cache-control", "")
    image = PIL.Image.open(BytesIO(reply.content))
    assert image.format == "PNG"
    scanned = zxingcpp.read_barcode(image)
    assert scanned is not None, "no QR code found in the PNG"
    assert scanned.text == body["payload"]


async def test_the_svg_image_shows_the_colour_in_words(client, sms):
    citizen = await verified_citizen(client, sms)
    reply = await client.get(CODE, params={"format": "svg"}, headers=citizen.headers)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("image/svg+xml")
    svg = reply.content.decode("utf-8")
    assert "<svg" in svg
    assert "绿码" in svg
    english = await client.get(CODE, params={"format": "svg"}, headers={**citizen.headers, "Accept-Language": "en"})
    assert "Green" in english.content.decode("utf-8") and "绿码" not in english.content.decode("utf-8")


async def test_an_unknown_image_format_is_refused(client, sms):
    citizen = await verified_citizen(client, sms)
    reply = await client.get(CODE, params={"format": "gif"}, headers=citizen.headers)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert [f["field"] for f in error["fields"]] == ["format"]


async def test_declaring_symptoms_turns_the_code_yellow_at_once(client, sms, clock):
    citizen = await verified_citizen(client, sms)
    green = await show_code(client, citizen)
    reply = await client.post(DECLARE, headers=citizen.headers, json={"symptoms": True, "truthful": True})
    assert reply.status_code == 200, reply.text
    declared = reply.json()
    assert declared["color"] == "yellow"
    assert declared["color_text"] == "黄码"
    assert [r["code"] for r in declared["reasons"]] == [13]

    yellow = await show_code(client, citizen)  # same second: the old green code must not be reused
    assert yellow["color"] == "yellow"
    assert [r["code"] for r in yellow["reasons"]] == [13]
    assert yellow["payload"] != green["payload"]
    assert codec.verify_offline(yellow["payload"], await jwks(client), now=clock.now()).colour == "yellow"


async def test_a_declaration_not_confirmed_as_true_is_refused_and_not_stored(client, sms):
    citizen = await verified_citizen(client, sms)
    reply = await client.post(DECLARE, headers=citizen.headers, json={"symptoms": True, "truthful": False})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"
    assert await HealthEvidence.filter(citizen_id=citizen.id).count() == 0
    assert (await show_code(client, citizen))["color"] == "green"


async def test_a_positive_lab_result_turns_red_and_time_turns_it_green_again(client, sms, clock, app):
    citizen = await verified_citizen(client, sms)
    assert (await show_code(client, citizen))["color"] == "green"

    status = await app.ctx.services.health.record_evidence(citizen.id, "test_result", clock.now(),
                                                  {"result": "positive", "lab": "lab_1"}, source="lab:lab_1")
    assert status.colour == "red"
    red = await show_code(client, citizen)
    assert red["color"] == "red" and red["color_text"] == "红码"
    assert [r["code"] for r in red["reasons"]] == [21]
    assert codec.verify_offline(red["payload"], await jwks(client), now=clock.now()).colour == "red"

    await come_back(client, citizen, clock, days=13)
    assert (await show_code(client, citizen))["color"] == "red"  # still inside the 14 days

    await come_back(client, citizen, clock, days=2)  # 15 days after the test
    later = await show_code(client, citizen)
    assert later["color"] == "green"
    assert [r["code"] for r in later["reasons"]] == [1]
    assert codec.verify_offline(later["payload"], await jwks(client), now=clock.now()).colour == "green"

    reply = await client.get(HISTORY, headers=citizen.headers)
    assert reply.status_code == 200
    items = reply.json()["items"]
    assert [i["color"] for i in items] == ["green", "red", "green"]  # newest first
    assert [[r["code"] for r in i["reasons"]] for i in items] == [[1], [21], [1]]
    assert all(i["rule_version"] == "2026.1" for i in items)
    assert items[0]["at"] > items[1]["at"] >= items[2]["at"]  # RFC 3339 to the second
    assert items[1]["color_text"] == "红码"


async def test_history_lists_only_changes(client, sms, clock, app):
    citizen = await verified_citizen(client, sms)
    for _ in range(3):
        await show_code(client, citizen)
        clock.advance(200)
    await app.ctx.services.health.record_evidence(citizen.id, "vaccination", clock.now(), {"complete": True}, source="cdc")
    await app.ctx.services.health.record_evidence(citizen.id, "vaccination", clock.now(), {"complete": True}, source="cdc")
    items = (await client.get(HISTORY, headers={**citizen.headers, "Accept-Language": "en"})).json()["items"]
    assert [[r["code"] for r in i["reasons"]] for i in items] == [[3], [1]]
    assert items[0]["reasons"][0]["text"] == "Vaccination completed"


async def test_one_citizens_evidence_does_not_touch_anothers_code(client, sms, clock, app):
    alice = await verified_citizen(client, sms, name="张三", sequence="123")
    bob = await verified_citizen(client, sms, name="王五", sequence="456")
    bob_before = await show_code(client, bob)
    await app.ctx.services.health.record_evidence(alice.id, "test_result", clock.now(), {"result": "positive"}, source="lab:lab_1")
    await client.post(DECLARE, headers=alice.headers, json={"symptoms": True, "truthful": True})
    assert (await show_code(client, alice))["color"] == "red"
    bob_after = await show_code(client, bob)
    assert bob_after["color"] == "green"
    assert bob_after["payload"] == bob_before["payload"]
    assert codec.verify_offline(bob_after["payload"], await jwks(client), now=clock.now()).subject_masked == "*五"
    bob_history = (await client.get(HISTORY, headers=bob.headers)).json()["items"]
    assert [i["color"] for i in bob_history] == ["green"]


async def test_every_evaluation_records_the_rule_version(client, sms, clock, app):
    citizen = await verified_citizen(client, sms)
    await show_code(client, citizen)
    await client.post(DECLARE, headers=citizen.headers, json={"symptoms": True, "truthful": True})
    await app.ctx.services.health.record_evidence(citizen.id, "exposure", clock.now(), {"venue": "v_1"}, source="venue:v_1")
    await come_back(client, citizen, clock, days=8)
    await show_code(client, citizen)
    rows = await StatusEvaluation.filter(citizen_id=citizen.id).order_by("id")
    assert len(rows) >= 4
    assert {r.rule_version for r in rows} == {"2026.1"}
    assert [r.trigger for r in rows][:3] == ["first_use", "evidence:declaration", "evidence:exposure"]
    assert rows[-1].colour == "green"
