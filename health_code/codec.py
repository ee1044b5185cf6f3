"""The health-code payload: CWT claims → COSE_Sign1 (ES256) → base45, with our prefix.

    payload = "GDHC1:" + base45(COSE_Sign1)

This is the EU DCC pipeline with our own versioned prefix, without the zlib step: a code is
mostly a signature, key id and code id, which do not compress, and zlib made every code 10 bytes
longer. A decoder still inflates a body that starts with a zlib header (0x78; a COSE_Sign1 starts
with 0xD2 or 0x84), as older codes and partners' codes may have one. The COSE_Sign1 (CBOR tag 18)
carries `alg` (-7, ES256) and `kid` (8 bytes) in its protected header; the key is published
at `/.well-known/jwks.json` under `kid` = base64url(kid bytes). Its payload is a CWT map:

    1 (iss)  "CN-GD"           issuing region (ISO 3166-2)
    4 (exp)  int seconds       expiry, at most 180 s after issue
    6 (iat)  int seconds       issue time
    "hc"     {1: code id (6 random bytes), 2: colour (0 green, 1 yellow, 2 red),
              3: reason codes as a bit set (uint: bit n set for reason code n, codes 0-63;
                 older codes: a list of codes),
              4: masked name: its last character, after one "*" when the name is longer, e.g. "*三",
              5 (only on a code converted from a partner's code): the partner's id, e.g. "MO"; the
                 source code and its state are kept with the code id (older codes: true, or a list),
              6 (when the issuer knows its holder's name and birth date): holder tag, 6 bytes,
                 see health_code.holder}

Nothing medical and no ID number is in the code: reason codes are looked up in the published
rule set. Every code fits a QR code of version 10 at error correction level Q (221 alphanumeric
characters). `verify_payload` checks a payload offline with nothing but the public keys.

The COSE_Sign1/CWT framing, its signature and the base45 transport are app.security.cose's; this
module keeps what makes a health code (the `hc` claims, colours, reasons, masked name) and names the
generic pieces it is read with, so that `codec.unpack`, `codec.sign_cwt`, ... keep working.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from cryptography.hazmat.primitives.asymmetric import ec

from app.security import cose
from app.security.cose import (  # re-exported: the generic pieces, as callers name them
    ALG_ES256 as ALG_ES256,
    COSE_SIGN1_TAG as COSE_SIGN1_TAG,
    CWT_EXP as CWT_EXP,
    CWT_IAT as CWT_IAT,
    CWT_ISS as CWT_ISS,
    ES256 as ES256,
    HEADER_ALG as HEADER_ALG,
    HEADER_KID as HEADER_KID,
    ZLIB_HEADER as ZLIB_HEADER,
    CodeError as CodeError,
    KeyFinder as KeyFinder,
    sign_cwt as sign_cwt,
    verify_cwt as verify_cwt,
    verify_signature as verify_signature,
)
from app.security.jwk import keys_by_kid
from app.security.keys import b64url_decode

PREFIX = "GDHC1:"
CLAIMS_KEY = "hc"
COLOURS = ("green", "yellow", "red")
Provenance = tuple[str, bytes, str]  # partner id, SHA-256 of the source code id (first 8 bytes), source state
MAX_REASON_CODE = 63


class StatusChanged(CodeError):
    """An online check of a code issued before its holder's status turned worse than the code's colour:
    the code no longer tells the truth. `colour_now` is the holder's colour at the check."""

    def __init__(self, colour_now: str, code_id: bytes) -> None:
        super().__init__("STATUS_CHANGED")
        self.colour_now = colour_now
        self.code_id = code_id


@dataclass(frozen=True)
class CodeClaims:
    code_id: bytes
    colour: str
    reasons: tuple[int, ...]
    subject_masked: str
    issuer: str
    issued_at: int
    expires_at: int
    # A code converted from a partner region's code (转码): that partner's id ("" when an older code did
    # not say); the source code and its state are kept with the code id.
    converted_from: str | None = None
    holder: bytes | None = None  # health_code.holder's tag over the holder's name and birth date

    @property
    def converted(self) -> bool:
        return self.converted_from is not None

    def cwt(self) -> dict[Any, Any]:
        hc: dict[int, Any] = {1: self.code_id, 2: COLOURS.index(self.colour), 3: reason_bits(self.reasons),
                              4: self.subject_masked}
        if self.converted_from is not None:
            hc[5] = self.converted_from or True
        if self.holder is not None:
            hc[6] = self.holder
        return {CWT_ISS: self.issuer, CWT_EXP: self.expires_at, CWT_IAT: self.issued_at, CLAIMS_KEY: hc}


def masked_name(name: str) -> str:
    """张三 -> *三, 欧阳娜娜 -> *娜: the last character, behind one star whatever the length, so that a
    code's size does not grow with its holder's name (and does not tell its length)."""
    return "*" + name[-1] if len(name) > 1 else name


