"""The messages our stand-in SMS provider recorded (dev and tests only): what the dev SMS outbox shows.

The stand-in (standins/tencent_cloud) keeps every message it accepted; `GET {url}/_standin/sms?phone=`
answers `{"items": [{"id", "phone", "text", "template_id", "params", "sent_at"}]}` newest first. A real
provider has no such route: the composition root builds this only outside production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from app.integrations import ProviderUnavailable, http_client

TIMEOUT = 5.0


@dataclass(frozen=True)
class OutboxMessage:
    message_id: str
    text: str
    sent_at: datetime


class StandInOutbox:
    """Reads the stand-in SMS provider's record of what it sent."""

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._http = http_client(timeout=timeout)

    async def recent(self, phone: str) -> list[OutboxMessage]:
        """Messages sent to `phone` (11 digits), newest first. ProviderUnavailable when the stand-in cannot say."""
        try:
            reply = await self._http.get(f"{self.url}/_standin/sms", params={"phone": phone})
            reply.raise_for_status()
            return [_message(item) for item in reply.json()["items"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            raise ProviderUnavailable("standin_outbox") from None

    async def close(self) -> None:
        await self._http.aclose()


def _message(item: dict[str, str]) -> OutboxMessage:
    return OutboxMessage(item["id"], item["text"], datetime.fromisoformat(item["sent_at"]))
