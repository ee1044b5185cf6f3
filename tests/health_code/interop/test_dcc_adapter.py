"""The EU DCC (`HC1:`) adapter with codes signed here: what it accepts, and how each broken
code is named."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import replace
from datetime import datetime, timezone

import base45
import cbor2
import pytest
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from health_code.codec import CodeError
from health_code.interop import default_adapters
from health_code.interop.dcc import EuDccFormat, trusted_key_from_certificate
from health_code.interop.formats import OurFormat, detect_format
from tests.health_code.interop.dcc_signing import (
    DAY,
    ISSUE,
    NOW,
    OID_ALT_TEST,
    OID_RECOVERY,
    OID_TEST,
    OID_VACCINATION,
    cwt,
    hcert,
    lab_test,
    make_signer,
    recovery,
    sign_hc1,
    vaccination,
)

DCC = EuDccFormat()


@pytest.fixture(scope="module")
def signer():
    return make_signer()


def error_of(text: str, lookup, now: float = NOW) -> str:
    with pytest.raises(CodeError) as caught:
        DCC.verify(DCC.decode(text), lookup, now)
    return caught.value.code


def decode_error(text: str) -> str:
    with pytest.raises(CodeError) as caught:
        DCC.decode(text)
    return caught.value.code


# --- a good code ---------------------------------------------------------------------------------


def test_a_signed_vaccination_decodes_verifies_and_reads(signer):
    text = sign_hc1(cwt(hcert(vaccination(dn=2, sd=2, ci="URN:UVCI:01:XA:ABC#7")), iss="XA"), signer)
    assert DCC.detect(text)

    code = DCC.decode(text)
    assert (code.format, code.kid, code.alg, code.issuer) == ("HC1", signer.kid, -7, "XA")
    assert (code.issued_at, code.expires_at) == (ISSUE, ISSUE + 30 * DAY)
    assert DCC.verify(code, signer.lookup, NOW) is signer.trusted

    status = DCC.to_status(code)
    assert status.format == "HC1"
    assert status.issuer == "XA"
    assert status.state == "vaccinated"
    assert status.code_id == "URN:UVCI:01:XA:ABC#7"
    assert status.cert_type == "v"
    assert status.subject == {"fnt": "MUSTER", "gnt": "ERIKA", "dob": "1990-01-02"}
    assert (status.issued_at, status.expires_at) == (ISSUE, ISSUE + 30 * DAY)
    assert status.revocation_hash == hashlib.sha256(b"URN:UVCI:01:XA:ABC#7").hexdigest()


@pytest.mark.parametrize("entry, state, cert_type", [
    (vaccination(dn=2, sd=2), "vaccinated", "v"),
    (vaccination(dn=3, sd=2), "vaccinated", "v"),  # a booster
    (vaccination(dn=1, sd=2), "partially_vaccinated", "v"),
    (lab_test(tr="260415000"), "test_negative", "t"),
    (lab_test(tr="260373001"), "test_positive", "t"),
    (recovery(), "recovered", "r"),
])
def test_status_states(signer, entry, state, cert_type):
    code = DCC.decode(sign_hc1(cwt(hcert(entry)), signer))
    DCC.verify(code, signer.lookup, NOW)
    status = DCC.to_status(code)
    assert (status.state, status.cert_type) == (state, cert_type)
    assert status.code_id == next(iter(entry.values()))[0]["ci"]


def test_subject_carries_only_the_fields_present(signer):
    code = DCC.decode(sign_hc1(cwt(hcert(lab_test(), nam={"fn": "Test", "fnt": "TEST"}, dob=None)), signer))
    assert DCC.to_status(code).subject == {"fnt": "TEST"}


@pytest.mark.parametrize("certificate", [
    hcert(lab_test(tr="")),  # a test without a result is no status
    hcert(lab_test(tr="123")),
    hcert({"v": [{k: v for k, v in vaccination()["v"][0].items() if k != "ci"}]}),
    hcert({"v": [{**vaccination()["v"][0], "dn": "2"}]}),
])
def test_unreadable_entries_are_bad_claims(signer, certificate):
    code = DCC.decode(sign_hc1(cwt(certificate), signer))
    with pytest.raises(CodeError) as caught:
        DCC.to_status(code)
    assert caught.value.code == "BAD_CLAIMS"


def test_a_null_certificate_type_is_an_absent_one(signer):
    """Older schemas write `"t": null, "r": null` beside the type they carry."""
    code = DCC.decode(sign_hc1(cwt(hcert({**recovery(), "t": None, "v": None})), signer))
    DCC.verify(code, signer.lookup, NOW)
    assert (DCC.certificate_type(code), DCC.to_status(code).state) == ("r", "recovered")


def test_several_vaccination_entries_read_the_latest_dose(signer):
    first = vaccination(dn=1, sd=2, ci="URN:UVCI:01:XA:DOSE1#1")["v"][0]
    second = {**vaccination(dn=2, sd=2, ci="URN:UVCI:01:XA:DOSE2#2")["v"][0], "dt": "2026-05-20"}
    code = DCC.decode(sign_hc1(cwt(hcert({"v": [second, first]})), signer))
    DCC.verify(code, signer.lookup, NOW)
    status = DCC.to_status(code)
    assert (status.state, status.code_id, status.other_code_ids) == ("vaccinated", "URN:UVCI:01:XA:DOSE2#2",
                                                                     ("URN:UVCI:01:XA:DOSE1#1",))
    assert status.revocation_hashes == (hashlib.sha256(b"URN:UVCI:01:XA:DOSE2#2").hexdigest(),
                                        hashlib.sha256(b"URN:UVCI:01:XA:DOSE1#1").hexdigest())


@pytest.mark.parametrize("certificate", [
    hcert({"t": lab_test(tr="260415000")["t"] + lab_test(tr="260373001")["t"]}),  # never pick a test result
    hcert({"r": recovery()["r"] * 2}),
    hcert({"v": [vaccination()["v"][0], {k: v for k, v in vaccination()["v"][0].items() if k != "dn"}]}),
])
def test_several_entries_without_a_single_status_verify_but_give_none(signer, certificate):
    code = DCC.decode(sign_hc1(cwt(certificate), signer))
    DCC.verify(code, signer.lookup, NOW)  # the signature covers every entry
    with pytest.raises(CodeError) as caught:
        DCC.to_status(code)
    assert caught.value.code == "BAD_CLAIMS"


def test_a_code_without_issuer_cannot_give_a_status(signer):
    code = DCC.decode(sign_hc1(cwt(iss=None), signer))
    DCC.verify(code, signer.lookup, NOW)
    with pytest.raises(CodeError) as caught:
        DCC.to_status(code)
    assert caught.value.code == "BAD_CLAIMS"


@pytest.mark.parametrize("claims", [
    {4: ISSUE + DAY, 6: ISSUE, 1: "XA"},  # no hcert
    {4: ISSUE + DAY, 6: ISSUE, 1: "XA", -260: {1: b"\xff\xff garbled"}},
    {4: ISSUE + DAY, 6: ISSUE, 1: "XA", -260: {2: hcert(vaccination())}},
    cwt(hcert({**vaccination(), **recovery()})),  # two types in one certificate
    cwt(hcert({"v": []})),
    cwt(hcert({"v": None, "t": None})),  # only null types: none at all
    cwt(hcert({"v": ["not an entry"]})),
    {4: "tomorrow", 6: ISSUE, 1: "XA", -260: {1: hcert(vaccination())}},
    {6: ISSUE, 1: "XA", -260: {1: hcert(vaccination())}},  # no exp
])
def test_missing_or_garbled_hcert_is_bad_claims(signer, claims):
    assert decode_error(sign_hc1(claims, signer)) == "BAD_CLAIMS"


# --- signatures and signers ----------------------------------------------------------------------


def test_a_tampered_payload_is_a_bad_signature(signer):
    def tamper(payload: bytes) -> bytes:
        claims = cbor2.loads(payload)
        claims[-260][1]["v"][0]["dn"] = 3
        return cbor2.dumps(claims)

    text = sign_hc1(cwt(hcert(vaccination(dn=1, sd=2))), signer, tamper=tamper)
    assert DCC.to_status(DCC.decode(text)).state == "vaccinated"  # what the forger wanted, unverified
    assert error_of(text, signer.lookup) == "BAD_SIGNATURE"


def test_an_unknown_kid_is_refused(signer):
    other = make_signer()
    assert error_of(sign_hc1(cwt(), signer), other.lookup) == "UNKNOWN_KID"
    assert error_of(sign_hc1(cwt(), signer, kid=b""), signer.lookup) == "UNKNOWN_KID"


def test_a_kid_naming_another_trusted_signer_fails_the_signature(signer):
    other = make_signer()
    text = sign_hc1(cwt(), signer, kid=other.kid)
    assert error_of(text, other.lookup) == "BAD_SIGNATURE"


def test_kid_may_be_in_the_unprotected_header(signer):
    text = sign_hc1(cwt(), signer, kid_in="unprotected")
    code = DCC.decode(text)
    assert code.kid == signer.kid and 4 not in code.protected
    assert DCC.verify(code, signer.lookup, NOW) is signer.trusted


def test_an_unprotected_kid_never_overrides_the_protected_one(signer):
    text = sign_hc1(cwt(), signer, kid=b"foo", unprotected_kid=signer.kid)
    assert DCC.decode(text).kid == b"foo"
    assert error_of(text, signer.lookup) == "UNKNOWN_KID"
    assert error_of(sign_hc1(cwt(), signer, kid=b"foo", kid_in="unprotected"), signer.lookup) == "UNKNOWN_KID"


def test_a_wrong_unprotected_kid_beside_the_right_protected_one_is_ignored(signer):
    """The unprotected header is not signed: anyone may write in it, so it cannot spoil a good code."""
    text = sign_hc1(cwt(), signer, unprotected_kid=b"foo")
    code = DCC.decode(text)
    assert (code.kid, code.unprotected[4]) == (signer.kid, b"foo")
    assert DCC.verify(code, signer.lookup, NOW) is signer.trusted


@pytest.mark.parametrize("tag, cwt_tag", [(True, False), (False, False), (True, True), (False, True)])
def test_cose_with_or_without_tag_18_and_cwt_tag_61(signer, tag, cwt_tag):
    text = sign_hc1(cwt(), signer, tag=tag, cwt_tag=cwt_tag)
    assert DCC.verify(DCC.decode(text), signer.lookup, NOW) is signer.trusted


def test_ps256_with_an_rsa_key_verifies():
    rsa_signer = make_signer("rsa")
    code = DCC.decode(sign_hc1(cwt(hcert(recovery())), rsa_signer))
    assert code.alg == -37
    assert DCC.verify(code, rsa_signer.lookup, NOW) is rsa_signer.trusted
    assert DCC.to_status(code).state == "recovered"


def test_es256_with_a_p384_key_verifies_and_a_p256_sized_signature_does_not():
    """COSE's ES256 is ECDSA with SHA-256 on the key's curve; some issuers' signers are P-384."""
    p384 = make_signer("ec384")
    code = DCC.decode(sign_hc1(cwt(), p384))
    assert (code.alg, len(code.signature)) == (-7, 96)
    assert DCC.verify(code, p384.lookup, NOW) is p384.trusted
    truncated = replace(code, signature=code.signature[:64])
    with pytest.raises(CodeError) as caught:
        DCC.verify(truncated, p384.lookup, NOW)
    assert caught.value.code == "BAD_SIGNATURE"


