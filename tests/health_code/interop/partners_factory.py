"""Small factories for cross-region recognition (互转互认) tests: a partner-admin department, and a
partner region ("MO") registered through the admin API, which signs its own API calls and issues
its own health codes in our GDHC1 format.

Everything a partner holds (its API key, its code-signing keys) is made here; the service only
ever sees the public halves, as in real life.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import base45
import cbor2
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import Settings
from app.security.keys import b64url, b64url_decode
from health_code import codec
from health_code.holder import holder_tag, standard_name
from tests.factories import Department, make_department, valid_id_number

PARTNER_AUD = f"{Settings().security.issuer}/partner"  # "https://gov-app.example.cn/partner"
PARTNERS = "/api/admin/v1/partners"
VERIFICATIONS = "/api/partner/v1/verifications"
REVOCATIONS = "/api/partner/v1/revocations"
CONVERSIONS = "/api/v1/health-code/conversions"
# A partner issuing GDHC1 codes states its status with our colour words; this maps them 1:1.
SAME_WORDS = {"green": "green", "yellow": "yellow", "red": "red"}
CHINESE_WORDS = {"绿码": "green", "黄码": "yellow", "红码": "red"}
ZHANG_SAN_ID_NUMBER = valid_id_number(region="440106", birth="19900307", sequence="415")  # born 1990-03-07


async def make_partner_admin(clock, name: str = "省口岸办互认管理") -> Department:
    """An admin client allowed to manage the partner registry."""
    return await make_department(clock, name, ["partner_admin"])


def public_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    return {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}


@dataclass
class CodeSigningKey:
    """One of a partner's code-signing keys: kid = base64url of 8 random bytes, as in its codes."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    kid_bytes: bytes = field(default_factory=lambda: os.urandom(8))
    not_before: datetime | None = None  # the validity it is registered with
    not_after: datetime | None = None

    @property
    def kid(self) -> str:
        return b64url(self.kid_bytes)

    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private_key, self.kid)

    def spec(self, not_before: datetime | None = None, not_after: datetime | None = None) -> dict[str, Any]:
        """The body the admin API takes for this key (public half only)."""
        body: dict[str, Any] = {"jwk": self.jwk()}
        not_before, not_after = not_before or self.not_before, not_after or self.not_after
        if not_before is not None:
            body["not_before"] = not_before.isoformat()
        if not_after is not None:
            body["not_after"] = not_after.isoformat()
        return body


@dataclass(frozen=True)
class PartnerCode:
    """A code the partner issued, with what the partner knows about it."""

    payload: str
    code_id: bytes
    expires_at: int

    @property
    def revocation_hash(self) -> str:
        """What the partner publishes to revoke it: SHA-256 of the code id's hex (as the DCC UCI hash)."""
        return hashlib.sha256(self.code_id.hex().encode()).hexdigest()


@dataclass
class PartnerRegion:
    id: str
    clock: Any
    api_key: ec.EllipticCurvePrivateKey
    api_kid: str
    signing_keys: list[CodeSigningKey]
    registered: dict[str, Any]
    holder_key: bytes = b""  # the secret we made for it, keying the holder tags in its codes

    # -- calling our partner API ----------------------------------------------------------------
    def token(self, *, key: ec.EllipticCurvePrivateKey | None = None, kid: str | None = None, **overrides: Any) -> str:
        claims = {"iss": self.id, "aud": PARTNER_AUD, "iat": int(self.clock.timestamp()), "jti": secrets.token_hex(8)}
        claims.update(overrides)
        return jwt.encode(claims, key or self.api_key, algorithm="ES256", headers={"kid": kid or self.api_kid})

    def headers(self, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**overrides)}"}

    # -- issuing its own codes ------------------------------------------------------------------
    def issue_code(self, colour: str = "green", name_masked: str = "*三", *, reasons: tuple[int, ...] = (),
                   ttl: int = 180, signed_by: CodeSigningKey | None = None, issuer: str | None = None,
                   holder: tuple[str, str] | None = ("张三", "1990-03-07"),
                   holder_key: bytes | None = None) -> PartnerCode:
        """A GDHC1 code as the partner's own system would issue it, with its current signing key, bound to
        `holder` (legal name, birth date) as the partner knows them under its holder key (or `holder_key`);
        None: an older code, not bound."""
        key = signed_by or self.signing_keys[-1]
        now = int(self.clock.timestamp())
        code_id = os.urandom(6)
        tag = holder_tag(holder_key or self.holder_key, code_id, standard_name(holder[0]), holder[1]) if holder else None
        claims = codec.CodeClaims(code_id=code_id, colour=colour, reasons=reasons, subject_masked=name_masked,
                                  issuer=issuer or self.id, issued_at=now, expires_at=now + ttl, holder=tag)
        payload = codec.sign_cwt(claims.cwt(), key.private_key, key.kid_bytes, codec.PREFIX)
        return PartnerCode(payload, claims.code_id, claims.expires_at)