def reason_bits(reasons: Sequence[int]) -> int:
    """Reason codes as a bit set: 5 bytes of CBOR for any set of the codes 0-31, where a list took one
    byte a code (two from 24 up)."""
    bits = 0
    for reason in reasons:
        if not 0 <= reason <= MAX_REASON_CODE:
            raise ValueError(f"reason code {reason} is outside 0-{MAX_REASON_CODE}")
        bits |= 1 << reason
    return bits


def reasons_of(encoded: Any) -> tuple[int, ...]:
    """The reason codes of a bit set, or of an older code's list."""
    if isinstance(encoded, bool):
        raise TypeError("reasons")
    if isinstance(encoded, int):
        return _reasons_of_bits(encoded)
    return tuple(map(int, encoded))


@functools.lru_cache(maxsize=256)
def _reasons_of_bits(bits: int) -> tuple[int, ...]:
    """The reason codes of a bit set; the few sets in use are remembered."""
    if not 0 <= bits < 1 << (MAX_REASON_CODE + 1):
        raise ValueError("reasons")
    return tuple(code for code in range(MAX_REASON_CODE + 1) if bits >> code & 1)


def encode_payload(claims: CodeClaims, private_key: ec.EllipticCurvePrivateKey, kid: bytes) -> str:
    """Sign and pack health-code claims into the QR text."""
    return sign_cwt(claims.cwt(), private_key, kid, PREFIX)


def unpack(payload: str, prefix: str = PREFIX) -> tuple[Mapping[Any, Any], Mapping[Any, Any], bytes, bytes, bytes]:
    """Undo prefix, base45, zlib (when there) and COSE framing; no signature check yet."""
    return cose.unpack(payload, prefix)


def verify_payload(payload: str, find_key: KeyFinder, now: float, leeway: int = 0) -> CodeClaims:
    """Check signature, `kid` and time; return the claims or raise CodeError with a stable code."""
    [outcome] = verify_payloads([payload], find_key, now, leeway)
    if isinstance(outcome, CodeError):
        raise outcome
    return outcome


def verify_payloads(payloads: Sequence[str], find_key: KeyFinder, now: float,
                    leeway: int = 0) -> list[CodeClaims | CodeError]:
    """`verify_payload` of each code, in order: its claims, or the CodeError it would raise.

    Done stage by stage, every code's framing, then every signature, then every claim set: a stage's
    code then stays in the processor's caches from one code to the next, instead of being pushed out
    by the signature check between them. Partners' batches of cold codes are served faster this way
    (docs/capacity.md)."""
    outcomes: list[Any] = []
    for payload in payloads:
        try:
            outcomes.append(unpack(payload))
        except CodeError as error:
            outcomes.append(error)
    for index, unpacked in enumerate(outcomes):
        if not isinstance(unpacked, CodeError):
            protected, claims, protected_raw, body, signature = unpacked
            try:
                verify_signature(protected, protected_raw, body, signature, find_key)
                outcomes[index] = claims
            except CodeError as error:
                outcomes[index] = error
    for index, claims in enumerate(outcomes):
        if not isinstance(claims, CodeError):
            try:
                outcomes[index] = read_claims(claims, now, leeway)
            except CodeError as error:
                outcomes[index] = error
    return outcomes


def converted_from(value: Any) -> str | None:
    """hc[5] as the partner a code was converted from: its id, "" when an older code said only that it was
    converted (true, or the provenance as a list), None when it was not."""
    if isinstance(value, str):
        return value
    return None if value is False or value is None else ""


def read_claims(claims: Mapping[Any, Any], now: float | None, leeway: int = 0) -> CodeClaims:
    """Our claims out of a CWT map; with `now`, also checks it is inside its validity."""
    try:
        hc = claims[CLAIMS_KEY]
        holder = hc.get(6)
        if holder is not None and not isinstance(holder, bytes):
            raise TypeError("holder")
        parsed = CodeClaims(
            code_id=bytes(hc[1]), colour=COLOURS[int(hc[2])], reasons=reasons_of(hc[3]),
            subject_masked=str(hc[4]), issuer=str(claims[CWT_ISS]),
            issued_at=int(claims[CWT_IAT]), expires_at=int(claims[CWT_EXP]),
            converted_from=converted_from(hc.get(5, False)), holder=holder,
        )
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise CodeError("BAD_CLAIMS") from None
    if now is None:
        return parsed
    if parsed.issued_at > now + 60 + leeway:
        raise CodeError("NOT_YET_VALID")
    if parsed.expires_at <= now - leeway:
        raise CodeError("EXPIRED")
    return parsed


def keys_from_jwks(jwks: Mapping[str, Any]) -> KeyFinder:
    """A key finder over a JWKS document: all an offline verifier needs."""
    keys = {b64url_decode(kid): key for kid, key in keys_by_kid(jwks, alg=None).items()}
    return keys.get


def verify_offline(payload: str, jwks: Mapping[str, Any], now: datetime | None = None) -> CodeClaims:
    """Verify a health code with nothing but our published JWKS (for verifier apps and partners)."""
    moment = (now or datetime.now(timezone.utc)).timestamp()
    return verify_payload(payload, keys_from_jwks(jwks), moment)