def test_ps256_salt_must_be_the_digest_length():
    rsa_signer = make_signer("rsa")
    text = sign_hc1(cwt(), rsa_signer, salt_length=64)
    assert error_of(text, rsa_signer.lookup) == "BAD_SIGNATURE"


def test_the_key_type_must_match_the_algorithm(signer):
    rsa_signer = make_signer("rsa")
    ps256_claimed_by_ec = sign_hc1(cwt(), rsa_signer, kid=signer.kid)  # PS256 header, EC key behind the kid
    assert error_of(ps256_claimed_by_ec, signer.lookup) == "UNSUPPORTED_ALGORITHM"
    es256_claimed_by_rsa = sign_hc1(cwt(), signer, kid=rsa_signer.kid)
    assert error_of(es256_claimed_by_rsa, rsa_signer.lookup) == "UNSUPPORTED_ALGORITHM"
    assert error_of(sign_hc1(cwt(), signer, alg=-35), signer.lookup) == "UNSUPPORTED_ALGORITHM"  # ES384


def test_a_signer_outside_its_validity_is_refused(signer):
    text = sign_hc1(cwt(), signer)
    lapsed = replace(signer.trusted, not_after=datetime.fromtimestamp(NOW - 1, timezone.utc))
    assert error_of(text, lambda kid: lapsed) == "KEY_NOT_VALID"
    last_second = replace(signer.trusted, not_after=datetime.fromtimestamp(NOW, timezone.utc))  # notAfter is inclusive
    assert DCC.verify(DCC.decode(text), lambda kid: last_second, NOW) is last_second
    early = replace(signer.trusted, not_before=datetime.fromtimestamp(NOW + 1, timezone.utc))
    assert error_of(text, lambda kid: early) == "KEY_NOT_VALID"


