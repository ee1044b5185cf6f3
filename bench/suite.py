"""`make bench`: every hot path on PostgreSQL + Redis with one and with two workers, each figure a
ratio to a bare Sanic handler (or to the crypto library's raw verify rate) measured in the same run.

The service runs as `python -m app --workers N` in its own processes. GETs are driven by h2load
(Debian's nghttp2-client; `make bench` installs it where it can; latency from warm connections,
see `bench/_load.py`) or, without it, by our asyncio generator;
POSTs, each with a fresh one-time token, by the asyncio generator; all on 127.0.0.1. With one worker
the servers run on one core and the load on the other, so the two do not take turns on a core, and
PostgreSQL and Redis are moved to the load's core for those rows (in production they have machines of
their own: with them on the worker's core, the worker's figures counted their CPU too); the
headline figure (health-code JSON / bare handler) is the median of three interleaved rounds, because
a shared machine's speed drifts within a run. Results go to
`bench/results/latest.json` and `bench/results/latest.md`. Without a PostgreSQL server at
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) the run says so and uses the
embedded default with one worker. Run: `.venv/bin/python -m bench.suite [seconds]`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, TypeVar

import jwt

from app.accounts.rules import id_check_char
from bench import audit_chain
from bench import cose_peer
from bench import partner_verification as partner_bench
from bench import payments as payment_bench
from bench import voucher_redemption as voucher_bench
from bench import _load
from bench._load import SERVICE, LoadResult, ROOT, call_json, free_port, get_load, load_post, running, sign_in, verify_identity
from bench.health_code_fetch import default_pipeline, per_second
from bench import home_exchange as home_bench
from bench.home_cards import CARDS
from health_code.render import render_png

RESULTS = ROOT / "bench" / "results"
CONNECTIONS = 64
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SESSIONS = 16  # refresh-token chains, one per connection
ROUNDS = 3  # interleaved bare / health-code JSON rounds for the headline ratio

TARGETS = {  # what the issue asks of each figure
    "health_code_json": ("ratio", 0.40),
    "partner_batch": ("ratio", 0.50),
    "partner_batch_signature": ("ratio", 0.50),
    "png_render_speedup": ("value", 5.0),
    "json_p99_ms": ("max", 50.0),
    "json_p99_beside_png_ms": ("max", 50.0),
    "two_worker_scaling": ("value", 1.6),
    "single_verification": ("ratio", 0.20),
    "token_refresh": ("ratio", 0.10),
    "voucher_redemption": ("ratio", 0.10),
}


# The profile (bench.profile) that shows where the time of each target's path goes: run for a miss.
PROFILE_OF = {"health_code_json": "json", "json_p99_ms": "json", "json_p99_beside_png_ms": "png",
              "partner_batch": "partner", "partner_batch_signature": "partner-cold",
              "single_verification": "verification", "token_refresh": "refresh", "voucher_redemption": "redemption"}
PROFILE_LINES = 60  # of the pyinstrument tree, into latest.md


T = TypeVar("T")


@dataclass
class Row:
    name: str
    workers: int
    rate: float
    unit: str
    p50_ms: float | None
    p99_ms: float | None
    baseline: float
    ratio: float
    note: str = ""


@dataclass
class Run:
    started_at: str
    backend: str
    seconds: float
    cores: int
    load_generator: str = ""
    rows: list[Row] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)  # a missed target's key -> the top of its profile


# -- backends ------------------------------------------------------------------------------------


@contextmanager
def backend() -> Iterator[dict[str, str]]:
    """A throw-away PostgreSQL database and a private Redis namespace, or the embedded default."""
    try:
        import redis

        redis.Redis.from_url(REDIS).ping()
        name = f"bench_{secrets.token_hex(4)}"
        asyncio.run(_load.pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: say so, measure what can be measured
        print(f"PostgreSQL or Redis not reachable ({type(exc).__name__}): embedded default, one worker only")
        yield {"APP_DATABASE_URL": "", "APP_REDIS_URL": ""}
        return
    try:
        yield {"APP_DATABASE_URL": _load.database_url(name), "APP_REDIS_URL": REDIS, "APP_CACHE_NAMESPACE": name}
    finally:
        asyncio.run(_load.pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def service_env(data_dir: str, backing: dict[str, str]) -> dict[str, str]:
    return {"APP_DATA_DIR": data_dir, **backing, "APP_SCHEDULER_ENABLED": "false",
            # set-up signs in many phones from one address; the limits themselves are tested elsewhere
            "APP_OTP_IP_HOURLY_LIMIT": "100000", "APP_LOGIN_IP_HOURLY_LIMIT": "100000",
            "APP_VOUCHER_PRESENTATIONS_PER_MINUTE": "100000", "APP_VOUCHER_REDEMPTIONS_PER_MINUTE": "1000000",
            # home: 5 department stand-ins at 20 ms, asked on every request (no freshness window)
            "APP_CARD_BACKEND_LATENCY": "0.02", "APP_CARD_MAX_TTL": "0"}


# -- what is measured ----------------------------------------------------------------------------


def refresh_chains(port: int, count: int, first: int = 9000) -> list[tuple[Any, Any]]:
    """`count` refresh-token chains: each connection refreshes with the token its last reply gave. Each
    chain is a phone of its own from 1370013`first` on (a later set of chains starts past this one's)."""
    from bench._load import _post

    chains = []
    for i in range(count):
        phone = f"1370013{first + i:04d}"
        _post(port, "/api/v1/auth/otp", {"phone": phone})
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/sms-outbox?phone={phone}") as reply:
            text = json.loads(reply.read())["items"][0]["text"]
        code = text.split("验证码为 ", 1)[1][:6]
        login = _post(port, "/api/v1/auth/login", {"phone": phone, "code": code, "device_name": "bench"})
        state = {"refresh": login["refresh_token"]}

        def next_call(state: dict = state) -> tuple[str, dict]:
            return "", {"refresh_token": state["refresh"]}

        def seen(reply: dict, state: dict = state) -> None:
            state["refresh"] = reply["refresh_token"]

        chains.append((next_call, seen))
    return chains


Scanner = tuple[str, Any]  # a venue scanner's client id (the JWT `iss`) and private key


def add_scanner(cli_env: dict[str, str], data_dir: str) -> Scanner:
    return _load.add_client(cli_env, data_dir, "白云机场卫生检疫查验点（示例）", "admin", "verifier")


def single_verifications(port: int, scanner: Scanner, partner: "PartnerBench", seconds: float) -> LoadResult:
    """A venue scanner checks one of the citizens' current codes a request, 16 connections; a reply
    counts when the code was valid. The codes are fetched again first: those of the set-up lapse 180 s
    after, and the rows before this one may take longer on a slow machine."""
    scanner_id, scanner_key = scanner
    partner.renew(port)

    def scan() -> tuple[str, dict]:
        return (partner_bench._token(scanner_key, scanner_id, "1", "admin"),
                {"payload": partner.issued[secrets.randbelow(len(partner.issued))], "purpose": "机场查验（基准）"})

    return asyncio.run(load_post(port, "/api/admin/v1/health-code/verifications", [(scan, None)] * 16, seconds,
                                 weight=lambda reply: int(reply.get("valid") is True)))


def voucher_redemptions(port: int, citizen: str, hotel: Scanner, seconds: float,
                        per_second: int = voucher_bench.TOKENS_PER_SECOND) -> Callable[[], LoadResult]:
    """A hotel redeems a new ID-voucher presentation a request, 8 connections. `per_second` tokens for
    each second of load are made now, from the citizen's phone (they lapse 180 s after); the load runs
    when the returned function is called."""
    tokens = iter(voucher_bench.make_tokens(port, citizen, int((seconds + 0.5) * per_second)))
    hotel_id, hotel_key = hotel

    def redemption() -> tuple[str, dict]:
        claims = {"iss": hotel_id, "aud": f"{partner_bench.ISSUER}/relying_party", "iat": int(time.time()),
                  "jti": secrets.token_hex(12)}
        body = {"token": next(tokens), "attributes": ["age_over_18"], "purpose": "入住登记（基准）"}
        return jwt.encode(claims, hotel_key, algorithm="ES256", headers={"kid": "1"}), body

    return lambda: asyncio.run(load_post(port, "/api/rp/v1/redemptions", [(redemption, None)] * 8, seconds))


def token_refreshes(port: int, seconds: float, first: int = 9000) -> Callable[[], LoadResult]:
    """`SESSIONS` refresh-token chains, each token used once. The phones sign in now; the load runs
    when the returned function is called."""
    chains = refresh_chains(port, SESSIONS, first)
    return lambda: asyncio.run(load_post(port, "/api/v1/auth/refresh", chains, seconds, warm_up=0))


def pin(process: subprocess.Popen, cpus: set[int]) -> None:
    """Keep a server and every process below it on `cpus` (the launcher's children are the app and the
    stand-ins; the app's are its workers)."""
    pids, frontier = [process.pid], [process.pid]
    while frontier:
        children = subprocess.run(["pgrep", "-P", ",".join(map(str, frontier))], capture_output=True,
                                  text=True).stdout.split()
        frontier = [pid for pid in map(int, children) if pid not in pids]
        pids += frontier
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except ProcessLookupError:
            pass  # ended meanwhile


BACKING_SERVICES = ("postgres", "redis-server")


@contextmanager
def backing_services_on(cpus: set[int]) -> Iterator[None]:
    """PostgreSQL and Redis (every process and thread of theirs on this machine) kept on `cpus` for the
    block, then put back where they were; new PostgreSQL backends inherit it from the postmaster.
    Without the right to move them (not root, not their owner) the run says so and goes on."""
    moved: dict[int, set[int]] = {}
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            if open(f"/proc/{pid}/comm").read().strip() not in BACKING_SERVICES:
                continue
            for task in map(int, os.listdir(f"/proc/{pid}/task")):
                moved[task] = os.sched_getaffinity(task)
                os.sched_setaffinity(task, cpus)
        except (ProcessLookupError, FileNotFoundError):
            continue  # it ended meanwhile
        except PermissionError:
            print(f"PostgreSQL and Redis could not be moved off the worker's core (pid {pid}): their CPU counts "
                  "as the worker's")
            break
    try:
        yield
    finally:
        for task, before in moved.items():
            try:
                os.sched_setaffinity(task, before)
            except (ProcessLookupError, PermissionError):
                pass


def headline(port: int, base_port: int, auth: dict[str, str], seconds: float,
             times: int = ROUNDS) -> tuple[LoadResult, LoadResult, str]:
    """Bare handler and health-code JSON, `times` times in turn: the round with the median ratio."""
    rounds = []
    for _ in range(times):
        bare = get_load(base_port, "/ping", {}, seconds, CONNECTIONS)
        ours = get_load(port, "/api/v1/health-code", auth, seconds, CONNECTIONS)
        rounds.append((ours.rate / bare.rate, bare, ours))
    middle = len(rounds) // 2
    p99s = sorted(r[2].p99_ms for r in rounds)
    _, bare, ours = sorted(rounds, key=lambda r: r[0])[middle]
    by_round = (f"p99 by round: ours {', '.join(f'{r[2].p99_ms:.0f}' for r in rounds)} ms, "
                f"bare {', '.join(f'{r[1].p99_ms:.0f}' for r in rounds)} ms")
    # the median p99 of the rounds: one stall is not a trend
    return bare, replace(ours, p99_ms=p99s[middle]), by_round


def beside_png(port: int, auth: dict[str, str], seconds: float) -> tuple[LoadResult, str]:
    """The JSON fetch while PNG requests run beside it, `ROUNDS` times: the median round, as for the
    headline (one stall is not a trend), and every round's p99 to show it."""
    rounds = [get_load(port, "/api/v1/health-code", auth, seconds, CONNECTIONS,
                       background=("/api/v1/health-code?format=png", auth, 8)) for _ in range(ROUNDS)]
    median = sorted(rounds, key=lambda r: r.p99_ms)[len(rounds) // 2]
    return median, ", ".join(f"{r.p99_ms:.0f}" for r in rounds)


def scaling(one: int, two: int, bare_one: int, bare_two: int, auth: dict[str, str], seconds: float) -> dict[str, float]:
    """2 workers / 1 worker for the JSON fetch and for the bare handler, the four measured in turn
    `ROUNDS` times on the same machine minutes: the medians of the per-round ratios."""
    ours, bare = [], []
    for _ in range(ROUNDS):
        json_one = get_load(one, "/api/v1/health-code", auth, seconds, CONNECTIONS).rate
        json_two = get_load(two, "/api/v1/health-code", auth, seconds, CONNECTIONS).rate
        ours.append(json_two / json_one)
        bare.append(get_load(bare_two, "/ping", {}, seconds, CONNECTIONS).rate
                    / get_load(bare_one, "/ping", {}, seconds, CONNECTIONS).rate)
    return {"two_worker_scaling": round(sorted(ours)[len(ours) // 2], 2),
            "bare_scaling": round(sorted(bare)[len(bare) // 2], 2)}


PartnerCall = Callable[[], tuple[str, dict]]  # a fresh client token and the batch


@dataclass
class PartnerBench:
    """Partner MO, registered through the admin API, with the codes it is shown."""

    key: Any
    issued: list[str]  # current codes of 5 citizens, as our workers issued and cached them
    data_dir: str
    citizens: list[str] = field(default_factory=list)  # their access tokens

    @classmethod
    def register(cls, port: int, cli_env: dict[str, str], data_dir: str) -> "PartnerBench":
        key = partner_bench.register_partner(port, cli_env, data_dir)
        citizens = []
        for i in range(5):
            citizen = sign_in(port, phone=f"1380013{8100 + i:04d}")
            first17 = f"44010619900307{130 + i:03d}"
            verify_identity(port, citizen, id_number=first17 + id_check_char(first17))
            citizens.append(citizen)
        bench = cls(key, [], data_dir, citizens)
        bench.renew(port)
        return bench

    def renew(self, port: int) -> None:
        """The citizens' codes as shown now: a code lives 180 s, so a run longer than that fetches them again."""
        self.issued = [call_json(port, "GET", "/api/v1/health-code", citizen)["payload"] for citizen in self.citizens]

    def token(self) -> str:
        return partner_bench._token(self.key, "MO", "mo-api-1", "partner")

    def known_call(self, most: float = 0) -> PartnerCall:
        """100 codes we issued (of 5 citizens): each recognised by its digest in the cache."""
        batch = [self.issued[i % len(self.issued)] for i in range(partner_bench.BATCH)]
        return lambda: (self.token(), {"codes": batch})

    def cold_call(self, most: float) -> PartnerCall:
        """100 new codes a request, signed with our current key but in no cache (a cache loss, or codes
        of another of our deployments): every one takes the whole signature path. Enough for `most`
        codes are made before the load starts (making them costs more than checking them), and none
        is sent twice."""
        batches = partner_bench.uncached_batches(self.data_dir, self.issued[0], int(most) // partner_bench.BATCH + 1,
                                                 partner_bench.BATCH)

        def call() -> tuple[str, dict]:
            if not batches:
                raise RuntimeError("the pre-made codes ran out: the figure would be too low")
            return self.token(), {"codes": batches.pop()}

        return call


def partner_rounds(calls: Callable[[float], PartnerCall], port: int, seconds: float,
                   times: int = ROUNDS) -> tuple[LoadResult, float, str]:
    """Partner batches and the raw ES256 verify rate, `times` times in turn, the raw rate measured
    on the server's own cores while it is idle, right before and right after each load, and the two
    averaged (the machine's speed drifts within a run, as for the headline; on this VM the raw rate
    moved by up to a fifth within a minute): the round with the median ratio, its raw rate, and every
    round's ratio. `calls(most)` gives the round's requests, for at most `most` codes (a worker cannot
    check more codes than the library verifies signatures in the same time)."""
    rounds, raw = [], raw_verify_on_server()
    for _ in range(times):
        call = calls(raw * (seconds + 1.5))  # sized by the last raw rate
        before = raw_verify_on_server()  # right before the load (making the codes above takes a while)
        result = partner_load(port, call, seconds)
        raw = (before + raw_verify_on_server()) / 2
        rounds.append((result.rate / raw, result, raw))
    _, result, raw = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    return result, raw, ", ".join(f"{r[0]:.2f}" for r in rounds)


def raw_verify_on_server() -> float:
    """The library's own ES256 verify rate, on the server's cores when the load runs apart."""
    return on_server_cores(lambda: partner_bench.raw_verify_rate(1.0))


def on_server_cores(measure: Callable[[], T]) -> T:
    """`measure()` run in this process on the server's cores when the load runs apart (on the others)."""
    if not _load.LOAD_CPUS:
        return measure()
    cpus = set(range(os.cpu_count() or 1)) - _load.LOAD_CPUS
    load_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        return measure()
    finally:
        os.sched_setaffinity(0, load_cpus)


def codec_ceiling(payload: str) -> Row:
    """The codec's whole check of one code in-process, with nothing around it (no HTTP, cache, database
    or audit), against raw ES256 verify on the same cores right after: the most `partner_batch_signature`
    could reach in this language before the service does anything else. The median of `ROUNDS` pairs
    (a second's figure on a shared machine drifts as much as the partner rounds do)."""
    pairs = []
    for _ in range(ROUNDS):
        checked = on_server_cores(lambda: partner_bench.signature_path_rate(payload, 1.0))
        raw = raw_verify_on_server()
        pairs.append((checked / raw, checked, raw))
    ratio, checked, raw = sorted(pairs)[len(pairs) // 2]
    return Row("codec_check_in_process", 1, round(checked, 1), "codes/s", None, None, round(raw, 1), round(ratio, 3),
               "codec.verify_payload of one of our codes in-process (base45, zlib, CBOR, ES256 with the key kept), "
               "vs raw ES256 verify on the server's core: the ceiling of the row above (median of "
               f"{ROUNDS} pairs: {', '.join(f'{p[0]:.2f}' for p in pairs)})")


def cose_peer_row(payload: str, data_dir: str) -> Row:
    """One of the citizens' codes as served, checked in-process with the service's public key by our codec
    and by pycose (bench/cose_peer.py), on the server's core, `ROUNDS` pairs: the median pair."""
    from datetime import timedelta
    from pathlib import Path

    from app.clock import Clock
    from app.security.keys import SigningKeyStore

    store = SigningKeyStore(Path(data_dir) / "keys", Clock(), grace=timedelta(days=1), create_if_missing=False)
    store.load()
    public = store.current.public_key
    pairs = sorted((ours / theirs, ours, theirs) for ours, theirs in
                   (on_server_cores(lambda: cose_peer.rates(payload, public, 1.0)) for _ in range(ROUNDS)))
    ratio, ours, theirs = pairs[len(pairs) // 2]
    return Row("cose_check_vs_pycose", 1, round(ours, 1), "codes/s", None, None, round(theirs, 1), round(ratio, 2),
               f"one served code checked in-process (base45, COSE_Sign1, ES256 with the service's key, CWT claims and "
               f"their time): our codec vs pycose {cose_peer.PYCOSE_VERSION} (+ base45, cbor2), {theirs:,.0f} codes/s, "
               f"on the server's core (median of {ROUNDS} pairs: {', '.join(f'{p[0]:.1f}' for p in pairs)})")


def chain_row(seconds: float) -> Row:
    """Audit entries one worker chains per second without HTTP (bench.audit_chain), on the server's core:
    grouped as the service writes them, against a transaction each."""
    grouped, alone = on_server_cores(lambda: audit_chain.measure(seconds))
    return Row("audit_chain", 1, round(grouped, 1), "entries/s", None, None, round(alone, 1), round(grouped / alone, 3),
               f"{audit_chain.WRITERS} writers in one process, no HTTP: entries grouped into shared transactions "
               "(as served), vs a transaction each (the baseline); the chain verified after each")


def chains_row(seconds: float) -> Row:
    """Audit entries 2 worker processes chain per second (bench.audit_chain.measure_chains), their entries
    spread over the chains as citizens' are, against all on one chain (the log before it had chains)."""
    spread, one = on_server_cores(lambda: audit_chain.measure_chains(seconds))
    return Row("audit_chains_2_workers", 2, round(spread, 1), "entries/s", None, None, round(one, 1),
               round(spread / one, 3), f"2 processes x {audit_chain.WRITERS} writers, no HTTP, each writer its own "
               "citizen (entries spread over the chains), vs every entry on one chain (the baseline); verified after each")


def batch_entry_row(seconds: float) -> Row:
    """What one audit entry of a partner's batch costs the worker (bench.audit_chain.batch_entry_cpu), on
    the server's core, in entries per CPU-second against raw ES256 verify right after: 1/ratio is the
    entry's cost in signature checks, owed by every code a partner verifies."""
    cpu = on_server_cores(lambda: asyncio.run(audit_chain.batch_entry_cpu(seconds)))
    raw = raw_verify_on_server()
    return Row("audit_entry_in_batch", 1, round(1 / cpu, 1), "entries/CPU-s", None, None, round(raw, 1),
               round(1 / cpu / raw, 3), f"one audit entry of a batch of 100 (built, hashed into the chain, inserted): "
               f"{cpu * 1e6:.1f} µs of the worker's CPU, vs raw ES256 verify on the same core")


def partner_load(port: int, partner_call: PartnerCall, seconds: float) -> LoadResult:
    """Codes verified per second (valid ones only) over 4 connections."""
    valid = lambda reply: sum(1 for r in reply["results"] if r["valid"])  # noqa: E731
    return asyncio.run(load_post(port, "/api/partner/v1/verifications", [(partner_call, None)] * 4, seconds,
                                 weight=valid))


def measure_service(port: int, base_port: int, data_dir: str, env: dict[str, str], workers: int,
                    seconds: float) -> dict[str, Row]:
    token = sign_in(port)
    verify_identity(port, token)
    call_json(port, "POST", "/api/v1/me/identity/face", token,
          {"liveness_sample": base64.b64encode(os.urandom(4096)).decode()})
    call_json(port, "PUT", "/api/v1/home/cards", token, {"types": CARDS})
    auth = {"Authorization": f"Bearer {token}"}
    cli_env = {**os.environ, **env}
    rows: dict[str, Row] = {}
    bare, json_fetch, by_round = headline(port, base_port, auth, seconds)
    base = bare.rate
    rows["bare_sanic"] = Row("bare_sanic", workers, round(base, 1), "req/s", round(bare.p50_ms, 2), round(bare.p99_ms, 2),
                             round(base, 1), 1.0, f"GET /ping, {CONNECTIONS} connections (the median round)")

    def add(name: str, result: LoadResult, unit: str, baseline: float, note: str = "") -> None:
        rows[name] = Row(name, workers, round(result.rate, 1), unit, round(result.p50_ms, 2), round(result.p99_ms, 2),
                         round(baseline, 1), round(result.rate / baseline, 3), note)

    add("health_code_json", json_fetch, "req/s", base,
        f"GET /api/v1/health-code, {CONNECTIONS} connections (median of {ROUNDS} rounds beside the bare handler; "
        f"{by_round})")
    add("health_code_png", get_load(port, "/api/v1/health-code?format=png", auth, seconds, 16),
        "req/s", base, "GET ?format=png, 16 connections (image cached per issued code)")
    beside, beside_rounds = beside_png(port, auth, seconds)
    add("health_code_json_beside_png", beside, "req/s", base,
        f"JSON at {CONNECTIONS} connections, 8 PNG beside (median of {ROUNDS} rounds; p99 by round: {beside_rounds} ms)")

    partner = PartnerBench.register(port, cli_env, data_dir)
    known, raw_verify, by_round = partner_rounds(partner.known_call, port, seconds)
    add("partner_batch", known, "codes/s", raw_verify,
        f"100 codes we issued a request (5 citizens', recognised by digest in the cache), 4 connections, vs raw "
        f"ES256 verify on the server's core measured right before and after each round (median of {ROUNDS} rounds; by round: {by_round})")
    if workers == 1:  # a per-core figure, as the raw verify rate is
        cold, raw_verify, by_round = partner_rounds(partner.cold_call, port, seconds)
        add("partner_batch_signature", cold, "codes/s", raw_verify,
            f"100 new codes a request, in no cache: base45, zlib, CBOR and the ES256 signature checked for each, "
            f"vs raw ES256 verify as above (median of {ROUNDS} rounds; by round: {by_round})")
        rows["codec_check_in_process"] = codec_ceiling(partner.issued[0])
        rows["cose_check_vs_pycose"] = cose_peer_row(partner.issued[0], data_dir)
        if env.get("APP_DATABASE_URL"):  # the chain's figure is PostgreSQL's (SQLite has one writer anyway)
            rows["audit_chain"] = chain_row(seconds)
            rows["audit_chains_2_workers"] = chains_row(seconds)
            rows["audit_entry_in_batch"] = batch_entry_row(seconds)

    add("single_verification", single_verifications(port, add_scanner(cli_env, data_dir), partner, seconds),
        "req/s", base, "a venue scanner checks one code a request, 16 connections: an audit entry each, "
        "chained with the worker's other waiting entries in one transaction (group commit)")
    add("voucher_redemption", voucher_redemptions(port, token, voucher_bench.register_hotel(cli_env, data_dir),
                                                  seconds)(),
        "req/s", base, "each a new one-time token, 8 connections")

    add("home_6_cards", get_load(port, "/api/v1/home", auth, seconds, CONNECTIONS),
        "req/s", base, "6 cards, 5 department stand-ins at 20 ms each, asked every request")

    add("token_refresh", token_refreshes(port, seconds)(),
        "req/s", base, f"{SESSIONS} refresh-token chains, each token used once")
    if workers == 1:  # the home screen with its cards warm, three through the exchange, on a service of its own
        for name, result, unit, note in home_bench.measure(data_dir, env, seconds, bare.p99_ms):
            add(name, result, unit, base, note)
    if workers == 1:  # paying and settling, on a service of their own beside a stand-in WeChat Pay gateway
        for name, result, unit, note in payment_bench.measure(data_dir, env, seconds):
            add(name, result, unit, base, note)
    return rows


def beside_one_worker(port: int, base_port: int, data_dir: str, env: dict[str, str], seconds: float) -> dict[str, float]:
    """A one-worker service and bare handler beside the two-worker ones (same database, keys and
    citizen), for `scaling`."""
    one, bare_one = free_port(), free_port()
    with running(["-m", "bench.bare_sanic", str(bare_one), "1"], {}, bare_one), \
            running([*SERVICE, "--port", str(one)], env, one):
        token = sign_in(one)
        return scaling(one, port, bare_one, base_port, {"Authorization": f"Bearer {token}"}, seconds)


def without_near_cache(data_dir: str, env: dict[str, str], seconds: float, rows: dict[str, Row], apart: bool) -> Row:
    """The JSON fetch with every read from Redis (APP_CACHE_NEAR_TTL=0): what a fetch costs when the
    worker's mirror does not have the citizen, as for most citizens on a large fleet."""
    port = free_port()
    with running([*SERVICE, "--port", str(port)], {**env, "APP_CACHE_NEAR_TTL": "0"}, port) as server:
        if apart:
            pin(server, {1})
        token = sign_in(port, phone="13800138111")
        first17 = "44010619850611123"
        verify_identity(port, token, id_number=first17 + id_check_char(first17))
        result = get_load(port, "/api/v1/health-code", {"Authorization": f"Bearer {token}"}, seconds, CONNECTIONS)
    base = rows["bare_sanic"].rate
    return Row("health_code_json_redis_only", 1, round(result.rate, 1), "req/s", round(result.p50_ms, 2),
               round(result.p99_ms, 2), base, round(result.rate / base, 3),
               "as health_code_json with the near cache off: 2 Redis round trips a fetch")


def checked_figures(by_workers: dict[int, dict[str, Row]], scaled: dict[str, float], ours_png: float,
                    default_png: float) -> list[tuple[str, str, float]]:
    """The figures held to TARGETS (or shown for information): (key, what, value)."""
    one = by_workers[1]
    checks = [
        ("health_code_json", "JSON fetch / bare handler, 1 worker", one["health_code_json"].ratio),
        ("json_p99_ms", f"JSON p99 at {CONNECTIONS} connections, 1 worker, median of {ROUNDS} rounds (ms)",
         one["health_code_json"].p99_ms),
        ("json_p99_beside_png_ms", f"JSON p99 with PNG beside, 1 worker, median of {ROUNDS} rounds (ms)", one["health_code_json_beside_png"].p99_ms),
        ("png_render_speedup", "PNG rendering / default qrcode + pillow", round(ours_png / default_png, 2)),
        ("png_renders_per_s", "PNG renders/s on one core, ours (default qrcode + pillow: "
         f"{default_png:,.0f})", round(ours_png)),
        ("partner_batch", "partner batch codes/s / raw ES256 verify, 1 worker, codes in the cache",
         one["partner_batch"].ratio),
        ("partner_batch_signature", "partner batch codes/s / raw ES256 verify, 1 worker, every signature checked",
         one["partner_batch_signature"].ratio),
        ("codec_ceiling", "the codec's own check of a code in-process / raw ES256 verify (the ceiling of the row above)",
         one["codec_check_in_process"].ratio),
        ("cose_vs_pycose", "a code checked by our codec / by pycose, codes/s in-process (pycose: "
         f"{one['cose_check_vs_pycose'].baseline:,.0f})", one["cose_check_vs_pycose"].ratio),
        *((key, f"{key.replace('_', ' ')} req/s / bare handler, 1 worker", one[key].ratio)
          for key in ("single_verification", "token_refresh", "voucher_redemption")),
    ]
    if 2 in by_workers:
        checks.append(("two_worker_scaling", f"JSON fetch, 2 workers / 1 worker (median of {ROUNDS} rounds in turn)",
                       scaled["two_worker_scaling"]))
        checks.append(("bare_scaling", "bare handler, 2 workers / 1 worker (the same rounds)", scaled["bare_scaling"]))
        checks.append(("scaling_vs_bare", "JSON scaling / bare handler's scaling",
                       round(scaled["two_worker_scaling"] / scaled["bare_scaling"], 2)))
    return checks


def main(seconds: float = 5.0) -> int:
    run = Run(datetime.now(timezone.utc).isoformat(timespec="seconds"), "", seconds, os.cpu_count() or 1,
              load_generator="h2load (GETs) + asyncio (POSTs)" if _load.H2LOAD else "asyncio")
    ours_png = per_second(lambda p: render_png(p, "green", "绿码 · 未发现风险"), "GDHC1:" + "6BF" * 70)
    default_png = per_second(default_pipeline, "GDHC1:" + "6BF" * 70)
    by_workers: dict[int, dict[str, Row]] = {}
    scaled: dict[str, float] = {}
    for workers in (1, 2):
        with backend() as backing:  # each worker count on an empty database and namespace of its own
            if workers > 1 and not backing.get("APP_REDIS_URL"):
                break
            run.backend = "PostgreSQL + Redis" if backing.get("APP_REDIS_URL") else "SQLite + in-memory cache"
            base_port, port = free_port(), free_port()
            apart = workers == 1 and len(os.sched_getaffinity(0)) >= 2  # servers on core 1, load on core 0
            with tempfile.TemporaryDirectory() as data_dir, \
                    running(["-m", "bench.bare_sanic", str(base_port), str(workers)], {}, base_port) as bare_server:
                env = service_env(data_dir, backing)
                RESULTS.mkdir(exist_ok=True)
                log = RESULTS / f"server-{workers}w.log"  # kept out of git: what to read when a figure fails
                log.unlink(missing_ok=True)
                with running([*SERVICE, "--port", str(port), "--workers", str(workers)], env, port, log=log) as server:
                    everywhere = os.sched_getaffinity(0)
                    if apart:
                        pin(bare_server, {1})
                        pin(server, {1})
                        os.sched_setaffinity(0, {0})
                        _load.LOAD_CPUS = {0}
                    try:
                        with backing_services_on({0}) if apart else nullcontext():
                            rows = measure_service(port, base_port, data_dir, env, workers, seconds)
                            if workers == 1 and backing.get("APP_REDIS_URL"):
                                rows["health_code_json_redis_only"] = without_near_cache(data_dir, env, seconds, rows,
                                                                                         apart)
                        if workers == 2:
                            scaled = beside_one_worker(port, base_port, data_dir, env, seconds)
                    finally:
                        os.sched_setaffinity(0, everywhere)
                        _load.LOAD_CPUS = None
        by_workers[workers] = rows
        run.rows += rows.values()
    one = by_workers[1]
    checks = checked_figures(by_workers, scaled, ours_png, default_png)
    for key, label, value in checks:
        kind, target = TARGETS.get(key, ("info", None))
        met = None if target is None else (value <= target if kind == "max" else value >= target)
        run.checks.append({"key": key, "what": label, "value": value, "target": target, "met": met})
    for check in run.checks:
        if check["met"] is False and check["key"] in PROFILE_OF:
            run.profiles[check["key"]] = "\n".join([*explain_miss(check["key"], one),
                                                     profile(PROFILE_OF[check["key"]], seconds)])
    write(run)
    print((RESULTS / "latest.md").read_text())
    return 0


def write(run: Run) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(asdict(run), ensure_ascii=False, indent=2) + "\n")
    lines = [f"# Benchmarks {run.started_at} · {run.backend} · {run.cores} cores · {run.seconds:g} s a figure · "
             f"load: {run.load_generator}", "",
             "| path | workers | rate | p50 ms | p99 ms | baseline | ratio | what |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in run.rows:
        lines.append(f"| {r.name} | {r.workers} | {r.rate:,.0f} {r.unit} | {_cell(r.p50_ms)} | {_cell(r.p99_ms)} | "
                     f"{r.baseline:,.0f} | {r.ratio:.3f} | {r.note} |")
    lines += ["", "| target | value | wanted | met |", "| --- | --- | --- | --- |"]
    for c in run.checks:
        wanted = "" if c["target"] is None else (f"≤ {c['target']}" if TARGETS[c["key"]][0] == "max" else f"≥ {c['target']}")
        met = {True: "yes", False: "**no**", None: "–"}[c["met"]]
        lines.append(f"| {c['what']} | {c['value']} | {wanted} | {met} |")
    for key, text in run.profiles.items():
        lines += ["", f"## Missed: {key}, profiled with `python -m bench.profile {PROFILE_OF[key]}`", "", "```",
                  text, "```"]
    (RESULTS / "latest.md").write_text("\n".join(lines) + "\n")


def _cell(value: float | None) -> str:
    return "–" if value is None else str(value)


def explain_miss(key: str, rows: dict[str, Row]) -> list[str]:
    """What the same run measured that bounds a missed figure, said before its profile."""
    if key != "partner_batch_signature" or "codec_check_in_process" not in rows:
        return []
    served, ceiling = rows[key], rows["codec_check_in_process"]
    lines = [f"Served: {served.rate:,.0f} codes/s, {served.ratio:.2f} of raw ES256 verify: a code costs "
             f"{1 / served.ratio:.2f} signature checks of the worker's core. The codec alone, in-process with nothing "
             f"around it, checks {ceiling.rate:,.0f} codes/s, {ceiling.ratio:.2f} of raw verify on the same core: "
             f"base45, zlib and CBOR cost {1 / ceiling.ratio - 1:.0%} of a signature check "
             "before any request is read."]
    entry = rows.get("audit_entry_in_batch")
    if entry is not None:
        floor = 1 / ceiling.ratio + 1 / entry.ratio
        left = (f"The target, 0.50, allows 2.00 in all, so {2 - floor:.2f} of a signature check a code for that work."
                if floor < 2 else "The target, 0.50, allows 2.00 in all, which these two alone exceed.")
        lines.append(f"The audit entry every verified code owes costs {1 / entry.ratio:.2f} of a signature check more "
                     f"(measured in-process above). Those two alone make {floor:.2f} signature checks a code, so "
                     f"no batch can reach more than {1 / floor:.2f} of raw verify before its HTTP, JSON, partner JWT, "
                     f"rate limit and digest and holder reads are counted. {left} That work measured "
                     f"{1 / served.ratio - floor:.2f} here.")
    return [*lines, "The rest between the figures is that per-request work. Where it all goes:", ""]


def profile(which: str, seconds: float) -> str:
    """The top of a pyinstrument profile of `which` (bench.profile): the request's frames, and where its
    time went in shares of the time spent serving requests."""
    try:
        done = subprocess.run([sys.executable, "-m", "bench.profile", which, str(max(seconds, 5.0))], cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:  # the figures are kept all the same
        return "(the profile did not finish in 600 s)"
    path = RESULTS / f"profile-{which}.txt"
    if done.returncode != 0 or not path.exists():
        return f"(the profile failed: {done.stderr.strip()[-500:]})"
    return "\n".join([*done.stdout.strip().splitlines()[:1], *request_frames(path.read_text().splitlines())])


FRAME = re.compile(r"^(?P<indent>[\s│├└─]*)(?P<seconds>\d+\.\d+) (?P<name>\S+)")
SHARES = {"ES256 verify (the library)": ("ECPublicKey.verify",), "base45 decode (ours)": ("b45decode",),
          "audit entries": ("record_all", "record_access", "add_pending", "_write_waiting"), "client JWT check": ("guard",),
          "Redis and SQL reads": ("get_many", "holders_of"), "JSON reply": ("reply",)}


def request_frames(tree: list[str]) -> list[str]:
    """The frames under Sanic's request handling (`Http.http1`) and under the worker's audit writer
    (`_write_waiting`, a task of its own since group commit: the requests' audit entries), at most
    PROFILE_LINES, then the shares."""
    frames: list[str] = []
    total = 0.0
    for name in ("Http.http1", "_write_waiting"):
        start = next((i for i, line in enumerate(tree) if name in line), None)
        if start is not None:
            frames += subtree(tree, start)
            total += float(FRAME.match(tree[start])["seconds"])
    if not frames:
        return tree[:PROFILE_LINES]
    spent = {label: 0.0 for label in SHARES}
    counted_at: dict[str, int] = {}  # label -> depth of the frame counted (its callees are in it already)
    for line in frames:
        frame = FRAME.match(line)
        if not frame:
            continue
        here = len(frame["indent"])
        counted_at = {label: at for label, at in counted_at.items() if here > at}
        for label, names in SHARES.items():
            if label not in counted_at and any(frame["name"].endswith(n) for n in names):
                spent[label] += float(frame["seconds"])
                counted_at[label] = here
    shares = ", ".join(f"{label} {seconds / total:.0%}" for label, seconds in spent.items() if seconds)
    return [*frames[:PROFILE_LINES], "", f"Of the {total:.1f} s serving requests and writing their audit entries: "
            f"{shares}. Python code runs slower under the profiler than C code does, so its shares are larger "
            "than without it."]


def subtree(tree: list[str], start: int) -> list[str]:
    """The frame at `start` and every frame below it."""
    depth = len(FRAME.match(tree[start])["indent"])
    lines = [tree[start]]
    for line in tree[start + 1:]:
        frame = FRAME.match(line)
        if frame and len(frame["indent"]) <= depth:
            break
        lines.append(line)
    return lines


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0))
