"""The offline presentation of the resident ID voucher: a key-bound SD-JWT (RFC 9901) shown as a QR code.

Where there is no network at the desk, the holder's phone shows a QR code the verifier checks with our
published JWKS, and the verifier learns only the claims the holder chose to disclose:

    issuer-signed JWT (ES256, header {"alg", "kid", "typ": "dc+sd-jwt"}), payload
        {"iss", "iat", "exp", "vct": "cn-gd-resident-id-voucher", "cnf": {"jwk": <the phone's P-256 key>},
         "_sd": [sorted base64url(SHA-256(disclosure)), ...], "_sd_alg": "sha-256"}
    disclosure = base64url(JSON [salt (16 random bytes, base64url), claim name, value])
    credential (what the phone keeps) = <JWT>~<disclosure>~...~
    presentation = <JWT>~<disclosure>~...~<KB-JWT>

The key-binding JWT (RFC 9901 §4.3) is made by the phone at the desk and signed with the key named
in `cnf`: header {"alg": "ES256", "typ": "kb+jwt"}, payload {"iat", "aud": the verifier, "nonce": one
the verifier just handed out, "sd_hash": base64url(SHA-256(<JWT>~<disclosure>~...~))}. A photo of the
QR is useless elsewhere: another verifier's audience, a nonce already spent, a stale `iat` or a
disclosure added or dropped fail, and without the phone's key no new KB-JWT can be made.

Every claim handed to `issue_offline_credential` is selectively disclosable; the fixed claims
are always visible. A claim's digest cannot be matched by guessing its value: the salt is
only in its disclosure. No decoy digests: as long as every voucher is issued with the same
claim names, the number of digests tells a verifier nothing.

QR text: "GDIDO1:" + the presentation itself (byte mode) or base45 of a CBOR packing of it
(alphanumeric mode, zlib-compressed only if that is shorter), whichever needs fewer QR bits.
The packing is `[1, kid bytes, iss, iat, exp, cnf, [digest bytes], signature,
[[salt bytes, name, value], ...], kb]`, used only when our canonical JSON rebuilds the exact
signed text from it (checked before use), else `[0, presentation text]`. `cnf` is packed as the
64 bytes x || y of the phone's key when it has the usual shape; `kb` is `[iat, aud, nonce, signature]`
(its `sd_hash` is computed again from the rest) or null when there is no KB-JWT. Carrying digests
and salts as bytes instead of base64url-in-JSON-in-base64url takes a presentation of one
claim from QR version 22 (19 with plain zlib) to 15 at error level M.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, cast

import base45
import cbor2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from app.base45_decoder import b45decode
from app.security import jwk
from app.security.keys import SigningKey, b64url, b64url_decode

VCT = "cn-gd-resident-id-voucher"
TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
KB_MAX_AGE = 120  # seconds a key-binding JWT is accepted after the phone made it
ALGORITHM = "ES256"
SD_ALG = "sha-256"
SALT_BYTES = 16
QR_PREFIX = "GDIDO1:"
CLOCK_SKEW = 60  # seconds an offline verifier's clock may run behind ours
MAX_QR_BYTES = 16_384  # decompressed; a full presentation is about 1 KB
FIXED_CLAIMS = frozenset({"iss", "iat", "exp", "vct", "cnf", "_sd", "_sd_alg"})
# Never selectively disclosable (RFC 9901 §4.2.1; SD-JWT VC §3.2.2.2).
RESERVED_NAMES = FIXED_CLAIMS | {"...", "nbf", "status", "vct#integrity"}
_FORM_TEXT, _FORM_PACKED = 0, 1
_CNF_JWK_KEYS = ["kty", "crv", "x", "y"]
_ZLIB_HEADER = b"\x78"  # a CBOR array starts with 0x80-0x9f, never with this


class PresentationError(ValueError):
    """Why a presentation is not accepted; `code` is the stable code verifiers see."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class OfflineCredential:
    """What the holder's wallet keeps: the issuer-signed JWT and every disclosure by claim name."""

    jwt: str
    disclosures: dict[str, str]


# -- issuing and presenting -----------------------------------------------------------------

