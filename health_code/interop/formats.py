"""Code formats as adapters (格式适配器): each knows how to recognise, unpack, check and read one format.

A format adapter never decides whom to trust. It is handed a `KeyLookup` (the trust list's
view: kid → `TrustedKey`) and a validation time, and answers with a `DecodedCode` and, from
that, a `ForeignStatus` in the issuer's own vocabulary. Mapping that vocabulary to our
colours is the partner registry's job (see `health_code.interop.partners`).

Errors are `health_code.codec.CodeError` with stable codes shared by every format:
UNSUPPORTED_FORMAT, BAD_PREFIX, BAD_ENCODING, BAD_COMPRESSION, BAD_COSE, BAD_CLAIMS,
UNSUPPORTED_ALGORITHM, UNKNOWN_KID, BAD_SIGNATURE, KEY_NOT_VALID,
KEY_USAGE, NOT_YET_VALID, EXPIRED.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Protocol, Sequence

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from health_code import codec
from health_code.codec import CodeError

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class TrustedKey:
    """One key a verifier accepts, with what the trust list says about it."""

    kid: bytes
    public_key: PublicKey
    issuer: str  # partner id (e.g. "MO") or the country of a DCC signer
    not_before: datetime | None = None
    not_after: datetime | None = None
    # Certificate types this key may sign (DCC: "t" test, "v" vaccination, "r" recovery);
    # None means any type.
    usages: frozenset[str] | None = None


KeyLookup = Callable[[bytes], "TrustedKey | None"]


@dataclass(frozen=True)
class DecodedCode:
    """A code unpacked down to its signed parts; nothing in it is trusted until `verify` passes."""

    format: str
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    protected_raw: bytes
    payload_raw: bytes
    signature: bytes
    claims: Mapping[Any, Any]  # the CWT map
    kid: bytes | None
    alg: int | None
    issuer: str | None
    issued_at: float | None  # seconds; some formats allow fractions
    expires_at: float | None


@dataclass(frozen=True)
class ForeignStatus:
    """What a (verified) code says, in its issuer's own words."""

    format: str
    issuer: str
    state: str  # the issuer's vocabulary: "green", "vaccinated", "test_negative", ...
    code_id: str  # the issuer's identifier of this code (our code id hex, a DCC UCI)
    issued_at: int
    expires_at: int
    subject: Mapping[str, str] = field(default_factory=dict)  # what the format carries: name_masked, holder_tag, fnt, gnt, dob
    cert_type: str | None = None
    # Identifiers of the other entries the code carries (a DCC with every dose in one code).
    other_code_ids: tuple[str, ...] = ()

    @property
    def revocation_hash(self) -> str:
        """The hashed identifier partners publish in revocation lists (as the DCC UCI hash)."""
        return revocation_hash(self.code_id)

    @property
    def revocation_hashes(self) -> tuple[str, ...]:
        """Every identifier of the code, hashed: a revocation of any entry revokes the code."""
        return (self.revocation_hash, *(revocation_hash(code_id) for code_id in self.other_code_ids))


def revocation_hash(code_id: str) -> str:
    return hashlib.sha256(code_id.encode()).hexdigest()


class FormatAdapter(Protocol):
    name: str

    def detect(self, text: str) -> bool:
        """Whether `text` looks like this format (by prefix): cheap, no decoding."""

    def decode(self, text: str) -> DecodedCode:
        """Undo the transport layers; raise CodeError for anything malformed."""

    def verify(self, code: DecodedCode, find_key: KeyLookup, now: float) -> TrustedKey:
        """Check signature, kid, key validity and usage, and time; return the key that signed."""

    def to_status(self, code: DecodedCode) -> ForeignStatus:
        """Read the issuer's status out of a verified code."""


class OurFormat:
    """The mutual-recognition format `GDHC1:` (see health_code.codec); partners issue it too."""

    name = "GDHC1"

    def detect(self, text: str) -> bool:
        return text.startswith(codec.PREFIX)

    def decode(self, text: str) -> DecodedCode:
        protected, claims, protected_raw, body, signature = codec.unpack(text)
        kid = protected.get(codec.HEADER_KID)
        iss, iat, exp = claims.get(codec.CWT_ISS), claims.get(codec.CWT_IAT), claims.get(codec.CWT_EXP)
        return DecodedCode(self.name, protected, {}, protected_raw, body, signature, claims,
                           kid if isinstance(kid, bytes) else None, protected.get(codec.HEADER_ALG),
                           iss if isinstance(iss, str) else None,
                           iat if isinstance(iat, int) else None, exp if isinstance(exp, int) else None)

    def verify(self, code: DecodedCode, find_key: KeyLookup, now: float) -> TrustedKey:
        trusted = find_key(code.kid) if code.kid is not None and 1 <= len(code.kid) <= 16 else None
        if trusted is None:
            raise CodeError("UNKNOWN_KID")
        check_key_validity(trusted, now)
        if not isinstance(trusted.public_key, ec.EllipticCurvePublicKey):
            raise CodeError("UNSUPPORTED_ALGORITHM")
        codec.verify_signature(code.protected, code.protected_raw, code.payload_raw, code.signature,
                               lambda _kid: trusted.public_key)
        claims = codec.read_claims(code.claims, now, leeway=0)
        if claims.issuer != trusted.issuer and not claims.issuer.startswith(trusted.issuer + "-"):
            raise CodeError("ISSUER_MISMATCH")
        return trusted

    def to_status(self, code: DecodedCode) -> ForeignStatus:
        claims = codec.read_claims(code.claims, now=None, leeway=0)
        subject = {"name_masked": claims.subject_masked}
        if claims.holder is not None:  # older codes, and partners' codes without it, cannot be bound
            subject["holder_tag"] = claims.holder.hex()
        return ForeignStatus(self.name, claims.issuer, claims.colour, claims.code_id.hex(), claims.issued_at,
                             claims.expires_at, subject)


def check_key_validity(key: TrustedKey, now: float) -> None:
    """A key signs only inside its validity; a revoked key is not in the lookup at all."""
    if key.not_before is not None and now < key.not_before.timestamp():
        raise CodeError("KEY_NOT_VALID")
    if key.not_after is not None and now > key.not_after.timestamp():  # X.509 notAfter is inclusive
        raise CodeError("KEY_NOT_VALID")


def detect_format(text: str, adapters: Sequence[FormatAdapter]) -> FormatAdapter:
    for adapter in adapters:
        if adapter.detect(text):
            return adapter
    raise CodeError("UNSUPPORTED_FORMAT")
