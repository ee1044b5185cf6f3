"""Small factories for the e-licence stories: the traffic police as issuer, an administrator who
assigns issuers, a holder, a relying party, and licence documents signed as an issuer would sign them."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from app.clock import rfc3339
from tests.factories import Department, SignedInCitizen, make_department, sign_in, valid_id_number, verify_real_name

LICENCES = "/api/v1/licences"
SHARES = "/api/v1/licence-shares"
ISSUE = "/api/admin/v1/licences"
VERIFY = "/api/rp/v1/licence-verifications"
ACCESS_LOG = "/api/v1/me/access-log"
RP_AUD = "https://gov-app.example.cn/relying_party"
ZHANG_SAN_ID = valid_id_number(birth="19900307", sequence="271")
LI_SI_ID = valid_id_number(region="440104", birth="19851120", sequence="382")
POLICE = "广州市公安局交通警察支队（示例）"


def driving_fields(**changes: Any) -> dict[str, Any]:
    """Sample data (示例): a made-up driving licence."""
    fields = {"name": "张三", "sex": "男", "nationality": "中国", "address": "广东省广州市天河区示例路 1 号",
              "birth_date": "1990-03-07", "first_issue_date": "2012-06-01", "vehicle_class": "C1",
              "issuing_authority": POLICE}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def sign_document(issuer: Department, body: dict[str, Any], *, key=None, kid: str = "1", typ: str = "licence+jwt",
                  **claim_changes: Any) -> str:
    """The licence document as the issuer signs it: a compact JWS over what it posts."""
    claims = {"iss": issuer.id, "iat": int(issuer.clock.timestamp()), "licence_type": body["licence_type"],
              "number": body["number"], "holder": hashlib.sha256(body["holder_id_number"].encode()).hexdigest(),
              "fields": body["fields"], "valid_from": body["valid_from"], "valid_until": body.get("valid_until")}
    claims.update(claim_changes)
    return jwt.encode(claims, key or issuer.key, algorithm="ES256", headers={"kid": kid, "typ": typ})


def licence_body(issuer: Department, *, licence_type: str = "driving_licence", holder_id_number: str = ZHANG_SAN_ID,
                 number: str | None = None, fields: dict[str, Any] | None = None, valid_from: datetime | None = None,
                 valid_until: datetime | None | str = "default", claims: dict[str, Any] | None = None,
                 **sign: Any) -> dict[str, Any]:
    """A licence to post, with its document signed over the same content (or `claims` changed in it)."""
    now = issuer.clock.now().replace(microsecond=0)
    body = {
        "licence_type": licence_type, "holder_id_number": holder_id_number,
        "number": number or holder_id_number, "fields": driving_fields() if fields is None else fields,
        "valid_from": rfc3339(valid_from or now - timedelta(days=365)),
        "valid_until": rfc3339(now + timedelta(days=6 * 365) if valid_until == "default" else valid_until),
    }
    body["document"] = sign_document(issuer, body, **sign, **(claims or {}))
    return body


async def issue(client: httpx.AsyncClient, issuer: Department, expect: int = 201, **kwargs: Any) -> dict[str, Any]:
    reply = await client.post(ISSUE, headers=issuer.headers(), json=licence_body(issuer, **kwargs))
    assert reply.status_code == expect, reply.text
    return reply.json()


async def set_status(client: httpx.AsyncClient, issuer: Department, licence_id: str, status: str,
                     reason: str | None = None) -> httpx.Response:
    return await client.post(f"{ISSUE}/{licence_id}/status", headers=issuer.headers(),
                             json={"status": status, "reason": reason})


async def assign(client: httpx.AsyncClient, admin: Department, code: str, issuer_id: str | None) -> httpx.Response:
    return await client.put(f"/api/admin/v1/licence-types/{code}/issuer", headers=admin.headers(),
                            json={"client_id": issuer_id})


async def holder(client: httpx.AsyncClient, sms, name: str, id_number: str) -> SignedInCitizen:
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name=name, id_number=id_number)
    return citizen


async def share(client: httpx.AsyncClient, citizen: SignedInCitizen, licence_id: str, purpose: str = "办理租房登记",
                valid_minutes: int = 30) -> dict[str, Any]:
    reply = await client.post(f"{LICENCES}/{licence_id}/shares", headers=citizen.headers,
                              json={"purpose": purpose, "valid_minutes": valid_minutes})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def verify(client: httpx.AsyncClient, rp: Department, token: str) -> dict[str, Any]:
    reply = await client.post(VERIFY, headers=rp.headers(aud=RP_AUD), json={"token": token})
    assert reply.status_code == 200, reply.text
    return reply.json()


def error_code(reply: httpx.Response) -> str:
    return reply.json()["error"]["code"]


# -- fixtures (imported by the test modules) ---------------------------------------------------------

@pytest.fixture
async def licence_admin(app, clock) -> Department:
    return await make_department(clock, "省政务服务数据管理局（示例）", ["licence_admin"])


@pytest.fixture
async def police(app, client, clock, licence_admin) -> Department:
    """The traffic police: the assigned issuer of driving licences."""
    issuer = await make_department(clock, POLICE, ["licence_issuer"])
    reply = await assign(client, licence_admin, "driving_licence", issuer.id)
    assert reply.status_code == 200, reply.text
    return issuer


@pytest.fixture
async def civil_affairs(app, clock) -> Department:
    """Another issuer (marriage certificates), not assigned to driving licences."""
    return await make_department(clock, "广州市民政局（示例）", ["licence_issuer"])


@pytest.fixture
async def zhang_san(client, sms) -> SignedInCitizen:
    return await holder(client, sms, "张三", ZHANG_SAN_ID)


@pytest.fixture
async def li_si(client, sms) -> SignedInCitizen:
    return await holder(client, sms, "李四", LI_SI_ID)


@pytest.fixture
async def landlord_agency(app, clock) -> Department:
    """A relying party: a letting agency that checks the licence for a tenancy registration."""
    return await make_department(clock, "示例房屋租赁服务有限公司", [], audience="relying_party")


@pytest.fixture
async def licence(client, police, zhang_san) -> dict[str, Any]:
    """Zhang San's driving licence, issued by the traffic police."""
    return await issue(client, police)
