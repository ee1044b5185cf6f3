"""Departments (a lab, a venue verifier) call the admin API with JWTs they sign themselves."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.audit import AuditEntry
from app.clock import CHINA_TZ
from app.security.clients import (CHANGED, ApiClient, ApiClientKey, client_cache_key,
                                  registered_client, revoke_client_key, set_client_active, set_client_department)
from tests.factories import ADMIN_AUD, Department, make_department, sign_in, valid_id_number, verify_real_name
from tests.workers import eventually

@pytest.fixture
async def lab(app, clock) -> Department:
    return await make_department(clock, "示例市第一人民医院检验科", ["lab"])


@pytest.fixture
async def verifier(app, clock) -> Department:
    return await make_department(clock, "示例商场入口查验", ["verifier"])


def result_body(id_number: str, result: str = "positive", clock=None) -> dict:
    return {"id_number": id_number, "result": result, "sampled_at": clock.now().isoformat(), "sample_id": "S-0001"}


async def post_result(client, lab: Department, clock):
    """A result for nobody registered: 404 once the lab is let in."""
    return await client.post("/api/admin/v1/test-results", headers=lab.headers(),
                             json=result_body(valid_id_number(sequence="998"), clock=clock))


async def test_a_lab_posts_a_positive_result_and_the_citizen_turns_red(client, sms, lab, clock):
    citizen = await sign_in(client, sms)
    id_number = valid_id_number(sequence="271")
    await verify_real_name(client, citizen, id_number=id_number)
    assert (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["color"] == "green"

    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json=result_body(id_number, clock=clock))
    assert posted.status_code == 201, posted.text
    assert posted.json() == {"accepted": True, "color": "red"}

    code = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()
    assert code["color"] == "red" and code["reasons"][0]["code"] == 21
    assert await AuditEntry.filter(action="test_result_posted", actor=lab.id, subject_id=citizen.id).exists()


async def test_unknown_id_number_is_404_and_invalid_one_is_422(client, lab, clock):
    unknown = await client.post("/api/admin/v1/test-results", headers=lab.headers(),
                                json=result_body(valid_id_number(sequence="999"), clock=clock))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "CITIZEN_NOT_FOUND"
    invalid = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json=result_body("123", clock=clock))
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "INVALID_ID_NUMBER"
    bad_result = await client.post("/api/admin/v1/test-results", headers=lab.headers(),
                                   json={**result_body(valid_id_number(), clock=clock), "result": "maybe"})
    assert bad_result.status_code == 422


async def test_a_baby_born_today_in_china_is_a_valid_number_while_it_is_still_yesterday_in_utc(client, lab, clock):
    """01:30 in Guangzhou is 17:30 of the day before in UTC: a newborn's number dated today is not from the future."""
    clock.set((clock.now() + timedelta(days=1)).replace(hour=17, minute=30))
    born_today = clock.now().astimezone(CHINA_TZ).strftime("%Y%m%d")
    assert born_today != clock.now().strftime("%Y%m%d")
    reply = await client.post("/api/admin/v1/test-results", headers=lab.headers(),
                              json=result_body(valid_id_number(birth=born_today, sequence="012"), clock=clock))
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "CITIZEN_NOT_FOUND", reply.text


async def test_a_client_without_the_lab_role_is_refused(client, verifier, clock):
    reply = await client.post("/api/admin/v1/test-results", headers=verifier.headers(),
                              json=result_body(valid_id_number(), clock=clock))
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "CLIENT_ROLE_REQUIRED"


@pytest.mark.parametrize("overrides, code, says", [
    ({"iat": int(time.time()) - 120}, "CLIENT_TOKEN_IAT_OUT_OF_RANGE", "iat"),
    ({"aud": "https://elsewhere.example/admin"}, "CLIENT_TOKEN_AUDIENCE_INVALID", ADMIN_AUD),
    ({"kid": "no-such-key"}, "CLIENT_KEY_UNKNOWN", "no-such-key"),
    ({"iss": "cl_unknown"}, "CLIENT_UNKNOWN", "cl_unknown"),
    ({"jti": None}, "CLIENT_TOKEN_MALFORMED", "jti"),
])
async def test_client_tokens_are_checked_and_the_error_says_what_to_fix(client, lab, clock, overrides, code, says):
    if overrides.get("iat"):
        overrides["iat"] = int(clock.timestamp()) - 120
    reply = await client.post("/api/admin/v1/test-results", headers=lab.headers(**overrides),
                              json=result_body(valid_id_number(), clock=clock))
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["code"] == code
    assert says in error["message"]


