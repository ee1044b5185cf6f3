"""Attacks on client JWTs (admin, partner, relying party) that tests/api/test_department_clients.py and
tests/accounts/test_tokens_and_sessions.py do not already make: alg none, HS/ES confusion, a forged
or hostile kid, a key carried in the token itself, an exp that has passed, a replayed jti."""

from __future__ import annotations

import base64
import json
import secrets

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import ADMIN_AUD, make_department

ROUTE = "/api/admin/v1/health-code/verifications"
BODY = {"payload": "GDHC1:NOT-A-CODE", "purpose": "查验（示例）"}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
async def verifier(app, clock):
    return await make_department(clock, "白云机场查验点（示例）", ["verifier"])


@pytest.fixture
async def intruder(app, clock):
    """Another registered client, with a key of its own: it tries to pass as the verifier."""
    return await make_department(clock, "某注册客户端（示例）", ["lab"])


def claims_of(client, clock, **changes) -> dict:
    return {"iss": client.id, "iat": int(clock.timestamp()), "jti": secrets.token_hex(8), "aud": ADMIN_AUD, **changes}


async def refused(client, token: str, code: str) -> None:
    reply = await client.post(ROUTE, headers={"Authorization": f"Bearer {token}"}, json=BODY)
    assert reply.status_code == 401, reply.text
    assert reply.json()["error"]["code"] == code, reply.text


async def test_alg_none_is_refused(client, verifier, clock):
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': '1'})}.{b64(claims_of(verifier, clock))}."
    await refused(client, token, "CLIENT_TOKEN_MALFORMED")


async def test_hs256_keyed_with_the_clients_own_public_key_is_refused(client, verifier, clock):
    """The classic confusion: the public key (known to anyone) used as an HMAC secret."""
    public_pem = verifier.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64({"alg": "HS256", "typ": "JWT", "kid": "1"})
    payload = b64(claims_of(verifier, clock))
    import hmac, hashlib  # noqa: E401  (PyJWT itself refuses to HMAC with a PEM key, so sign by hand)

    signature = base64.urlsafe_b64encode(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    await refused(client, f"{header}.{payload}.{signature.rstrip(b'=').decode()}", "CLIENT_TOKEN_MALFORMED")


@pytest.mark.parametrize("algorithm", ["ES384", "RS256", "PS256", "EdDSA"])
async def test_other_asymmetric_algorithms_are_refused(client, verifier, clock, algorithm):
    header = b64({"alg": algorithm, "typ": "JWT", "kid": "1"})
    await refused(client, f"{header}.{b64(claims_of(verifier, clock))}.c2ln", "CLIENT_TOKEN_MALFORMED")


async def test_a_kid_of_the_victim_signed_by_another_clients_key_is_refused(client, verifier, intruder, clock):
    forged = jwt.encode(claims_of(verifier, clock), intruder.key, algorithm="ES256", headers={"kid": "1"})
    await refused(client, forged, "CLIENT_TOKEN_SIGNATURE_INVALID")


@pytest.mark.parametrize("kid", ["1' OR '1'='1", "../../keys/index.json", "*", "%", "1\x00", "１", " 1", "x" * 5000])
async def test_a_hostile_kid_names_no_key(client, verifier, clock, kid):
    token = jwt.encode(claims_of(verifier, clock), verifier.key, algorithm="ES256", headers={"kid": kid})
    reply = await client.post(ROUTE, headers={"Authorization": f"Bearer {token}"}, json=BODY)
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "CLIENT_KEY_UNKNOWN", reply.text
    assert len(reply.text) < 1000  # the kid is echoed shortened, never whole


async def test_a_huge_issuer_is_an_unknown_client_not_a_server_error(client, verifier, clock):
    token = jwt.encode(claims_of(verifier, clock, iss="c" * 5000), verifier.key, algorithm="ES256", headers={"kid": "1"})
    await refused(client, token, "CLIENT_UNKNOWN")


@pytest.mark.parametrize("kid", [1, None, ["1"], {"k": "1"}])
async def test_a_kid_that_is_not_text_is_malformed(client, verifier, clock, kid):
    header = b64({"alg": "ES256", "typ": "JWT", "kid": kid})  # by hand: PyJWT will not write such a header
    await refused(client, f"{header}.{b64(claims_of(verifier, clock))}.c2ln", "CLIENT_TOKEN_MALFORMED")


async def test_a_key_carried_inside_the_token_is_ignored(client, verifier, clock):
    """jwk / jku / x5u headers: the attacker's own key, offered by the attacker. Only registered keys count."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    headers = {"kid": "1", "jwk": jwk, "jku": "https://attacker.example/jwks.json", "x5u": "https://attacker.example/c"}
    token = jwt.encode(claims_of(verifier, clock), attacker, algorithm="ES256", headers=headers)
    await refused(client, token, "CLIENT_TOKEN_SIGNATURE_INVALID")


async def test_a_token_whose_own_exp_has_passed_is_refused(client, verifier, clock):
    token = verifier.token(exp=int(clock.timestamp()) - 60)
    await refused(client, token, "CLIENT_TOKEN_EXPIRED")
    fine = verifier.token(exp=int(clock.timestamp()) + 60)
    reply = await client.post(ROUTE, headers={"Authorization": f"Bearer {fine}"}, json=BODY)
    assert reply.status_code != 401, reply.text


async def test_a_replayed_jti_is_refused_even_from_another_address(client, second_party, verifier):
    token = verifier.token()
    first = await client.post(ROUTE, headers={"Authorization": f"Bearer {token}"}, json=BODY)
    assert first.status_code != 401
    again = await second_party.post(ROUTE, headers={"Authorization": f"Bearer {token}"}, json=BODY)
    assert again.status_code == 401 and again.json()["error"]["code"] == "CLIENT_TOKEN_REPLAYED"


async def test_a_client_token_for_one_audience_is_refused_by_another(client, clock):
    partner = await make_department(clock, "澳门卫生局（示例）", ["partner"], audience="partner")
    token = partner.token(aud=ADMIN_AUD)  # signed by a partner, addressed to the admin API
    await refused(client, token, "CLIENT_UNKNOWN")
