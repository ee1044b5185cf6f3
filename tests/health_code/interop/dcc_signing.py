"""Test helpers: EU DCC (`HC1:`) codes signed here, by signers with self-signed certificates."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from health_code.interop.dcc import trusted_key_from_certificate
from health_code.interop.formats import TrustedKey

ISSUE = 1_780_000_000  # a fixed issue second (2026-05-28T20:26:40Z)
DAY = 86_400
NOW = ISSUE + 60
OID_TEST, OID_VACCINATION, OID_RECOVERY = (f"1.3.6.1.4.1.1847.2021.1.{n}" for n in (1, 2, 3))
OID_ALT_TEST = "1.3.6.1.4.1.0.1847.2021.1.1"


@dataclass(frozen=True)
class Signer:
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    der: bytes
    trusted: TrustedKey

    @property
    def kid(self) -> bytes:
        return self.trusted.kid

    def lookup(self, kid: bytes) -> TrustedKey | None:
        return self.trusted if kid == self.trusted.kid else None


@lru_cache(maxsize=None)
def _rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_signer(kind: str = "ec", eku: tuple[str, ...] | None = None, country: str | None = "XA",
                not_before: float = ISSUE - 30 * DAY, not_after: float = ISSUE + 365 * DAY,
                eku_critical: bool = False) -> Signer:
    """A fresh key and a self-signed DSC; `kind` = "ec" (P-256), "ec384" (P-384) or "rsa";
    `eku` = extended-key-usage OIDs (None: no such extension)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "rsa":
        key = _rsa_key(2048)
    else:
        key = ec.generate_private_key(ec.SECP384R1() if kind == "ec384" else ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, "DSC for tests")]
    if country is not None:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    name = x509.Name(attributes)
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.fromtimestamp(not_before, timezone.utc))
        .not_valid_after(datetime.fromtimestamp(not_after, timezone.utc))
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in eku]),
                                       critical=eku_critical)
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return Signer(key, der, trusted_key_from_certificate(der))


def vaccination(dn: int = 2, sd: int = 2, ci: str = "URN:UVCI:01:XA:VACC0001#1") -> dict[str, Any]:
    return {"v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
                   "dn": dn, "sd": sd, "dt": "2026-05-01", "co": "XA", "is": "Test issuer", "ci": ci}]}


def lab_test(tr: str = "260415000", ci: str = "URN:UVCI:01:XA:TEST0001#2") -> dict[str, Any]:
    return {"t": [{"tg": "840539006", "tt": "LP217198-3", "sc": "2026-05-28T08:00:00Z", "tr": tr,
                   "tc": "Test centre", "co": "XA", "is": "Test issuer", "ci": ci}]}


def recovery(ci: str = "URN:UVCI:01:XA:REC0001#3") -> dict[str, Any]:
    return {"r": [{"tg": "840539006", "fr": "2026-04-01", "co": "XA", "is": "Test issuer", "df": "2026-04-12",
                   "du": "2026-10-01", "ci": ci}]}


def hcert(entry: dict[str, Any], nam: dict[str, str] | None = None, dob: str | None = "1990-01-02") -> dict[str, Any]:
    body: dict[str, Any] = {"ver": "1.3.0", "nam": nam if nam is not None else
                            {"fn": "Muster", "fnt": "MUSTER", "gn": "Erika", "gnt": "ERIKA"}}
    if dob is not None:
        body["dob"] = dob
    return {**body, **entry}


def cwt(certificate: dict[str, Any] | None = None, iss: str | None = "XA", iat: float = ISSUE,
        exp: float = ISSUE + 30 * DAY) -> dict[Any, Any]:
    claims: dict[Any, Any] = {4: exp, 6: iat, -260: {1: certificate if certificate is not None else hcert(vaccination())}}
    if iss is not None:
        claims[1] = iss
    return claims


def sign_hc1(claims: dict[Any, Any], signer: Signer, *, alg: int | None = None, kid: bytes | None = None,
             kid_in: str = "protected", unprotected_kid: bytes | None = None, tag: bool = True, cwt_tag: bool = False,
             salt_length: int = 32, tamper: Callable[[bytes], bytes] | None = None, compress: bool = True) -> str:
    """Sign `claims` as a DCC. `kid_in` = "protected" or "unprotected"; `tamper` edits the
    payload after signing; `unprotected_kid` adds a second kid to the unprotected header."""
    is_ec = isinstance(signer.private_key, ec.EllipticCurvePrivateKey)
    alg = alg if alg is not None else (-7 if is_ec else -37)
    kid = kid if kid is not None else signer.kid
    protected_map: dict[int, Any] = {1: alg}
    unprotected: dict[int, Any] = {}
    (protected_map if kid_in == "protected" else unprotected)[4] = kid
    if unprotected_kid is not None:
        unprotected[4] = unprotected_kid
    protected = cbor2.dumps(protected_map)
    payload = cbor2.dumps(claims)
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    if isinstance(signer.private_key, ec.EllipticCurvePrivateKey):
        size = (signer.private_key.curve.key_size + 7) // 8
        r, s = decode_dss_signature(signer.private_key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length)
        signature = signer.private_key.sign(to_be_signed, pss, hashes.SHA256())
    if tamper is not None:
        payload = tamper(payload)
    message: Any = [protected, unprotected, payload, signature]
    if tag:
        message = cbor2.CBORTag(18, message)
    if cwt_tag:
        message = cbor2.CBORTag(61, message)
    raw = cbor2.dumps(message)
    return "HC1:" + base45.b45encode(zlib.compress(raw, 9) if compress else raw).decode("ascii")


def write_vector(path: Path, code: str, signer: Signer, clock: str, expected: dict[str, bool] | None = None,
                 **extra: Any) -> Path:
    """A test-vector file in the dgc-testdata layout."""
    data = {"PREFIX": code, "TESTCTX": {"VERSION": 1, "CERTIFICATE": base64.b64encode(signer.der).decode("ascii"),
                                        "VALIDATIONCLOCK": clock, "DESCRIPTION": "made by the tests"},
            "EXPECTEDRESULTS": expected or {}, **extra}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
