"""Signed codes as COSE_Sign1 (RFC 9052) over a CWT (RFC 8392), carried as base45 text behind a prefix.

    text = prefix + base45([zlib(] COSE_Sign1 [)])

The one place a COSE_Sign1 is made, parsed and checked: our health codes, vouchers, venue and card
codes sign with `sign_cwt` and are read with `unpack` / `verify_cwt`; the EU DCC adapter reads
partners' codes with `decode_sign1` and `check_signature`. We sign ES256 (P-256, deterministic
ECDSA) with `alg` and an 8-byte `kid` in the protected header and no zlib step; a reader inflates a
body that starts with a zlib header (0x78; a COSE_Sign1 starts with 0xD2 or 0x84), or requires it.

Two ways of reading, as two kinds of issuers write:

- `strict=True` (the DCC adapter): exactly one CBOR item; an array of protected header (bstr),
  unprotected header (map), payload (bstr), signature (bstr); optionally inside the CWT tag 61.
- `strict=False` (our own codes, read as they always were): bytes after the COSE_Sign1 or after
  the claims are ignored, and the unprotected header, which is not signed, is not looked at.

Every refusal is a `CodeError` whose `code` is the stable error code a verifier sees: BAD_PREFIX,
BAD_ENCODING, BAD_COMPRESSION, BAD_COSE, UNSUPPORTED_ALGORITHM, UNKNOWN_KID, BAD_SIGNATURE (and,
from the callers' claim checks, BAD_CLAIMS, EXPIRED, ...).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from collections import abc
from typing import Any, Callable, Mapping, TypeGuard

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from app.base45_decoder import b45decode

COSE_SIGN1_TAG, CWT_TAG = 18, 61
HEADER_ALG, HEADER_KID = 1, 4
ALG_ES256, ALG_PS256 = -7, -37
CWT_ISS, CWT_SUB, CWT_AUD, CWT_EXP, CWT_NBF, CWT_IAT, CWT_CTI = 1, 2, 3, 4, 5, 6, 7
ZLIB_HEADER = 0x78
MAX_KID_BYTES = 16
ES256 = ec.ECDSA(hashes.SHA256())  # immutable: one for every signature check, made once
_ES256_SIGN = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
# COSE's ES256 fixes the hash (SHA-256), not the curve: the curve is the key's.
ES256_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
# COSE (RFC 8230) fixes the PSS salt length to the digest length.
_PS256 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
# What cbor2 decodes a map and an array to (an array inside a tag is a tuple, a map inside it a frozendict).
_CBOR_MAPS = frozenset({dict, cbor2.frozendict})
_CBOR_ARRAYS = frozenset({list, tuple})
_CBOR_ERRORS = (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError)

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
KeyFinder = Callable[[bytes], "PublicKey | None"]


class CodeError(ValueError):
    """Why a text is not a valid signed code; `code` is the stable error code verifiers see."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class Sign1:
    """A COSE_Sign1 taken apart; nothing in it is trusted until its signature is checked."""

    protected_raw: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    @property
    def kid(self) -> bytes | None:
        """The protected kid if there is one (never overridden), else the unprotected one: the
        unprotected header is not signed, so it only counts when the protected one names none."""
        kid = self.protected.get(HEADER_KID)
        if kid is None:
            kid = self.unprotected.get(HEADER_KID)
        return kid if isinstance(kid, bytes) else None

    @property
    def alg(self) -> Any:
        """The protected `alg`, else the unprotected one (the signature covers the protected only)."""
        return self.protected.get(HEADER_ALG, self.unprotected.get(HEADER_ALG))


# -- signing ------------------------------------------------------------------------------------

def sig_structure(protected_raw: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers (RFC 9052 §4.4), without external data."""
    return cbor2.dumps(["Signature1", protected_raw, b"", payload])


def sign1(payload: bytes, private_key: ec.EllipticCurvePrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 (ES256) over `payload`, `alg` and `kid` in its protected header."""
    protected = cbor2.dumps({HEADER_ALG: ALG_ES256, HEADER_KID: kid})
    # Deterministic ECDSA (RFC 6979): the same claims always give the same text, so a venue's
    # static code stays the same on every reprint, and no signature depends on a random source.
    der = private_key.sign(sig_structure(protected, payload), _ES256_SIGN)
    r, s = decode_dss_signature(der)
    size = (private_key.curve.key_size + 7) // 8
    signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))


