"""The signed payload behind a citizen's health code: what a verifier at a station gate can
check with nothing but our published keys, and how every kind of broken code is named."""

from __future__ import annotations

import asyncio
import json
import os
import zlib
from datetime import datetime, timezone

import base45
import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.qr import qr_version
from app.security.keys import b64url_decode
from health_code import codec
from tests.factories import sign_in, valid_id_number, verify_real_name

ISSUE = 1_780_000_000  # a fixed issue second, so expiry is exact


def claims(colour: str = "green", reasons: tuple[int, ...] = (1,), name: str = "**龙", issued_at: int = ISSUE,
           ttl: int = 180) -> codec.CodeClaims:
    return codec.CodeClaims(code_id=os.urandom(6), colour=colour, reasons=reasons, subject_masked=name,
                            issuer="CN-GD", issued_at=issued_at, expires_at=issued_at + ttl)


def finder_for(platform):
    return platform.keys.public_key_for


def sign(platform, c: codec.CodeClaims) -> str:
    key = platform.keys.current
    return codec.encode_payload(c, key.private_key, key.kid_bytes)


def error_of(payload: str, platform, now: float = ISSUE + 10) -> str:
    with pytest.raises(codec.CodeError) as caught:
        codec.verify_payload(payload, finder_for(platform), now)
    return caught.value.code


def cose_of(payload: str) -> cbor2.CBORTag:
    return cbor2.loads(base45.b45decode(payload[len(codec.PREFIX):]))  # not compressed


def pack(cose: object) -> str:
    return codec.PREFIX + base45.b45encode(cbor2.dumps(cose)).decode("ascii")


# -- a code that verifies ------------------------------------------------------------------------

def test_a_signed_code_verifies_back_to_the_same_claims(platform):
    original = claims("yellow", (11, 13), "*三")
    payload = sign(platform, original)
    assert payload.startswith("GDHC1:")
    verified = codec.verify_payload(payload, finder_for(platform), ISSUE + 10)
    assert verified == original


def test_a_typical_code_fits_a_version_10_qr_symbol(platform):
    # A citizen named 李小龙 with one reason: the QR must stay small enough to scan off a cracked phone.
    for _ in range(20):  # the code id is random; the size must not depend on luck
        payload = sign(platform, claims("green", (1,), "**龙"))
        assert len(payload) <= 221, len(payload)
        assert qr_version(payload) <= 10


def test_the_kid_in_the_protected_header_is_the_published_kid(platform):
    payload = sign(platform, claims())
    protected = cbor2.loads(cose_of(payload).value[0])
    assert protected[codec.HEADER_ALG] == codec.ALG_ES256
    kid = protected[codec.HEADER_KID]
    assert isinstance(kid, bytes) and len(kid) == 8
    published = [b64url_decode(k["kid"]) for k in platform.keys.jwks()["keys"]]
    assert kid in published
    assert kid == b64url_decode(platform.keys.current.kid)


async def test_a_partner_verifies_offline_with_only_the_published_jwks(client, platform, clock):
    now = int(clock.timestamp())
    payload = sign(platform, claims("red", (21,), "*三", issued_at=now))
    reply = await client.get("/.well-known/jwks.json")
    assert reply.status_code == 200
    jwks = json.loads(json.dumps(reply.json()))  # nothing but the JSON a partner downloads
    verified = codec.verify_offline(payload, jwks, now=clock.now())
    assert (verified.colour, verified.reasons, verified.subject_masked) == ("red", (21,), "*三")
    header_kid = cbor2.loads(cose_of(payload).value[0])[codec.HEADER_KID]
    assert header_kid in {b64url_decode(k["kid"]) for k in jwks["keys"]}
    # ...and the same JWKS knows nothing of a code signed by someone else.
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = codec.encode_payload(claims(issued_at=now), stranger, os.urandom(8))
    with pytest.raises(codec.CodeError) as caught:
        codec.verify_offline(forged, jwks, now=clock.now())
    assert caught.value.code == "UNKNOWN_KID"


# -- broken codes, each with its stable error code ------------------------------------------------

def test_a_code_without_our_prefix_is_bad_prefix(platform):
    payload = sign(platform, claims())
    assert error_of("HC1:" + payload[len("GDHC1:"):], platform) == "BAD_PREFIX"
    assert error_of(payload[1:], platform) == "BAD_PREFIX"
    assert error_of("", platform) == "BAD_PREFIX"


def test_text_that_is_not_base45_is_bad_encoding(platform):
    assert error_of("GDHC1:not base45 at all, lowercase~", platform) == "BAD_ENCODING"
    assert error_of("GDHC1:A", platform) == "BAD_ENCODING"  # a dangling single character


