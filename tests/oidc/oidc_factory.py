"""Sites registered through the admin API, and a citizen's sign-in at one, step by step through the real API."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.factories import Department, make_department

SITES = "/api/admin/v1/oidc-clients"
ACCESS_LOG = "/api/v1/me/access-log"


@dataclass
class RegisteredSite:
    client_id: str
    client_secret: str | None
    redirect_uri: str
    name: str
    reply: dict[str, Any] = field(default_factory=dict)


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636 §4.1, §4.2)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def data_bureau(clock) -> Department:
    """The admin client that registers sites (示例：省政务服务数据管理局)."""
    return await make_department(clock, "广东省政务服务数据管理局（示例）", ["oidc_admin"])


async def register_site(client: httpx.AsyncClient, admin: Department, *, name: str = "广州公积金网上办事大厅（示例）",
                        client_type: str = "confidential", redirect_uri: str = "https://gjj.example.cn/oidc/callback",
                        scopes: list[str] | None = None) -> RegisteredSite:
    reply = await client.post(SITES, headers=admin.headers(), json={
        "name": name, "client_type": client_type, "redirect_uris": [redirect_uri],
        "scopes": scopes or ["openid", "profile", "phone", "identity", "age_over_18"]})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    return RegisteredSite(body["client_id"], body["client_secret"], redirect_uri, name, body)


def authorization_query(site: RegisteredSite, challenge: str | None, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "response_type": "code", "client_id": site.client_id, "redirect_uri": site.redirect_uri,
        "scope": "openid profile phone", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    return urlencode({k: v for k, v in params.items() if v is not None})


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def approved_code(client: httpx.AsyncClient, citizen, site: RegisteredSite, query: str) -> str:
    """The consent page shown, the citizen approves: the code the browser brings back to the site."""
    page = await client.get(f"/oidc/authorize?{query}")
    assert page.status_code == 200 and "consent.js" in page.text, page.text
    decided = await client.post("/api/v1/oidc/consents", headers=citizen.headers, json={"query": query, "approve": True})
    assert decided.status_code == 200, decided.text
    landing = decided.json()["redirect_to"]
    assert landing.startswith(site.redirect_uri + "?")
    back = query_of(landing)
    assert back["state"] == query_of("?" + query)["state"] and back["iss"] == "https://gov.test"  # RFC 9207
    return back["code"]


def basic(site: RegisteredSite, secret: str | None = None) -> dict[str, str]:
    raw = f"{site.client_id}:{secret or site.client_secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def exchange(client: httpx.AsyncClient, site: RegisteredSite, code: str, verifier: str | None,
                   headers: dict[str, str] | None = None, **form: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": site.redirect_uri, **form}
    if verifier is not None:
        data["code_verifier"] = verifier
    return await client.post("/oidc/token", data=data, headers=basic(site) if headers is None else headers)
