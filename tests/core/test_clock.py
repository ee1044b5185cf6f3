"""One clock: tests move time instead of sleeping, and it still ticks in between."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.clock import CHINA_TZ, Clock, MovableClock, rfc3339


def test_the_wall_clock_is_timezone_aware_utc():
    now = Clock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now.timestamp() - time.time()) < 1
    assert abs(Clock().timestamp() - time.time()) < 1


def test_a_movable_clock_starts_at_the_real_time():
    clock = MovableClock()
    assert abs((clock.now() - datetime.now(timezone.utc)).total_seconds()) < 1


def test_advance_moves_time_forward_by_seconds_or_larger_units():
    clock = MovableClock()
    before = clock.now()
    clock.advance(61)
    assert 61 <= (clock.now() - before).total_seconds() < 62
    clock.advance(days=1, hours=2)
    assert timedelta(days=1, hours=2, seconds=61) <= clock.now() - before < timedelta(days=1, hours=2, seconds=62)
    assert abs(clock.timestamp() - clock.now().timestamp()) < 1


def test_set_jumps_to_a_moment_and_keeps_ticking():
    moment = datetime(2030, 1, 31, 23, 59, 30, tzinfo=timezone.utc)
    clock = MovableClock()
    clock.set(moment)
    assert abs((clock.now() - moment).total_seconds()) < 0.5
    time.sleep(0.05)
    assert clock.now() > moment
    clock.advance(60)
    assert clock.now().date() == datetime(2030, 2, 1).date()


def test_a_clock_can_start_at_a_given_moment_and_go_backwards():
    moment = datetime(2024, 2, 29, 12, 0, tzinfo=timezone.utc)
    clock = MovableClock(moment)
    assert abs((clock.now() - moment).total_seconds()) < 0.5
    clock.advance(-3600)
    assert abs((clock.now() - (moment - timedelta(hours=1))).total_seconds()) < 0.5


def test_two_movable_clocks_are_independent():
    a, b = MovableClock(), MovableClock()
    a.advance(days=10)
    assert (a.now() - b.now()) > timedelta(days=9)


def test_rfc3339_is_utc_with_z_to_the_second():
    beijing = timezone(timedelta(hours=8))
    assert rfc3339(datetime(2024, 5, 1, 8, 30, 15, 999_999, tzinfo=beijing)) == "2024-05-01T00:30:15Z"
    assert rfc3339(None) is None


def test_rfc3339_of_unix_seconds_as_codes_carry_them():
    moment = datetime(2026, 11, 25, 22, 0, 5, tzinfo=timezone(timedelta(hours=8)))
    assert rfc3339(int(moment.timestamp())) == rfc3339(moment) == "2026-11-25T14:00:05Z"
    assert rfc3339(0) == "1970-01-01T00:00:00Z"


def test_china_time_is_shanghai_time_for_every_day_since_daylight_saving_ended():
    shanghai = ZoneInfo("Asia/Shanghai")
    day = date(1991, 9, 16)  # the first whole day after China's last daylight-saving period
    while day.year < 2100:
        for wall_clock in (datetime.min.time(), datetime.max.time()):
            ours, tzdata = datetime.combine(day, wall_clock, CHINA_TZ), datetime.combine(day, wall_clock, shanghai)
            assert ours.astimezone(timezone.utc) == tzdata.astimezone(timezone.utc), day
        day += timedelta(days=1)
    summer_1991 = datetime(1991, 7, 1, 12, tzinfo=timezone.utc)  # before then it was not: UTC+9 in summer
    assert summer_1991.astimezone(shanghai).hour == 21 and summer_1991.astimezone(CHINA_TZ).hour == 20
