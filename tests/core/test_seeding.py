"""Sample data is seeded at every start, by every worker: the workers of one start take turns."""

from __future__ import annotations

import asyncio

from app.payments.models import ItemFee
from app.server import seed
from app.services.models import ServiceItem


async def test_workers_starting_together_on_a_new_database_seed_each_sample_once(app, settings):
    fees = await ItemFee.all().count()
    items = await ServiceItem.all().count()
    assert fees > 0 and items > 0
    await ItemFee.all().delete()  # as on a new database: no fee seeded yet

    # Three workers of one `--workers 3` start, each running its start-up seeding at the same time:
    # none stops on another's insert, and each fee is there once.
    await asyncio.gather(*(seed(app, settings) for _ in range(3)))

    assert await ItemFee.all().count() == fees
    assert await ServiceItem.all().count() == items