# --- key usage -----------------------------------------------------------------------------------


@pytest.mark.parametrize("test_oid", [OID_TEST, OID_ALT_TEST])
def test_a_test_only_signer_may_not_sign_a_vaccination(test_oid):
    tests_only = make_signer(eku=(test_oid,))
    assert tests_only.trusted.usages == frozenset({"t"})
    assert error_of(sign_hc1(cwt(hcert(vaccination())), tests_only), tests_only.lookup) == "KEY_USAGE"
    assert error_of(sign_hc1(cwt(hcert(recovery())), tests_only), tests_only.lookup) == "KEY_USAGE"
    code = DCC.decode(sign_hc1(cwt(hcert(lab_test())), tests_only))
    assert DCC.verify(code, tests_only.lookup, NOW) is tests_only.trusted


def test_key_usage_is_checked_after_the_signature():
    tests_only = make_signer(eku=(OID_TEST,))
    forged = sign_hc1(cwt(hcert(vaccination())), tests_only, tamper=lambda p: p.replace(b"XA", b"XB"))
    assert error_of(forged, tests_only.lookup) == "BAD_SIGNATURE"


def test_a_signer_without_dcc_usage_oids_may_sign_any_type():
    signer = make_signer(eku=("1.3.6.1.5.5.7.3.2",))  # TLS client only: says nothing about DCC types
    assert signer.trusted.usages is None
    for entry in (vaccination(), lab_test(), recovery()):
        DCC.verify(DCC.decode(sign_hc1(cwt(hcert(entry)), signer)), signer.lookup, NOW)


