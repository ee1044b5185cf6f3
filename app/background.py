"""Work a request starts but does not wait for (a card refreshed after it was shown, a department told of a
payment after the provider's notice was answered): kept until it ends, so it is not collected half-way, its
failure is logged rather than lost, and what is still running at server stop is cancelled.

Nothing here survives the process: work that must happen is also found later by a scheduled job."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """How many are under way in this worker."""
        return len(self._tasks)

    def start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task of its own; the task is returned for a caller that also waits for it."""
        task = asyncio.get_running_loop().create_task(self._run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:  # the work's own job finds what it left undone
            log.exception("%s: background work failed", self.name)

    async def drained(self) -> None:
        """Wait until every task, including those started meanwhile, has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """At server stop: cancel what is still running and wait for it to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["BackgroundTasks"]
