"""Fixtures for mutual-recognition tests with a real second party (see partner_process.py).

`admin`: a partner admin; `mo`: Macao registered, issuing codes in this process; `zhang_san`: the
real-name citizen its codes are for. `live_server`: our app (the `app` fixture, same one the `client` fixture talks to) also served on
a loopback port; its base URL. `partner_region`: the stand-in partner region "MO" running as its
own process, pointed at `live_server`.

The stand-in reads the wall clock and we read the `clock` fixture, so `live_server` sets the
MovableClock to wall time; a test may still move it, e.g. to make our codes look expired.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator

import pytest
from sanic import Sanic

from app.clock import MovableClock
from tests.factories import Department, SignedInCitizen, sign_in, verify_real_name
from tests.health_code.interop.partners_factory import PartnerRegion as PartnerInProcess
from tests.health_code.interop.partners_factory import ZHANG_SAN_ID_NUMBER, make_partner, make_partner_admin
from tests.health_code.interop.partner_process import PartnerRegion, serve_live, start_partner


@pytest.fixture
async def admin(app: Sanic, clock: MovableClock) -> Department:
    """A client of the platform's administrators allowed to manage the partner registry."""
    return await make_partner_admin(clock)


@pytest.fixture
async def mo(client, admin: Department) -> PartnerInProcess:
    """Macao (MO), registered through the admin API, issuing its codes in this process with its own keys."""
    return await make_partner(client, admin)


@pytest.fixture
async def zhang_san(client, sms) -> SignedInCitizen:
    """A real-name (level 2) citizen, born 1990-03-07: masked, 张三 reads "*三", as in Macao's codes."""
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, name="张三", id_number=ZHANG_SAN_ID_NUMBER)
    return citizen


@pytest.fixture
async def live_server(app: Sanic, clock: MovableClock) -> AsyncIterator[str]:
    clock.set(datetime.now(timezone.utc))
    async with serve_live(app) as url:
        yield url


@pytest.fixture
async def partner_region(live_server: str, tmp_path: Path) -> AsyncIterator[PartnerRegion]:
    partner = await start_partner(live_server, tmp_path, partner_id="MO")
    try:
        yield partner
    finally:
        await partner.stop()
