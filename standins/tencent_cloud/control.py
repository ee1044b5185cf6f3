"""A synchronous client of the stand-in Tencent Cloud's `/_standin/` routes, for tests and development:
read what it sent, steer its faults, add people, finish face checks.

    stand_in = TencentStandIn("http://127.0.0.1:8300")
    stand_in.fail_next(2)                       # the next two SendSms / SendCodeVoice calls: InternalError
    code = stand_in.outbox("13800138000")[0].text
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx


@dataclass(frozen=True)
class SentSms:
    """A message (or a voice call: `text` is what was read aloud) the stand-in accepted."""

    message_id: str
    phone: str
    text: str
    sent_at: datetime


class TencentStandIn:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def reset(self) -> None:
        """Forget messages, calls, counts, faults, face sessions and added people."""
        self._post("/_standin/reset", {})

    def outbox(self, phone: str) -> list[SentSms]:
        """Messages sent to `phone` (11 digits), newest first."""
        return [_sent(item) for item in self._get("/_standin/sms", phone=phone)["items"]]

    def calls(self, phone: str) -> list[SentSms]:
        """Voice-code calls made to `phone`, newest first; `text` is what was read aloud."""
        return [_sent(item) for item in self._get("/_standin/calls", phone=phone)["items"]]

    def behave(self, action: str, mode: str, count: int = 1, delay: float = 0.0) -> None:
        """Act out `mode` for the next `count` calls of `action` (a name, a comma list or "*"; 0: until cleared)."""
        self._post("/_standin/behaviour", {"action": action, "mode": mode, "count": count, "delay": delay})

    def fail_next(self, count: int = 1, action: str = "SendSms,SendCodeVoice") -> None:
        """The next `count` calls of `action` answer InternalError; 0 clears every fault."""
        if count == 0:
            self.clear_behaviour()
        else:
            self.behave(action, "fail", count)

    def clear_behaviour(self) -> None:
        self._check(self._http.delete("/_standin/behaviour"))

    def count(self, action: str) -> int:
        """Signed calls of `action` received since the last reset."""
        return int(self._get("/_standin/counts").get(action, 0))

    def add_person(self, name: str, id_number: str) -> None:
        """Let the identity authority know one more person."""
        self._post("/_standin/people", {"name": name, "id_number": id_number})

    def complete_face(self, biz_token: str, outcome: str | None = None, sample: bytes | None = None) -> dict[str, Any]:
        """Finish a face session: `outcome` "pass" | "fail" | "not_live", or a captured `sample` to score.
        The Text that GetDetectInfoEnhanced will show."""
        body: dict[str, Any] = {"outcome": outcome} if outcome is not None else {
            "sample": base64.b64encode(sample if sample is not None else bytes(range(256)) * 4).decode()}
        return self._post(f"/_standin/faceid/{biz_token}/complete", body)["Text"]

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TencentStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, **params: str) -> dict[str, Any]:
        return self._check(self._http.get(path, params=params))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._check(self._http.post(path, json=body))

    @staticmethod
    def _check(reply: httpx.Response) -> dict[str, Any]:
        reply.raise_for_status()
        return reply.json()


def _sent(item: dict[str, Any]) -> SentSms:
    return SentSms(item["id"], item["phone"], item["text"], datetime.fromisoformat(item["sent_at"]))