def test_base45_of_bytes_with_a_zlib_header_that_are_not_zlib_is_bad_compression(platform):
    assert error_of("GDHC1:" + base45.b45encode(b"\x78just some bytes").decode(), platform) == "BAD_COMPRESSION"


def test_base45_of_bytes_that_are_neither_zlib_nor_cose_is_bad_cose(platform):
    assert error_of("GDHC1:" + base45.b45encode(b"just some bytes").decode(), platform) == "BAD_COSE"


def test_a_code_compressed_as_older_codes_were_still_verifies(platform):
    """Codes were zlib-compressed before; partners' codes may still be: inflated when they start with 0x78."""
    key = platform.keys.current
    claims = codec.CodeClaims(b"\x01" * 6, "green", (1,), "*三", "CN-GD", ISSUE, ISSUE + 180)
    cwt = claims.cwt()
    cwt[codec.CLAIMS_KEY][3] = [1]  # and reasons as a list, as older codes had them
    compressed = codec.PREFIX + base45.b45encode(zlib.compress(base45.b45decode(
        codec.sign_cwt(cwt, key.private_key, key.kid_bytes, codec.PREFIX)[len(codec.PREFIX):]), 9)).decode()
    assert codec.verify_payload(compressed, finder_for(platform), ISSUE + 10) == claims


def test_zlib_of_something_that_is_not_cose_is_bad_cose(platform):
    for raw in (b"\xff\xfe not cbor", cbor2.dumps({"hello": "world"}), cbor2.dumps(cbor2.CBORTag(98, [b"", {}, b"", []])),
                cbor2.dumps([b"", {}, b"", b"sig"])):  # the last one: a Sign1 whose payload is empty
        payload = "GDHC1:" + base45.b45encode(zlib.compress(raw)).decode()
        assert error_of(payload, platform) == "BAD_COSE", raw


def test_a_code_signed_by_an_unknown_key_is_unknown_kid(platform):
    stranger = ec.generate_private_key(ec.SECP256R1())
    payload = codec.encode_payload(claims(), stranger, os.urandom(8))
    assert error_of(payload, platform) == "UNKNOWN_KID"


def test_a_code_signed_by_another_key_under_our_kid_is_bad_signature(platform):
    impostor = ec.generate_private_key(ec.SECP256R1())
    payload = codec.encode_payload(claims(), impostor, platform.keys.current.kid_bytes)
    assert error_of(payload, platform) == "BAD_SIGNATURE"


def test_turning_a_red_code_green_after_signing_is_bad_signature(platform):
    payload = sign(platform, claims("red", (21,)))
    tag = cose_of(payload)
    protected, unprotected, body, signature = tag.value
    cwt = cbor2.loads(body)
    assert cwt["hc"][2] == 2
    cwt["hc"][2] = 0  # green
    cwt["hc"][3] = [1]
    altered = pack(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(cwt), signature]))
    assert altered != payload
    assert error_of(altered, platform) == "BAD_SIGNATURE"
    # Re-packing the untouched body with the same signature still verifies: only the edit broke it.
    same = pack(cbor2.CBORTag(18, [protected, unprotected, body, signature]))
    assert codec.verify_payload(same, finder_for(platform), ISSUE + 10).colour == "red"


def test_stretching_the_expiry_after_signing_is_bad_signature(platform):
    payload = sign(platform, claims())
    protected, unprotected, body, signature = cose_of(payload).value
    cwt = cbor2.loads(body)
    cwt[codec.CWT_EXP] += 86_400
    altered = pack(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(cwt), signature]))
    assert error_of(altered, platform, now=ISSUE + 1000) == "BAD_SIGNATURE"


def test_a_code_is_valid_until_its_expiry_second_and_expired_from_then_on(platform):
    payload = sign(platform, claims(ttl=180))
    find = finder_for(platform)
    assert codec.verify_payload(payload, find, ISSUE + 179).expires_at == ISSUE + 180
    assert error_of(payload, platform, now=ISSUE + 180) == "EXPIRED"
    assert error_of(payload, platform, now=ISSUE + 3600) == "EXPIRED"


