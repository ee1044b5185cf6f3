"""EU Digital COVID Certificate (欧盟数字新冠证书) codes as a format adapter: `HC1:` texts.

    text = "HC1:" + base45(zlib(COSE_Sign1))

The COSE_Sign1 may carry CBOR tag 18 or none, and may be wrapped in the CWT tag 61. Its
`kid` (8 bytes: the first 8 of SHA-256 of the signer's DER certificate) is in the protected
header or, with some issuers, in the unprotected one. The unprotected header is not signed,
so a protected `kid` always wins and the unprotected one counts only when the protected
header has none. `alg` is ES256 (-7) or PS256 (-37). The payload is a CWT map:

    1 (iss) country, 4 (exp), 6 (iat), -260 (hcert) → {1: {"ver", "nam", "dob", one of "v"/"t"/"r": [entry, ...]}}

What real issuers write, and how it is read:

- `iat` and `exp` are CBOR integers or floats (RFC 8392 NumericDate may be fractional); a
  code is expired only after `exp` (a code whose `exp` equals the clock is still valid).
- Older schemas write the absent types as `null` (`"v": [...], "t": null, "r": null`):
  a null type is an absent one.
- Several entries of one type in one certificate (older issuers put every dose of a
  vaccination in one code): the code decodes and verifies, since its signature covers all of
  them. Its status is read from the latest vaccination dose (highest `dn`, then latest `dt`),
  and every entry's identifier counts for revocation (`ForeignStatus.revocation_hashes`).
  Several test or recovery entries give no status: a verifier never picks a test result.

Trust comes from a trust list of signer certificates (`trusted_key_from_certificate`). A
signer may be restricted to some certificate types by extended-key-usage OIDs; without such
an OID it may sign every type, unless its extended key usage is critical (RFC 5280: then the
key serves only the purposes listed, and none of them is a DCC type).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping, Sequence

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.x509.oid import NameOID

from app.security import cose
from app.security.cose import CWT_EXP, CWT_IAT, CWT_ISS, CodeError
from health_code.interop.formats import DecodedCode, ForeignStatus, KeyLookup, TrustedKey, check_key_validity

PREFIX = "HC1:"
CWT_HCERT = -260
HCERT_V1 = 1
CERT_TYPES = ("v", "t", "r")
TEST_NEGATIVE, TEST_POSITIVE = "260415000", "260373001"  # SNOMED CT "not detected" / "detected"
IAT_LEEWAY = 60  # seconds an issuer's clock may run ahead of ours
MAX_DECOMPRESSED = cose.MAX_INFLATED  # a QR code holds < 3 kB; anything bigger than this is not a DCC

# Extended-key-usage OIDs that restrict a signer to certificate types. The `.0.` forms are a
# misprint in early national test certificates (the NL and `common/` test signers carry them);
# the reference verifiers (dgca-verifier-app, dgc-testdata's own checks) accept both spellings.
USAGE_OIDS = {
    "1.3.6.1.4.1.1847.2021.1.1": "t", "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v", "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r", "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}

EXTENDED_KEY_USAGE_OID = "2.5.29.37"

# Errors raised before (or by) the signature check: with any other error from `verify`, the
# signature itself was good (used by the test-vector runner to report "signature verified").
SIGNER_ERRORS = frozenset({"UNKNOWN_KID", "KEY_NOT_VALID", "UNSUPPORTED_ALGORITHM", "BAD_SIGNATURE"})


class EuDccFormat:
    """`HC1:` EU DCC codes: decode, verify against a DSC trust list, read the certificate."""

    name = "HC1"

    def detect(self, text: str) -> bool:
        return isinstance(text, str) and text.startswith(PREFIX)

    def decode(self, text: str) -> DecodedCode:
        # zlib, strictly: an uncompressed COSE is a failure (as the DCC test vectors expect).
        return self.decode_cose(cose.inflate(cose.decode_text(text, PREFIX), MAX_DECOMPRESSED))

    def decode_cose(self, raw: bytes) -> DecodedCode:
        """The layers below zlib: a (tagged or untagged, maybe CWT-wrapped) COSE_Sign1 with a CWT."""
        sign1 = cose.decode_sign1(raw, strict=True, cwt_tag=True)
        claims = cose.cwt_claims(sign1.payload, "BAD_CLAIMS")
        _hcert(claims)  # the certificate must be there and well-formed before anyone reads it
        iss, iat, exp = claims.get(CWT_ISS), claims.get(CWT_IAT), claims.get(CWT_EXP)
        if not _is_numeric_date(iat) or not _is_numeric_date(exp) or (iss is not None and not isinstance(iss, str)):
            raise CodeError("BAD_CLAIMS", "iat and exp must be numbers (seconds), iss a string")
        alg = sign1.alg
        return DecodedCode(self.name, sign1.protected, sign1.unprotected, sign1.protected_raw, sign1.payload,
                           sign1.signature, claims, sign1.kid, alg if _is_int(alg) else None, iss, iat, exp)

    def verify(self, code: DecodedCode, find_key: KeyLookup, now: float) -> TrustedKey:
        """Signer (kid, key validity, algorithm), signature, key usage, then time; in that order."""
        trusted = find_key(code.kid) if code.kid is not None and 1 <= len(code.kid) <= 16 else None
        if trusted is None:
            raise CodeError("UNKNOWN_KID")
        check_key_validity(trusted, now)
        verify_signature(code, trusted)
        cert_type = certificate_type(code)
        if not usage_allowed(trusted, cert_type):
            raise CodeError("KEY_USAGE", f"signer may not sign {cert_type!r} certificates")
        error = time_error(code.issued_at, code.expires_at, now)
        if error is not None:
            raise CodeError(error)
        return trusted

    def certificate_type(self, code: DecodedCode) -> str:
        return certificate_type(code)

    def to_status(self, code: DecodedCode) -> ForeignStatus:
        hcert = _hcert(code.claims)
        cert_type = certificate_type(code)
        entry = _status_entry(cert_type, hcert[cert_type])
        try:
            if cert_type == "v":
                done, total = entry["dn"], entry["sd"]
                if not _is_int(done) or not _is_int(total):
                    raise CodeError("BAD_CLAIMS", "dn/sd must be integers")
                state = "vaccinated" if done >= total else "partially_vaccinated"
            elif cert_type == "t":
                result = entry["tr"]
                if result == TEST_NEGATIVE:
                    state = "test_negative"
                elif result == TEST_POSITIVE:
                    state = "test_positive"
                else:  # never guess a test result
                    raise CodeError("BAD_CLAIMS", f"unknown test result {result!r}")
            else:
                state = "recovered"
            code_id = entry["ci"]
        except (KeyError, TypeError):
            raise CodeError("BAD_CLAIMS", f"incomplete {cert_type!r} entry") from None
        if not isinstance(code_id, str) or not code_id:
            raise CodeError("BAD_CLAIMS", "no certificate identifier (ci)")
        if code.issuer is None or code.issued_at is None or code.expires_at is None:
            raise CodeError("BAD_CLAIMS", "no issuer")
        # Whole seconds: iat rounded down, exp rounded down so nothing derived outlives the code.
        return ForeignStatus(self.name, code.issuer, state, code_id, math.floor(code.issued_at),
                             math.floor(code.expires_at), _subject(hcert), cert_type,
                             _other_identifiers(hcert[cert_type], code_id))


def verify_signature(code: DecodedCode, trusted: TrustedKey) -> None:
    """ES256 or PS256 over the COSE Sig_structure, with a key of the matching type. ES256 fixes the
    hash, not the curve: some issuers sign it with a P-384 key, as the reference verifiers accept."""
    cose.check_signature(trusted.public_key, code.alg, code.protected_raw, code.payload_raw, code.signature)


def certificate_type(code: DecodedCode) -> str:
    """"v", "t" or "r": which kind of certificate the hcert carries (exactly one)."""
    hcert = _hcert(code.claims)
    return next(t for t in CERT_TYPES if hcert.get(t) is not None)


def usage_allowed(key: TrustedKey, cert_type: str) -> bool:
    return key.usages is None or cert_type in key.usages


def time_error(issued_at: float | None, expires_at: float | None, now: float) -> str | None:
    """EXPIRED (after `exp`), NOT_YET_VALID, or None when the code is inside its validity at `now`."""
    if expires_at is None or issued_at is None:
        return "BAD_CLAIMS"
    if now > expires_at:
        return "EXPIRED"
    if issued_at > now + IAT_LEEWAY:
        return "NOT_YET_VALID"
    return None


def trusted_key_from_certificate(der: bytes, issuer: str | None = None) -> TrustedKey:
    """A trust-list entry from a signer (DSC) certificate in DER.

    kid = first 8 bytes of SHA-256 of the DER; validity from the certificate; usages from the
    DCC extended-key-usage OIDs (`_usages`); issuer = `issuer` or the subject's country (C),
    "" when the certificate names none.

    The certificate is parsed strictly (`cryptography`) and, when that refuses it, leniently
    (asn1crypto): some issuers' signers are not strict DER (an explicitly encoded default,
    an empty extended key usage), and a verifier needs only their key, validity and usages.
    """
    try:
        signer = _strict_signer(der)
    except (ValueError, UnsupportedAlgorithm):
        signer = _lenient_signer(der)
    if not isinstance(signer.public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise ValueError("DCC signers use EC or RSA keys")
    if issuer is None:
        issuer = signer.countries[0] if signer.countries else ""
    return TrustedKey(kid=hashlib.sha256(der).digest()[:8], public_key=signer.public_key, issuer=issuer,
                      not_before=signer.not_before, not_after=signer.not_after,
                      usages=_usages(signer.usage_oids, signer.usage_critical))


@dataclass(frozen=True)
class _SignerCertificate:
    """What a verifier reads of a signer certificate."""

    public_key: Any
    not_before: datetime
    not_after: datetime
    countries: list[str]  # the subject's C values
    usage_oids: list[str] | None  # its extended key usage; None when it has none
    usage_critical: bool


def _strict_signer(der: bytes) -> _SignerCertificate:
    cert = x509.load_der_x509_certificate(der)  # lazy: a malformed extension raises when it is read
    try:
        extension = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        oids: list[str] | None = [oid.dotted_string for oid in extension.value]
        critical = extension.critical
    except x509.ExtensionNotFound:
        oids, critical = None, False
    countries = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)]
    return _SignerCertificate(cert.public_key(), cert.not_valid_before_utc, cert.not_valid_after_utc, countries,
                              oids, critical)


def _lenient_signer(der: bytes) -> _SignerCertificate:
    """The same fields through asn1crypto, which decodes the BER `cryptography` refuses."""
    try:
        tbs = asn1_x509.Certificate.load(der, strict=True)["tbs_certificate"]
        public_key = load_der_public_key(tbs["subject_public_key_info"].dump())
        not_before, not_after = tbs["validity"]["not_before"].native, tbs["validity"]["not_after"].native
        oids: list[str] | None = None
        critical = False
        for extension in tbs["extensions"]:
            if extension["extn_id"].dotted == EXTENDED_KEY_USAGE_OID:
                purposes = extension["extn_value"].parsed
                oids = [oid.dotted for oid in purposes] if purposes is not None else []
                critical = bool(extension["critical"].native)
        countries = [str(attribute["value"].native) for rdn in tbs["subject"].chosen for attribute in rdn
                     if attribute["type"].native == "country_name"]
    except (ValueError, TypeError, KeyError, AttributeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"not an X.509 certificate: {error}") from None
    if not isinstance(not_before, datetime) or not isinstance(not_after, datetime):
        raise ValueError("certificate validity is not readable")
    return _SignerCertificate(public_key, not_before, not_after, countries, oids, critical)


def _usages(oids: list[str] | None, critical: bool) -> frozenset[str] | None:
    """The DCC types a signer may sign: those its DCC usage OIDs name; all (None) when it names
    none, unless its extended key usage is critical, which restricts it to other purposes."""
    types = frozenset(USAGE_OIDS[oid] for oid in oids or () if oid in USAGE_OIDS)
    if types:
        return types
    return frozenset() if oids is not None and critical else None


def _hcert(claims: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """claims[-260][1], checked: a map with exactly one of v/t/r (a null one is absent) holding
    one or more entries (maps)."""
    container = claims.get(CWT_HCERT)
    hcert = container.get(HCERT_V1) if isinstance(container, Mapping) else None
    if not isinstance(hcert, Mapping):
        raise CodeError("BAD_CLAIMS", "no health certificate (-260/1)")
    types = [t for t in CERT_TYPES if hcert.get(t) is not None]
    if len(types) != 1:
        raise CodeError("BAD_CLAIMS", "a DCC carries exactly one of v, t, r")
    entries = hcert[types[0]]
    if not _is_array(entries) or not entries or not all(isinstance(entry, Mapping) for entry in entries):
        raise CodeError("BAD_CLAIMS", f"{types[0]!r} must hold one or more entries")
    return hcert


def _status_entry(cert_type: str, entries: Sequence[Mapping[Any, Any]]) -> Mapping[Any, Any]:
    """The entry that states the holder's status: the only one, or the latest vaccination dose."""
    if len(entries) == 1:
        return entries[0]
    if cert_type != "v":
        raise CodeError("BAD_CLAIMS", f"several {cert_type!r} entries: no single status")
    if not all(_is_int(entry.get("dn")) and isinstance(entry.get("dt"), str) for entry in entries):
        raise CodeError("BAD_CLAIMS", "vaccination entries without dose number or date")
    return max(entries, key=lambda entry: (entry["dn"], entry["dt"]))


def _other_identifiers(entries: Sequence[Mapping[Any, Any]], code_id: str) -> tuple[str, ...]:
    """The identifiers (ci) of the entries beside the one read: a revocation of any of them counts."""
    found = (entry.get("ci") for entry in entries)
    return tuple(sorted({ci for ci in found if isinstance(ci, str) and ci and ci != code_id}))


def _subject(hcert: Mapping[Any, Any]) -> dict[str, str]:
    names = hcert.get("nam")
    fields = {key: names.get(key) for key in ("fnt", "gnt")} if isinstance(names, Mapping) else {}
    dob = hcert.get("dob")
    fields["dob"] = dob.isoformat()[:10] if isinstance(dob, (date, datetime)) else dob
    return {key: value for key, value in fields.items() if isinstance(value, str) and value}


def _is_numeric_date(value: Any) -> bool:
    """A CWT NumericDate: an integer or a finite float (some issuers write floats)."""
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))
