"""Helpers: a citizen who also uses the mini-program, and the subscription messages the platform holds."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx

from app.clock import MovableClock

from miniprogram_mock.client import MiniProgramClient


async def in_mini_program(client: httpx.AsyncClient, platform_api: httpx.AsyncClient, phone: str,
                          *topics: str, clock: MovableClock | None = None) -> MiniProgramClient:
    """Sign in from the mini-program, bind `phone` with the platform's phone data, accept `topics`.

    The platform stamps phone data with the wall clock: a test whose `clock` is elsewhere passes it,
    and the binding happens at wall time, the clock put back afterwards (the mini-program token is
    then of no use until the clock comes back)."""
    mp = MiniProgramClient(client, platform_api)
    moved_to = clock.now() if clock is not None else None
    if clock is not None:
        clock.set(datetime.now(timezone.utc))
    try:
        await mp.login()
        await mp.bind_phone(phone)
        if topics:
            await mp.subscribe(*topics)
    finally:
        if clock is not None and moved_to is not None:
            clock.set(moved_to)
    return mp


async def messages_to(platform_api: httpx.AsyncClient, mp: MiniProgramClient) -> list[dict[str, Any]]:
    return (await platform_api.get("/mock/messages", params={"touser": mp.openid})).json()["items"]