def test_a_batch_of_codes_gets_each_codes_own_answer_in_order(platform):
    # A partner's scanner sends a queue of codes: one broken code must not change its neighbours' answers.
    good = [claims("green", (1,), "*三"), claims("red", (21,), "**龙")]
    stranger = ec.generate_private_key(ec.SECP256R1())
    impostor = codec.encode_payload(claims(), stranger, platform.keys.current.kid_bytes)
    texts = [sign(platform, good[0]), "HC1:6BF", impostor, "GDHC1:A", codec.encode_payload(claims(), stranger, os.urandom(8)),
             sign(platform, claims(ttl=5)), sign(platform, good[1])]
    outcomes = codec.verify_payloads(texts, finder_for(platform), ISSUE + 10)
    assert [o.code if isinstance(o, codec.CodeError) else o for o in outcomes] == [
        good[0], "BAD_PREFIX", "BAD_SIGNATURE", "BAD_ENCODING", "UNKNOWN_KID", "EXPIRED", good[1]]
    assert codec.verify_payloads([], finder_for(platform), ISSUE + 10) == []


def test_expired_is_reported_offline_too(platform):
    payload = sign(platform, claims())
    with pytest.raises(codec.CodeError) as caught:
        codec.verify_offline(payload, platform.keys.jwks(), now=datetime.fromtimestamp(ISSUE + 181, timezone.utc))
    assert caught.value.code == "EXPIRED"


# -- what the code does not say ------------------------------------------------------------------

async def test_the_citizens_code_carries_neither_id_number_nor_full_name(client, sms, clock):
    citizen = await sign_in(client, sms)
    id_number = valid_id_number("440106", "19851111", "321")
    await verify_real_name(client, citizen, name="欧阳娜娜", id_number=id_number)
    reply = await client.get("/api/v1/health-code", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    payload = reply.json()["payload"]
    protected, unprotected, body, signature = cose_of(payload).value
    cwt = cbor2.loads(body)
    everything = repr(cwt) + repr(cbor2.loads(protected)) + repr(unprotected)
    raw = base45.b45decode(payload[len("GDHC1:"):])
    for secret in (id_number, id_number[:6] + id_number[-4:], "欧阳娜娜", "欧阳", "娜娜", citizen.phone, "OUYANGNANA",
                   "1985-11-11", "19851111"):
        assert secret not in everything, secret
        assert secret.encode("utf-8") not in raw, secret
    assert cwt["hc"][4] == "*娜"  # one star, whatever the name's length
    assert 6 not in cwt["hc"]  # no holder tag: one anyone can compute, anyone who scans could guess her from
    assert set(cwt) == {1, 4, 6, "hc"}
    assert set(cwt["hc"]) == {1, 2, 3, 4}


async def test_our_own_codes_are_recognised_by_digest_with_the_same_answer_as_the_signature_check(client, sms, app, platform, clock):
    from health_code.service import payload_key
    from tests.factories import sign_in, verify_real_name

    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三")
    payload = (await client.get("/api/v1/health-code", headers=citizen.headers)).json()["payload"]
    tampered = payload[:-4] + ("AAAA" if not payload.endswith("AAAA") else "BBBB")
    health = app.ctx.services.health

    by_digest = await health.verify_many([payload, tampered])
    await platform.cache.delete(payload_key(payload))
    by_signature = await health.verify_many([payload, tampered])
    for (claims, holder), (again, holder_again) in zip(by_digest, by_signature):
        assert holder == holder_again
        if isinstance(claims, codec.CodeError):
            assert isinstance(again, codec.CodeError) and claims.code == again.code
        else:
            assert claims == again and holder == citizen.id

    clock.advance(181)
    assert [r[0].code for r in await health.verify_many([payload])] == ["EXPIRED"]


async def test_a_batch_of_codes_in_no_cache_leaves_the_worker_free_for_other_requests_between_its_tenths(app, platform, clock,
                                                                                                      monkeypatch):
    # 100 signature checks are ~10 ms of one core: the worker's other requests (a citizen opening their
    # code on the same worker) must get their turn during the batch, not after all of it.
    now = int(clock.timestamp())
    batch = [sign(platform, claims(issued_at=now)) for _ in range(30)]
    turns, seen_at_each_check = 0, []

    async def another_request() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    find = platform.keys.public_key_for

    def finding(kid: bytes):
        seen_at_each_check.append(turns)
        return find(kid)

    monkeypatch.setattr(platform.keys, "public_key_for", finding)
    other = asyncio.create_task(another_request())
    try:
        results = await app.ctx.services.health.verify_many(batch)
    finally:
        other.cancel()
    assert all(isinstance(claims_, codec.CodeClaims) for claims_, _ in results)
    assert len(seen_at_each_check) == 30
    # 30 codes, checked ten at a time: the other request ran before the second and the third ten.
    assert seen_at_each_check[0] < seen_at_each_check[10] < seen_at_each_check[20]
    assert len(set(seen_at_each_check[:10])) == 1
