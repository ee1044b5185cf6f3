"""个人信息副本 (PIPL art. 45): a citizen with data in every area asks for their copy, with a fresh step-up,
and downloads a zip of data.json (every area, their own PII in clear), README.md (every field described)
and their uploaded files; the link is theirs only, short-lived, few-use, logged, and its file private."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from api.services import services_of
from app.audit import AuditEntry
from app.exports.fields import AREA_TITLES
from app.exports.jobs import add_export_jobs
from app.exports.models import DataExport
from app.uploads.models import Upload
from tests.elderly_mode.elderly_factory import family_member, linked
from tests.exports.export_factory import ACCESS_LOG, EXPORTS, RETIRED_SERVICE, a_department_was_asked, areas_of, fresh_step_up, \
    hold_something_everywhere
from tests.factories import sign_in
from tests.hotline.hotline_factory import COMPLAINT, filed
from tests.services.service_factory import GRANDMA_ID, apply, error_code, make_item
from tests.uploads.upload_factory import uploaded


async def _export(client, sms, citizen) -> dict:
    await fresh_step_up(client, sms, citizen)
    reply = await client.post(EXPORTS, headers=citizen.headers)
    assert reply.status_code == 201, reply.text
    return reply.json()


async def _download(client, citizen, made: dict):
    return await client.get(made["download_url"], headers=citizen.headers)


async def held_everywhere(app, client, sms, clock, grandma, grandma_card) -> None:
    """Grandma has something in every area of the copy: through the API where it is easy, the rest written."""
    item = await make_item(clock, name="广州市居住证签注（示例）", rules=None)
    applied = await apply(client, grandma, item.id)
    assert applied.status_code == 201, applied.text
    ticket = await filed(client, grandma)
    son = await family_member(client, sms)
    await linked(client, sms, son, grandma)
    await hold_something_everywhere(services_of(app).platform, grandma.id, applied.json()["id"], grandma_card["id"],
                                    ticket["id"], item.id)
    exchange = services_of(app).exchange
    assert exchange is not None
    await a_department_was_asked(exchange, grandma.id)


@pytest.mark.departments
async def test_the_copy_holds_every_area_and_its_readme_describes_every_field(app, client, sms, clock, grandma,
                                                                            grandma_card, caplog):
    caplog.set_level(logging.DEBUG)
    await held_everywhere(app, client, sms, clock, grandma, grandma_card)

    caplog.clear()  # what the service logs from here on: asking for the copy, and downloading it
    made = await _export(client, sms, grandma)
    assert set(made) >= {"id", "status", "download_url", "expires_at"} and made["status"] == "ready"
    assert made["download_url"] == f"{EXPORTS}/{made['id']}/download"
    got = await _download(client, grandma, made)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip" and "attachment" in got.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    data = json.loads(archive.read("data.json"))
    readme = archive.read("README.md").decode("utf-8")

    areas = areas_of(data)
    empty = [area for area in AREA_TITLES if not areas.get(area)]
    assert not empty, f"areas without a record: {empty}"
    for area, records in areas.items():
        assert f"## `{area}`" in readme
        section = readme.split(f"## `{area}`", 1)[1].split("\n## ", 1)[0]
        for field in {name for record in records for name in record}:
            assert f"| `{field}` |" in section, (area, field)
    assert "(no description)" not in readme

    # Their own data, in clear; dates in ISO 8601; the uploaded photo itself beside its record.
    [profile] = areas["profile"]
    assert profile["phone"] == grandma.phone and profile["id_number"] == GRANDMA_ID and profile["name"] == "王秀英"
    assert profile["created_at"].startswith(str(clock.now().year)) and "T" in profile["created_at"]
    assert areas["hotline_tickets"][0]["description"] == COMPLAINT["description"]
    asked = [record["service"] for record in areas["department_requests"]]  # theirs only, retired departments too
    assert len(asked) == 2 and RETIRED_SERVICE in asked
    assert areas["licences"][0]["fields"]["fields"]["name"] == "王秀英"
    [upload] = areas["uploads"]
    assert upload["file"] in archive.namelist() and archive.read(upload["file"])[:3] == b"\xff\xd8\xff"
    assert not any(name.endswith(("_enc", "_hash")) for records in areas.values() for r in records for name in r)
    # Handles that still reach the citizen or pay an open order are not in it.
    assert not {"push_token"} & set(areas["sessions"][0]) and not {"prepay_id", "pay_url"} & set(areas["payments"][0])
    assert not {"code_id", "payload_digest"} & set(areas["issued_health_codes"][0])
    assert "id" not in areas["voucher_presentations"][0]
    # ... and never in the logs.
    ours = [record for record in caplog.records if record.name.split(".")[0] in ("app", "api", "sanic", "tortoise")]
    logged = "\n".join(f"{record.getMessage()} {record.args}" for record in ours)
    assert grandma.phone not in logged and GRANDMA_ID not in logged


async def test_asking_and_downloading_need_a_fresh_step_up(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    refused = await client.post(EXPORTS, headers=citizen.headers)
    assert refused.status_code == 403 and error_code(refused) == "FRESH_OTP_REQUIRED"
    made = await _export(client, sms, citizen)
    clock.advance(services_of(app).settings.accounts.step_up_ttl + 1)  # the step-up is no longer fresh
    stale = await _download(client, citizen, made)
    assert stale.status_code == 403 and error_code(stale) == "FRESH_OTP_REQUIRED"
    assert (await DataExport.get(id=made["id"])).downloads_left == 3  # a refused download counts for nothing


async def test_another_citizens_link_is_not_found(app, client, sms, clock):
    owner, other = await sign_in(client, sms), await sign_in(client, sms)
    made = await _export(client, sms, owner)
    await fresh_step_up(client, sms, other)
    reply = await _download(client, other, made)
    assert reply.status_code == 404 and error_code(reply) == "EXPORT_NOT_FOUND"
    unknown = await client.get(f"{EXPORTS}/exp_unknown/download", headers=other.headers)
    assert unknown.status_code == 404 and error_code(unknown) == "EXPORT_NOT_FOUND"


@pytest.mark.export_settings(export_link_ttl=120)
async def test_an_expired_link_is_gone_and_the_sweep_removes_its_file(app, client, sms, clock, settings):
    citizen = await sign_in(client, sms)
    made = await _export(client, sms, citizen)
    row = await DataExport.get(id=made["id"])
    path = Path(settings.data_dir) / "uploads" / row.storage_key
    assert path.is_file()
    exports = services_of(app).exports
    assert await exports.sweep_expired() == 0
    clock.advance(121)
    await fresh_step_up(client, sms, citizen)
    expired = await _download(client, citizen, made)
    assert expired.status_code == 410 and error_code(expired) == "EXPORT_EXPIRED"
    assert await exports.sweep_expired() == 1 and await exports.sweep_expired() == 0
    assert not path.exists() and (await DataExport.get(id=made["id"])).status == "expired"
    assert (await _download(client, citizen, made)).status_code == 410


@pytest.mark.export_settings(export_max_downloads=2)
async def test_a_copy_downloads_a_few_times_each_logged_in_the_citizens_access_log(app, client, sms):
    citizen = await sign_in(client, sms)
    made = await _export(client, sms, citizen)
    assert made["downloads_left"] == 2
    assert (await _download(client, citizen, made)).status_code == 200
    assert (await _download(client, citizen, made)).status_code == 200
    used = await _download(client, citizen, made)
    assert used.status_code == 410 and error_code(used) == "EXPORT_DOWNLOADS_USED"
    log = (await client.get(ACCESS_LOG, headers=citizen.headers)).json()["items"]
    downloads = [entry for entry in log if entry["action"] == "data_export_downloaded"]
    assert len(downloads) == 2 and downloads[0]["actor"] == citizen.id and "profile" in downloads[0]["attributes"]
    [asked] = await AuditEntry.filter(subject_id=citizen.id, action="data_export_created")
    assert asked.category == "event" and asked.attributes["export_id"] == made["id"]
    assert await AuditEntry.filter(subject_id=citizen.id, action="data_export_downloaded").count() == 2


async def test_the_file_at_rest_is_private_and_encrypted(app, client, sms, settings):
    citizen = await sign_in(client, sms)
    made = await _export(client, sms, citizen)
    row = await DataExport.get(id=made["id"])
    path = Path(settings.data_dir) / "uploads" / row.storage_key
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    at_rest = path.read_bytes()
    assert not at_rest.startswith(b"PK") and citizen.phone.encode() not in at_rest


@pytest.mark.export_settings(export_daily_limit=1)
async def test_copies_a_day_are_limited(app, client, sms, clock):
    citizen = await sign_in(client, sms)
    await _export(client, sms, citizen)
    again = await client.post(EXPORTS, headers=citizen.headers)
    assert again.status_code == 429 and error_code(again) == "RATE_LIMITED"


async def test_the_sweep_is_a_scheduled_job(app):
    scheduler = AsyncIOScheduler(timezone="UTC")
    add_export_jobs(scheduler, services_of(app).platform.cache, services_of(app).exports)
    [job] = scheduler.get_jobs()
    assert job.id == "data-export-sweep" and job.trigger.interval.total_seconds() == 5 * 60


async def test_closing_an_account_can_remove_every_copy_of_its_data(app, client, sms, settings):
    citizen = await sign_in(client, sms)
    made = await _export(client, sms, citizen)
    path = Path(settings.data_dir) / "uploads" / (await DataExport.get(id=made["id"])).storage_key
    assert await services_of(app).exports.remove_all_of(citizen.id) == 1
    assert not path.exists() and not await DataExport.filter(citizen_id=citizen.id).exists()


class BrokenStorage:
    """An object store that is down."""

    async def put(self, key: str, data: bytes) -> None:
        raise ConnectionError("storage down")

    async def get(self, key: str) -> bytes:
        raise ConnectionError("storage down")

    async def delete(self, key: str) -> None:
        raise ConnectionError("storage down")

    async def close(self) -> None:
        return None


async def test_a_store_that_is_down_or_a_file_gone_or_altered_is_never_a_server_error(app, client, sms, settings):
    citizen = await sign_in(client, sms)
    exports = services_of(app).exports
    working = exports.storage
    exports.storage = BrokenStorage()
    await fresh_step_up(client, sms, citizen)
    down = await client.post(EXPORTS, headers=citizen.headers)
    assert down.status_code == 503 and error_code(down) == "EXPORT_STORAGE_UNAVAILABLE"
    assert not await DataExport.filter(citizen_id=citizen.id, status="ready").exists()

    exports.storage = working
    made = await _export(client, sms, citizen)
    exports.storage = BrokenStorage()
    unread = await _download(client, citizen, made)
    assert unread.status_code == 503 and error_code(unread) == "EXPORT_STORAGE_UNAVAILABLE"
    assert (await DataExport.get(id=made["id"])).downloads_left == 3  # not delivered: not counted

    exports.storage = working
    path = Path(settings.data_dir) / "uploads" / (await DataExport.get(id=made["id"])).storage_key
    stored = path.read_bytes()
    path.write_bytes(stored[:-1] + bytes([stored[-1] ^ 1]))  # one bit changed at rest
    altered = await _download(client, citizen, made)
    assert altered.status_code == 503 and error_code(altered) == "EXPORT_STORAGE_UNAVAILABLE"
    path.unlink()
    gone = await _download(client, citizen, made)
    assert gone.status_code == 410 and error_code(gone) == "EXPORT_EXPIRED"


class StuckOn:
    """An object store that refuses to delete one object (the rest of it works)."""

    def __init__(self, working, key: str) -> None:
        self.working, self.key = working, key

    async def put(self, key: str, data: bytes) -> None:
        await self.working.put(key, data)

    async def get(self, key: str) -> bytes:
        return await self.working.get(key)

    async def delete(self, key: str) -> None:
        if key == self.key:
            raise ConnectionError("storage refused")
        await self.working.delete(key)

    async def close(self) -> None:
        return None


@pytest.mark.export_settings(export_link_ttl=120)
async def test_a_copy_the_store_will_not_delete_does_not_stop_the_sweep(app, client, sms, clock, caplog):
    first, second = await sign_in(client, sms), await sign_in(client, sms)
    stuck = await _export(client, sms, first)
    clock.advance(1)
    swept = await _export(client, sms, second)
    clock.advance(121)
    exports = services_of(app).exports
    working = exports.storage
    exports.storage = StuckOn(working, (await DataExport.get(id=stuck["id"])).storage_key)
    assert await exports.sweep_expired() == 1  # the first to expire was refused, the one after it removed
    assert (await DataExport.get(id=swept["id"])).status == "expired"
    assert (await DataExport.get(id=stuck["id"])).removed_at is None
    assert "storage delete failed" in caplog.text
    exports.storage = working
    assert await exports.sweep_expired() == 1  # the next run removes it
    assert (await DataExport.get(id=stuck["id"])).status == "expired"


@pytest.mark.export_settings(export_daily_limit=1)
async def test_a_copy_that_could_not_be_made_does_not_count_against_the_day(app, client, sms):
    citizen = await sign_in(client, sms)
    exports = services_of(app).exports
    working, exports.storage = exports.storage, BrokenStorage()
    await fresh_step_up(client, sms, citizen)
    down = await client.post(EXPORTS, headers=citizen.headers)
    assert down.status_code == 503 and error_code(down) == "EXPORT_STORAGE_UNAVAILABLE"
    exports.storage = working
    await _export(client, sms, citizen)  # the day's one copy is still there to ask for


class StoresThenFails(BrokenStorage):
    """An object store that keeps the object but fails to say so, and cannot delete (the process ends mid-way)."""

    def __init__(self, working) -> None:
        self.working = working

    async def put(self, key: str, data: bytes) -> None:
        await self.working.put(key, data)
        raise ConnectionError("storage answer lost")


@pytest.mark.export_settings(export_link_ttl=120)
async def test_a_file_stored_for_a_copy_that_was_not_made_is_swept(app, client, sms, clock, settings):
    citizen = await sign_in(client, sms)
    exports = services_of(app).exports
    working = exports.storage
    exports.storage = StoresThenFails(working)
    await fresh_step_up(client, sms, citizen)
    failed = await client.post(EXPORTS, headers=citizen.headers)
    assert failed.status_code == 503 and error_code(failed) == "EXPORT_STORAGE_UNAVAILABLE"
    [row] = await DataExport.filter(citizen_id=citizen.id)
    assert row.status == "building"
    path = Path(settings.data_dir) / "uploads" / row.storage_key
    assert path.is_file()
    exports.storage = working
    unfinished = await client.get(f"{EXPORTS}/{row.id}/download", headers=citizen.headers)
    assert unfinished.status_code == 404 and error_code(unfinished) == "EXPORT_NOT_FOUND"
    clock.advance(121)
    assert await exports.sweep_expired() == 1 and not path.exists()


async def test_a_copy_that_could_not_be_stored_leaves_nothing_behind(app, client, sms):
    citizen = await sign_in(client, sms)
    exports = services_of(app).exports

    class PutRefused(BrokenStorage):
        async def delete(self, key: str) -> None:
            return None

    working, exports.storage = exports.storage, PutRefused()
    await fresh_step_up(client, sms, citizen)
    assert (await client.post(EXPORTS, headers=citizen.headers)).status_code == 503
    exports.storage = working
    assert not await DataExport.filter(citizen_id=citizen.id).exists()


async def test_an_altered_upload_is_left_out_and_an_uploads_store_that_is_down_refuses_the_copy(app, client, sms,
                                                                                               settings):
    citizen = await sign_in(client, sms)
    kept, altered = await uploaded(client, citizen), await uploaded(client, citizen)
    path = Path(settings.data_dir) / "uploads" / (await Upload.get(id=altered)).storage_key
    stored = path.read_bytes()
    path.write_bytes(stored[:-1] + bytes([stored[-1] ^ 1]))  # one bit changed at rest
    got = await _download(client, citizen, await _export(client, sms, citizen))
    assert got.status_code == 200, got.text
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    records = {record["id"]: record for record in areas_of(json.loads(archive.read("data.json")))["uploads"]}
    assert records[altered]["file"] is None and records[altered]["file_left_out"] == "unreadable"
    assert records[kept]["file"] in archive.namelist() and records[kept]["file_left_out"] is None

    uploads = services_of(app).uploads
    working, uploads.storage = uploads.storage, BrokenStorage()
    await fresh_step_up(client, sms, citizen)
    down = await client.post(EXPORTS, headers=citizen.headers)
    uploads.storage = working
    assert down.status_code == 503 and error_code(down) == "EXPORT_STORAGE_UNAVAILABLE"


async def test_files_are_opened_off_the_event_loop_and_the_copy_holds_at_most_so_many_bytes_of_them(app, client, sms,
                                                                                                  settings):
    citizen = await sign_in(client, sms)
    first, second = await uploaded(client, citizen), await uploaded(client, citizen)
    sizes = {row.id: row.size for row in await Upload.filter(citizen_id=citizen.id)}
    exports = services_of(app).exports
    exports.settings = settings.exports.model_copy(update={"max_file_bytes": sizes[first] + sizes[second] - 1})
    pii, opened_in = services_of(app).platform.pii, []
    unseal = pii.unseal

    def recorded(sealed: bytes, context: str) -> bytes:
        opened_in.append(threading.current_thread() is threading.main_thread())
        return unseal(sealed, context)

    pii.unseal = recorded  # type: ignore[method-assign]
    try:
        got = await _download(client, citizen, await _export(client, sms, citizen))
    finally:
        del pii.unseal
    assert got.status_code == 200, got.text
    assert opened_in and not any(opened_in)  # every file and the copy itself opened in a worker thread
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    records = {record["id"]: record for record in areas_of(json.loads(archive.read("data.json")))["uploads"]}
    assert records[first]["file"] in archive.namelist() and records[first]["file_left_out"] is None
    assert records[second]["file"] is None and records[second]["file_left_out"] == "too_large"