def test_a_critical_extended_key_usage_without_dcc_oids_signs_no_type():
    """RFC 5280: a critical extended key usage limits the key to the purposes listed."""
    other_purpose = make_signer(eku=("2.23.136.1.1.14.2",), eku_critical=True)
    assert other_purpose.trusted.usages == frozenset()
    for entry in (vaccination(), lab_test(), recovery()):
        assert error_of(sign_hc1(cwt(hcert(entry)), other_purpose), other_purpose.lookup) == "KEY_USAGE"
    critical_test = make_signer(eku=(OID_TEST,), eku_critical=True)
    assert critical_test.trusted.usages == frozenset({"t"})


# --- time ----------------------------------------------------------------------------------------


def test_expired_only_after_exp(signer):
    text = sign_hc1(cwt(iat=ISSUE, exp=ISSUE + DAY), signer)
    DCC.verify(DCC.decode(text), signer.lookup, ISSUE + DAY - 1)
    DCC.verify(DCC.decode(text), signer.lookup, ISSUE + DAY)  # at exp: still valid
    assert error_of(text, signer.lookup, now=ISSUE + DAY + 0.001) == "EXPIRED"
    assert error_of(text, signer.lookup, now=ISSUE + 10 * DAY) == "EXPIRED"


def test_float_iat_and_exp_are_numeric_dates(signer):
    text = sign_hc1(cwt(iat=ISSUE + 0.25, exp=ISSUE + DAY + 0.75), signer)
    code = DCC.decode(text)
    assert (code.issued_at, code.expires_at) == (ISSUE + 0.25, ISSUE + DAY + 0.75)
    DCC.verify(code, signer.lookup, ISSUE + DAY + 0.75)
    assert error_of(text, signer.lookup, now=ISSUE + DAY + 0.8) == "EXPIRED"
    status = DCC.to_status(code)
    assert (status.issued_at, status.expires_at) == (ISSUE, ISSUE + DAY)  # whole seconds, never past exp


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, "1780000000"])
def test_iat_and_exp_must_be_finite_numbers(signer, bad):
    assert decode_error(sign_hc1(cwt(exp=bad), signer)) == "BAD_CLAIMS"
    assert decode_error(sign_hc1(cwt(iat=bad), signer)) == "BAD_CLAIMS"


