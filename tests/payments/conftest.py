"""Fixtures for payments with a real second party: the stand-in WeChat Pay API v3 gateway as its own process.

`wechatpay` (tests/conftest.py): the stand-in's controls, reset before each test; our `settings` point at
it with a merchant key of this run. `live_server`: our app on a loopback port (the machinery of the
interop tests), so the gateway's notices reach our callback; the MovableClock is set to wall time
because the gateway signs with the wall clock. A payment's id is its out_trade_no at the gateway.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import AsyncIterator

import httpx
import pytest
from sanic import Sanic

from app.clock import MovableClock
from app.config import Settings
from app.integrations.payment_providers import PaymentNotice
from app.payments.service import NoticeAnswer
from app.services.cards.backends import traffic_violations_sample
from standins.wechatpay.control import WeChatPayStandIn
from tests.conftest import WeChatPayGateway
from tests.factories import Department, SignedInCitizen, make_department, sign_in, verify_real_name
from tests.health_code.interop.partner_process import serve_live

NOTIFY_PATH = "/api/provider/v1/payment-notifications"


@pytest.fixture
def settings(settings: Settings, wechatpay_gateway: WeChatPayGateway) -> Settings:
    return wechatpay_gateway.settings(settings)


@pytest.fixture
async def live_server(app: Sanic, clock: MovableClock, wechatpay: WeChatPayStandIn) -> AsyncIterator[str]:
    clock.set(datetime.now(timezone.utc))
    async with serve_live(app) as url:
        app.ctx.services.payments.notify_url = f"{url}{NOTIFY_PATH}"  # APP_PAYMENT_NOTIFY_URL, known once the port is
        yield url


@pytest.fixture
async def payer(client: httpx.AsyncClient, sms, live_server: str) -> SignedInCitizen:
    """A real-named citizen (实名) with at least one open traffic fine in the stand-in backend."""
    for _ in range(40):
        citizen = await sign_in(client, sms)
        if traffic_violations_sample(citizen.id)["count"]:
            await verify_real_name(client, citizen, name="陈美玲")
            return citizen
    raise AssertionError("no sample citizen with a fine in 40 tries")


@pytest.fixture
async def payments_admin(app: Sanic, clock: MovableClock) -> Department:
    return await make_department(clock, "省财政厅非税收入管理（示例）", ["payments_admin"])


async def first_fine(client: httpx.AsyncClient, citizen: SignedInCitizen) -> dict:
    reply = await client.get("/api/v1/payables", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return next(p for p in reply.json()["items"] if p["kind"] == "traffic_fine")


async def start_payment(client: httpx.AsyncClient, citizen: SignedInCitizen, payable: dict,
                        key: str = "tap-0001-abcdef") -> httpx.Response:
    return await client.post("/api/v1/payments", headers={**citizen.headers, "Idempotency-Key": key},
                             json={"reference": payable["reference"], "amount_fen": payable["amount_fen"],
                                   "currency": "CNY", "description": payable["description"]})


@dataclass
class HeldNotices:
    """Provider notices our callback holds: `arrived` is set when the first reaches the payments service
    (verified and decrypted), and each goes on to be handled once `release` is set."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def reached_us(self, timeout: float = 10.0) -> None:
        """Wait until a held notice has reached our callback; fails if none comes in `timeout` seconds."""
        try:
            await asyncio.wait_for(self.arrived.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no notice reached our callback in {timeout} s") from None


def hold_notices(app: Sanic, monkeypatch: pytest.MonkeyPatch, event_type: str) -> HeldNotices:
    """Our callback keeps every notice of `event_type` waiting until the test releases it: a notice that comes
    late comes exactly when the test says, after what it is to come after, however slow the machine."""
    held, service = HeldNotices(), app.ctx.services.payments
    handle_notice = service.handle_notice

    async def held_back(notice: PaymentNotice, body: bytes) -> NoticeAnswer:
        if notice.event_type == event_type:
            held.arrived.set()
            await held.release.wait()
        return await handle_notice(notice, body)

    monkeypatch.setattr(service, "handle_notice", held_back)
    return held


async def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    """Poll an async predicate until it is truthy (notifications arrive asynchronously, over HTTP)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


async def pay_a_fine(client: httpx.AsyncClient, citizen: SignedInCitizen, wechatpay: WeChatPayStandIn) -> dict:
    """The citizen starts paying their first fine and pays it in WeChat; waits until the notice settled it."""
    from app.payments.models import Payment

    payment = (await start_payment(client, citizen, await first_fine(client, citizen))).json()
    wechatpay.pay(payment["id"])

    async def settled():
        return (await Payment.get(id=payment["id"])).state == "success"

    await wait_for(settled)
    return payment
