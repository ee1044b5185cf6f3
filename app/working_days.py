"""Working days (工作日): time limits counted in working days, on the Beijing calendar.

Saturdays and Sundays are rest days, and so is every date of the holidays given (法定节假日, from the
settings), except the make-up working days given (调休上班日: a Saturday or Sunday worked in exchange for a
holiday bridge, e.g. 2027-02-07 before the Spring Festival). A limit of n working days runs to the end of the
n-th working day after the day it starts (Beijing time), the way government time limits are read: filed on a
Friday, one working day ends with Monday (or with the Saturday, when that Saturday is a make-up working day).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone

from app.clock import CHINA_TZ, china_day

SATURDAY = 5


def parse_dates(text: str) -> frozenset[date]:
    """`2027-01-01,2027-02-08` as dates; ValueError naming the first that is not an ISO date."""
    days = set()
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                days.add(date.fromisoformat(part))
            except ValueError:
                raise ValueError(f"{part!r} is not a date as YYYY-MM-DD") from None
    return frozenset(days)


def weekdays_among(days: Iterable[date]) -> list[date]:
    """Those of `days` that are Monday to Friday, in order: a make-up working day is a Saturday or a Sunday."""
    return sorted(day for day in days if day.weekday() < SATURDAY)


def is_working_day(day: date, holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> bool:
    """Monday to Friday, or a make-up working day (调休) of `workdays`; never one of the `holidays`."""
    if day in holidays:
        return False
    return day.weekday() < SATURDAY or day in workdays


def working_days_after(start: datetime, days: int, holidays: frozenset[date] = frozenset(),
                       workdays: frozenset[date] = frozenset()) -> datetime:
    """The end (midnight, Beijing, as UTC) of the `days`-th working day after the day of `start`."""
    if days < 1:
        raise ValueError("a time limit is at least one working day")
    day, counted = china_day(start), 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, holidays, workdays):
            counted += 1
    return datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ).astimezone(timezone.utc)
