"""A real second party: the stand-in partner region "MO" runs as its own process, with its own keys,
built from nothing but our published format. Its codes pass our GDHC1 adapter, and it verifies
ours offline from our JWKS, fetched over HTTP from our app on a loopback port."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import base45
import cbor2
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.errors import AppError
from app.security.clients import authenticate_client, register_client
from app.security.keys import b64url, b64url_decode
from health_code import codec
from health_code.codec import CodeError
from health_code.interop.formats import OurFormat, TrustedKey
from tests.factories import sign_in, valid_id_number, verify_real_name
from tests.health_code.interop.partner_process import PartnerRegion, start_partner

OURS = OurFormat()
PARTNER_AUD = "https://gov-app.example.cn/partner"


def trusted_key(jwk: dict[str, str], issuer: str) -> TrustedKey:
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(jwk["x"]), "big"),
                                            int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1())
    return TrustedKey(kid=b64url_decode(jwk["kid"]), public_key=numbers.public_key(), issuer=issuer)


async def partner_trust_list(partner: PartnerRegion) -> dict[bytes, TrustedKey]:
    keys = (await partner.client.get("/keys")).json()
    return {key.kid: key for key in (trusted_key(jwk, "MO") for jwk in keys["signing_keys"])}


async def partner_code(partner: PartnerRegion, **fields: Any) -> dict[str, Any]:
    reply = await partner.client.post("/codes", json={"name_masked": "*三", "colour": "green", "ttl": 180,
                                                      "reasons": [1], **fields})
    assert reply.status_code == 200, reply.text
    return reply.json()


def check_with_our_adapter(payload: str, trust: dict[bytes, TrustedKey]) -> Any:
    decoded = OURS.decode(payload)
    OURS.verify(decoded, trust.get, time.time())
    return OURS.to_status(decoded)


# --- the partner's codes, read by us ----------------------------------------------------------

async def test_partner_codes_pass_our_adapter_with_its_published_keys(partner_region):
    trust = await partner_trust_list(partner_region)
    made = await partner_code(partner_region, colour="yellow", reasons=[11, 13])

    assert OURS.detect(made["payload"])
    status = check_with_our_adapter(made["payload"], trust)
    assert (status.format, status.issuer, status.state) == ("GDHC1", "MO", "yellow")
    assert status.code_id == made["code_id"]
    assert status.subject == {"name_masked": "*三"}
    assert status.expires_at - status.issued_at == 180
    assert abs(status.issued_at - time.time()) < 10  # the partner's wall clock
    # The generic offline check reads it too, given the partner's keys as a JWKS.
    jwks = {"keys": (await partner_region.client.get("/keys")).json()["signing_keys"]}
    assert codec.verify_offline(made["payload"], jwks).colour == "yellow"


async def test_backdated_partner_codes_are_expired_and_future_ones_not_yet_valid(partner_region):
    trust = await partner_trust_list(partner_region)
    expired = await partner_code(partner_region, iat_offset=-600)
    future = await partner_code(partner_region, iat_offset=600)

    for made, error in ((expired, "EXPIRED"), (future, "NOT_YET_VALID")):
        with pytest.raises(CodeError) as refused:
            check_with_our_adapter(made["payload"], trust)
        assert refused.value.code == error


async def test_partner_rotation_keeps_old_keys_listed(partner_region):
    before = await partner_trust_list(partner_region)
    new_jwk = (await partner_region.client.post("/rotate")).json()
    after = await partner_trust_list(partner_region)
    assert set(before) < set(after) and b64url_decode(new_jwk["kid"]) in after

    fresh = await partner_code(partner_region)
    old_kid = next(iter(before))
    signed_by_old = await partner_code(partner_region, kid=b64url(old_kid))
    assert fresh["kid"] == new_jwk["kid"] and b64url_decode(signed_by_old["kid"]) == old_kid
    assert check_with_our_adapter(fresh["payload"], after).issuer == "MO"
    assert check_with_our_adapter(signed_by_old["payload"], after).issuer == "MO"
    with pytest.raises(CodeError) as refused:  # a verifier that missed the rotation
        check_with_our_adapter(fresh["payload"], before)
    assert refused.value.code == "UNKNOWN_KID"


async def test_a_code_naming_another_issuer_is_refused(partner_region):
    trust = await partner_trust_list(partner_region)
    made = await partner_code(partner_region, issuer="CN-GD")  # MO's key, our region's name
    with pytest.raises(CodeError) as refused:
        check_with_our_adapter(made["payload"], trust)
    assert refused.value.code == "ISSUER_MISMATCH"


# --- our codes, read by the partner -----------------------------------------------------------

_sequence = iter(range(100, 1000))


async def citizen_code(http: httpx.AsyncClient, sms, name: str = "张三") -> dict[str, Any]:
    citizen = await sign_in(http, sms)
    await verify_real_name(http, citizen, name=name, id_number=valid_id_number(sequence=str(next(_sequence))))
    reply = await http.get("/api/v1/health-code", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def partner_verifies(partner: PartnerRegion, payload: str) -> dict[str, Any]:
    reply = await partner.client.post("/verify-ours", json={"payload": payload})
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_partner_verifies_our_code_offline_from_our_jwks(live_server, partner_region, sms):
    async with httpx.AsyncClient(base_url=live_server) as ours:  # the whole citizen flow over a real socket
        assert (await ours.get("/readyz")).status_code == 200
        code = await citizen_code(ours, sms)

    result = await partner_verifies(partner_region, code["payload"])
    assert result["valid"] is True and result["error"] is None
    assert (result["format"], result["issuer"], result["colour"]) == ("GDHC1", "CN-GD", "green")
    assert result["colour"] == code["color"]
    assert result["subject_masked"] == "*三"
    assert result["expires_at"] == code["expires_at"]
    assert result["reasons"] == [reason["code"] for reason in code["reasons"]]


async def test_partner_refuses_tampered_and_unknown_codes(partner_region, client, sms, app):
    payload = (await citizen_code(client, sms))["payload"]

    flipped = payload[:-4] + ("0" if payload[-4] != "0" else "1") + payload[-3:]
    result = await partner_verifies(partner_region, flipped)
    assert result["valid"] is False and result["error"] in {"BAD_ENCODING", "BAD_COMPRESSION", "BAD_COSE", "BAD_SIGNATURE"}
    assert result["colour"] is None

    # Same signature, claims changed to red: only the signature can tell.
    protected, claims, protected_raw, _body, signature = codec.unpack(payload)
    claims["hc"][2] = 2
    forged = cbor2.dumps(cbor2.CBORTag(18, [protected_raw, {}, cbor2.dumps(claims), signature]))
    result = await partner_verifies(partner_region, codec.PREFIX + base45.b45encode(zlib.compress(forged)).decode())
    assert (result["valid"], result["error"]) == (False, "BAD_SIGNATURE")

    stranger = ec.generate_private_key(ec.SECP256R1())  # signed well, by a key not in our JWKS
    claims_of_stranger = codec.CodeClaims(b"\x01" * 6, "green", (1,), "*三", "CN-GD", int(time.time()), int(time.time()) + 180)
    result = await partner_verifies(partner_region, codec.encode_payload(claims_of_stranger, stranger, b"\x02" * 8))
    assert (result["valid"], result["error"]) == (False, "UNKNOWN_KID")

    result = await partner_verifies(partner_region, "HC1:" + payload[len(codec.PREFIX):])
    assert (result["valid"], result["error"]) == (False, "BAD_PREFIX")


async def test_partner_uses_its_own_wall_clock(partner_region, client, sms, clock):
    clock.advance(minutes=-10)  # our clock runs 10 minutes slow: our fresh code is long expired over there
    slow = await citizen_code(client, sms)
    clock.advance(minutes=20)  # 10 minutes fast: not valid yet
    fast = await citizen_code(client, sms, name="李四")

    assert (await partner_verifies(partner_region, slow["payload"]))["error"] == "EXPIRED"
    assert (await partner_verifies(partner_region, fast["payload"]))["error"] == "NOT_YET_VALID"


async def test_partner_picks_up_our_key_rotation(partner_region, client, sms, app):
    first = (await citizen_code(client, sms))["payload"]
    assert (await partner_verifies(partner_region, first))["valid"] is True  # our JWKS fetched and cached
    app.ctx.services.platform.keys.rotate()
    second = (await citizen_code(client, sms, name="李四"))["payload"]
    assert codec.unpack(second)[0][codec.HEADER_KID] != codec.unpack(first)[0][codec.HEADER_KID]
    assert (await partner_verifies(partner_region, second))["valid"] is True  # unknown kid: fetched again
    assert (await partner_verifies(partner_region, first))["valid"] is True  # the old key is still published


async def test_partner_reads_border_passes_meant_for_it(partner_region, app):
    key, now = app.ctx.services.platform.keys.current, int(time.time())

    def border_pass(audience: str) -> str:  # laid out as InteropService.border_pass does
        cwt = {1: "CN-GD", 3: audience, 4: now + 600, 6: now,
               "bp": {1: bytes.fromhex("a1b2c3d4e5f6"), 2: 0, 3: [1], 4: "*三", 5: 2, 6: "5678"}}
        return codec.sign_cwt(cwt, key.private_key, key.kid_bytes, "GDBP1:")

    result = await partner_verifies(partner_region, border_pass("MO"))
    assert (result["valid"], result["format"], result["issuer"]) == (True, "GDBP1", "CN-GD")
    assert result["claims"] == {"1": "a1b2c3d4e5f6", "2": 0, "3": [1], "4": "*三", "5": 2, "6": "5678"}
    assert (await partner_verifies(partner_region, border_pass("HK")))["error"] == "WRONG_AUDIENCE"


# --- the partner's calls to our partner API ---------------------------------------------------

@asynccontextmanager
async def capturing_server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A bare HTTP endpoint that records what it is sent and answers {"results": []}."""
    seen: list[dict[str, Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        seen.append({"request": head[0], "headers": headers, "json": json.loads(body)})
        answer = b'{"results": []}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    finally:
        server.close()
        await server.wait_closed()


async def test_partner_api_calls_carry_a_client_jwt_our_guard_accepts(app, platform, clock, tmp_path: Path):
    async with capturing_server() as (url, seen):
        partner = await start_partner(url, tmp_path)
        try:
            api_jwk = (await partner.client.get("/keys")).json()["api_key"]
            calls = [("/call/verifications", {"codes": ["GDHC1:x"]}), ("/call/revocations", {"hashes": ["ab"]}),
                     ("/call/verifications", {"codes": [], "reuse_jti": True}),
                     ("/call/verifications", {"codes": [], "iat_offset": -120})]
            for path, body in calls:
                reply = await partner.client.post(path, json=body)
                assert reply.json() == {"status": 200, "body": {"results": []}}, reply.text
        finally:
            await partner.stop()

    assert [s["request"].split(" ")[:2] for s in seen] == [
        ["POST", "/api/partner/v1/verifications"], ["POST", "/api/partner/v1/revocations"],
        ["POST", "/api/partner/v1/verifications"], ["POST", "/api/partner/v1/verifications"]]
    assert [s["json"] for s in seen] == [{"codes": ["GDHC1:x"]}, {"hashes": ["ab"]}, {"codes": []}, {"codes": []}]
    tokens = [s["headers"]["authorization"].removeprefix("Bearer ") for s in seen]
    assert jwt.get_unverified_header(tokens[0])["kid"] == api_jwk["kid"] == "mo-api-1"
    claims = jwt.decode(tokens[0], jwt.PyJWK(api_jwk).key, algorithms=["ES256"], audience=PARTNER_AUD)
    assert claims["iss"] == "MO"

    # Registered as a partner client with its published API key, our real guard takes its tokens.
    pem = jwt.PyJWK(api_jwk).key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    await register_client(clock, "澳门特别行政区卫生局（测试）", "partner", [], pem.decode(), kid="mo-api-1", client_id="MO")
    outcomes = []
    for token in tokens:
        try:
            outcomes.append((await authenticate_client(token, "partner", PARTNER_AUD, clock, platform.cache)).id)
        except AppError as refused:
            outcomes.append(refused.code)
    # The third call reused the second's jti; the fourth was signed two minutes ago.
    assert outcomes == ["MO", "MO", "CLIENT_TOKEN_REPLAYED", "CLIENT_TOKEN_IAT_OUT_OF_RANGE"]