@pytest.mark.parametrize("iat", [float("nan"), float("inf"), True])
async def test_an_iat_that_is_no_time_is_refused_as_out_of_range(client, lab, clock, iat):
    """NaN (which JSON parsers take) compares false with any window, and true is 1 to Python: neither passes."""
    token = lab.token(iat=iat)  # PyJWT writes NaN and Infinity as such: signed by the lab's own key
    reply = await client.post("/api/admin/v1/test-results", headers={"Authorization": f"Bearer {token}"},
                              json=result_body(valid_id_number(), clock=clock))
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "CLIENT_TOKEN_IAT_OUT_OF_RANGE"


async def test_a_suspended_client_is_told_so_once_its_token_checks_out(client, lab, platform, clock):
    assert (await post_result(client, lab, clock)).status_code == 404  # it calls (its client now kept in the cache)
    assert await set_client_active(platform.cache, lab.id, False)
    reply = await post_result(client, lab, clock)
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "CLIENT_SUSPENDED"
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode({"iss": lab.id, "iat": int(clock.timestamp()), "jti": "x2", "aud": ADMIN_AUD}, stranger,
                        algorithm="ES256", headers={"kid": "1"})
    unsigned = await client.post("/api/admin/v1/test-results", headers={"Authorization": f"Bearer {forged}"},
                                 json=result_body(valid_id_number(), clock=clock))
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "CLIENT_TOKEN_SIGNATURE_INVALID"

    assert await set_client_active(platform.cache, lab.id, True)
    assert (await post_result(client, lab, clock)).status_code == 404
    assert not await set_client_active(platform.cache, "cl_nobody", False)


async def test_a_change_during_a_read_of_the_client_is_not_undone_by_that_read(client, lab, platform, clock, monkeypatch):
    """The read began before the suspension: that one request may pass, the next is refused on the new state."""
    read_client = ApiClient.get_or_none

    async def suspended_meanwhile(*args, **kwargs):
        row = await read_client(*args, **kwargs)
        await set_client_active(platform.cache, lab.id, False)
        return row

    monkeypatch.setattr(ApiClient, "get_or_none", suspended_meanwhile)
    assert (await post_result(client, lab, clock)).status_code == 404
    monkeypatch.setattr(ApiClient, "get_or_none", read_client)
    reply = await post_result(client, lab, clock)
    assert reply.status_code == 403 and reply.json()["error"]["code"] == "CLIENT_SUSPENDED"


def read_by_the_previous_version(entry: str) -> tuple:
    """How a worker of the version before departments reads `client:<id>`: exactly six fields, else a 500."""
    client_id, name, audience, roles, active, keys = json.loads(entry)
    return client_id, name, audience, roles, active, keys


