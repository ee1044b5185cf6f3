"""Uploads nobody used are deleted once they expire, file and row, by the scheduled sweep; those an
application uses stay as long as the application does."""

from __future__ import annotations

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from api.services import services_of
from app.uploads.jobs import add_upload_jobs
from app.uploads.models import Upload
from tests.services.service_factory import apply, make_item
from tests.uploads.upload_factory import uploaded


@pytest.mark.upload_settings(upload_retention=120)
async def test_the_sweep_deletes_expired_unused_uploads_and_keeps_used_ones(app, client, grandma, grandma_card, clock,
                                                                            stored):
    item = await make_item(clock, name="广州市居住证签注（示例）", rules=None)
    used = await uploaded(client, grandma)
    assert (await apply(client, grandma, item.id,
                        materials=[{"name": "近期免冠照片", "upload_ref": used}])).status_code == 201
    forgotten = await uploaded(client, grandma)
    uploads = services_of(app).uploads

    assert await uploads.sweep_expired() == 0  # nothing has expired yet
    clock.advance(121)
    assert await uploads.sweep_expired() == 1
    assert await uploads.sweep_expired() == 0  # idempotent: run again, nothing more

    assert await Upload.filter(id=forgotten).count() == 0
    kept = await Upload.get(id=used)
    assert kept.owner_id is not None
    assert list(await stored()) == [kept.storage_key]  # the forgotten one's file is gone too


async def test_the_sweep_is_a_scheduled_job(app):
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_upload_jobs(scheduler, services_of(app).platform.cache, services_of(app).uploads)
    [job] = scheduler.get_jobs()
    assert job.id == "upload-expiry-sweep" and job.trigger.interval.total_seconds() == 15 * 60
