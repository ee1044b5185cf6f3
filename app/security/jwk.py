"""Public keys as JWK (RFC 7517): the one way a JWK someone sends us becomes a key, and back.

Every JWK we read comes from outside (a phone's device key, a partner's signing key, a department's
gateway key, a JWKS document), so reading one checks what its caller needs before anything signs
or verifies with it: the key type (EC P-256 only, or EC P-256 and RSA of 2048 bits and more), no
private members, and, for keys from a JWKS, that the key is meant to sign with our algorithm.
The key itself is made by PyJWT (`jwt.PyJWK`), which checks the point or modulus.

A refusal is a `JwkError` whose `reason` lets a caller answer in its own words:
"private" (a private member was sent), "type" (not a key of the accepted kinds), "use" (its
`alg` or `use` says it is not a signing key for the algorithm), "unusable" (the members do not
make a key).
"""

from __future__ import annotations

from typing import Any, Mapping, cast

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
ES256 = "ES256"
MIN_RSA_BITS = 2048
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")
# The members that make up a public key, by key type; "kid" is kept beside them.
KEY_MEMBERS = {"EC": ("crv", "x", "y"), "RSA": ("n", "e")}
PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "n", "e", "kid")
EC_P256_ONLY = "an EC P-256 public JWK"
EC_OR_RSA_ONLY = f"keys must be EC P-256 or RSA of at least {MIN_RSA_BITS} bits"


class JwkError(ValueError):
    """Why a JWK is not a key we accept; `reason` is one of private, type, use, unusable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def public_key_from_jwk(jwk: Any, *, allow_rsa: bool = False, alg: str | None = None) -> PublicKey:
    """The public key of a JWK: EC P-256, or (with `allow_rsa`) also RSA of at least 2048 bits.

    A JWK holding any private member is refused, so that a private key sent by mistake is never
    stored. With `alg`, a JWK that names another `alg`, or a `use` other than "sig", is refused:
    a key published for something else is not used to check signatures."""
    if not isinstance(jwk, Mapping):
        raise JwkError("type", EC_OR_RSA_ONLY if allow_rsa else EC_P256_ONLY)
    if any(member in jwk for member in PRIVATE_MEMBERS):
        raise JwkError("private", "a private key was sent: send only the public JWK")
    if not allow_rsa and (jwk.get("kty"), jwk.get("crv")) != ("EC", "P-256"):
        raise JwkError("type", EC_P256_ONLY)
    if alg is not None and (jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig"):
        raise JwkError("use", f"must be a signing key for {alg}")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=ES256 if jwk.get("kty") == "EC" else "PS256").key
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
        raise JwkError("unusable", f"not a usable public JWK: {error}") from None
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return key
    if allow_rsa and isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return key
    raise JwkError("type", EC_OR_RSA_ONLY if allow_rsa else EC_P256_ONLY)


def keys_by_kid(jwks: Mapping[str, Any], alg: str | None = ES256) -> dict[str, ec.EllipticCurvePublicKey]:
    """The EC P-256 keys of a JWKS document by their `kid` (text), as a verifier of our signatures
    needs them. An entry without a text `kid` or that is not such a key (for `alg`, when given) is
    passed over: one unusable entry does not stop the others from working."""
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in jwks.get("keys", []):
        kid = entry.get("kid") if isinstance(entry, Mapping) else None
        if not isinstance(kid, str):
            continue
        try:
            key = public_key_from_jwk(entry, alg=alg)
        except JwkError:
            continue
        keys[kid] = cast(ec.EllipticCurvePublicKey, key)  # EC P-256: RSA was not allowed
    return keys


def public_members(jwk: Mapping[str, Any]) -> dict[str, Any]:
    """Only what makes up the public key (kty and its key type's members) and its kid: what we
    store and publish of a JWK someone sent, never any other member it carried."""
    wanted = ("kty", *KEY_MEMBERS.get(jwk.get("kty"), ()), "kid")  # type: ignore[arg-type]
    return {member: jwk[member] for member in PUBLIC_MEMBERS if member in wanted and member in jwk}


def jwk_of(key: PublicKey) -> dict[str, Any]:
    """A public key as a JWK (PyJWT's form: kty and the key's members, plus key_ops for RSA)."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
    return jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)


def signing_jwk(kid: str, key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """One of our ES256 signing keys as published in our JWKS, under its `kid`."""
    return {**jwk_of(key), "kid": kid, "alg": ES256, "use": "sig"}