async def test_workers_of_the_previous_version_keep_their_own_cached_clients_during_a_rolling_deploy(client, platform,
                                                                                                   clock):
    """The previous version keeps six fields under `client:<id>`: this one keeps its seven under another key, so
    neither reads an entry it cannot parse, and a change marks both, so either reads the database again."""
    clerk = await make_department(clock, "广州市民政局办件窗口（示例）", ["clerk"], department_id="gz-civil-affairs-sample")
    assert (await client.get("/api/admin/v1/applications", headers=clerk.headers())).status_code == 200
    current = await registered_client(platform.cache, clerk.id)
    assert current is not None and current.department_id == "gz-civil-affairs-sample"
    assert await platform.cache.get(client_cache_key(clerk.id)) == current.to_json()
    older = json.dumps(json.loads(current.to_json())[:6])
    await platform.cache.set(f"client:{clerk.id}", older, ttl=60)  # as a worker of the previous version keeps it
    assert (await client.get("/api/admin/v1/applications", headers=clerk.headers())).status_code == 200
    assert read_by_the_previous_version(await platform.cache.get(f"client:{clerk.id}"))[0] == clerk.id

    assert await set_client_department(platform.cache, clerk.id, "gd-hrss")
    assert await platform.cache.get(f"client:{clerk.id}") == CHANGED  # an old worker reads the database again
    assert await platform.cache.get(client_cache_key(clerk.id)) == CHANGED
    assert (await client.get("/api/admin/v1/applications", headers=clerk.headers())).status_code == 200
    assert (await registered_client(platform.cache, clerk.id)).department_id == "gd-hrss"
    assert await platform.cache.get(f"client:{clerk.id}") == CHANGED  # never the seven-field form


async def test_a_partner_region_is_suspended_through_its_registry_entry_only(app, platform, clock):
    partner = await make_department(clock, "澳门特别行政区（示例）", ["partner"], audience="partner")
    with pytest.raises(ValueError, match="partners"):
        await set_client_active(platform.cache, partner.id, False)
    assert (await ApiClient.get(id=partner.id)).active


async def test_a_client_token_cannot_be_replayed(client, lab, clock):
    headers = lab.headers()
    body = result_body(valid_id_number(), clock=clock)
    first = await client.post("/api/admin/v1/test-results", headers=headers, json=body)
    assert first.status_code == 404  # accepted as authentication, the citizen simply does not exist
    replay = await client.post("/api/admin/v1/test-results", headers=headers, json=body)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "CLIENT_TOKEN_REPLAYED"
    assert "jti" in replay.json()["error"]["message"]


async def test_a_token_signed_by_another_key_is_refused(client, lab, clock):
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode({"iss": lab.id, "iat": int(clock.timestamp()), "jti": "x1", "aud": ADMIN_AUD}, stranger,
                        algorithm="ES256", headers={"kid": "1"})
    reply = await client.post("/api/admin/v1/test-results", headers={"Authorization": f"Bearer {forged}"},
                              json=result_body(valid_id_number(), clock=clock))
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "CLIENT_TOKEN_SIGNATURE_INVALID"


async def test_a_key_stops_working_at_its_expiry(client, app, clock):
    lab = await make_department(clock, "示例检验所", ["lab"], expires_at=clock.now() + timedelta(hours=1))
    assert (await post_result(client, lab, clock)).status_code == 404
    clock.advance(hours=1)
    expired = await post_result(client, lab, clock)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "CLIENT_KEY_UNKNOWN"


async def test_a_revoked_key_stops_working_at_once(client, lab, platform, clock):
    assert (await post_result(client, lab, clock)).status_code == 404
    assert await revoke_client_key(clock, platform.cache, lab.id, "1")
    revoked = await post_result(client, lab, clock)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "CLIENT_KEY_UNKNOWN"
    assert await ApiClientKey.filter(client_id=lab.id, kid="1", revoked_at__not_isnull=True).exists()
    assert not await revoke_client_key(clock, platform.cache, lab.id, "1")  # not a live key any more


async def test_a_citizen_token_does_not_open_the_admin_api(client, sms, clock):
    citizen = await sign_in(client, sms)
    reply = await client.post("/api/admin/v1/test-results", headers=citizen.headers, json=result_body(valid_id_number(), clock=clock))
    assert reply.status_code == 401


async def test_a_verifier_checks_a_code_and_the_citizen_sees_it_in_the_access_log(client, sms, verifier):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="李小龙")
    payload = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]

    checked = await client.post("/api/admin/v1/health-code/verifications", headers=verifier.headers(),
                                json={"payload": payload, "purpose": "商场入口查验"})
    assert checked.status_code == 200
    body = checked.json()
    assert body["valid"] is True and body["color"] == "green" and body["issuer"] == "CN-GD"
    assert body["subject_masked"] == "*龙" and body["error"] is None

    log = (await client.get("/api/v1/me/access-log", headers=citizen.headers)).json()["items"]
    assert len(log) == 1
    assert log[0]["actor"] == "示例商场入口查验" and log[0]["action"] == "health_code_verified"
    assert log[0]["purpose"] == "商场入口查验" and log[0]["actor_type"] == "department"


