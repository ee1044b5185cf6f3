"""The read replica (app/db.py): which reads it serves, read-your-writes, fallbacks to the primary.

The unit tests need no replica. The others need a real streaming replica of the run's primary
(APP_DATABASE_REPLICA_URL, as `.ci/pg-replica run` sets it; `make pg-replica`): they pause its replay
(`pg_wal_replay_pause()`) so that a row written on the primary is not yet on the replica, and see who answered.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlparse, urlunparse

import asyncpg
import httpx
import pytest
from sanic import Sanic

from api.services import services_of
from app import audit, db, metrics
from app.cache import MemoryCache
from app.config import ConfigError, Settings
from tests.conftest import running
from tests.exports.export_factory import EXPORTS, areas_of, fresh_step_up
from tests.factories import SignedInCitizen, sign_in
from tests.services.service_factory import apply, catalogue_admin, make_item, young  # noqa: F401  (fixtures)

REPLICA_URL = os.environ.get("APP_DATABASE_REPLICA_URL", "")
needs_replica = pytest.mark.skipif(not REPLICA_URL, reason="needs a streaming replica: APP_DATABASE_REPLICA_URL "
                                                         "(make pg-replica)")
PG = "postgres://app@db.example:5432/gov"
T = TypeVar("T")


# -- settings ------------------------------------------------------------------------------------------------

def test_a_replica_is_taken_beside_a_postgresql_primary():
    settings = Settings.from_env({"APP_DATABASE_URL": PG, "APP_DATABASE_REPLICA_URL": "postgresql://app@replica:5432/gov",
                                  "APP_DATABASE_REPLICA_STICKY_SECONDS": "7"})
    assert (settings.database_replica_url, settings.database_replica_sticky_seconds,
            settings.database_replica_max_lag) == ("postgresql://app@replica:5432/gov", 7.0, 5.0)


def test_the_embedded_sqlite_default_refuses_a_replica():
    with pytest.raises(ConfigError, match="APP_DATABASE_REPLICA_URL needs APP_DATABASE_URL pointing at PostgreSQL"):
        Settings(database_replica_url="postgres://app@replica:5432/gov")


@pytest.mark.parametrize("url", ["sqlite://data/replica.sqlite3", "mysql://app@replica/gov", "postgres:///gov"])
def test_a_replica_that_is_not_a_postgresql_server_is_refused(url):
    with pytest.raises(ConfigError, match="APP_DATABASE_REPLICA_URL"):
        Settings(database_url=PG, database_replica_url=url)


@pytest.mark.parametrize("sticky, max_lag", [(10, 30), (5, 5), (5.5, 4.6)])
def test_a_read_your_writes_window_shorter_than_the_lag_allowed_is_refused(sticky, max_lag):
    """A replica 20 s behind is still read from with a max lag of 30: a citizen reading 12 s after their write,
    past a 10 s window, would get a page without it. The window must cover the lag and the probe's second."""
    with pytest.raises(ConfigError, match=r"APP_DATABASE_REPLICA_STICKY_SECONDS \([0-9.]+\) must be at least "
                                          r"APP_DATABASE_REPLICA_MAX_LAG \([0-9.]+\) \+ 1 s"):
        Settings(database_url=PG, database_replica_url=PG, database_replica_sticky_seconds=sticky,
                 database_replica_max_lag=max_lag)


@pytest.mark.parametrize("sticky, max_lag", [(10, 5), (6, 5), (0, 30), (31, 30)])
def test_a_window_covering_the_lag_allowed_or_none_is_taken(sticky, max_lag):
    settings = Settings(database_url=PG, database_replica_url=PG, database_replica_sticky_seconds=sticky,
                        database_replica_max_lag=max_lag)
    assert (settings.database_replica_sticky_seconds, settings.database_replica_max_lag) == (sticky, max_lag)


def test_the_defaults_keep_a_window_that_covers_the_lag_allowed():
    settings = Settings(database_url=PG, database_replica_url=PG)
    assert (settings.database_replica_sticky_seconds, settings.database_replica_max_lag) == (10.0, 5.0)


def test_a_negative_sticky_window_is_refused():
    with pytest.raises(ConfigError, match="APP_DATABASE_REPLICA_STICKY_SECONDS"):
        Settings(database_url=PG, database_replica_url=PG, database_replica_sticky_seconds=-1)


# -- the routing decision ------------------------------------------------------------------------------------

