"""Small factories for the 12345 ticket stories: what a citizen files, the clerks of the sample departments
the routing table names, and the requests both send."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import httpx

from app.clock import CHINA_TZ
from tests.factories import Department as Client, SignedInCitizen, make_department

TICKETS = "/api/v1/hotline/tickets"
ADMIN_TICKETS = "/api/admin/v1/hotline/tickets"
INBOX = "/api/v1/notifications"
ACCESS_LOG = "/api/v1/me/access-log"
# Friday 4 December 2026, 09:00 in Guangzhou: one working day runs to the end of Monday.
FRIDAY_MORNING = datetime(2026, 12, 4, 9, 0, tzinfo=CHINA_TZ)

# Sample data (示例): a complaint about a shop, as a citizen would write it.
COMPLAINT = {
    "category": "complaint",
    "description": "天河路某超市售卖过期酸奶，店员拒绝退换，要求市场监管部门处理。",
    "location": {"address": "广州市天河区天河路 208 号（示例）", "latitude": 23.1325, "longitude": 113.3234},
}


async def market_clerk(clock) -> Client:
    """A clerk of 广州市市场监督管理局, where the sample routing table sends complaints."""
    return await make_department(clock, "广州市市场监督管理局 12345 承办窗口（示例）", ["clerk"], department_id="gz-scjgj")


async def civil_affairs_clerk(clock) -> Client:
    """A clerk of 广州市民政局, where requests for help (求助) go."""
    return await make_department(clock, "广州市民政局 12345 承办窗口（示例）", ["clerk"], department_id="gz-mzj")


def key() -> str:
    """A fresh Idempotency-Key, as an app makes one for each ticket it files."""
    return f"tk-{secrets.token_hex(8)}"


async def file_ticket(client: httpx.AsyncClient, citizen: SignedInCitizen, idempotency_key: str | None = None,
                      **changes: Any) -> httpx.Response:
    """File the sample complaint with `changes`, under `idempotency_key` (a fresh one when not given)."""
    headers = {**citizen.headers, "Idempotency-Key": idempotency_key or key()}
    return await client.post(TICKETS, headers=headers, json={**COMPLAINT, **changes})


async def filed(client: httpx.AsyncClient, citizen: SignedInCitizen, **changes: Any) -> dict[str, Any]:
    reply = await file_ticket(client, citizen, **changes)
    assert reply.status_code == 201, reply.text
    return reply.json()


async def accept(client: httpx.AsyncClient, clerk: Client, ticket_id: str) -> httpx.Response:
    return await client.post(f"{ADMIN_TICKETS}/{ticket_id}/accept", headers=clerk.headers())


async def answer(client: httpx.AsyncClient, clerk: Client, ticket_id: str,
                 text: str = "经核查，该超市已下架过期商品并为您办理退款，我局已立案调查。") -> httpx.Response:
    return await client.post(f"{ADMIN_TICKETS}/{ticket_id}/answer", headers=clerk.headers(), json={"answer": text})


async def answered(client: httpx.AsyncClient, clerk: Client, ticket_id: str) -> dict[str, Any]:
    assert (await accept(client, clerk, ticket_id)).status_code == 200
    reply = await answer(client, clerk, ticket_id)
    assert reply.status_code == 200, reply.text
    return reply.json()


async def act(client: httpx.AsyncClient, citizen: SignedInCitizen, ticket_id: str, step: str,
              body: dict[str, Any] | None = None) -> httpx.Response:
    """confirm, reopen or rating, as the citizen."""
    return await client.post(f"{TICKETS}/{ticket_id}/{step}", headers=citizen.headers, json=body or {})


async def inbox_kinds(client: httpx.AsyncClient, citizen: SignedInCitizen) -> list[str]:
    reply = await client.get(INBOX, headers=citizen.headers, params={"limit": 100})
    assert reply.status_code == 200, reply.text
    return [m["kind"] for m in reversed(reply.json()["items"]) if m["kind"].startswith("hotline_")]


def error_code(reply: httpx.Response) -> str:
    return reply.json()["error"]["code"]