def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _digest(disclosure: str) -> str:
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def _payload(iss: str, iat: int, exp: int, cnf: Any, digests: list[str]) -> bytes:
    """The signed payload bytes; the QR packing rebuilds them with this same function."""
    claims: dict[str, Any] = {"iss": iss, "iat": iat, "exp": exp, "vct": VCT}
    if cnf is not None:
        claims["cnf"] = cnf
    return _json({**claims, "_sd": digests, "_sd_alg": SD_ALG})


def _header(kid: str) -> bytes:
    """The header as PyJWT writes it (sorted keys, no spaces); see `_pack`."""
    return json.dumps({"alg": ALGORITHM, "kid": kid, "typ": TYP}, separators=(",", ":"), sort_keys=True).encode()


def issue_offline_credential(claims: Mapping[str, Any], signing_key: SigningKey, issuer: str, now: datetime,
                             ttl: int, holder_binding: dict[str, Any] | None = None) -> OfflineCredential:
    """Sign a credential in which every claim of `claims` is selectively disclosable."""
    bad = sorted(name for name in claims if not isinstance(name, str) or not name or name in RESERVED_NAMES)
    if bad:
        raise ValueError(f"claim names not allowed as selectively disclosable: {bad}")
    if now.tzinfo is None or ttl <= 0:
        raise ValueError("`now` must be timezone-aware and `ttl` positive")
    disclosures = {
        name: b64url(_json([b64url(secrets.token_bytes(SALT_BYTES)), name, value])) for name, value in claims.items()
    }
    iat = int(now.timestamp())
    payload = _payload(issuer, iat, iat + ttl, holder_binding, sorted(_digest(d) for d in disclosures.values()))
    token = jwt.api_jws.encode(payload, signing_key.private_key, algorithm=ALGORITHM,
                               headers={"kid": signing_key.kid, "typ": TYP})
    return OfflineCredential(jwt=token, disclosures=disclosures)


def present(credential: OfflineCredential, disclose: Iterable[str]) -> str:
    """The presentation text with only the disclosures of the claims named in `disclose`."""
    wanted = set(disclose)
    unknown = wanted - credential.disclosures.keys()
    if unknown:
        raise ValueError(f"not in the credential: {sorted(unknown)}")
    chosen = [d for name, d in credential.disclosures.items() if name in wanted]
    return "~".join([credential.jwt, *chosen, ""])


def credential_id(issuer_signed_jwt: str) -> str:
    """Our record's name for a credential: hex SHA-256 of its issuer-signed JWT, first 160 bits. Unique, as the
    salts make every credential's digests new, and nothing a verifier does not already hold."""
    return hashlib.sha256(issuer_signed_jwt.encode("ascii")).hexdigest()[:40]


def holder_binding(device_key: Mapping[str, Any]) -> dict[str, Any]:
    """The `cnf` claim naming the phone's public P-256 key (only its public members, in a fixed order)."""
    return {"jwk": {name: device_key[name] for name in _CNF_JWK_KEYS}}


def sd_hash(credential_part: str) -> str:
    """What a KB-JWT signs over: base64url(SHA-256) of `<JWT>~<disclosure>~...~` as presented."""
    return b64url(hashlib.sha256(credential_part.encode("ascii")).digest())


def _kb_header() -> bytes:
    return json.dumps({"alg": ALGORITHM, "typ": KB_TYP}, separators=(",", ":"), sort_keys=True).encode()


def _kb_payload(iat: int, audience: str, nonce: str, digest: str) -> bytes:
    return _json({"iat": iat, "aud": audience, "nonce": nonce, "sd_hash": digest})


def key_binding_jwt(credential_part: str, holder_key: ec.EllipticCurvePrivateKey, audience: str, nonce: str,
                    now: datetime) -> str:
    """The KB-JWT the holder's phone signs at the desk over the verifier's audience and nonce."""
    payload = _kb_payload(int(now.timestamp()), audience, nonce, sd_hash(credential_part))
    return jwt.api_jws.encode(payload, holder_key, algorithm=ALGORITHM, headers={"typ": KB_TYP})