def sign_cwt(cwt: Mapping[Any, Any], private_key: ec.EllipticCurvePrivateKey, kid: bytes, prefix: str) -> str:
    """COSE_Sign1 (ES256) over a CWT map, base45-encoded, behind `prefix` (no zlib: see the module)."""
    encoded: bytes = base45.b45encode(sign1(cbor2.dumps(cwt), private_key, kid))
    return prefix + encoded.decode("ascii")


# -- transport ----------------------------------------------------------------------------------

def decode_text(text: Any, prefix: str) -> bytes:
    """The bytes behind `prefix` in a base45 text (BAD_PREFIX, BAD_ENCODING)."""
    if not isinstance(text, str) or not text.startswith(prefix):
        raise CodeError("BAD_PREFIX", f"expected {prefix}")
    try:
        return b45decode(text[len(prefix):])
    except (ValueError, KeyError):
        raise CodeError("BAD_ENCODING", "not base45") from None


def inflate(data: bytes, limit: int | None = None) -> bytes:
    """zlib, strictly: anything else, a truncated stream, or (with `limit`) more than `limit` bytes
    once inflated is BAD_COMPRESSION."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit or 0)
    except zlib.error:
        raise CodeError("BAD_COMPRESSION", "not zlib") from None
    if inflater.unconsumed_tail:
        raise CodeError("BAD_COMPRESSION", f"decompresses to more than {limit} bytes")
    if not inflater.eof:
        raise CodeError("BAD_COMPRESSION", "truncated zlib stream")
    return raw


MAX_INFLATED = 64 * 1024  # a QR code holds < 3 kB: a code that inflates to more is a zlib bomb, not a code


def inflate_if_compressed(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """`data` inflated (at most `limit` bytes) when it starts with a zlib header, else as it is."""
    return inflate(data, limit) if data[:1] == bytes([ZLIB_HEADER]) else data


# -- parsing ------------------------------------------------------------------------------------

def _is_map(value: object) -> TypeGuard[Mapping[Any, Any]]:
    """A CBOR map: decoded as a dict, or a cbor2.frozendict inside a tag's array, so those are asked first
    (the Mapping ABC's check is a Python-level call)."""
    return type(value) in _CBOR_MAPS or isinstance(value, abc.Mapping)


def cbor_item(data: bytes, error: str, *, exact: bool = True) -> Any:
    """One CBOR item (`error` when it is not one); `exact` refuses bytes after it."""
    if not exact:
        # cbor2.loads reads the first item and ignores the rest, without a stream and decoder built in Python.
        try:
            return cbor2.loads(data)
        except _CBOR_ERRORS:
            raise CodeError(error, "not CBOR") from None
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except _CBOR_ERRORS:
        raise CodeError(error, "not CBOR") from None
    if exact and stream.tell() != len(data):
        raise CodeError(error, "trailing bytes after the CBOR item")
    return item


def decode_sign1(raw: bytes, *, strict: bool = True, cwt_tag: bool = False) -> Sign1:
    """A COSE_Sign1 (CBOR tag 18 or untagged; with `cwt_tag`, maybe inside tag 61), taken apart.

    Anything that is not one is BAD_COSE. `strict=False` reads our own codes as they always were
    read: bytes after the item are ignored, and so is an unprotected header that is not a map."""
    message = cbor_item(raw, "BAD_COSE", exact=strict)
    if cwt_tag and isinstance(message, cbor2.CBORTag) and message.tag == CWT_TAG:
        message = message.value
    if isinstance(message, cbor2.CBORTag) and message.tag == COSE_SIGN1_TAG:
        message = message.value
    if isinstance(message, cbor2.CBORTag):
        raise CodeError("BAD_COSE", f"unexpected CBOR tag {message.tag}")
    if not _is_array(message) or len(message) != 4:
        raise CodeError("BAD_COSE", "not a COSE_Sign1")
    protected_raw, unprotected, payload, signature = message
    if not strict and not _is_map(unprotected):
        unprotected = {}
    if not (isinstance(protected_raw, bytes) and _is_map(unprotected)
            and isinstance(payload, bytes) and isinstance(signature, bytes)):
        raise CodeError("BAD_COSE", "malformed COSE_Sign1")
    protected = cbor_item(protected_raw, "BAD_COSE", exact=strict) if protected_raw else {}
    if not _is_map(protected):
        raise CodeError("BAD_COSE", "protected header is not a map")
    return Sign1(protected_raw, protected, unprotected, payload, signature)


def cwt_claims(payload: bytes, error: str, *, exact: bool = True) -> Mapping[Any, Any]:
    """The CWT map a COSE_Sign1 carries (`error` when it is not a CBOR map)."""
    claims = cbor_item(payload, error, exact=exact)
    if not _is_map(claims):
        raise CodeError(error, "payload is not a CWT map")
    return claims


def unpack(text: str, prefix: str) -> tuple[Mapping[Any, Any], Mapping[Any, Any], bytes, bytes, bytes]:
    """One of our signed texts undone (prefix, base45, zlib when there, COSE, CWT), no signature
    check yet: its protected header, claims, protected header bytes, payload bytes and signature."""
    code = decode_sign1(inflate_if_compressed(decode_text(text, prefix)), strict=False)
    claims = cwt_claims(code.payload, "BAD_COSE", exact=False)
    return code.protected, claims, code.protected_raw, code.payload, code.signature


# -- checking -----------------------------------------------------------------------------------

def check_signature(key: Any, alg: Any, protected_raw: bytes, payload: bytes, signature: bytes) -> None:
    """The COSE_Sign1 signature by `key`: ES256 (an EC key on P-256, P-384 or P-521) or PS256 (an
    RSA key). UNSUPPORTED_ALGORITHM for any other `alg` or a key of the wrong kind; BAD_SIGNATURE."""
    to_be_signed = sig_structure(protected_raw, payload)
    try:
        if alg == ALG_ES256:
            if not _is_ec_key(key) or not isinstance(key.curve, ES256_CURVES):
                raise CodeError("UNSUPPORTED_ALGORITHM", "ES256 needs a P-256, P-384 or P-521 key")
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                raise CodeError("BAD_SIGNATURE", f"ES256 signature on this curve is {2 * size} bytes")
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), to_be_signed, ES256)
        elif alg == ALG_PS256:
            if not isinstance(key, rsa.RSAPublicKey):
                raise CodeError("UNSUPPORTED_ALGORITHM", "PS256 needs an RSA key")
            key.verify(signature, to_be_signed, _PS256, hashes.SHA256())
        else:
            raise CodeError("UNSUPPORTED_ALGORITHM", f"alg {alg!r}")
    except InvalidSignature:
        raise CodeError("BAD_SIGNATURE") from None


