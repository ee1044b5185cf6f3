"""Fixtures for the mini-program tests: the stand-in platform (its own process, see
platform_process.py) and a scripted mini-program front-end (`miniprogram_mock.client`) that talks
to our app in-process and to the platform over HTTP."""

from __future__ import annotations

import socket
from typing import AsyncIterator
from urllib.parse import urlparse

import httpx
import pytest

from miniprogram_mock.client import MiniProgramClient
from tests.faults.proxy import FaultProxy, reserve
from tests.miniprogram.platform_process import PlatformProcess


@pytest.fixture
def mp(client: httpx.AsyncClient, platform_api: httpx.AsyncClient) -> MiniProgramClient:
    return MiniProgramClient(client, platform_api)


class PlatformHost:
    """The platform as our service reaches it, at a port of its own: `go_down()` leaves nothing
    listening there (every connection refused, as when the platform's host is down), `come_back()`
    listens on the same port again, forwarding to the stand-in platform. While down, the port stays
    bound (not listening) by this host, so no other test worker or outgoing connection can take it."""

    def __init__(self, stand_in_url: str) -> None:
        target = urlparse(stand_in_url)
        self._target = (target.hostname or "127.0.0.1", target.port or 80)
        self._proxy: FaultProxy | None = None
        self._reserved: socket.socket | None = reserve()  # the port, before it ever listens
        self.port = self._reserved.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def come_back(self) -> None:
        if self._proxy is None:
            sock, self._reserved = self._reserved, None
            self._proxy = await FaultProxy(*self._target).start(sock=sock)  # the reserved socket listens

    async def go_down(self) -> None:
        if self._proxy is not None:
            # open connections reset, the port no longer listening but still bound by this host
            self._reserved = await self._proxy.close(keep_port=True)
            self._proxy = None

    async def release(self) -> None:
        await self.go_down()
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None


@pytest.fixture
async def platform_host(app, mini_program_platform: PlatformProcess) -> AsyncIterator[PlatformHost]:
    """The service configured with the platform at a `PlatformHost` (up at first) that a test can take down."""
    host = PlatformHost(mini_program_platform.url)
    await host.come_back()
    app.ctx.services.mini_program._base_url = host.url  # as APP_MINIPROGRAM_API_URL=http://127.0.0.1:<port> would
    await app.ctx.services.mini_program.close()  # the next call makes a client for that address
    yield host
    await host.release()


async def fault(platform_api: httpx.AsyncClient, api: str, kind: str, errcode: int = -1, times: int = 1,
                delay: float = 10.0) -> None:
    reply = await platform_api.post("/mock/faults", json={"api": api, "kind": kind, "errcode": errcode, "times": times,
                                                          "delay": delay})
    assert reply.status_code == 200, reply.text


async def calls(platform_api: httpx.AsyncClient) -> dict[str, int]:
    return (await platform_api.get("/mock/stats")).json()["calls"]
