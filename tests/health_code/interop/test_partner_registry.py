"""The partner registry (互认伙伴登记): the port office registers Macao, its vocabulary and keys, and
everyone can fetch the signed trust list and the format description to verify codes offline."""

from __future__ import annotations

import os
from datetime import datetime

import jwt
import pytest

from app.audit import AuditEntry
from health_code.interop.models import Partner
from health_code.interop.trust import VERSION_KEY, PartnerTrustList
from tests.factories import make_department, sign_in, verify_real_name
from tests.health_code.interop.partners_factory import (
    CHINESE_WORDS,
    CONVERSIONS,
    PARTNERS,
    VERIFICATIONS,
    CodeSigningKey,
    after,
    make_partner,
    registration_body,
)
from tests.workers import eventually


async def fetch_trust_list(client) -> tuple[dict, dict]:
    """The signed trust list, checked as an outside verifier would: with our JWKS only."""
    reply = await client.get("/.well-known/trust-list.jws")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/jose")
    token = reply.text
    header = jwt.get_unverified_header(token)
    jwks = (await client.get("/.well-known/jwks.json")).json()
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, jwt.PyJWK(jwk, algorithm="ES256").key, algorithms=["ES256"])
    return header, claims


async def test_the_port_office_registers_macao_with_its_keys(client, admin, clock):
    early, late = CodeSigningKey(), CodeSigningKey()
    not_after = after(clock, days=30).replace(microsecond=0)
    body = registration_body("MO", status_mapping=CHINESE_WORDS, rate_limit_per_minute=50, daily_quota=1000,
                             signing_keys=[early.spec(), late.spec(not_before=after(clock, days=1), not_after=not_after)])

    reply = await client.post(PARTNERS, headers=admin.headers(), json=body)

    assert reply.status_code == 201, reply.text
    partner = reply.json()
    assert partner["id"] == "MO" and partner["status"] == "active"
    assert partner["status_mapping"] == CHINESE_WORDS
    assert (partner["rate_limit_per_minute"], partner["daily_quota"]) == (50, 1000)
    listed = {k["kid"]: k for k in partner["signing_keys"]}
    assert set(listed) == {early.kid, late.kid}
    assert listed[early.kid]["not_after"] is None and listed[early.kid]["revoked_at"] is None
    assert datetime.fromisoformat(listed[late.kid]["not_after"].replace("Z", "+00:00")) == not_after

    shown = await client.get(f"{PARTNERS}/MO", headers=admin.headers())
    assert shown.status_code == 200 and {k["kid"] for k in shown.json()["signing_keys"]} == {early.kid, late.kid}
    registered = await AuditEntry.get(action="partner_registered")
    assert registered.actor == admin.id and registered.actor_type == "admin"
    assert registered.attributes["partner"] == "MO"
    assert sorted(registered.attributes["signing_keys"]) == sorted([early.kid, late.kid])
    assert registered.attributes["api_keys"] == ["mo-api-1"]


async def test_only_a_partner_admin_may_register_partners(client, clock):
    lab = await make_department(clock, "示例检验所", ["lab"])

    reply = await client.post(PARTNERS, headers=lab.headers(), json=registration_body())

    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "CLIENT_ROLE_REQUIRED"
    assert (await client.get(f"{PARTNERS}/MO", headers=lab.headers())).status_code == 403


@pytest.mark.parametrize("change", [
    pytest.param({"id": "macau"}, id="id-not-iso-3166"),
    pytest.param({"status_mapping": {"绿码": "green", "紫码": "purple"}}, id="mapping-to-no-colour"),
    pytest.param({"status_mapping": {}}, id="empty-mapping"),
    pytest.param({"formats": []}, id="no-format"),
    pytest.param({"rate_limit_per_minute": 1_000_001}, id="limit-beyond-a-million-a-minute"),
])
async def test_a_registration_that_cannot_work_is_refused(client, admin, change):
    reply = await client.post(PARTNERS, headers=admin.headers(), json=registration_body(**change))

    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "VALIDATION_FAILED"
    assert (await client.get(f"{PARTNERS}/MO", headers=admin.headers())).status_code == 404


async def test_a_partner_with_a_format_we_do_not_know_is_told_so(client, admin):
    reply = await client.post(PARTNERS, headers=admin.headers(), json=registration_body(formats=["GDHC1", "XYZ1"]))

    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "UNSUPPORTED_FORMAT"
    assert error["unsupported"] == ["XYZ1"] and "GDHC1" in error["supported"]
    assert (await client.get(f"{PARTNERS}/MO", headers=admin.headers())).status_code == 404