class ProbedReplica(db.Replica):
    """A replica whose probe answers `trouble` (None: fine) without a database."""

    def __init__(self, cache: MemoryCache, trouble: str | None = None, sticky_seconds: float = 10) -> None:
        super().__init__(cache, sticky_seconds=sticky_seconds, max_lag=5)
        self.trouble = trouble
        self.probes = 0

    async def _probe(self) -> str | None:
        self.probes += 1
        return self.trouble


@pytest.fixture
def with_replica(monkeypatch):
    def install(replica: db.Replica | None) -> db.Replica | None:
        monkeypatch.setattr(db, "_replica", replica)
        monkeypatch.setattr(db, "inside_transaction", lambda: False)
        return replica
    return install


@pytest.fixture
def counted():
    metrics.enable()
    yield
    metrics.disable()


def _fallbacks(reason: str) -> float:
    from prometheus_client import REGISTRY

    metrics.flush()
    return REGISTRY.get_sample_value("app_database_replica_fallbacks_total", {"reason": reason}) or 0.0


@db.lag_tolerant
async def served_by() -> str:
    return db.serving_connection()


async def test_without_a_replica_every_read_is_the_primarys_and_no_marker_is_kept(with_replica):
    with_replica(None)
    cache = MemoryCache()
    await db.remember_write("cit_1")
    assert (await served_by(), await cache.get(db.STICKY_KEY + "cit_1")) == ("default", None)


async def test_a_lag_tolerant_read_goes_to_a_healthy_replica_and_the_others_stay_on_the_primary(with_replica):
    with_replica(ProbedReplica(MemoryCache()))
    assert (await served_by(), db.serving_connection()) == ("replica", "default")
    assert (db.ReplicaRouter().db_for_read(object), db.ReplicaRouter().db_for_read(object)) == ("default", "default")


async def test_a_citizen_who_just_wrote_reads_from_the_primary_and_another_from_the_replica(with_replica):
    replica = with_replica(ProbedReplica(MemoryCache()))
    await db.remember_write("cit_writer")
    db.reading_as("cit_writer")
    assert await served_by() == "default"
    db.reading_as("cit_other")
    assert await served_by() == "replica"
    assert await replica.cache.get(db.STICKY_KEY + "cit_writer") == "1"


async def test_a_sticky_window_of_zero_keeps_no_marker(with_replica):
    replica = with_replica(ProbedReplica(MemoryCache(), sticky_seconds=0))
    await db.remember_write("cit_writer")
    db.reading_as("cit_writer")
    assert (await served_by(), await replica.cache.get(db.STICKY_KEY + "cit_writer")) == ("replica", None)


@pytest.mark.parametrize("trouble", ["lagging", "unreachable"])
async def test_a_lagging_or_unreachable_replica_sends_reads_to_the_primary_and_counts_them(with_replica, counted,
                                                                                           trouble, caplog):
    replica = with_replica(ProbedReplica(MemoryCache(), trouble=trouble))
    before = _fallbacks(trouble)
    with caplog.at_level(logging.WARNING, logger="app.db"):
        assert [await served_by(), await served_by()] == ["default", "default"]
    assert (_fallbacks(trouble) - before, replica.probes) == (2, 1)  # looked at once a second, not per read
    assert caplog.text.count(f"database replica {trouble}: lag-tolerant reads go to the primary") == 1


async def test_a_read_that_fails_on_the_replica_is_made_again_on_the_primary(with_replica, counted, caplog):
    with_replica(ProbedReplica(MemoryCache()))
    tried: list[str] = []

    @db.lag_tolerant
    async def read() -> str:
        tried.append(db.serving_connection())
        if db.serving_connection() == "replica":
            raise ConnectionRefusedError("replica down")
        return "rows"

    before = _fallbacks("unreachable")
    with caplog.at_level(logging.WARNING, logger="app.db"):
        assert await read() == "rows"
    assert (tried, _fallbacks("unreachable") - before) == (["replica", "default"], 1)
    assert "made again on the primary" in caplog.text
    assert await served_by() == "default"  # the others too, until the next look


async def test_a_failure_that_is_not_the_replicas_is_not_retried(with_replica):
    with_replica(ProbedReplica(MemoryCache()))
    tried: list[str] = []

    @db.lag_tolerant
    async def read() -> str:
        tried.append(db.serving_connection())
        raise LookupError("not found")

    with pytest.raises(LookupError):
        await read()
    assert tried == ["replica"]


