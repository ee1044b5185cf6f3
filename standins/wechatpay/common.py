"""What every part of the WeChat Pay stand-in shares: the gateway's error, its times (RFC 3339 in Beijing time)
and the field checks it answers PARAM_ERROR for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.clock import CHINA_TZ


class Refused(Exception):
    """A WeChat Pay error reply: `{"code", "message"}` and its HTTP status. `message` replaces the code's usual
    message; `detail` is added to it."""

    def __init__(self, code: str, detail: str = "", message: str | None = None) -> None:
        super().__init__(code)
        self.code, self.detail, self.message = code, detail, message


def rfc3339(moment: float) -> str:
    """A time as WeChat Pay writes it: `2018-06-08T10:34:56+08:00`."""
    return dt.datetime.fromtimestamp(moment, CHINA_TZ).isoformat(timespec="seconds")


def parse_rfc3339(text: Any) -> float | None:
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def beijing(moment: float, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time in Beijing time, as the bills write it."""
    return dt.datetime.fromtimestamp(moment, CHINA_TZ).strftime(pattern)


def text_field(body: dict[str, Any], name: str, maximum: int, required: bool = True) -> None:
    """A string field of 1 to `maximum` characters, or absent when not `required`: else PARAM_ERROR naming it."""
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > maximum:
        raise Refused("PARAM_ERROR", name)


def fen(value: Any) -> int | None:
    """An amount in fen as JSON gives it: an integer (not a boolean), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
