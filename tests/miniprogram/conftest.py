"""Fixtures for the mini-program tests: the stand-in platform (its own process, see
platform_process.py) and a scripted mini-program front-end (`miniprogram_mock.client`) that talks
to our app in-process and to the platform over HTTP."""

from __future__ import annotations

import httpx
import pytest

from miniprogram_mock.client import MiniProgramClient


@pytest.fixture
def mp(client: httpx.AsyncClient, platform_api: httpx.AsyncClient) -> MiniProgramClient:
    return MiniProgramClient(client, platform_api)


async def fault(platform_api: httpx.AsyncClient, api: str, kind: str, errcode: int = -1, times: int = 1,
                delay: float = 10.0) -> None:
    reply = await platform_api.post("/mock/faults", json={"api": api, "kind": kind, "errcode": errcode, "times": times,
                                                          "delay": delay})
    assert reply.status_code == 200, reply.text


async def calls(platform_api: httpx.AsyncClient) -> dict[str, int]:
    return (await platform_api.get("/mock/stats")).json()["calls"]
