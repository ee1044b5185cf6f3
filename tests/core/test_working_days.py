"""Working days (工作日) on the Beijing calendar: weekends and the holidays given are skipped, make-up working days
(调休) given are counted, and a limit of n working days ends at midnight after the n-th."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from app.config import ConfigError, Settings
from app.clock import CHINA_TZ
from app.working_days import is_working_day, parse_dates, working_days_after


def test_a_friday_filing_has_until_the_end_of_monday_and_of_the_next_friday():
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=CHINA_TZ)
    assert working_days_after(friday, 1) == datetime(2026, 12, 7, 16, 0, tzinfo=timezone.utc)
    assert working_days_after(friday, 5) == datetime(2026, 12, 11, 16, 0, tzinfo=timezone.utc)


def test_a_weekend_filing_counts_from_monday_and_the_day_is_the_beijing_one():
    saturday_night_utc = datetime(2026, 12, 5, 17, 0, tzinfo=timezone.utc)  # Sunday 01:00 in Beijing
    assert working_days_after(saturday_night_utc, 1) == datetime(2026, 12, 7, 16, 0, tzinfo=timezone.utc)


def test_holidays_are_skipped_too():
    new_year = parse_dates("2027-01-01, 2027-01-04")
    thursday = datetime(2026, 12, 31, 10, 0, tzinfo=CHINA_TZ)
    assert working_days_after(thursday, 1, new_year) == datetime(2027, 1, 5, 16, 0, tzinfo=timezone.utc)
    assert new_year == {date(2027, 1, 1), date(2027, 1, 4)}


def test_a_holiday_that_is_not_a_date_is_refused_at_start():
    with pytest.raises(ConfigError, match="APP_HOTLINE_HOLIDAYS"):
        Settings(hotline_holidays="2027-01-01,元旦")
    with pytest.raises(ValueError):
        working_days_after(datetime(2026, 12, 4, tzinfo=CHINA_TZ), 0)


# Sample (示例) Spring Festival of 2027 as a State Council notice would set it: 8–12 February off, Sunday the 7th
# worked in exchange.
SPRING_FESTIVAL = parse_dates("2027-02-08,2027-02-09,2027-02-10,2027-02-11,2027-02-12")
MAKE_UP_SUNDAY = parse_dates("2027-02-07")


def test_a_make_up_sunday_is_a_working_day_and_the_holiday_week_is_not():
    friday = datetime(2027, 2, 5, 9, 0, tzinfo=CHINA_TZ)
    assert is_working_day(date(2027, 2, 7), SPRING_FESTIVAL, MAKE_UP_SUNDAY)
    assert not is_working_day(date(2027, 2, 7), SPRING_FESTIVAL)  # without it, a Sunday as any other
    # Filed on the Friday before: one working day ends with the make-up Sunday...
    assert working_days_after(friday, 1, SPRING_FESTIVAL, MAKE_UP_SUNDAY) == datetime(2027, 2, 7, 16, 0,
                                                                                      tzinfo=timezone.utc)
    # ...and the second is the Monday after the holiday week.
    assert working_days_after(friday, 2, SPRING_FESTIVAL, MAKE_UP_SUNDAY) == datetime(2027, 2, 15, 16, 0,
                                                                                      tzinfo=timezone.utc)


def test_make_up_days_are_read_from_the_settings_and_must_be_weekend_days():
    assert Settings(hotline_workdays="2027-02-07, 2027-02-20").hotline.workdays == "2027-02-07, 2027-02-20"
    with pytest.raises(ConfigError, match="APP_HOTLINE_WORKDAYS"):
        Settings(hotline_workdays="2027-02-07,春节调休")
    with pytest.raises(ConfigError, match="APP_HOTLINE_WORKDAYS must be Saturdays or Sundays.*2027-02-08 is a "
                                          "weekday"):
        Settings(hotline_workdays="2027-02-07,2027-02-08")
    with pytest.raises(ConfigError, match="APP_HOTLINE_WORKDAYS must not repeat a date of APP_HOTLINE_HOLIDAYS: "
                                          "2027-02-07"):
        Settings(hotline_workdays="2027-02-07", hotline_holidays="2027-02-07")