async def test_a_private_key_is_refused_wherever_it_is_sent(client, admin):
    signing = CodeSigningKey()
    private_signing = {"jwk": {**signing.jwk(), "d": "c2VjcmV0"}}
    body = registration_body(signing_keys=[private_signing])
    refused = await client.post(PARTNERS, headers=admin.headers(), json=body)
    assert refused.status_code == 422
    assert "private" in str(refused.json()["error"]["fields"])

    api_key = registration_body()["api_keys"][0]
    refused_api = await client.post(PARTNERS, headers=admin.headers(),
                                    json=registration_body(api_keys=[{**api_key, "d": "c2VjcmV0"}]))
    assert refused_api.status_code == 422
    assert refused_api.json()["error"]["fields"][0]["field"] == "api_keys.0"

    await make_partner(client, admin)
    later = await client.post(f"{PARTNERS}/MO/signing-keys", headers=admin.headers(), json=private_signing)
    assert later.status_code == 422
    assert not await AuditEntry.exists(action="partner_key_added")


async def test_a_partner_is_registered_once(client, admin):
    await make_partner(client, admin)

    again = await client.post(PARTNERS, headers=admin.headers(), json=registration_body("MO"))

    assert again.status_code == 409
    assert again.json()["error"]["code"] == "PARTNER_EXISTS"
    assert await AuditEntry.filter(action="partner_registered").count() == 1


async def test_adding_and_revoking_a_signing_key_is_audited(client, admin):
    mo = await make_partner(client, admin)
    second = CodeSigningKey()

    added = await client.post(f"{PARTNERS}/MO/signing-keys", headers=admin.headers(), json=second.spec())
    assert added.status_code == 201 and added.json()["kid"] == second.kid
    duplicate = await client.post(f"{PARTNERS}/MO/signing-keys", headers=admin.headers(), json=second.spec())
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "PARTNER_KEY_EXISTS"

    old = mo.signing_keys[0].kid
    revoked = await client.post(f"{PARTNERS}/MO/signing-keys/{old}/revocation", headers=admin.headers())
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    missing = await client.post(f"{PARTNERS}/MO/signing-keys/bm9uZQ/revocation", headers=admin.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PARTNER_KEY_NOT_FOUND"

    key_added = await AuditEntry.get(action="partner_key_added")
    assert key_added.actor == admin.id and key_added.attributes == {"partner": "MO", "kid": second.kid}
    key_revoked = await AuditEntry.get(action="partner_key_revoked")
    assert key_revoked.actor == admin.id and key_revoked.attributes == {"partner": "MO", "kid": old}


async def test_the_trust_list_is_signed_with_a_key_of_our_jwks_and_lists_macao_keys(client, admin, clock):
    current, next_key = CodeSigningKey(), CodeSigningKey()
    starts, ends = after(clock, days=7).replace(microsecond=0), after(clock, days=400).replace(microsecond=0)
    await make_partner(client, admin, status_mapping=CHINESE_WORDS, signing_keys=[current])
    await client.post(f"{PARTNERS}/MO/signing-keys", headers=admin.headers(),
                      json=next_key.spec(not_before=starts, not_after=ends))

    header, claims = await fetch_trust_list(client)

    assert header["alg"] == "ES256"
    assert claims["iss"] == "CN-GD" and claims["exp"] > claims["iat"]
    [macao] = claims["partners"]
    assert macao["id"] == "MO" and macao["formats"] == ["GDHC1"] and macao["status_mapping"] == CHINESE_WORDS
    keys = {k["kid"]: k for k in macao["keys"]}
    assert set(keys) == {current.kid, next_key.kid}
    assert keys[current.kid]["jwk"]["x"] == current.jwk()["x"] and "d" not in keys[current.kid]["jwk"]
    assert (keys[current.kid]["not_before"], keys[current.kid]["not_after"]) == (None, None)
    assert datetime.fromisoformat(keys[next_key.kid]["not_before"].replace("Z", "+00:00")) == starts
    assert datetime.fromisoformat(keys[next_key.kid]["not_after"].replace("Z", "+00:00")) == ends


async def test_a_revoked_key_and_a_suspended_partner_leave_the_trust_list(client, admin):
    mo = await make_partner(client, admin, signing_keys=[CodeSigningKey(), CodeSigningKey()])
    gone, kept = mo.signing_keys
    await client.post(f"{PARTNERS}/MO/signing-keys/{gone.kid}/revocation", headers=admin.headers())
    assert [k["kid"] for k in (await fetch_trust_list(client))[1]["partners"][0]["keys"]] == [kept.kid]

    suspended = await client.patch(f"{PARTNERS}/MO", headers=admin.headers(), json={"status": "suspended"})

    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert (await fetch_trust_list(client))[1]["partners"] == []
    assert (await AuditEntry.get(action="partner_updated")).attributes == {"partner": "MO", "changed": ["status"]}
    reactivated = await client.patch(f"{PARTNERS}/MO", headers=admin.headers(), json={"status": "active"})
    assert reactivated.status_code == 200
    assert [p["id"] for p in (await fetch_trust_list(client))[1]["partners"]] == ["MO"]


async def test_the_format_document_tells_an_offline_verifier_what_it_needs(client):
    reply = await client.get("/.well-known/health-code-format.json")

    assert reply.status_code == 200
    document = reply.json()
    assert document["issuer"] == "CN-GD" and document["jwks"] == "/.well-known/jwks.json"
    assert set(document["formats"]) == {"GDHC1:", "GDBP1:"}
    assert document["formats"]["GDHC1:"]["claims_key"] == "hc"
    assert document["formats"]["GDBP1:"]["audience_claim"] == 3
    assert document["colours"] == ["green", "yellow", "red"]
    assert document["reasons"] and all(set(text) >= {"zh-Hans", "en"} for text in document["reasons"].values())
    assert "21" in document["reasons"]  # the reason a lab's positive result gives (see test_department_clients)
    assert document["max_lifetime_seconds"] == 180


# --- vocabulary and key names ------------------------------------------------------------------------------------

async def test_a_partner_reads_our_colour_in_the_first_word_it_registered_for_it(client, admin, sms):
    # A partner issuing GDHC1 needs our colour words for its codes, and wants its own words back.
    mo = await make_partner(client, admin, status_mapping={**CHINESE_WORDS, "green": "green", "yellow": "yellow",
                                                           "red": "red"})
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三")
    payload = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]

    reply = await client.post(VERIFICATIONS, headers=mo.headers(), json={"codes": [payload]})

    assert reply.json()["results"][0]["partner_color"] == "绿码"


