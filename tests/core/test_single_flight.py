"""Concurrent callers for the same thing share one call (合并并发请求)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from app.single_flight import SingleFlight


class Backend:
    """Counts its calls; each answers after `release` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def read(self, value: str = "v") -> str:
        self.calls += 1
        await self.release.wait()
        return f"{value}{self.calls}"

    async def fail(self) -> str:
        self.calls += 1
        await self.release.wait()
        raise LookupError("backend said no")


async def test_callers_in_flight_together_share_one_call():
    flight, backend = SingleFlight[str](), Backend()
    callers = [asyncio.ensure_future(flight.run("k", backend.read)) for _ in range(64)]
    await asyncio.sleep(0)
    backend.release.set()
    assert await asyncio.gather(*callers) == ["v1"] * 64
    assert backend.calls == 1
    assert len(flight) == 0  # nothing kept once the call is over


async def test_different_keys_do_not_wait_for_each_other():
    flight, backend = SingleFlight[str](), Backend()
    backend.release.set()
    assert sorted(await asyncio.gather(flight.run("a", lambda: backend.read("a")),
                                       flight.run("b", lambda: backend.read("b")))) == ["a1", "b2"]
    assert backend.calls == 2


async def test_a_caller_after_the_call_ended_makes_a_new_one():
    flight, backend = SingleFlight[str](), Backend()
    backend.release.set()
    assert await flight.run("k", backend.read) == "v1"
    assert await flight.run("k", backend.read) == "v2"


async def test_every_caller_gets_the_same_error_and_the_next_call_tries_again():
    flight, backend = SingleFlight[str](), Backend()
    callers = [asyncio.ensure_future(flight.run("k", backend.fail)) for _ in range(3)]
    await asyncio.sleep(0)
    backend.release.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert [type(r) for r in results] == [LookupError] * 3
    assert await flight.run("k", backend.read) == "v2"


async def test_a_caller_that_goes_away_does_not_cancel_the_call_for_the_others():
    flight, backend = SingleFlight[str](), Backend()
    first = asyncio.ensure_future(flight.run("k", backend.read))
    second = asyncio.ensure_future(flight.run("k", backend.read))
    await asyncio.sleep(0)
    first.cancel()  # its client hung up
    await asyncio.sleep(0)
    backend.release.set()
    assert await second == "v1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert backend.calls == 1


async def test_a_call_every_caller_abandoned_is_not_reported_as_a_lost_error(caplog):
    flight, backend = SingleFlight[str](), Backend()
    caller = asyncio.ensure_future(flight.run("k", backend.fail))
    await asyncio.sleep(0)
    caller.cancel()
    backend.release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(flight) == 0
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    assert "exception was never retrieved" not in caplog.text
