"""Small factories for the ID-voucher stories: a face-verified citizen with a phone key, relying parties."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import (Department, SignedInCitizen, live_sample, make_department, sign_in, valid_id_number,
                             verify_real_name)

RP_AUD = "https://gov-app.example.cn/relying_party"
VOUCHERS = "/api/v1/vouchers"
REDEMPTIONS = "/api/rp/v1/redemptions"


@dataclass
class Phone:
    """The citizen's phone: an installation id and a key that never leaves it."""

    device_id: str = field(default_factory=lambda: f"dev-{secrets.token_hex(6)}")
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        return jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)

    def proof(self, voucher_id: str, clock, **overrides: Any) -> str:
        claims = {"sub": voucher_id, "iat": int(clock.timestamp()), "jti": secrets.token_hex(8), **overrides}
        return jwt.encode(claims, self.key, algorithm="ES256")


async def face_verified(client: httpx.AsyncClient, sms, name: str = "张三", birth: str = "19900307",
                        sequence: str = "123") -> SignedInCitizen:
    """A citizen who passed 实名 and the face check (level 3)."""
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name=name, id_number=valid_id_number(birth=birth, sequence=sequence))
    reply = await client.post("/api/v1/me/identity/face", headers=citizen.headers, json={"liveness_sample": live_sample()})
    assert reply.status_code == 200 and reply.json()["level"] == 3, reply.text
    return citizen


async def get_voucher(client: httpx.AsyncClient, citizen: SignedInCitizen, phone: Phone) -> dict[str, Any]:
    reply = await client.post(VOUCHERS, headers=citizen.headers,
                              json={"device_id": phone.device_id, "device_key": phone.public_jwk()})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def show(client, citizen, phone: Phone, voucher_id: str, clock, **body: Any) -> httpx.Response:
    return await client.post(f"{VOUCHERS}/current/presentations", headers=citizen.headers,
                             json={"device_proof": phone.proof(voucher_id, clock), **body})


async def relying_party(clock, name: str, scopes: list[str]) -> Department:
    """A hotel, a bank, a hospital: its scopes are its roles."""
    return await make_department(clock, name, scopes, audience="relying_party")


def rp_headers(rp: Department) -> dict[str, str]:
    return rp.headers(aud=RP_AUD)
