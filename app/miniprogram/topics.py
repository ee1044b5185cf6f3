"""Subscription-message topics (订阅消息): which inbox kinds go out as which platform template.

A mini-program asks the user for each template with wx.requestSubscribeMessage; every accept
allows one message. The template ids are those registered for our (sample) mini-program.
"""

from __future__ import annotations

TOPICS: dict[str, dict[str, str]] = {
    "application_status": {"template_id": "tplSampleApplicationStatus01", "page": "pages/applications/index"},
    "health_code": {"template_id": "tplSampleHealthCodeChange001", "page": "pages/health-code/index"},
    "appointment": {"template_id": "tplSampleAppointmentRemind01", "page": "pages/appointments/index"},
}
_PREFIXES = (("application_", "application_status"), ("health_code_", "health_code"), ("appointment_", "appointment"))
FIELD_LIMIT = 20  # the platform's thing.DATA fields hold at most 20 characters


def topic_of(kind: str) -> str | None:
    """The topic an inbox kind is sent under, or None when mini-programs are not told of it."""
    for prefix, topic in _PREFIXES:
        if kind.startswith(prefix):
            return topic
    return None


def short(text: str, limit: int = FIELD_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