def present_bound(credential: OfflineCredential, disclose: Iterable[str], holder_key: ec.EllipticCurvePrivateKey,
                  audience: str, nonce: str, now: datetime) -> str:
    """What the phone shows: the chosen disclosures and a KB-JWT for this verifier and nonce."""
    part = present(credential, disclose)
    return part + key_binding_jwt(part, holder_key, audience, nonce, now)


# -- verifying ------------------------------------------------------------------------------

def _verified_payload(token: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise PresentationError("MALFORMED", "not a JWT") from None
    if header.get("alg") != ALGORITHM or header.get("typ") != TYP:
        raise PresentationError("MALFORMED", f"expected an {ALGORITHM} {TYP}")
    key = jwk.keys_by_kid(jwks, alg=ALGORITHM).get(header.get("kid", ""))
    if key is None:
        raise PresentationError("UNKNOWN_KID")
    try:
        raw = jwt.api_jws.decode_complete(token, key, algorithms=[ALGORITHM])["payload"]
    except jwt.InvalidSignatureError:
        raise PresentationError("BAD_SIGNATURE") from None
    except jwt.PyJWTError:
        raise PresentationError("MALFORMED", "not a JWS") from None
    try:
        payload = json.loads(raw)
    except ValueError:
        raise PresentationError("MALFORMED", "payload is not JSON") from None
    if not isinstance(payload, dict):
        raise PresentationError("MALFORMED", "payload is not a JSON object")
    digests = payload.get("_sd")
    if (payload.get("vct") != VCT or payload.get("_sd_alg") != SD_ALG or not isinstance(payload.get("iss"), str)
            or not all(type(payload.get(t)) is int for t in ("iat", "exp"))
            or not isinstance(digests, list) or not all(isinstance(d, str) for d in digests)
            or len(set(digests)) != len(digests)):
        raise PresentationError("MALFORMED", "not a resident ID voucher")
    return payload


def _disclosed(disclosures: list[str], digests: list[str]) -> dict[str, Any]:
    known, claims = set(digests), {}
    for disclosure in disclosures:
        if _digest(disclosure) not in known:
            raise PresentationError("DISCLOSURE_NOT_IN_CREDENTIAL")
        try:
            salt, name, value = json.loads(b64url_decode(disclosure))
        except (ValueError, TypeError):
            raise PresentationError("MALFORMED", "disclosure is not [salt, name, value]") from None
        if not isinstance(salt, str) or not isinstance(name, str) or name in RESERVED_NAMES:
            raise PresentationError("MALFORMED", "bad disclosure")
        if name in claims:
            raise PresentationError("DUPLICATE_DISCLOSURE", name)
        claims[name] = value
    return claims


def _holder_key(cnf: Any) -> ec.EllipticCurvePublicKey:
    holder = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(holder, dict):
        raise PresentationError("KEY_BINDING_INVALID", "the credential names no P-256 holder key")
    try:
        return cast(ec.EllipticCurvePublicKey, jwk.public_key_from_jwk(holder))
    except jwk.JwkError as error:
        if error.reason == "unusable":
            raise PresentationError("KEY_BINDING_INVALID", "the credential's holder key is unusable") from None
        raise PresentationError("KEY_BINDING_INVALID", "the credential names no P-256 holder key") from None


def _key_binding_claims(kb_jwt: str, holder_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The KB-JWT's claims, once its signature by the holder key and its shape are checked."""
    try:
        header = jwt.get_unverified_header(kb_jwt)
        raw = jwt.api_jws.decode_complete(kb_jwt, holder_key, algorithms=[ALGORITHM])["payload"]
        claims = json.loads(raw)
    except (jwt.PyJWTError, ValueError):
        raise PresentationError("KEY_BINDING_INVALID", "not signed by the holder key") from None
    if header.get("typ") != KB_TYP or not isinstance(claims, dict) or type(claims.get("iat")) is not int \
            or not all(isinstance(claims.get(name), str) for name in ("aud", "nonce", "sd_hash")):
        raise PresentationError("KEY_BINDING_INVALID", f"expected a {KB_TYP} with iat, aud, nonce, sd_hash")
    return claims


def _check_key_binding(claims: Mapping[str, Any], credential_part: str, audience: str, nonce: str,
                       now: datetime) -> None:
    if not secrets.compare_digest(claims["sd_hash"].encode(), sd_hash(credential_part).encode()):
        raise PresentationError("SD_HASH_MISMATCH")
    if claims["aud"] != audience:
        raise PresentationError("WRONG_AUDIENCE")
    if not secrets.compare_digest(claims["nonce"].encode(), nonce.encode()):
        raise PresentationError("WRONG_NONCE")
    moment = now.timestamp()
    if not moment - KB_MAX_AGE <= claims["iat"] <= moment + CLOCK_SKEW:
        raise PresentationError("KEY_BINDING_STALE")


def check_key_binding(credential_part: str, kb_jwt: str, cnf: Any, audience: str, nonce: str, now: datetime) -> None:
    """RFC 9901 §7.3 step 5: `kb_jwt` is a kb+jwt signed by the `cnf` key, over exactly `credential_part`
    (<JWT>~<disclosure>~...~), for `audience` and `nonce`, made within KB_MAX_AGE of `now`."""
    claims = _key_binding_claims(kb_jwt, _holder_key(cnf))
    _check_key_binding(claims, credential_part, audience, nonce, now)


def verify_presentation(text: str, jwks: Mapping[str, Any], now: datetime, expected_issuer: str, audience: str,
                        nonce: str) -> dict[str, Any]:
    """Check a key-bound presentation with our JWKS, for this verifier (`audience`) and the `nonce` it
    handed out; return iss/iat/exp and the disclosed claims only. Whether `nonce` was already spent is
    the caller's to know: it must accept each nonce once."""
    parts = text.split("~") if isinstance(text, str) and text.isascii() else []
    if len(parts) < 2 or not all(parts[:-1]):
        raise PresentationError("MALFORMED", "expected <JWT>~<disclosure>~...~<KB-JWT>")
    payload = _verified_payload(parts[0], jwks)
    if payload["iss"] != expected_issuer:
        raise PresentationError("WRONG_ISSUER")
    moment = now.timestamp()
    if payload["exp"] <= moment:
        raise PresentationError("EXPIRED")
    if payload["iat"] > moment + CLOCK_SKEW:
        raise PresentationError("NOT_YET_VALID")
    disclosed = _disclosed(parts[1:-1], payload["_sd"])
    if not parts[-1]:
        raise PresentationError("KEY_BINDING_MISSING")
    check_key_binding(text[:-len(parts[-1])], parts[-1], payload.get("cnf"), audience, nonce, now)
    return {"iss": payload["iss"], "iat": payload["iat"], "exp": payload["exp"], **disclosed}


# -- QR text --------------------------------------------------------------------------------

def _qr_bits(text: str) -> int:
    """Data bits in a QR code: alphanumeric mode for base45 text, byte mode otherwise."""
    return 11 * (len(text) // 2) + 6 * (len(text) % 2) if "~" not in text else 8 * len(text.encode())


def _pack_disclosure(disclosure: str) -> Any:
    """[salt bytes, name, value] when that rebuilds the disclosure exactly, else its JSON bytes."""
    raw = b64url_decode(disclosure)
    try:
        salt, name, value = json.loads(raw)
        packed = [b64url_decode(salt), name, value]
        return packed if _unpack_disclosure(packed) == disclosure else raw
    except (ValueError, TypeError):
        return raw


def _unpack_disclosure(packed: Any) -> str:
    if isinstance(packed, bytes):
        return b64url(packed)
    salt, name, value = packed
    return b64url(_json([b64url(salt), name, value]))


def _pack_cnf(cnf: Any) -> Any:
    """x || y of the holder key when `holder_binding` would write `cnf` back the same, else `cnf` itself."""
    try:
        holder = cnf["jwk"]
        raw = b64url_decode(holder["x"]) + b64url_decode(holder["y"])
        return raw if len(raw) == 64 and _unpack_cnf(raw) == cnf and list(cnf) == ["jwk"] else cnf
    except (KeyError, TypeError, ValueError):
        return cnf


def _unpack_cnf(packed: Any) -> Any:
    if not isinstance(packed, bytes):
        return packed
    if len(packed) != 64:
        raise ValueError("a packed holder key is 64 bytes")
    return holder_binding({"kty": "EC", "crv": "P-256", "x": b64url(packed[:32]), "y": b64url(packed[32:])})


def _pack_kb(kb_jwt: str) -> list[Any] | None:
    if not kb_jwt:
        return None
    _, payload_b64, signature_b64 = kb_jwt.split(".")
    claims = json.loads(b64url_decode(payload_b64))
    return [claims["iat"], claims["aud"], claims["nonce"], b64url_decode(signature_b64)]


def _unpack_kb(packed: Any, credential_part: str) -> str:
    if packed is None:
        return ""
    iat, audience, nonce, signature = packed
    payload = _kb_payload(iat, audience, nonce, sd_hash(credential_part))
    return ".".join(b64url(part) for part in (_kb_header(), payload, signature))


def _pack(presentation: str) -> list[Any] | None:
    """The compact CBOR form, or None when it would not rebuild `presentation` exactly."""
    try:
        token, *disclosures, kb_jwt = presentation.split("~")
        header_b64, payload_b64, signature_b64 = token.split(".")
        header, payload = json.loads(b64url_decode(header_b64)), json.loads(b64url_decode(payload_b64))
        packed = [_FORM_PACKED, b64url_decode(header["kid"]), payload["iss"], payload["iat"], payload["exp"],
                  _pack_cnf(payload.get("cnf")), [b64url_decode(d) for d in payload["_sd"]],
                  b64url_decode(signature_b64), [_pack_disclosure(d) for d in disclosures], _pack_kb(kb_jwt)]
        return packed if _unpack(packed) == presentation else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _unpack(packed: list[Any]) -> str:
    _, kid, iss, iat, exp, cnf, digests, signature, disclosures, *kb = packed
    payload = _payload(iss, iat, exp, _unpack_cnf(cnf), [b64url(d) for d in digests])
    token = ".".join(b64url(part) for part in (_header(b64url(kid)), payload, signature))
    credential_part = "~".join([token, *(_unpack_disclosure(d) for d in disclosures), ""])
    return credential_part + _unpack_kb(kb[0] if kb else None, credential_part)


def to_qr_text(presentation: str) -> str:
    """The text to put in the QR code: packed (and compressed) when that needs fewer QR bits."""
    if not isinstance(presentation, str) or not presentation.isascii() or "~" not in presentation:
        raise ValueError("not a presentation: expected <JWT>~<disclosure>~...~<KB-JWT>")
    form = cbor2.dumps(_pack(presentation) or [_FORM_TEXT, presentation])
    packed = QR_PREFIX + base45.b45encode(min(form, zlib.compress(form, 9), key=len)).decode("ascii")
    plain = QR_PREFIX + presentation
    return packed if _qr_bits(packed) < _qr_bits(plain) else plain


def from_qr_text(text: str) -> str:
    """The presentation text back from a scanned QR code; MALFORMED if it is not one of ours."""
    if not isinstance(text, str) or not text.startswith(QR_PREFIX):
        raise PresentationError("MALFORMED", f"expected {QR_PREFIX}")
    body = text[len(QR_PREFIX):]
    if "~" in body:
        return body
    try:
        raw = b45decode(body)
        if raw[:1] == _ZLIB_HEADER:
            inflater = zlib.decompressobj()
            raw = inflater.decompress(raw, MAX_QR_BYTES)
            if not inflater.eof:
                raise ValueError("truncated or too large")
        form = cbor2.loads(raw)
        if not isinstance(form, list) or not form:  # CBOR tags decode to other objects (tag 36: a MIME message)
            raise ValueError("not an array")
        if form[0] == _FORM_TEXT and isinstance(form[1], str):
            return form[1]
        if form[0] == _FORM_PACKED and len(form) in (9, 10):
            return _unpack(form)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, zlib.error, cbor2.CBORDecodeError):
        pass
    raise PresentationError("MALFORMED", "not a resident ID voucher QR code")
