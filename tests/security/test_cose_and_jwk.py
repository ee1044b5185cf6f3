"""The core's signed codes and public keys, as the modules that use them rely on them: a code signed with
app.security.cose verifies with nothing but the public key, and any tampering gets a declared error;
a JWK sent to us becomes a key only when it is the kind the caller accepts, and nothing but its public
members is kept."""

from __future__ import annotations

import zlib

import base45
import cbor2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.security import cose, jwk
from app.security.keys import b64url, kid_bytes_for, public_jwk

KEY = ec.generate_private_key(ec.SECP256R1())
KID = kid_bytes_for(KEY.public_key())
PREFIX = "TEST1:"
CLAIMS = {cose.CWT_ISS: "CN-GD", cose.CWT_IAT: 1_800_000_000, cose.CWT_EXP: 1_800_000_180, cose.CWT_CTI: b"\x01" * 6}


def find(kid: bytes):
    return KEY.public_key() if kid == KID else None


def test_a_signed_cwt_verifies_with_the_public_key_and_gives_back_its_claims():
    text = cose.sign_cwt(CLAIMS, KEY, KID, PREFIX)
    assert text.startswith(PREFIX)
    assert cose.verify_cwt(text, find, PREFIX) == CLAIMS
    assert cose.sign_cwt(CLAIMS, KEY, KID, PREFIX) == text  # deterministic: a reprint is the same text


def test_a_code_with_a_claim_changed_after_signing_is_bad_signature():
    code = cbor2.loads(base45.b45decode(cose.sign_cwt(CLAIMS, KEY, KID, PREFIX)[len(PREFIX):]))
    protected, unprotected, _, signature = code.value
    forged = cbor2.dumps({**CLAIMS, cose.CWT_EXP: 1_900_000_000})
    text = PREFIX + base45.b45encode(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, forged, signature]))).decode()
    with pytest.raises(cose.CodeError) as refused:
        cose.verify_cwt(text, find, PREFIX)
    assert refused.value.code == "BAD_SIGNATURE"


@pytest.mark.parametrize(("text", "code"), [
    ("OTHER1:ABC", "BAD_PREFIX"),
    (PREFIX + "not base45~", "BAD_ENCODING"),
    (PREFIX + base45.b45encode(b"\x78not zlib").decode(), "BAD_COMPRESSION"),
    (PREFIX + base45.b45encode(cbor2.dumps({"not": "a COSE_Sign1"})).decode(), "BAD_COSE"),
])
def test_a_text_that_is_not_a_signed_code_gets_the_error_of_the_layer_it_breaks(text, code):
    with pytest.raises(cose.CodeError) as refused:
        cose.verify_cwt(text, find, PREFIX)
    assert refused.value.code == code


def test_a_code_signed_by_a_key_we_do_not_know_is_unknown_kid():
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(cose.CodeError) as refused:
        cose.verify_cwt(cose.sign_cwt(CLAIMS, stranger, b"stranger", PREFIX), find, PREFIX)
    assert refused.value.code == "UNKNOWN_KID"


def test_bytes_after_the_cose_are_ignored_for_our_codes_and_refused_in_strict_reading():
    raw = base45.b45decode(cose.sign_cwt(CLAIMS, KEY, KID, PREFIX)[len(PREFIX):]) + b"\x00"
    assert cose.verify_cwt(PREFIX + base45.b45encode(raw).decode(), find, PREFIX) == CLAIMS
    with pytest.raises(cose.CodeError) as refused:
        cose.decode_sign1(raw, strict=True)
    assert refused.value.code == "BAD_COSE"


def test_an_unprotected_kid_counts_only_when_the_protected_header_names_none():
    protected = cbor2.dumps({cose.HEADER_ALG: cose.ALG_ES256})
    raw = cbor2.dumps([protected, {cose.HEADER_KID: b"unprotected"}, cbor2.dumps(CLAIMS), b"sig"])
    assert cose.decode_sign1(raw).kid == b"unprotected"
    with_protected_kid = cbor2.dumps([cbor2.dumps({cose.HEADER_KID: b"protected"}), {cose.HEADER_KID: b"other"},
                                      cbor2.dumps(CLAIMS), b"sig"])
    assert cose.decode_sign1(with_protected_kid).kid == b"protected"


def test_a_pss_signature_needs_an_rsa_key():
    with pytest.raises(cose.CodeError) as refused:
        cose.check_signature(KEY.public_key(), cose.ALG_PS256, b"", b"payload", b"\x00" * 256)
    assert refused.value.code == "UNSUPPORTED_ALGORITHM"


def test_a_jwk_sent_with_its_private_part_is_refused():
    private = {**public_jwk("k", KEY.public_key()), "d": b64url(b"\x01" * 32)}
    with pytest.raises(jwk.JwkError) as refused:
        jwk.public_key_from_jwk(private)
    assert refused.value.reason == "private"


def test_an_rsa_key_is_accepted_only_where_the_caller_allows_it():
    rsa_jwk = jwk.jwk_of(rsa.generate_private_key(65537, 2048).public_key())
    with pytest.raises(jwk.JwkError) as refused:
        jwk.public_key_from_jwk(rsa_jwk)
    assert refused.value.reason == "type"
    assert isinstance(jwk.public_key_from_jwk(rsa_jwk, allow_rsa=True), rsa.RSAPublicKey)


def test_a_p384_key_is_not_a_p256_key_even_where_rsa_is_allowed():
    p384 = jwk.jwk_of(ec.generate_private_key(ec.SECP384R1()).public_key())
    for allow_rsa in (False, True):
        with pytest.raises(jwk.JwkError) as refused:
            jwk.public_key_from_jwk(p384, allow_rsa=allow_rsa)
        assert refused.value.reason == "type"


def test_only_the_public_members_of_a_jwk_are_kept():
    sent = {**jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key(), as_dict=True), "kid": "phone-1",
            "n": "junk", "x5u": "https://example.invalid/", "ext": True}
    assert jwk.public_members(sent) == {k: sent[k] for k in ("kty", "crv", "x", "y", "kid")}


def test_a_jwks_entry_that_is_not_a_usable_signing_key_does_not_hide_the_others():
    good = public_jwk("good", KEY.public_key())
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    document = {"keys": [{**good, "x": "AAAA", "kid": "broken"}, {**public_jwk("enc", other), "use": "enc"},
                         {**public_jwk("no-kid", other), "kid": None}, "not a jwk", good]}
    keys = jwk.keys_by_kid(document)
    assert list(keys) == ["good"]
    assert keys["good"].public_numbers() == KEY.public_key().public_numbers()


def test_a_compressed_code_that_inflates_past_any_qr_is_refused_not_inflated():
    """A zlib bomb behind our prefix: 10 MB of zeros compress to ~10 kB, but no QR holds more than 3 kB."""
    bomb = zlib.compress(b"\x00" * 10_000_000, 9)
    with pytest.raises(cose.CodeError) as refused:
        cose.inflate_if_compressed(bomb)
    assert refused.value.code == "BAD_COMPRESSION"
    assert cose.inflate_if_compressed(zlib.compress(b"\xd2" * 100)) == b"\xd2" * 100
