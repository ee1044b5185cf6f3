"""Small factories that walk a citizen through the real API."""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from standins.tencent_cloud.control import TencentStandIn
from app.accounts.rules import id_check_char
from app.security.clients import register_client


@dataclass
class SignedInCitizen:
    id: str
    phone: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


_phone_counter = iter(range(10_000_000))


def new_phone() -> str:
    return f"139{next(_phone_counter) + os.getpid() % 1000 * 10_000:08d}"


def valid_id_number(region: str = "440106", birth: str = "19900307", sequence: str = "123") -> str:
    first17 = region + birth + sequence
    return first17 + id_check_char(first17)


def live_sample(size: int = 4096) -> str:
    return base64.b64encode(os.urandom(size)).decode("ascii")


def last_code(sms: TencentStandIn, phone: str) -> str:
    """The newest login code sent to `phone` (other messages, a new-device notice, may be newer)."""
    codes = [re.search(r"验证码为 (\d{6})", message.text) for message in sms.outbox(phone)]
    match = next((found for found in codes if found), None)
    assert match, "no login code in the outbox"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, sms: TencentStandIn, phone: str | None = None,
                  device: str = "测试手机") -> SignedInCitizen:
    phone = phone or new_phone()
    sent = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": last_code(sms, phone), "device_name": device})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return SignedInCitizen(body["citizen"]["id"], phone, body["access_token"], body["refresh_token"])


async def verify_real_name(client: httpx.AsyncClient, citizen: SignedInCitizen, name: str = "李小龙",
                           id_number: str | None = None) -> None:
    reply = await client.post("/api/v1/me/identity", headers=citizen.headers,
                              json={"name": name, "id_number": id_number or valid_id_number()})
    assert reply.status_code == 200, reply.text


ADMIN_AUD = "https://gov-app.example.cn/admin"


class Department:
    def __init__(self, client_id: str, key: ec.EllipticCurvePrivateKey, clock) -> None:
        self.id, self.key, self.clock = client_id, key, clock

    def token(self, **overrides) -> str:
        claims = {"iss": self.id, "iat": int(self.clock.timestamp()), "jti": secrets.token_hex(8), "aud": ADMIN_AUD}
        claims.update(overrides)
        kid = claims.pop("kid", "1")
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": kid})

    def headers(self, **overrides) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(**overrides)}"}


async def make_department(clock, name: str, roles: list[str], audience: str = "admin",
                          expires_at: datetime | None = None, department_id: str | None = None) -> Department:
    """A registered API client with a fresh key; `department_id` binds it to a catalogue department (a clerk's)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    client = await register_client(clock, name, audience, roles, pem, expires_at=expires_at, department_id=department_id)
    return Department(client.id, key, clock)


async def refresh_tokens(client: httpx.AsyncClient, citizen: SignedInCitizen) -> SignedInCitizen:
    """Days pass in a story: the app swaps its refresh token for a fresh 15-minute access token, as a phone would."""
    reply = await client.post("/api/v1/auth/refresh", json={"refresh_token": citizen.refresh_token})
    assert reply.status_code == 200, reply.text
    citizen.access_token = reply.json()["access_token"]
    citizen.refresh_token = reply.json()["refresh_token"]
    return citizen