def test_issued_in_the_future_is_not_yet_valid(signer):
    text = sign_hc1(cwt(iat=ISSUE + DAY, exp=ISSUE + 30 * DAY), signer)
    assert error_of(text, signer.lookup, now=ISSUE) == "NOT_YET_VALID"
    DCC.verify(DCC.decode(text), signer.lookup, ISSUE + DAY - 30)  # small clock skew is tolerated


def test_time_is_checked_after_the_signature(signer):
    text = sign_hc1(cwt(iat=ISSUE, exp=ISSUE + DAY), signer, tamper=lambda p: p.replace(b"XA", b"XB"))
    assert error_of(text, signer.lookup, now=ISSUE + 10 * DAY) == "BAD_SIGNATURE"


# --- transport layers ----------------------------------------------------------------------------


def test_detect_only_looks_at_the_prefix():
    assert DCC.detect("HC1:anything")
    assert not DCC.detect("HC2:NCF")
    assert not DCC.detect("GDHC1:NCF")
    assert not DCC.detect("NCFOXN")


def test_transport_errors(signer):
    assert decode_error("HL0:" + sign_hc1(cwt(), signer)[4:]) == "BAD_PREFIX"
    assert decode_error("HC1:NCF%%%lower{}") == "BAD_ENCODING"
    assert decode_error(sign_hc1(cwt(), signer, compress=False)) == "BAD_COMPRESSION"
    truncated = zlib.compress(cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""])))[:-6]
    assert decode_error("HC1:" + base45.b45encode(truncated).decode()) == "BAD_COMPRESSION"
    for raw in (b"\x00", cbor2.dumps(0) + b"trailing", cbor2.dumps(cbor2.CBORTag(98, [])), cbor2.dumps([b"", {}, b""]),
                cbor2.dumps(cbor2.CBORTag(18, ["not bytes", {}, b"", b""])), b"\xff\xfe"):
        assert decode_error("HC1:" + base45.b45encode(zlib.compress(raw)).decode()) == "BAD_COSE", raw


def test_a_decompression_bomb_is_refused(signer):
    bomb = zlib.compress(b"\x00" * (10 * 1024 * 1024))
    assert decode_error("HC1:" + base45.b45encode(bomb).decode()) == "BAD_COMPRESSION"


# --- trust list entries from certificates --------------------------------------------------------


