"""A partner that issues EU Digital COVID Certificates (HC1:) is registered with its signer
certificate; a citizen converts their certificate, matched by the ICAO name and birth date."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from health_code.models import IssuedHealthCode
from tests.factories import sign_in, valid_id_number, verify_real_name
from tests.health_code.interop.dcc_signing import (
    OID_TEST, OID_VACCINATION, cwt, hcert, lab_test, make_signer, sign_hc1, vaccination,
)
from tests.health_code.interop.partners_factory import (
    CONVERSIONS, PARTNERS, REVOCATIONS, PartnerRegion, make_partner_admin, public_jwk,
)

DCC_STATES = {"vaccinated": "green", "test_negative": "green", "recovered": "green",
              "partially_vaccinated": "yellow", "test_positive": "red"}
ZHANG_SAN = {"fn": "张", "fnt": "ZHANG", "gn": "三", "gnt": "SAN"}


@pytest.fixture
def signer(clock):
    now = clock.timestamp()
    return make_signer(country="DE", not_before=now - 86400, not_after=now + 365 * 86400)


@pytest.fixture
async def germany(client, clock, signer) -> PartnerRegion:
    admin = await make_partner_admin(clock)
    api_key = ec.generate_private_key(ec.SECP256R1())
    reply = await client.post(PARTNERS, headers=admin.headers(), json={
        "id": "DE", "name": "德国（示例）", "formats": ["HC1"], "status_mapping": DCC_STATES,
        "contact": {"name": "DCC Gateway contact (sample)"}, "api_keys": [public_jwk(api_key, "de-1")],
        "signing_keys": [{"certificate": base64.b64encode(signer.der).decode()}],
    })
    assert reply.status_code == 201, reply.text
    return PartnerRegion("DE", clock, api_key, "de-1", [], reply.json())


@pytest.fixture
async def zhang_san(client, sms):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三", id_number=valid_id_number(birth="19900102"))
    return citizen


def certificate(clock, signer, entry=None, nam=ZHANG_SAN, dob="1990-01-02") -> str:
    now = int(clock.timestamp())
    return sign_hc1(cwt(hcert(entry or vaccination(), nam=nam, dob=dob), iss="DE", iat=now - 3600, exp=now + 30 * 86400),
                    signer)


async def convert(client, citizen, code: str):
    return await client.post(CONVERSIONS, headers=citizen.headers, json={"code": code, "consent": True})


async def test_a_vaccination_certificate_converts_to_green_for_its_holder(client, germany, zhang_san, signer, clock):
    reply = await convert(client, zhang_san, certificate(clock, signer))
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["color"] == "green"
    assert body["source"] == {"partner": "DE", "partner_name": "德国（示例）", "format": "HC1", "state": "vaccinated",
                              "mapped_color": "green"}
    assert await IssuedHealthCode.filter(citizen_id=zhang_san.id, partner_id="DE", source_state="vaccinated").exists()


async def test_a_positive_test_certificate_converts_to_red(client, germany, zhang_san, signer, clock):
    reply = await convert(client, zhang_san, certificate(clock, signer, lab_test(tr="260373001")))
    assert reply.status_code == 201 and reply.json()["color"] == "red"


@pytest.mark.parametrize("nam, dob", [
    ({"fnt": "LI", "gnt": "SI"}, "1990-01-02"),  # someone else's name
    (ZHANG_SAN, "1985-06-30"),  # the right name, another birth date
])
async def test_a_certificate_of_someone_else_is_refused(client, germany, zhang_san, signer, clock, nam, dob):
    reply = await convert(client, zhang_san, certificate(clock, signer, nam=nam, dob=dob))
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "SUBJECT_MISMATCH"
    assert not await IssuedHealthCode.filter(partner_id="DE").exists()


async def test_a_signer_limited_to_tests_cannot_sign_a_vaccination(client, clock, zhang_san):
    now = clock.timestamp()
    tests_only = make_signer(country="DE", eku=(OID_TEST,), not_before=now - 86400, not_after=now + 86400)
    admin = await make_partner_admin(clock)
    await client.post(PARTNERS, headers=admin.headers(), json={
        "id": "DE", "name": "德国（示例）", "formats": ["HC1"], "status_mapping": DCC_STATES, "contact": {"name": "x"},
        "api_keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()), "de-1")],
        "signing_keys": [{"certificate": base64.b64encode(tests_only.der).decode()}]})
    reply = await convert(client, zhang_san, certificate(clock, tests_only))
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "KEY_USAGE"
    assert (await convert(client, zhang_san, certificate(clock, tests_only, lab_test()))).status_code == 201


async def test_a_certificate_the_partner_revoked_by_uci_hash_is_refused(client, germany, zhang_san, signer, clock):
    uci = "URN:UVCI:01:DE:REVOKED0001#1"
    revoked = await client.post(REVOCATIONS, headers=germany.headers(),
                                json={"hashes": [hashlib.sha256(uci.encode()).hexdigest()]})
    assert revoked.status_code == 200 and revoked.json() == {"accepted": 1}
    reply = await convert(client, zhang_san, certificate(clock, signer, vaccination(ci=uci)))
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "REVOKED"
    assert (await convert(client, zhang_san, certificate(clock, signer))).status_code == 201


async def test_a_certificate_with_every_dose_is_refused_when_any_dose_was_revoked(client, germany, zhang_san, signer,
                                                                                   clock):
    """The status reads the latest dose, but a revocation of an earlier entry revokes the code too."""
    first_dose = vaccination(dn=1, sd=2, ci="URN:UVCI:01:DE:DOSE1#1")["v"][0]
    second_dose = {**vaccination(dn=2, sd=2, ci="URN:UVCI:01:DE:DOSE2#2")["v"][0], "dt": "2026-05-20"}
    both = {"v": [first_dose, second_dose]}
    converted = await convert(client, zhang_san, certificate(clock, signer, both))
    assert converted.status_code == 201, converted.text
    assert converted.json()["source"]["state"] == "vaccinated"

    revoked = await client.post(REVOCATIONS, headers=germany.headers(),
                                json={"hashes": [hashlib.sha256(b"URN:UVCI:01:DE:DOSE1#1").hexdigest()]})
    assert revoked.status_code == 200
    reply = await convert(client, zhang_san, certificate(clock, signer, both))
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "REVOKED"


async def test_a_certificate_from_a_country_not_registered_is_refused(client, germany, zhang_san, clock):
    now = clock.timestamp()
    french = make_signer(country="FR", not_before=now - 86400, not_after=now + 86400)
    code = sign_hc1(cwt(hcert(vaccination(), nam=ZHANG_SAN), iss="FR", iat=int(now), exp=int(now) + 86400), french)
    reply = await convert(client, zhang_san, code)
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "UNKNOWN_PARTNER"


async def test_an_admin_may_narrow_a_signer_certificate_but_not_widen_it(client, clock, zhang_san):
    """Registered by hand with usages and validity beside the certificate: the key signs what both allow, for
    as long as both allow, as from a feed."""
    now = clock.timestamp()
    signer = make_signer(country="DE", eku=(OID_TEST, OID_VACCINATION), not_before=now - 86400, not_after=now + 86400)
    admin = await make_partner_admin(clock)
    registered = await client.post(PARTNERS, headers=admin.headers(), json={
        "id": "DE", "name": "德国（示例）", "formats": ["HC1"], "status_mapping": DCC_STATES, "contact": {"name": "x"},
        "api_keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()), "de-1")],
        "signing_keys": [{"certificate": base64.b64encode(signer.der).decode(), "usages": ["t", "r"],
                          "not_after": datetime.fromtimestamp(now + 365 * 86400, timezone.utc).isoformat()}]})

    assert registered.status_code == 201, registered.text
    key = registered.json()["signing_keys"][0]
    assert key["usages"] == ["t"]  # r is not the registration's to give
    assert datetime.fromisoformat(key["not_after"]).timestamp() == pytest.approx(now + 86400, abs=1)  # nor a longer life
    refused = await convert(client, zhang_san, certificate(clock, signer))  # a vaccination
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "KEY_USAGE"
    assert (await convert(client, zhang_san, certificate(clock, signer, lab_test()))).status_code == 201
