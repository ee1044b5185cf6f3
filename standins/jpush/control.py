"""The test-side client of the JPush stand-in's `/_standin/` controls (synchronous, httpx.Client).

    standin = JPushStandIn("http://127.0.0.1:8310")
    standin.behave("throttle", count=1, delay=20)   # the next push answers 429 / 2002, reset in 20 s
    standin.invalidate(token)                        # pushes to it answer 1011
    standin.pushes(token)                            # what reached the "device", newest first
    standin.reset(); standin.close()
"""

from __future__ import annotations

from typing import Any

import httpx


class JPushStandIn:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def reset(self) -> None:
        """Forget every push, invalid token and behaviour."""
        self._client.post("/_standin/reset").raise_for_status()

    def pushes(self, token: str) -> list[dict[str, Any]]:
        """What was pushed to `token`, newest first: platform, title, body, extras, msg_id, sendno, time."""
        reply = self._client.get("/_standin/pushes", params={"token": token})
        reply.raise_for_status()
        return list(reply.json()["items"])

    def behave(self, mode: str, count: int = 1, delay: float = 0.0) -> None:
        """The next `count` pushes (0: until `calm()` or `reset()`) fail (500 / 1000), are throttled
        (429 / 2002), are slow or hang (`delay` seconds)."""
        self._client.post("/_standin/behaviour", json={"mode": mode, "count": count, "delay": delay}).raise_for_status()

    def calm(self) -> None:
        """Back to answering normally."""
        self._client.delete("/_standin/behaviour").raise_for_status()

    def invalidate(self, token: str) -> None:
        """From now on JPush no longer knows `token` (app removed): pushes to it answer 1011."""
        self._client.post("/_standin/invalid-tokens", json={"token": token}).raise_for_status()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JPushStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
