"""Adapters to the department systems accounts depend on: the SMS gateway and the face-check provider.

Each has the interface a real provider would be called through, and a stand-in that behaves
like one (latency, failures, timeouts) so that the code around it is tested for real.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Deque, Protocol

from app.cache import Cache, get_json, set_json
from app.clock import Clock


class SmsDeliveryError(RuntimeError):
    """The gateway did not accept the message."""


@dataclass(frozen=True)
class SentSms:
    message_id: str
    phone: str
    text: str
    sent_at: datetime


class SmsGateway(Protocol):
    async def send(self, phone: str, text: str) -> str:
        """Send `text` to `phone`; return the gateway's message id or raise SmsDeliveryError."""

    async def call(self, phone: str, speech: str) -> str:
        """Voice channel (语音验证码): ring `phone` and read `speech` aloud; the call id, or SmsDeliveryError.
        For people who cannot read a text message: no code is only visual."""


class StandInSmsGateway:
    """Records messages instead of sending them (dev and tests); can be told to fail or be slow."""

    def __init__(self, clock: Clock, latency: float = 0.01, keep: int = 20, shared: Cache | None = None) -> None:
        self.clock = clock
        self.latency = latency
        self._keep = keep
        self._shared = shared  # with several workers, the dev outbox must be readable from any of them
        self._outbox: dict[str, Deque[SentSms]] = defaultdict(lambda: deque(maxlen=self._keep))
        self._failures_left = 0
        self._calls: dict[str, Deque[SentSms]] = defaultdict(lambda: deque(maxlen=self._keep))

    def fail_next(self, count: int = 1) -> None:
        self._failures_left = count

    async def send(self, phone: str, text: str) -> str:
        await asyncio.sleep(self.latency)
        if self._failures_left > 0:
            self._failures_left -= 1
            raise SmsDeliveryError("gateway answered 503")
        message = SentSms(f"sms_{secrets.token_hex(8)}", phone, text, self.clock.now())
        self._outbox[phone].append(message)
        if self._shared is not None:
            kept = [{"id": m.message_id, "text": m.text, "sent_at": m.sent_at.isoformat()} for m in self.outbox(phone)]
            await set_json(self._shared, f"dev-sms:{phone}", kept, ttl=86400)
        return message.message_id

    async def call(self, phone: str, speech: str) -> str:
        """A voice call takes longer to set up than a message; it fails the same way."""
        await asyncio.sleep(self.latency * 3)
        if self._failures_left > 0:
            self._failures_left -= 1
            raise SmsDeliveryError("voice gateway answered 503")
        record = SentSms(f"call_{secrets.token_hex(8)}", phone, speech, self.clock.now())
        self._calls[phone].append(record)
        return record.message_id

    def calls(self, phone: str) -> list[SentSms]:
        """Voice calls this process made to `phone` (what was read aloud), newest first."""
        return list(reversed(self._calls.get(phone, ())))

    def outbox(self, phone: str) -> list[SentSms]:
        """Messages this process sent to `phone`, newest first."""
        return list(reversed(self._outbox.get(phone, ())))

    async def recent(self, phone: str) -> list[SentSms]:
        """Messages sent to `phone` by any worker (from the shared cache when there is one), newest first."""
        if self._shared is None:
            return self.outbox(phone)
        kept = await get_json(self._shared, f"dev-sms:{phone}") or []
        return [SentSms(m["id"], phone, m["text"], datetime.fromisoformat(m["sent_at"])) for m in kept]


class FaceCheckError(RuntimeError):
    """The provider could not give an answer."""


@dataclass(frozen=True)
class FaceCheckResult:
    score: float  # similarity to the reference photo, 0..1
    live: bool  # liveness detection passed


class FaceCheckProvider(Protocol):
    async def compare(self, sample: bytes, subject_ref: str) -> FaceCheckResult:
        """Compare a liveness sample with the reference photo for `subject_ref` (the ID lookup hash)."""


class StandInFaceCheck:
    """Scores a liveness sample the way a provider would be seen to from outside.

    `mode` "auto" scores the sample itself: a capture with real variation (many distinct byte
    values) passes, a blank or uniform capture (a covered camera) fails liveness. "pass",
    "fail", "timeout" and "error" force an outcome for tests and demos.
    """

    def __init__(self, mode: str = "auto", latency: float = 0.02, hang_seconds: float = 3600.0) -> None:
        self.mode = mode
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.calls = 0

    async def compare(self, sample: bytes, subject_ref: str) -> FaceCheckResult:
        self.calls += 1
        if self.mode == "timeout":
            await asyncio.sleep(self.hang_seconds)
        await asyncio.sleep(self.latency)
        if self.mode == "error":
            raise FaceCheckError("provider answered 500")
        if self.mode == "pass":
            return FaceCheckResult(score=0.97, live=True)
        if self.mode == "fail":
            return FaceCheckResult(score=0.31, live=True)
        variety = len(set(sample)) / 256
        live = variety > 0.25
        return FaceCheckResult(score=round(0.55 + 0.44 * variety, 3) if live else 0.12, live=live)
