"""A ticket filed before the Spring Festival: its time limits skip the holiday week (APP_HOTLINE_HOLIDAYS) and
count the make-up Sunday worked in exchange (调休, APP_HOTLINE_WORKDAYS)."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.clock import CHINA_TZ
from app.config import Settings
from tests.factories import sign_in
from tests.hotline.hotline_factory import filed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Sample (示例) 2027 calendar: 8–12 February off, Sunday the 7th worked.
    return settings.with_(hotline_holidays="2027-02-08,2027-02-09,2027-02-10,2027-02-11,2027-02-12",
                          hotline_workdays="2027-02-07")


async def test_the_make_up_sunday_counts_and_the_holiday_week_does_not(client, sms, clock):
    clock.set(datetime(2027, 2, 5, 9, 0, tzinfo=CHINA_TZ))  # the Friday before
    citizen = await sign_in(client, sms)
    ticket = await filed(client, citizen)
    # Accepted by the end of the make-up Sunday; answered by the end of Thursday 18 February (the Sunday, then
    # four working days after the holiday week).
    assert (ticket["accept_due"], ticket["answer_due"]) == ("2027-02-07T16:00:00Z", "2027-02-18T16:00:00Z")
