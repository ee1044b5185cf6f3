"""ES256 JWTs in compact form (RFC 7515, 7519), read once: the client-JWT check of every client request.

PyJWT, asked for the header (to find the key by `kid`), for the unverified claims (to find the client
by `iss`) and then for the verified token, decodes the same token three times and costs about 2.5×
the ES256 signature check itself (docs/capacity.md). Here the token is decoded once (`read`), its
signature checked with that key (`verify_es256`) and its claims checked (`check_claims`), each
step refusing exactly what PyJWT 2 refuses, with PyJWT's own exception classes, so a caller maps
refusals to its error codes as before. `tests/security/test_jws.py` holds the two to the same result
on valid, tampered and malformed tokens.
RFC 7797's unencoded payload (`b64: false`) is refused, as PyJWT refuses it without a detached payload.
"""

from __future__ import annotations

import binascii
import json
import math
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from typing import Any, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from jwt.exceptions import (DecodeError, ExpiredSignatureError, ImmatureSignatureError, InvalidAlgorithmError,
                            InvalidAudienceError, InvalidJTIError, InvalidSignatureError, InvalidSubjectError,
                            InvalidTokenError, MissingRequiredClaimError)

ES256 = ec.ECDSA(SHA256())
_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_P256_HALF = 32  # bytes of r and of s in an ES256 signature


@dataclass(frozen=True)
class CompactJws:
    """A token's header and claims as sent (nothing checked but their form), and what its signature covers."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def read(token: str) -> CompactJws:
    """Decode a compact JWS once. DecodeError or InvalidTokenError for what PyJWT's
    `get_unverified_header` and `decode(..., options={"verify_signature": False})` refuse."""
    raw = token.encode()
    try:
        signing_input, signature_segment = raw.rsplit(b".", 1)
        header_segment, claims_segment = signing_input.split(b".", 1)
    except ValueError:
        raise DecodeError("Not enough segments") from None
    header = _json_object(_segment(header_segment, "header"), "header")
    if "kid" in header and not isinstance(header["kid"], str):
        raise InvalidTokenError("Key ID header parameter must be a string")
    if "crit" in header:
        _check_crit(header)
    if header.get("b64", True) is False:
        raise DecodeError("unencoded payloads (b64: false) are not supported")
    claims = _json_object(_segment(claims_segment, "payload"), "payload")
    return CompactJws(header, claims, signing_input, _segment(signature_segment, "crypto"))


def verify_es256(jws: CompactJws, key: ec.EllipticCurvePublicKey) -> None:
    """The token's signature by `key` (P-256). InvalidAlgorithmError unless its `alg` is ES256,
    InvalidSignatureError if the signature is not the key's over the token."""
    if jws.header.get("alg") != "ES256":
        raise InvalidAlgorithmError("The specified alg value is not allowed")
    signature = jws.signature
    if len(signature) != 2 * _P256_HALF or key.curve.key_size != 256:
        raise InvalidSignatureError("Signature verification failed")
    der = encode_dss_signature(int.from_bytes(signature[:_P256_HALF], "big"),
                               int.from_bytes(signature[_P256_HALF:], "big"))
    try:
        key.verify(der, jws.signing_input, ES256)
    except InvalidSignature:
        raise InvalidSignatureError("Signature verification failed") from None


def check_claims(claims: dict[str, Any], *, audience: str, require: Sequence[str], now: float,
                 leeway: float = 0) -> None:
    """As PyJWT's claim checks with `audience`, `require` and `leeway` (and `iat` not checked here:
    the caller holds it to its own window): `exp` and `nbf` if present, `aud` naming `audience`,
    `sub` and `jti` text if present."""
    for claim in require:
        if claims.get(claim) is None:
            raise MissingRequiredClaimError(claim)
    if "nbf" in claims and _integer(claims["nbf"], "Not Before claim (nbf)") > now + leeway:
        raise ImmatureSignatureError("The token is not yet valid (nbf)")
    if "exp" in claims and _integer(claims["exp"], "Expiration Time claim (exp)") <= now - leeway:
        raise ExpiredSignatureError("Signature has expired")
    addressed = claims.get("aud")
    if not addressed:
        raise MissingRequiredClaimError("aud")
    if isinstance(addressed, str):
        addressed = [addressed]
    if not isinstance(addressed, list) or any(not isinstance(a, str) for a in addressed):
        raise InvalidAudienceError("Invalid claim format in token")
    if audience not in addressed:
        raise InvalidAudienceError("Audience doesn't match")
    if "sub" in claims and not isinstance(claims["sub"], str):
        raise InvalidSubjectError("Subject must be a string")
    if "jti" in claims and not isinstance(claims["jti"], str):
        raise InvalidJTIError("JWT ID must be a string")


def issued_within(iat: Any, now: float, window: float) -> bool:
    """Whether an `iat` claim is a time in seconds at most `window` from `now`: a number, not a bool (JSON's
    true is no time), and finite (a JSON parser that takes NaN would pass any window check: NaN compares false)."""
    return isinstance(iat, (int, float)) and not isinstance(iat, bool) and math.isfinite(iat) \
        and abs(iat - now) <= window


def _segment(segment: bytes, name: str) -> bytes:
    """A base64url segment, as strict as PyJWT: up to two trailing '=' where they belong, nothing outside
    the alphabet, and only the one canonical spelling of the bytes (no stray bits in the last character)."""
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1 \
            or not _ALPHABET.issuperset(stripped):
        raise DecodeError(f"Invalid {name} padding")
    try:
        decoded = urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
    except (TypeError, binascii.Error):
        raise DecodeError(f"Invalid {name} padding") from None
    if urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
        raise DecodeError(f"Invalid {name} padding")
    return decoded


def _check_crit(header: dict[str, Any]) -> None:
    """PyJWT's rule: a non-empty list of the extensions it knows (only `b64`), each present in the header."""
    crit = header["crit"]
    if not isinstance(crit, list) or not crit:
        raise InvalidTokenError("Invalid 'crit' header: must be a non-empty list")
    for extension in crit:
        if not isinstance(extension, str) or extension != "b64" or extension not in header:
            raise InvalidTokenError("Invalid 'crit' header")


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise DecodeError(f"Invalid {name} string: {error}") from None
    if not isinstance(value, dict):
        raise DecodeError(f"Invalid {name} string: must be a json object")
    return value


def _integer(value: Any, what: str) -> int:
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise DecodeError(f"{what} must be an integer.") from None
