"""The exchange client against departments of the tests' own (department.py), on the test's database and cache."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import httpx
import pytest

from app.integrations.exchange.client import ExchangeClient
from app.integrations.exchange.registry import Registration
from app.platform import Platform
from tests.integrations.exchange.department import HPF, HRSS, Department

ID_NUMBER = "440106199001011234"
CITIZEN = "c_exchange_citizen"
RECORD = {"insured": True, "schemes": [{"scheme": "enterprise_pension", "since": "2012-07"}], "sample": True}


@pytest.fixture
async def our_jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    """The platform's keys as a department fetches them: from the JWKS we publish."""
    reply = await client.get("/.well-known/jwks.json")
    assert reply.status_code == 200
    return reply.json()


@pytest.fixture
def hrss(our_jwks: dict[str, Any]) -> Department:
    return Department(HRSS, our_jwks, records={ID_NUMBER: RECORD}, base_url="http://hrss.test")


@pytest.fixture
def hpf(our_jwks: dict[str, Any]) -> Department:
    return Department(HPF, our_jwks, records={ID_NUMBER: {"balance_fen": 1234500, "sample": True}},
                      base_url="http://hpf.test")


@pytest.fixture
async def exchange_for(platform: Platform) -> AsyncIterator[Callable[..., ExchangeClient]]:
    """A factory of exchange clients calling `registrations`, each answered by its department through
    httpx.MockTransport (a registration whose department is served on a socket goes over the network)."""
    made: list[ExchangeClient] = []

    def make(*pairs: tuple[Department, Registration], network: bool = False) -> ExchangeClient:
        by_host = {httpx.URL(registration.url).host: department for department, registration in pairs}

        async def route(request: httpx.Request) -> httpx.Response:
            department = by_host[request.url.host]
            status, headers, body = await department.answer(request.method, request.url.raw_path.decode("ascii"),
                                                            request.headers, await request.aread())
            return httpx.Response(status, headers=headers, content=body)

        http = None if network else httpx.AsyncClient(transport=httpx.MockTransport(route))
        exchange = ExchangeClient(platform, [registration for _, registration in pairs], http=http)
        made.append(exchange)
        return exchange

    yield make
    for exchange in made:
        await exchange.aclose()