# -- against a real streaming replica -------------------------------------------------------------------------

def _same_database(url: str, like: str) -> str:
    """`url` (the replica's server) naming the database of `like` (the run's database on the primary)."""
    return urlunparse(urlparse(url)._replace(path=urlparse(like).path))


def _asyncpg(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


@pytest.fixture
async def replica(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the replica; its replay is resumed however the test ends."""
    conn = await asyncpg.connect(_asyncpg(_same_database(REPLICA_URL, settings.database_url)))
    try:
        yield conn
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


async def _caught_up(replica: asyncpg.Connection, primary_url: str, what: str = "everything") -> None:
    """Waits until the replica has replayed everything the primary wrote so far.

    The target is the insert position, not the write position: with synchronous_commit off, a commit that has
    returned may not be written out yet, and a replica paused at the write position would not hold it."""
    primary = await asyncpg.connect(_asyncpg(primary_url))
    try:
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
    finally:
        await primary.close()
    for _ in range(200):
        if await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1", target):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica did not replay {what}")


async def _paused_once_caught_up(replica: asyncpg.Connection, primary_url: str) -> None:
    """Waits until the replica has replayed everything the primary wrote so far, then pauses its replay."""
    await _caught_up(replica, primary_url)
    await replica.execute("SELECT pg_wal_replay_pause()")


@pytest.fixture
async def app(settings: Settings, platform, tencent) -> AsyncIterator[Sanic]:
    """The test's app (and so its `client`) reading from the run's replica, with a sticky window of 1 s."""
    from app.server import create_app

    with_replica = settings.with_(database_replica_url=_same_database(REPLICA_URL, settings.database_url),
                                  database_replica_max_lag=600, database_replica_sticky_seconds=601)
    async with running(create_app(with_replica, platform=platform, name="replica_app"), with_replica, platform) as app:
        _short_window()
        yield app


def _short_window() -> None:
    """The tests pause the replica's replay, so it falls behind by however long a test takes: the settings allow
    any lag, and so must keep the citizen's window longer than that. The running worker's window is then cut to
    1 s, shorter than the settings allow, so that a test sees it end without waiting ten minutes."""
    assert db._replica is not None
    db._replica.sticky_seconds = 1.0


async def _access_log(client: httpx.AsyncClient, token: str) -> list[str]:
    reply = await client.get("/api/v1/me/access-log", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    return [item["purpose"] for item in reply.json()["items"]]


async def _someone_reads_their_data(clock, citizen_id: str, purpose: str) -> None:
    await audit.record_all(clock, [audit.access(citizen_id=citizen_id, actor="rp_hotel", actor_type="relying_party",
                                                action="voucher_redeemed", attributes=["name"], purpose=purpose)])


async def _eventually(read: Callable[[], Awaitable[T]], expected: T) -> bool:
    """Whether `read` answers `expected` within five seconds (a replica replaying again catches up)."""
    for _ in range(100):
        if await read() == expected:
            return True
        await asyncio.sleep(0.05)
    return False


@needs_replica
async def test_the_access_log_is_read_from_the_replica_until_the_citizen_writes(
        client, settings, platform, sms, replica):
    citizen = await sign_in(client, sms)
    await asyncio.sleep(1.2)  # past any sticky window of the sign-in
    await _paused_once_caught_up(replica, settings.database_url)
    await _someone_reads_their_data(platform.clock, citizen.id, "入住登记")
    assert await audit.AuditEntry.filter(subject_id=citizen.id, purpose="入住登记").exists()  # on the primary

    assert "入住登记" not in await _access_log(client, citizen.access_token)  # the replica's: not yet

    wrote = await client.post("/api/v1/notifications/read-all",
                                      headers={"Authorization": f"Bearer {citizen.access_token}"})
    assert wrote.status_code == 200, wrote.text
    assert "入住登记" in await _access_log(client, citizen.access_token)  # read-your-writes: the primary's

    await asyncio.sleep(1.2)  # the sticky window (1 s here) is over: the replica, still paused, answers again
    assert "入住登记" not in await _access_log(client, citizen.access_token)
    await replica.execute("SELECT pg_wal_replay_resume()")
    for _ in range(100):
        if "入住登记" in await _access_log(client, citizen.access_token):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the replica never showed the entry once replaying again")


@needs_replica
async def test_an_application_just_sent_is_in_the_citizens_list_at_once(
        client, settings, clock, replica, young):  # noqa: F811  (young: the imported fixture)
    item = await make_item(clock, materials=[])
    await asyncio.sleep(1.2)  # past the sticky window of the citizen's sign-in and 实名
    await _paused_once_caught_up(replica, settings.database_url)
    sent = await apply(client, young, item.id, materials=[])
    assert sent.status_code == 201, sent.text

    listed = await client.get("/api/v1/applications", headers=young.headers)
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()["items"]] == [sent.json()["id"]]  # read-your-writes: the primary's
    await asyncio.sleep(1.2)
    listed = await client.get("/api/v1/applications", headers=young.headers)
    assert listed.json()["items"] == []  # outside the window: the paused replica's, which has not replayed it


@needs_replica
async def test_a_message_just_put_in_the_inbox_is_read_from_the_primary(client, settings, platform, sms,
                                                                       replica):
    from app.notifications import service as notifications

    citizen = await sign_in(client, sms)
    await asyncio.sleep(1.2)
    await _paused_once_caught_up(replica, settings.database_url)
    await notifications.notify(platform, citizen.id, "identity_verified")
    inbox = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {citizen.access_token}"})
    assert inbox.status_code == 200, inbox.text
    assert "identity_verified" in [m["kind"] for m in inbox.json()["items"]]
    await asyncio.sleep(1.2)
    inbox = await client.get("/api/v1/notifications", headers={"Authorization": f"Bearer {citizen.access_token}"})
    # Outside the window: the paused replica has not replayed it.
    assert "identity_verified" not in [m["kind"] for m in inbox.json()["items"]]


async def _history(client: httpx.AsyncClient, citizen: SignedInCitizen) -> list[str]:
    """The colours of the citizen's health-code history, newest first."""
    reply = await client.get("/api/v1/health-code/history", headers=citizen.headers)
    assert reply.status_code == 200, reply.text
    return [item["color"] for item in reply.json()["items"]]


@needs_replica
async def test_the_health_code_history_is_the_replicas_except_just_after_the_status_was_evaluated(
        app, client, settings, clock, replica, young):  # noqa: F811  (young: the imported fixture)
    await asyncio.sleep(1.2)  # past the sticky window of the citizen's sign-in and 实名
    await _paused_once_caught_up(replica, settings.database_url)

    # Showing the code for the first time evaluates the status: a GET that writes, so it keeps the window too.
    shown = await client.get("/api/v1/health-code", headers=young.headers)
    assert shown.status_code == 200 and shown.json()["color"] == "green", shown.text
    assert await _history(client, young) == ["green"]  # read-your-writes: the primary's
    await asyncio.sleep(1.2)
    assert await _history(client, young) == []  # outside the window: the paused replica's, without the evaluation

    # A hospital's lab reports a positive test: the citizen did not write, yet their status was evaluated again.
    await services_of(app).health.record_evidence(young.id, "test_result", clock.now(), {"result": "positive"},
                                                  source="lab:lab_1")
    assert await _history(client, young) == ["red", "green"]
    await asyncio.sleep(1.2)
    assert await _history(client, young) == []
    await replica.execute("SELECT pg_wal_replay_resume()")
    assert await _eventually(lambda: _history(client, young), ["red", "green"])


CATALOGUE_ADMIN = "/api/admin/v1/services"
NEW_ITEM = {"name": "港澳居民来往内地通行证换发预约（示例）", "department_id": "gd-gat", "category": "出入境",
            "aliases": ["回乡证换证"], "materials": [{"name": "居民身份证", "licence_type": "resident_id_card"}],
            "legal_basis": "《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》", "time_limit_days": 10,
            "fee": "不收费", "trips": 1, "channels": ["online", "offline"], "life_events": ["marriage"]}


async def _in_the_marriage_bundle(client: httpx.AsyncClient) -> list[str]:
    reply = await client.get("/api/v1/life-events/marriage")
    assert reply.status_code == 200, reply.text
    return [item["id"] for item in reply.json()["items"]]


async def _bundle_sizes(client: httpx.AsyncClient) -> dict[str, int]:
    reply = await client.get("/api/v1/life-events")
    assert reply.status_code == 200, reply.text
    return {bundle["code"]: bundle["item_count"] for bundle in reply.json()["items"]}


async def _guide_status(client: httpx.AsyncClient, item_id: str) -> int:
    return (await client.get(f"/api/v1/services/{item_id}")).status_code


@needs_replica
async def test_an_item_just_published_is_in_the_public_catalogue_once_the_replica_has_replayed_it(
        client, settings, replica, catalogue_admin):  # noqa: F811  (catalogue_admin: the imported fixture)
    drafted = await client.post(CATALOGUE_ADMIN, headers=catalogue_admin.headers(), json=NEW_ITEM)
    assert drafted.status_code == 201, drafted.text
    item_id = drafted.json()["id"]
    await _paused_once_caught_up(replica, settings.database_url)  # the replica holds the draft
    marriage_items = (await _bundle_sizes(client))["marriage"]
    published = await client.post(f"{CATALOGUE_ADMIN}/{item_id}/publish", headers=catalogue_admin.headers())
    assert published.status_code == 200, published.text

    # The guide and the bundles are the paused replica's, where the item is still a draft.
    assert await _guide_status(client, item_id) == 404
    assert item_id not in await _in_the_marriage_bundle(client)
    assert (await _bundle_sizes(client))["marriage"] == marriage_items
    # The search index is loaded from the primary (kept for minutes, it must never hold a withdrawn item):
    # it finds the item at once, a few seconds before its guide opens.
    found = await client.get("/api/v1/services/search", params={"q": "回乡证换证"})
    assert item_id in [item["id"] for item in found.json()["items"]], found.text

    await replica.execute("SELECT pg_wal_replay_resume()")
    assert await _eventually(lambda: _guide_status(client, item_id), 200)
    assert (await _in_the_marriage_bundle(client))[-1] == item_id
    assert (await _bundle_sizes(client))["marriage"] == marriage_items + 1


async def _copy_of_my_data(client: httpx.AsyncClient, citizen: SignedInCitizen) -> dict[str, Any]:
    """The citizen asks for a copy of their data (their step-up is fresh): its id and download link."""
    made = await client.post(EXPORTS, headers=citizen.headers)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _downloaded_areas(client: httpx.AsyncClient, citizen: SignedInCitizen,
                            made: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    got = await client.get(made["download_url"], headers=citizen.headers)
    assert got.status_code == 200, got.text
    return areas_of(json.loads(zipfile.ZipFile(io.BytesIO(got.content)).read("data.json")))


@needs_replica
async def test_a_copy_of_my_data_is_gathered_from_the_replica_unless_i_just_wrote(client, settings, platform, sms,
                                                                                  replica):
    citizen = await sign_in(client, sms)
    await fresh_step_up(client, sms, citizen)  # good for minutes: both copies below are asked for with it
    await asyncio.sleep(1.2)  # past the sticky window of the step-up
    await _paused_once_caught_up(replica, settings.database_url)
    await _someone_reads_their_data(platform.clock, citizen.id, "入住登记")

    first = await _copy_of_my_data(client, citizen)
    second = await _copy_of_my_data(client, citizen)  # right after asking for the first: inside the window

    first_areas = await _downloaded_areas(client, citizen, first)
    assert "入住登记" not in [entry["purpose"] for entry in first_areas["access_log"]]  # the paused replica's
    second_areas = await _downloaded_areas(client, citizen, second)
    assert "入住登记" in [entry["purpose"] for entry in second_areas["access_log"]]  # read-your-writes: the primary's
    asked = [entry["attributes"]["export_id"] for entry in second_areas["account_events"]
             if entry["action"] == "data_export_created"]
    assert asked == [first["id"]]  # and it tells of the first copy, asked for a moment before


@needs_replica
async def test_a_write_inside_a_lag_tolerant_read_goes_to_the_primary(app, settings, platform, replica):
    await asyncio.sleep(0)

    @db.lag_tolerant
    async def write_then_read() -> tuple[str, bool]:
        await _someone_reads_their_data(platform.clock, "cit_written", "写在主库")
        return db.serving_connection(), await audit.AuditEntry.filter(subject_id="cit_written").exists()

    await _paused_once_caught_up(replica, settings.database_url)
    # The replica refuses writes (a read-only transaction): the insert succeeding is the primary's doing, and
    # the read beside it, on the paused replica, does not see it.
    assert await write_then_read() == ("replica", False)
    assert await audit.AuditEntry.filter(subject_id="cit_written", purpose="写在主库").exists()


@needs_replica
async def test_a_lag_tolerant_read_inside_a_transaction_stays_in_it(app, settings, platform):
    from tortoise.transactions import in_transaction

    assert await served_by() == "replica"
    async with in_transaction():
        await _someone_reads_their_data(platform.clock, "cit_in_transaction", "同一事务")
        assert await served_by() == "default"
        assert "同一事务" in [entry.purpose for entry in await audit.access_log("cit_in_transaction")]


async def _streaming(replica: asyncpg.Connection) -> bool:
    return bool(await replica.fetchval("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'"))


async def _receiver_until(replica: asyncpg.Connection, streaming: bool) -> None:
    for _ in range(200):
        if await _streaming(replica) == streaming:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the replica's WAL receiver did not {'start' if streaming else 'stop'}")


async def _set_primary_conninfo(replica: asyncpg.Connection, conninfo: str) -> None:
    """On the replica, as superuser: its connection to the primary (ALTER SYSTEM, then a reload)."""
    await replica.execute(await replica.fetchval("SELECT format('ALTER SYSTEM SET primary_conninfo = %L', $1::text)",
                                                 conninfo))
    await replica.execute("SELECT pg_reload_conf()")


@needs_replica
async def test_a_replica_cut_off_from_the_primary_counts_as_lagging(app, replica, counted, caplog):
    """A replica that receives nothing (a network split, the primary restarted) has replayed all it received:
    its replay is not behind, yet it falls further behind the primary every second. Its reads go to the primary."""
    await asyncio.sleep(db.PROBE_EVERY)  # this worker's next read looks at the replica again
    assert await served_by() == "replica"
    conninfo = await replica.fetchval("SHOW primary_conninfo")
    assert conninfo, "the replica names no primary"
    try:
        await _set_primary_conninfo(replica, "")  # its WAL receiver stops, and no other starts
        await _receiver_until(replica, streaming=False)
        assert await replica.fetchval("SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()")  # "caught up"
        await asyncio.sleep(db.PROBE_EVERY)
        before = _fallbacks("lagging")
        with caplog.at_level(logging.WARNING, logger="app.db"):
            assert await served_by() == "default"
        assert _fallbacks("lagging") - before == 1
        assert "database replica lagging: lag-tolerant reads go to the primary" in caplog.text
    finally:
        await _set_primary_conninfo(replica, conninfo)
        await _receiver_until(replica, streaming=True)
    await asyncio.sleep(db.PROBE_EVERY)
    assert await served_by() == "replica"  # streaming again: read from again


@needs_replica
async def test_a_probe_by_a_role_without_pg_read_all_stats_keeps_reads_on_the_primary(settings, replica):
    """pg_stat_wal_receiver hides its status from such a role: the probe cannot tell, so it says lagging."""
    primary = await asyncpg.connect(_asyncpg(settings.database_url))
    try:
        await primary.execute("DROP ROLE IF EXISTS replica_probe_unprivileged")
        await primary.execute("CREATE ROLE replica_probe_unprivileged LOGIN")
        await _caught_up(replica, settings.database_url, "the new role")
        url = urlparse(_same_database(REPLICA_URL, settings.database_url))
        unprivileged = await asyncpg.connect(_asyncpg(urlunparse(url._replace(
            netloc=f"replica_probe_unprivileged@{url.hostname}:{url.port}"))))
        try:
            assert await unprivileged.fetchval(db.LAG_SQL) is None  # lagging: not read from
            assert await replica.fetchval(db.LAG_SQL) == 0  # the superuser's probe: streaming, caught up
        finally:
            await unprivileged.close()
    finally:
        await primary.execute("DROP ROLE IF EXISTS replica_probe_unprivileged")
        await primary.close()


@needs_replica
async def test_a_replica_that_is_down_leaves_the_reads_to_the_primary(settings, platform, tencent, sms, counted):
    from app.server import create_app

    down = settings.with_(database_replica_url="postgres://postgres@127.0.0.1:1/test")
    async with running(create_app(down, platform=platform, name="replica_down"), down, platform) as app:
        _short_window()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gov.test") as client:
            citizen = await sign_in(client, sms)
            await _someone_reads_their_data(platform.clock, citizen.id, "银行开户")
            await asyncio.sleep(1.2)
            metrics.enable()  # the app, without APP_METRICS_PORT, keeps none
            before = _fallbacks("unreachable")
            assert "银行开户" in await _access_log(client, citizen.access_token)
            services = await client.get("/api/v1/life-events")
            assert services.status_code == 200, services.text
            assert _fallbacks("unreachable") - before == 2  # both reads answered by the primary, each counted