async def test_another_partner_cannot_shadow_macao_keys_by_reusing_a_kid(client, admin, sms):
    mo = await make_partner(client, admin)
    impostor = CodeSigningKey(kid_bytes=mo.signing_keys[0].kid_bytes)
    hk_registered = await client.post(PARTNERS, headers=admin.headers(),
                                      json=registration_body("HK", signing_keys=[impostor.spec()]))
    assert hk_registered.status_code == 409 and hk_registered.json()["error"]["code"] == "PARTNER_KEY_EXISTS"
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三")
    converted = await client.post(CONVERSIONS, headers=citizen.headers,
                                  json={"code": mo.issue_code().payload, "consent": True})
    assert converted.status_code == 201, converted.text  # Macau's own key is untouched


async def test_a_region_may_be_allowed_its_whole_peak_of_verifications(client, admin):
    # 2,000 verifications a second at the peak is 120,000 a minute: more than the old ceiling of 100,000.
    reply = await client.post(PARTNERS, headers=admin.headers(), json=registration_body(rate_limit_per_minute=1_000_000))
    assert reply.status_code == 201, reply.text
    assert reply.json()["rate_limit_per_minute"] == 1_000_000


@pytest.mark.skipif(not os.environ.get("APP_REDIS_URL"), reason="workers share the trust list's version through Redis")
async def test_a_suspension_on_one_worker_counts_at_once_on_another_that_mirrors_the_trust_list(client, admin, workers):
    mo = await make_partner(client, admin)
    one, other = workers(), workers()
    trust = PartnerTrustList(one)

    async def mirrored() -> bool:
        await trust.refresh()
        return one.near.get(VERSION_KEY) is not None

    await eventually(mirrored, True, within=2.0)  # once its channel is subscribed, the first worker mirrors it
    assert trust.partner(mo.id).active

    await Partner.filter(id=mo.id).update(status="suspended")
    await PartnerTrustList(other).changed()  # what the registry does after every change, on another worker

    async def trusted() -> bool:
        await trust.refresh()
        return trust.partner(mo.id).active

    await eventually(trusted, False)  # the invalidation crosses pub/sub in a moment
