"""Concurrent callers asking for the same thing share one call (合并并发请求).

When a popular value is missing (a worker's mirror lapsed, a citizen's code is due), every request
in flight for it would otherwise go to Redis or sign a code of its own at the same moment, and the
concurrent connections of one phone stalled the worker (docs/capacity.md). With `SingleFlight`, the
first caller starts the call and the others await the same result or error.

The call runs as a task of its own, so a caller that goes away (its client hung up) does not
cancel it for the others. The task runs in the first caller's context: do not share calls made
inside a database transaction.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """One call in flight per key, per worker; the key is dropped when the call ends."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        task = self._calls.get(key)
        if task is None or task.done():  # a finished call is dropped a moment later: not joined meanwhile
            task = asyncio.ensure_future(call())
            self._calls[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
