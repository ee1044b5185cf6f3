"""Fixtures for payments with a real second party: the stand-in payment provider as its own process.

`provider`: the stand-in (`python -m app.payments.standin_provider`), one process for the session,
reset before each test; its control client. Our `settings` point at it. `live_server`: our app on a
loopback port (the machinery of the interop tests), so the provider's notifications reach our callback;
the MovableClock is set to wall time because the provider signs with the wall clock.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import pytest
from sanic import Sanic

from app.clock import MovableClock
from app.config import Settings
from app.services.backends import traffic_violations_sample
from tests.factories import Department, SignedInCitizen, make_department, sign_in, verify_real_name
from tests.health_code.interop.partner_process import REPO_ROOT, serve_live

MERCHANT_KEY = "test-merchant-key-0123456789abcdef"
NOTIFY_PATH = "/api/provider/v1/payment-notifications"
_LISTENING = re.compile(r"^LISTENING (\d+)$", re.MULTILINE)


@dataclass
class StandInProvider:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)


@pytest.fixture(scope="session")
def provider_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInProvider]:
    log_path = tmp_path_factory.mktemp("provider") / "standin-provider.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.payments.standin_provider", "--port", "0", "--merchant-key", MERCHANT_KEY],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline, url = time.monotonic() + 30, None
    while url is None:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"stand-in provider did not start:\n{log_path.read_text(errors='replace')}")
        found = _LISTENING.search(log_path.read_text(errors="replace"))
        if found:
            try:
                if httpx.get(f"http://127.0.0.1:{found.group(1)}/v1/keys", timeout=2).status_code == 200:
                    url = f"http://127.0.0.1:{found.group(1)}"
                    continue
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    yield StandInProvider(url, process, log_path)
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def settings(settings: Settings, provider_process: StandInProvider) -> Settings:
    return settings.with_(payment_provider_url=provider_process.url, payment_merchant_key=MERCHANT_KEY,
                          payment_provider_timeout=5.0)


@pytest.fixture
async def provider(provider_process: StandInProvider) -> AsyncIterator[httpx.AsyncClient]:
    """The stand-in's control client, reset: quick notifications, two copies of each, nothing dropped."""
    async with provider_process.client() as control:
        assert (await control.post("/control/reset")).status_code == 200
        yield control


@pytest.fixture
async def live_server(app: Sanic, clock: MovableClock, provider: httpx.AsyncClient) -> AsyncIterator[str]:
    clock.set(datetime.now(timezone.utc))
    async with serve_live(app) as url:
        app.ctx.payments.notify_url = f"{url}{NOTIFY_PATH}"  # APP_PAYMENT_NOTIFY_URL, known once the port is
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


def provider_order_id(payment: dict) -> str:
    return payment["next_step"]["url"].rsplit("/", 1)[-1]


async def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    """Poll an async predicate until it is truthy (notifications arrive asynchronously, over HTTP)."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


async def pay_a_fine(client: httpx.AsyncClient, citizen: SignedInCitizen, provider: httpx.AsyncClient) -> dict:
    """The citizen starts paying their first fine and pays it on the provider's page; waits until it is settled."""
    from app.payments.models import Payment

    payment = (await start_payment(client, citizen, await first_fine(client, citizen))).json()
    await provider.post(f"/pay/{provider_order_id(payment)}/pay")

    async def settled():
        return (await Payment.get(id=payment["id"])).state == "success"

    await wait_for(settled)
    return payment
