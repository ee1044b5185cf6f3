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
OFFLINE_NONCES = "/api/rp/v1/offline-nonces"
OFFLINE_CHECKS = "/api/rp/v1/offline-checks"


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

    def offline_qr(self, credential: str, audience: str, nonce: str, clock) -> str:
        """At the desk: the offline credential with a KB-JWT for the desk's audience and nonce, as a QR text."""
        from app.vouchers import offline

        kb = offline.key_binding_jwt(credential, self.key, audience, nonce, clock.now())
        return offline.to_qr_text(credential + kb)


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


# -- for the lifecycle, presentation and security stories ------------------------------------------

ADMIN_REVOCATIONS = "/api/admin/v1/voucher-revocations"
STANDING_REQUESTS = "/api/rp/v1/standing-requests"
ACCESS_LOG = "/api/v1/me/access-log"


@dataclass
class Holder:
    """A face-verified citizen with the voucher on their phone."""

    citizen: SignedInCitizen
    phone: Phone
    voucher: dict[str, Any]
    id_number: str

    @property
    def headers(self) -> dict[str, str]:
        return self.citizen.headers

    @property
    def voucher_id(self) -> str:
        return self.voucher["id"]


async def voucher_holder(client: httpx.AsyncClient, sms, name: str = "张三", birth: str = "19900307",
                         sequence: str = "123") -> Holder:
    """A citizen at level 3 who got the voucher on a fresh phone (give each citizen of a story its own sequence)."""
    citizen = await face_verified(client, sms, name=name, birth=birth, sequence=sequence)
    phone = Phone()
    voucher = await get_voucher(client, citizen, phone)
    return Holder(citizen, phone, voucher, valid_id_number(birth=birth, sequence=sequence))


async def shown_token(client: httpx.AsyncClient, holder: Holder, clock, **body: Any) -> dict[str, Any]:
    """A presentation the holder made on their phone: {"id", "token", "attributes", ...}."""
    shown = await show(client, holder.citizen, holder.phone, holder.voucher_id, clock, **body)
    assert shown.status_code == 201, shown.text
    return shown.json()


async def present_with_proof(client: httpx.AsyncClient, citizen: SignedInCitizen, proof: str,
                             **body: Any) -> httpx.Response:
    """Ask for a presentation QR with a device proof made elsewhere (another phone, an old one, a replay)."""
    return await client.post(f"{VOUCHERS}/current/presentations", headers=citizen.headers,
                             json={"device_proof": proof, **body})


async def redeem(client: httpx.AsyncClient, rp: Department, token: str, attributes: list[str],
                 purpose: str = "入住登记") -> httpx.Response:
    return await client.post(REDEMPTIONS, headers=rp_headers(rp),
                             json={"token": token, "attributes": attributes, "purpose": purpose})


async def id_authority(clock, name: str = "省公安厅居民身份证管理处", roles: tuple[str, ...] = ("id_authority",)) -> Department:
    """The ID authority (发证机关): an admin client with the id_authority role."""
    return await make_department(clock, name, list(roles))


def error_code(reply: httpx.Response) -> str:
    return reply.json()["error"]["code"]


async def voucher_events(citizen_id: str) -> list[Any]:
    """The audit events about this citizen's voucher, oldest first."""
    from app.audit import AuditEntry

    return await AuditEntry.filter(subject_id=citizen_id, category="event",
                                   action__startswith="voucher_").order_by("seq")


async def turn_on_elderly_mode(app, citizen: SignedInCitizen) -> None:
    """Stand-in for PUT /api/v1/me/preferences (not served yet): set the flag and drop the cached citizen."""
    from app.accounts.models import Citizen

    await Citizen.filter(id=citizen.id).update(elderly_mode=True)
    await app.ctx.services.accounts.forget_citizen(citizen.id)


def signed_token(claims: dict[Any, Any], key: ec.EllipticCurvePrivateKey, kid: bytes) -> str:
    """A GDID1: text signed with any key: ours (tests of what we accept) or a forger's."""
    from app.vouchers.service import PREFIX
    from health_code import codec

    return codec.sign_cwt(claims, key, kid, PREFIX)
