"""Working days (工作日) on the Beijing calendar: weekends and the holidays given are skipped, and a limit of n
working days ends at midnight after the n-th."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from app.config import ConfigError, Settings
from app.clock import CHINA_TZ
from app.working_days import parse_holidays, working_days_after


def test_a_friday_filing_has_until_the_end_of_monday_and_of_the_next_friday():
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=CHINA_TZ)
    assert working_days_after(friday, 1) == datetime(2026, 12, 7, 16, 0, tzinfo=timezone.utc)
    assert working_days_after(friday, 5) == datetime(2026, 12, 11, 16, 0, tzinfo=timezone.utc)


def test_a_weekend_filing_counts_from_monday_and_the_day_is_the_beijing_one():
    saturday_night_utc = datetime(2026, 12, 5, 17, 0, tzinfo=timezone.utc)  # Sunday 01:00 in Beijing
    assert working_days_after(saturday_night_utc, 1) == datetime(2026, 12, 7, 16, 0, tzinfo=timezone.utc)


def test_holidays_are_skipped_too():
    new_year = parse_holidays("2027-01-01, 2027-01-04")
    thursday = datetime(2026, 12, 31, 10, 0, tzinfo=CHINA_TZ)
    assert working_days_after(thursday, 1, new_year) == datetime(2027, 1, 5, 16, 0, tzinfo=timezone.utc)
    assert new_year == {date(2027, 1, 1), date(2027, 1, 4)}


def test_a_holiday_that_is_not_a_date_is_refused_at_start():
    with pytest.raises(ConfigError, match="APP_HOTLINE_HOLIDAYS"):
        Settings(hotline_holidays="2027-01-01,元旦")
    with pytest.raises(ValueError):
        working_days_after(datetime(2026, 12, 4, tzinfo=CHINA_TZ), 0)
