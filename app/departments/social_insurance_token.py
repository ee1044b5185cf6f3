"""The QR of a printed 社保 proof (个人权益记录): a JWS (RFC 7515, ES256) by the platform's current key over the
proof's id, the record's digest and its dates, carried in binary so that it fits a version-10 QR at level Q.

    GDSIP1:<base45(kid (8 bytes) | signature (64 bytes, r then s) | payload)>

The JWS is the usual compact serialization BASE64URL(header).BASE64URL(payload).BASE64URL(signature), whose
protected header is always {"alg":"ES256","kid":<kid>,"typ":"GDSIP1"} (keys sorted, no spaces). The reader
rebuilds the header from the kid, so only the kid travels; and a JWS of another type signed by the same key (an
access token) never reads as a proof. The payload is CBOR: [proof id, SHA-256 of the record (32 bytes),
issued_on, valid_until], the dates as days since 1970-01-01. In base45, whose alphabet is the QR's alphanumeric
mode, the token is 219 characters (version 10-Q holds 221); the JWS as text would need version 14.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Mapping

import base45
import cbor2
import jwt
from jwt.api_jws import PyJWS

from app.base45_decoder import b45decode
from app.errors import AppError
from app.security.keys import SigningKey, b64url, b64url_decode

PREFIX = "GDSIP1:"
TYP = "GDSIP1"
ALGORITHM = "ES256"
KID_BYTES, SIGNATURE_BYTES = 8, 64
EPOCH = date(1970, 1, 1)

KeyFinder = Callable[[str], SigningKey | None]


class ProofInvalid(AppError):
    """The text is not a proof token of ours: malformed, unknown key or a signature that does not verify."""

    status, code = 422, "PROOF_INVALID"


@dataclass(frozen=True)
class ProofClaims:
    proof_id: str
    record_digest: str  # hex SHA-256 of the record in canonical JSON
    issued_on: date
    valid_until: date


def record_digest(record: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the record as canonical JSON (keys sorted, no spaces, UTF-8)."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _header_segment(kid: str) -> str:
    """The protected header as PyJWT writes it (sorted keys, no spaces), base64url."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": TYP}
    return b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def sign(claims: ProofClaims, key: SigningKey) -> str:
    payload = cbor2.dumps([claims.proof_id, bytes.fromhex(claims.record_digest),
                           (claims.issued_on - EPOCH).days, (claims.valid_until - EPOCH).days])
    compact = PyJWS().encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": TYP})
    header, _, signature = compact.split(".")
    if header != _header_segment(key.kid):
        raise RuntimeError("the JWS header is not the one a reader rebuilds")
    return PREFIX + base45.b45encode(key.kid_bytes + b64url_decode(signature) + payload).decode("ascii")


def read(text: str, find_key: KeyFinder) -> ProofClaims:
    """The claims of a proof token whose signature verifies with one of our published keys; ProofInvalid else."""
    raw = _unpack(text)
    kid = b64url(raw[:KID_BYTES])
    key = find_key(kid)
    if key is None:
        raise ProofInvalid()
    signature, payload = raw[KID_BYTES:KID_BYTES + SIGNATURE_BYTES], raw[KID_BYTES + SIGNATURE_BYTES:]
    compact = f"{_header_segment(kid)}.{b64url(payload)}.{b64url(signature)}"
    try:
        PyJWS().decode(compact, key.public_key, algorithms=[ALGORITHM])
    except jwt.PyJWTError:
        raise ProofInvalid() from None
    return _claims(payload)


def _unpack(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise ProofInvalid()
    try:
        raw = b45decode(text[len(PREFIX):])
    except ValueError:
        raise ProofInvalid() from None
    if len(raw) <= KID_BYTES + SIGNATURE_BYTES:
        raise ProofInvalid()
    return raw


def _claims(payload: bytes) -> ProofClaims:
    """The signed payload read; a signed payload of another shape is still not a proof."""
    try:
        proof_id, digest, issued_on, valid_until = cbor2.loads(payload)
        if not (isinstance(proof_id, str) and isinstance(digest, bytes) and len(digest) == 32
                and type(issued_on) is int and type(valid_until) is int):
            raise ValueError("not a proof payload")
        return ProofClaims(proof_id, digest.hex(), date.fromordinal(EPOCH.toordinal() + issued_on),
                           date.fromordinal(EPOCH.toordinal() + valid_until))
    except (ValueError, TypeError, OverflowError, cbor2.CBORDecodeError):
        raise ProofInvalid() from None


__all__ = ["PREFIX", "ProofClaims", "ProofInvalid", "read", "record_digest", "sign"]