def test_trusted_key_from_certificate():
    signer = make_signer(eku=(OID_VACCINATION, OID_RECOVERY), country="XB",
                         not_before=ISSUE - DAY, not_after=ISSUE + 2 * DAY)
    key = trusted_key_from_certificate(signer.der)
    assert key.kid == hashlib.sha256(signer.der).digest()[:8]
    assert key.public_key.public_numbers() == signer.private_key.public_key().public_numbers()
    assert key.issuer == "XB"
    assert key.not_before == datetime.fromtimestamp(ISSUE - DAY, timezone.utc)
    assert key.not_after == datetime.fromtimestamp(ISSUE + 2 * DAY, timezone.utc)
    assert key.not_before.tzinfo is not None and key.not_after.tzinfo is not None
    assert key.usages == frozenset({"v", "r"})
    assert trusted_key_from_certificate(signer.der, issuer="MO").issuer == "MO"


def test_a_certificate_that_is_not_strict_der_is_read_leniently():
    """An explicitly encoded default (BasicConstraints cA FALSE) is BER, not DER: `cryptography`
    refuses it, the lenient parse still reads the key, validity, country and usages."""
    signer = make_signer(eku=(OID_TEST,), country="XC", not_before=ISSUE - DAY, not_after=ISSUE + DAY)
    ber = _with_explicit_ca_false(signer.der)
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(ber).extensions
    key = trusted_key_from_certificate(ber)
    assert key.kid == hashlib.sha256(ber).digest()[:8]
    assert key.public_key.public_numbers() == signer.private_key.public_key().public_numbers()
    assert (key.issuer, key.usages) == ("XC", frozenset({"t"}))
    assert (key.not_before, key.not_after) == (datetime.fromtimestamp(ISSUE - DAY, timezone.utc),
                                               datetime.fromtimestamp(ISSUE + DAY, timezone.utc))
    code = DCC.decode(sign_hc1(cwt(hcert(lab_test())), signer, kid=key.kid))
    assert DCC.verify(code, lambda kid: key if kid == key.kid else None, NOW) is key


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x01", b"not a certificate at all"])
def test_an_unreadable_certificate_is_refused_by_both_parses(garbage):
    with pytest.raises(ValueError):
        trusted_key_from_certificate(garbage)


def test_a_signer_with_another_key_type_is_refused():
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "XA")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(datetime.fromtimestamp(ISSUE, timezone.utc))
                   .not_valid_after(datetime.fromtimestamp(ISSUE + DAY, timezone.utc)).sign(key, None))
    with pytest.raises(ValueError, match="EC or RSA"):
        trusted_key_from_certificate(certificate.public_bytes(serialization.Encoding.DER))


def _with_explicit_ca_false(der: bytes) -> bytes:
    """The certificate plus a BasicConstraints extension whose cA FALSE is written out (BER, not DER),
    as some issuers' signers have it (the certificate's own signature no longer matters here)."""
    certificate = asn1_x509.Certificate.load(der)
    tbs = certificate["tbs_certificate"]
    written_out = asn1_core.ParsableOctetString(bytes.fromhex("3003010100"))  # SEQUENCE { BOOLEAN FALSE }
    extension = asn1_x509.Extension({"extn_id": "basic_constraints", "critical": True, "extn_value": written_out})
    tbs["extensions"] = asn1_x509.Extensions([*tbs["extensions"], extension])
    return certificate.dump()  # not force=True: that would re-encode the extension as DER


def test_trusted_key_without_usage_oids_or_country():
    signer = make_signer(eku=None, country=None)
    key = trusted_key_from_certificate(signer.der)
    assert key.usages is None
    assert key.issuer == ""


# --- among the other formats ---------------------------------------------------------------------


def test_default_adapters_tell_the_formats_apart(signer):
    adapters = default_adapters()
    assert [a.name for a in adapters] == ["GDHC1", "HC1"]
    assert isinstance(adapters[0], OurFormat) and isinstance(adapters[1], EuDccFormat)
    assert detect_format(sign_hc1(cwt(), signer), adapters).name == "HC1"
    assert detect_format("GDHC1:NCF", adapters).name == "GDHC1"
    with pytest.raises(CodeError) as caught:
        detect_format("HC2:NCF", adapters)
    assert caught.value.code == "UNSUPPORTED_FORMAT"