async def make_partner(client: httpx.AsyncClient, admin: Department, partner_id: str = "MO", *,
                       name: str = "澳门特别行政区卫生局", status_mapping: dict[str, str] | None = None,
                       formats: tuple[str, ...] = ("GDHC1",), signing_keys: list[CodeSigningKey] | None = None,
                       **limits: int) -> PartnerRegion:
    """Register a partner region through the admin API with a fresh API key and code-signing key(s)."""
    api_key = ec.generate_private_key(ec.SECP256R1())
    keys = signing_keys or [CodeSigningKey()]
    body = {
        "id": partner_id, "name": name, "formats": list(formats), "status_mapping": status_mapping or SAME_WORDS,
        "contact": {"name": "互认联络人", "email": "interop@ssm.example.mo"},
        "api_keys": [public_jwk(api_key, "mo-api-1")], "signing_keys": [k.spec() for k in keys], **limits,
    }
    reply = await client.post(PARTNERS, headers=admin.headers(), json=body)
    assert reply.status_code == 201, reply.text
    holder_key = await client.post(f"{PARTNERS}/{partner_id}/holder-keys", headers=admin.headers())
    assert holder_key.status_code == 201, holder_key.text
    return PartnerRegion(partner_id, admin.clock, api_key, "mo-api-1", keys, reply.json(),
                         b64url_decode(holder_key.json()["key"]))


def registration_body(partner_id: str = "MO", **changes: Any) -> dict[str, Any]:
    """A valid registration body to spoil one field of."""
    body = {
        "id": partner_id, "name": "澳门特别行政区卫生局", "formats": ["GDHC1"], "status_mapping": dict(SAME_WORDS),
        "contact": {"name": "互认联络人"}, "api_keys": [public_jwk(ec.generate_private_key(ec.SECP256R1()), "mo-api-1")],
        "signing_keys": [CodeSigningKey().spec()],
    }
    body.update(changes)
    return body


def tamper(payload: str, colour: str = "green") -> str:
    """Change the colour inside a signed code and keep its signature, as a forger would."""
    prefix = payload[:payload.index(":") + 1]
    body = base45.b45decode(payload[len(prefix):])
    message = cbor2.loads(zlib.decompress(body) if body[:1] == b"\x78" else body)
    protected, unprotected, body, signature = message.value
    claims = cbor2.loads(body)
    claims[codec.CLAIMS_KEY][2] = codec.COLOURS.index(colour)
    claims[codec.CLAIMS_KEY][4] = "*改"
    forged = cbor2.dumps(cbor2.CBORTag(codec.COSE_SIGN1_TAG, [protected, unprotected, cbor2.dumps(claims), signature]))
    return prefix + base45.b45encode(forged).decode("ascii")


def start_of_next(clock, seconds: int) -> None:
    """Move the clock to 1 s into the next fixed window of `seconds`, so a test cannot straddle two."""
    now = clock.timestamp()
    clock.set(datetime.fromtimestamp((int(now // seconds) + 1) * seconds + 1, tz=timezone.utc))


def after(clock, **delta: float) -> datetime:
    return clock.now() + timedelta(**delta)