def verify_signature(protected: Mapping[Any, Any], protected_raw: bytes, payload: bytes, signature: bytes,
                     find_key: KeyFinder) -> None:
    """One of our codes' signatures: ES256 only, by the key `find_key` gives for the protected `kid`
    (UNSUPPORTED_ALGORITHM, UNKNOWN_KID, BAD_SIGNATURE)."""
    if protected.get(HEADER_ALG) != ALG_ES256:
        raise CodeError("UNSUPPORTED_ALGORITHM")
    kid = protected.get(HEADER_KID)
    if not isinstance(kid, bytes) or not 1 <= len(kid) <= MAX_KID_BYTES:
        raise CodeError("UNKNOWN_KID")
    key = find_key(kid)
    if key is None:
        raise CodeError("UNKNOWN_KID")
    check_signature(key, ALG_ES256, protected_raw, payload, signature)


def verify_cwt(text: str, find_key: KeyFinder, prefix: str) -> Mapping[Any, Any]:
    """Check the framing, `kid` and signature of one of our signed texts; return its CWT map."""
    protected, claims, protected_raw, payload, signature = unpack(text, prefix)
    verify_signature(protected, protected_raw, payload, signature, find_key)
    return claims


_EC_KEY_CLASSES: dict[type, bool] = {}


def _is_ec_key(key: object) -> bool:
    """An EC public key, asked of the ABC once per class (its isinstance check is a Python-level call)."""
    kind = type(key)
    if kind not in _EC_KEY_CLASSES:
        _EC_KEY_CLASSES[kind] = isinstance(key, ec.EllipticCurvePublicKey)
    return _EC_KEY_CLASSES[kind]


def _is_array(value: Any) -> bool:
    return type(value) in _CBOR_ARRAYS or (isinstance(value, abc.Sequence) and not isinstance(value, (str, bytes, bytearray)))
