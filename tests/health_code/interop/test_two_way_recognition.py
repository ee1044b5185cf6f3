"""Two-way recognition end to end with a real second party: the stand-in Macau region runs as its
own process with its own keys, calls our partner API over loopback, and checks our codes offline
from our JWKS; we verify and convert its codes against the trust list an admin registered."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from app.audit import AuditEntry
from app.clock import rfc3339
from health_code.models import IssuedHealthCode
from tests.factories import make_department, sign_in, verify_real_name

MAPPING = {"绿码": "green", "黄码": "yellow", "红码": "red", "green": "green", "yellow": "yellow", "red": "red"}


@pytest.fixture
async def partner_admin(app, clock):
    return await make_department(clock, "省政务服务数据管理局（示例）", ["partner_admin"])


@pytest.fixture
async def macau(client, partner_region, partner_admin, clock):
    """An admin registers MO with the keys its own system publishes."""
    keys = (await partner_region.client.get("/keys")).json()
    signing = keys["signing_keys"][0]
    reply = await client.post("/api/admin/v1/partners", headers=partner_admin.headers(), json={
        "id": "MO", "name": "澳门特别行政区卫生局（示例）", "formats": ["GDHC1"], "status_mapping": MAPPING,
        "rate_limit_per_minute": 600, "daily_quota": 10000, "contact": {"name": "互认联络人（示例）"},
        "api_keys": [keys["api_key"]],
        "signing_keys": [{"jwk": signing, "not_before": rfc3339(clock.now() - timedelta(days=1)),
                          "not_after": rfc3339(clock.now() + timedelta(days=365))}],
    })
    assert reply.status_code == 201, reply.text
    # The holder key is made here and handed to Macao over a protected channel (here: its control API).
    holder_key = await client.post("/api/admin/v1/partners/MO/holder-keys", headers=partner_admin.headers())
    assert holder_key.status_code == 201, holder_key.text
    handed = await partner_region.client.put("/holder-key", json={"key": holder_key.json()["key"]})
    assert handed.status_code == 200, handed.text
    return partner_region


@pytest.fixture
async def zhang_san(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三")
    return citizen


ZHANG_SAN_AS_MACAU_KNOWS_HIM = {"name": "張三", "birth_date": "1990-03-07"}  # traditional characters


async def macau_code(partner, **fields) -> dict:
    """A code of the stand-in, bound to its holder with its own reading of the format (README)."""
    body = {"name_masked": "*三", "colour": "green", "holder": ZHANG_SAN_AS_MACAU_KNOWS_HIM, **fields}
    reply = await partner.client.post("/codes", json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def convert(client, citizen, payload: str):
    return await client.post("/api/v1/health-code/conversions", headers=citizen.headers,
                             json={"code": payload, "consent": True})


async def test_macau_verifies_our_code_through_the_api_and_offline_and_the_citizen_sees_it(client, macau, zhang_san):
    ours = (await client.get("/api/v1/health-code", headers=zhang_san.headers)).json()

    called = (await macau.client.post("/call/verifications", json={"codes": [ours["payload"], "GDHC1:XYZ"]})).json()
    assert called["status"] == 200, called
    valid, broken = called["body"]["results"]
    assert valid == {"valid": True, "error": None, "color": "green", "partner_color": "绿码", "issuer": "CN-GD",
                     "expires_at": ours["expires_at"], "subject_masked": "*三", "current_color": None,
                     "current_partner_color": None}
    assert broken["valid"] is False and broken["error"]

    offline = (await macau.client.post("/verify-ours", json={"payload": ours["payload"]})).json()
    assert offline["valid"] is True and offline["colour"] == "green" and offline["issuer"] == "CN-GD"

    log = (await client.get("/api/v1/me/access-log", headers=zhang_san.headers)).json()["items"]
    assert [(e["actor"], e["actor_type"], e["action"]) for e in log] == \
        [("澳门特别行政区卫生局（示例）", "partner", "health_code_verified")]
    assert await AuditEntry.filter(actor="MO", action="partner_verification").count() == 1  # the broken code


async def test_a_macau_code_is_converted_and_macau_accepts_the_converted_code(client, macau, zhang_san, clock):
    theirs = await macau_code(macau, colour="yellow", ttl=120)
    converted = await convert(client, zhang_san, theirs["payload"])
    assert converted.status_code == 201, converted.text
    body = converted.json()
    assert body["color"] == "yellow" and body["source"] == {
        "partner": "MO", "partner_name": "澳门特别行政区卫生局（示例）", "format": "GDHC1", "state": "yellow",
        "mapped_color": "yellow"}
    assert body["expires_at"] <= rfc3339(clock.now() + timedelta(seconds=120))  # never outlives the source
    row = await IssuedHealthCode.get(citizen_id=zhang_san.id, partner_id="MO")
    assert row.source_code_hash == hashlib.sha256(theirs["code_id"].encode()).hexdigest()[:16]

    back = (await macau.client.post("/verify-ours", json={"payload": body["payload"]})).json()
    assert back["valid"] is True and back["colour"] == "yellow"


async def test_a_macau_code_for_someone_else_or_not_bound_is_not_converted(client, macau, zhang_san):
    """Bound by the stand-in from the README alone: another holder with the same masked name "*三" is refused,
    and so is a code without a holder tag, which binds no one."""
    someone_else = await macau_code(macau, holder={"name": "王三", "birth_date": "1990-03-07"})
    refused = await convert(client, zhang_san, someone_else["payload"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "SUBJECT_MISMATCH"
    unbound = await macau_code(macau, holder=None)
    refused = await convert(client, zhang_san, unbound["payload"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "HOLDER_NOT_BOUND"
    assert "姓名和出生日期" in refused.json()["error"]["message"]
    assert not await IssuedHealthCode.exists(citizen_id=zhang_san.id, partner_id="MO")


async def test_rotation_revocation_and_partner_revoked_codes_over_the_wire(client, macau, zhang_san, partner_admin):
    old = await macau_code(macau)
    new_key = (await macau.client.post("/rotate")).json()
    fresh = await macau_code(macau)
    refused = await convert(client, zhang_san, fresh["payload"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "UNKNOWN_KID"  # not registered yet

    added = await client.post("/api/admin/v1/partners/MO/signing-keys", headers=partner_admin.headers(),
                              json={"jwk": new_key})
    assert added.status_code == 201, added.text
    assert (await convert(client, zhang_san, fresh["payload"])).status_code == 201
    assert (await convert(client, zhang_san, old["payload"])).status_code == 201  # overlap: the old key still works

    revoked = await client.post(f"/api/admin/v1/partners/MO/signing-keys/{old['kid']}/revocation",
                                headers=partner_admin.headers())
    assert revoked.status_code == 200
    after = await convert(client, zhang_san, old["payload"])
    assert after.status_code == 422 and after.json()["error"]["code"] == "KEY_REVOKED"

    lost = await macau_code(macau)
    digest = hashlib.sha256(lost["code_id"].encode()).hexdigest()
    published = (await macau.client.post("/call/revocations", json={"hashes": [digest]})).json()
    assert published == {"status": 200, "body": {"accepted": 1}}
    gone = await convert(client, zhang_san, lost["payload"])
    assert gone.status_code == 422 and gone.json()["error"]["code"] == "REVOKED"


async def test_a_border_pass_for_macau_is_checked_by_macau_offline(client, macau, zhang_san):
    issued = await client.post("/api/v1/border-passes", headers=zhang_san.headers, json={"partner": "MO"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["payload"].startswith("GDBP1:") and body["subject_masked"] == "*三"
    checked = (await macau.client.post("/verify-ours", json={"payload": body["payload"]})).json()
    assert checked["valid"] is True and checked["format"] == "GDBP1"
    assert checked["claims"]["4"] == "*三" and checked["claims"]["6"] == body["document_last4"]


async def test_a_suspended_partner_can_no_longer_call_us(client, macau, zhang_san, partner_admin):
    ours = (await client.get("/api/v1/health-code", headers=zhang_san.headers)).json()
    changed = await client.patch("/api/admin/v1/partners/MO", headers=partner_admin.headers(), json={"status": "suspended"})
    assert changed.status_code == 200 and changed.json()["status"] == "suspended"
    called = (await macau.client.post("/call/verifications", json={"codes": [ours["payload"]]})).json()
    assert called["status"] == 403 and called["body"]["error"]["code"] == "CLIENT_SUSPENDED"
    theirs = await macau_code(macau)
    refused = await convert(client, zhang_san, theirs["payload"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "PARTNER_SUSPENDED"
