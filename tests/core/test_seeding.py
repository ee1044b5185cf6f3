"""Sample data is seeded at every start, by every worker at once: each inserts what is missing and
lets stand what another inserted first."""

from __future__ import annotations

import asyncio

from app.payments.models import ItemFee
from app.server import seed
from app.services.appointments.models import AppointmentSlot
from app.services.catalogue.models import ServiceItem


async def test_workers_starting_together_on_a_new_database_seed_each_sample_once(app, settings):
    fees = await ItemFee.all().count()
    items = await ServiceItem.all().count()
    assert fees > 0 and items > 0
    await ItemFee.all().delete()  # as on a new database: no fee seeded yet

    # Three workers of one `--workers 3` start, each running its start-up seeding at the same time:
    # none stops on another's insert, and each fee is there once.
    await asyncio.gather(*(seed(app.ctx.services, settings) for _ in range(3)))

    assert await ItemFee.all().count() == fees
    assert await ServiceItem.all().count() == items


async def test_the_demo_slots_of_a_dev_start_are_made_once_by_workers_starting_together(app):
    appointments = app.ctx.services.appointments
    made = await asyncio.gather(*(appointments.seed_sample_slots("gd-gat-001", "天河区政务服务中心（示例）", days=3)
                                  for _ in range(3)))
    assert sum(made) == 6  # two a day for three days, whichever worker made them
    assert await AppointmentSlot.filter(item_id="gd-gat-001").count() == 6
