"""One clock for "now": domain code asks it, tests move it instead of sleeping."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from typing import overload

# China's one time zone, Beijing time: UTC+8 all year (no daylight saving since 1991, so a fixed offset
# gives the same wall-clock time as Asia/Shanghai for every moment since). The calendar of offices,
# appointments, risk lists, licence dates, receipts and the payment provider's times.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def china_day(moment: datetime) -> date:
    """The calendar day (Beijing time) a moment falls on."""
    return moment.astimezone(CHINA_TZ).date()


class Clock:
    """The wall clock, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def timestamp(self) -> float:
        return self.now().timestamp()

    def today(self) -> date:
        """Today's date in China (Beijing time): the day a birthday, an office's day or a document's date turns."""
        return china_day(self.now())


class MovableClock(Clock):
    """A clock tests can set and advance; it still ticks with real time in between."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    def advance(self, seconds: float = 0, **kwargs: float) -> None:
        self._offset += timedelta(seconds=seconds, **kwargs)

    def set(self, moment: datetime) -> None:
        self._offset = moment - datetime.now(timezone.utc)


@overload
def rfc3339(moment: datetime | int) -> str: ...
@overload
def rfc3339(moment: datetime | int | None) -> str | None: ...
def rfc3339(moment: datetime | int | None) -> str | None:
    """Times in replies: RFC 3339 UTC with a `Z`, second precision. `moment` may be Unix seconds, as
    codes carry them (formatted without a datetime: a third of the time, on 100 results a batch)."""
    if moment is None:
        return None
    if isinstance(moment, int):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