async def test_a_tampered_or_expired_code_is_reported_invalid_with_a_reason(client, sms, verifier, clock):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    payload = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]
    tampered = payload[:-6] + ("AAAAAA" if not payload.endswith("AAAAAA") else "BBBBBB")
    reply = (await client.post("/api/admin/v1/health-code/verifications", headers=verifier.headers(),
                               json={"payload": tampered})).json()
    assert reply["valid"] is False and reply["error"] in {"BAD_SIGNATURE", "BAD_COMPRESSION", "BAD_ENCODING", "BAD_COSE"}
    clock.advance(181)
    expired = (await client.post("/api/admin/v1/health-code/verifications", headers=verifier.headers(),
                                 json={"payload": payload})).json()
    assert expired == {"valid": False, "error": "EXPIRED", "color": None, "issuer": None, "expires_at": None,
                       "subject_masked": None, "current_color": None}


async def test_a_vaccination_site_posts_a_record_that_shows_as_a_reason(client, sms, clock):
    site = await make_department(clock, "示例社区卫生服务中心接种点", ["vaccinator"])
    citizen = await sign_in(client, sms)
    id_number = valid_id_number(sequence="281")
    await verify_real_name(client, citizen, id_number=id_number)
    posted = await client.post("/api/admin/v1/vaccinations", headers=site.headers(), json={
        "id_number": id_number, "vaccine": "新冠病毒灭活疫苗（Vero细胞）", "dose": 2, "complete": True,
        "administered_at": clock.now().isoformat()})
    assert posted.status_code == 201 and posted.json()["color"] == "green"
    reasons = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["reasons"]
    assert [r["code"] for r in reasons] == [3]
    assert await AuditEntry.filter(action="vaccination_posted", actor=site.id, subject_id=citizen.id).exists()
    future = await client.post("/api/admin/v1/vaccinations", headers=site.headers(), json={
        "id_number": id_number, "vaccine": "某疫苗", "dose": 3, "complete": True,
        "administered_at": (clock.now() + timedelta(hours=2)).isoformat()})
    assert future.status_code == 422
    lab_only = await make_department(clock, "示例检验所", ["lab"])
    refused = await client.post("/api/admin/v1/vaccinations", headers=lab_only.headers(), json={
        "id_number": id_number, "vaccine": "某疫苗", "dose": 1, "complete": False, "administered_at": clock.now().isoformat()})
    assert refused.status_code == 403


async def test_a_verification_reaches_the_access_log_even_after_the_cache_was_emptied(client, sms, verifier, platform):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen)
    payload = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]
    await platform.cache.clear()  # a Redis restart: who holds which code is still in the database

    checked = await client.post("/api/admin/v1/health-code/verifications", headers=verifier.headers(),
                                json={"payload": payload})
    assert checked.json()["valid"] is True
    assert await AuditEntry.filter(subject_id=citizen.id, category="access", action="health_code_verified").count() == 1


@pytest.mark.skipif(not os.environ.get("APP_REDIS_URL"), reason="workers share the client cache through Redis")
async def test_a_suspension_on_one_worker_counts_at_once_on_another_that_mirrors_the_client(app, lab, workers):
    one, other = workers(), workers()

    async def mirrored() -> bool:
        assert await active(one, lab.id)
        return one.near.get(client_cache_key(lab.id)) is not None

    await eventually(mirrored, True, within=2.0)  # read until the first worker mirrors the client

    await set_client_active(other, lab.id, False)

    # The invalidation crosses pub/sub in a moment: the first worker no longer lets the client in.
    await eventually(lambda: active(one, lab.id), False)


async def active(cache, client_id: str) -> bool:
    return (await registered_client(cache, client_id)).active
