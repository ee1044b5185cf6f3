"""A small keep-alive HTTP/1.1 load generator on asyncio streams, and helpers to run servers.

Both the baseline and the service under test are driven by the same generator in the same
run, so the figure that matters is the ratio, not the absolute requests per second.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator

ROOT = Path(__file__).resolve().parent.parent
# The stand-ins a benchmark leaves out: it registers a partner region of its own where it measures one.
LEFT_OUT = ["--skip", "partner_region"]
# The service as `make run` starts it: the stand-in outside parties (the SMS outbox that signs citizens in,
# the identity authority) and the app beside them, `python -m app serve` with the arguments that follow.
SERVICE = ["-m", "standins", "--with-app", *LEFT_OUT]
# The PostgreSQL server benchmarks make their throw-away databases on (`pg_admin`).
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")


async def pg_admin(sql: str) -> None:
    """One statement on that server, from its default database: CREATE or DROP DATABASE."""
    import asyncpg

    conn = await asyncpg.connect(BENCH_DATABASE_URL.replace("postgres://", "postgresql://", 1), timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def database_url(name: str) -> str:
    """The URL of database `name` on the benchmarks' server."""
    return BENCH_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: list[str], env: dict[str, str], port: int, timeout: float = 90.0,
                 log: Path | None = None, root: Path = ROOT) -> subprocess.Popen:
    """A server process, ready when its port accepts; its output goes to `log` (or nowhere). It runs in
    `root`: this checkout, or another one (bench.ab serves an older revision from a git worktree)."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    # The stand-in identity authority takes the many citizens a benchmark makes (each a new ID number).
    process = subprocess.Popen([sys.executable, *args], cwd=root, env={**os.environ, "STANDIN_TENCENT_ENROL": "1", **env},
                               stdout=out, stderr=out)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return process
            except OSError:
                time.sleep(0.1)
    except BaseException:  # interrupted while it starts (Ctrl-C): no `with` block owns it yet to stop it
        process.kill()
        raise
    process.kill()
    raise RuntimeError(f"server on port {port} did not start")


@contextmanager
def running(args: list[str], env: dict[str, str], port: int, log: Path | None = None,
            root: Path = ROOT) -> Iterator[subprocess.Popen]:
    """A server process (run in `root`, as `start_server`) for the length of a `with` block."""
    process = start_server(args, env, port, log=log, root=root)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)  # the launcher gives the app up to 15 s, then its stand-ins up to 5 s


@contextmanager
def stand_ins(our_port: int, data_dir: str, env: dict[str, str], root: Path = ROOT) -> Iterator[dict[str, str]]:
    """The stand-in outside parties alone (`python -m standins`), for a server started some other way
    (under a profiler, or an older revision): the APP_* variables that point it at them."""
    process = subprocess.Popen([sys.executable, "-m", "standins", *LEFT_OUT, "--data-dir", data_dir,
                                "--our-url", f"http://127.0.0.1:{our_port}"], cwd=root, text=True,
                               env={**os.environ, "STANDIN_TENCENT_ENROL": "1", **env}, stdout=subprocess.PIPE)
    try:
        pointed: dict[str, str] = {}
        for line in process.stdout:  # type: ignore[union-attr]
            if line.strip().startswith("export "):
                name, _, value = line.strip()[len("export "):].partition("=")
                pointed[name] = shlex.split(value)[0] if value else ""
            if "Ctrl-C" in line:
                break
        else:
            raise RuntimeError("the stand-ins did not start")
        yield {**pointed, "APP_STANDINS": "off"}
    finally:
        process.terminate()
        process.wait(30)


def bare_sanic(port: int) -> ContextManager[subprocess.Popen]:
    """The baseline: a bare Sanic handler, one process, no middleware."""
    return running(["-m", "bench.bare_sanic", str(port)], {}, port)


def our_service(port: int, data_dir: str, **env: str) -> ContextManager[subprocess.Popen]:
    """The service (`SERVICE`) on the embedded default (SQLite + in-memory cache), one worker."""
    return running([*SERVICE, "--port", str(port)],
                   {"APP_DATA_DIR": data_dir, "APP_DATABASE_URL": "", "APP_REDIS_URL": "", **env}, port)


async def _worker(port: int, request: bytes, stop_at: float, counts: list[int],
                  latencies: list[float] | None = None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    ok = 0
    try:
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"unexpected status {status}")
            if latencies is not None:
                latencies.append(time.perf_counter() - sent)
            ok += 1
    finally:
        writer.close()
        counts.append(ok)


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def measure(port: int, path: str, headers: dict[str, str], seconds: float, connections: int = 16) -> float:
    """Requests per second over `seconds`, after a short warm-up."""
    request = _request(path, headers)
    await asyncio.gather(*[_worker(port, request, time.perf_counter() + 0.5, []) for _ in range(connections)])
    counts: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*[_worker(port, request, started + seconds, counts) for _ in range(connections)])
    return sum(counts) / (time.perf_counter() - started)


async def p99_latency(port: int, path: str, headers: dict[str, str], seconds: float, connections: int = 4,
                      background: tuple[str, int] | None = None) -> float:
    """99th-percentile latency (ms) of `path`, optionally while `background` (path, connections) also runs."""
    request = _request(path, headers)
    stop_at = time.perf_counter() + seconds
    latencies: list[float] = []
    jobs = [_worker(port, request, stop_at, [], latencies) for _ in range(connections)]
    if background:
        other = _request(background[0], headers)
        jobs += [_worker(port, other, stop_at, []) for _ in range(background[1])]
    await asyncio.gather(*jobs)
    latencies.sort()
    return latencies[int(len(latencies) * 0.99) - 1] * 1000


async def _poster(port: int, path: str, next_call: Callable[[], tuple[str, dict]] , stop_at: float,
                  counts: list[int], weight: Callable[[dict], int], latencies: list[float] | None = None,
                  seen: Callable[[dict], None] | None = None) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < stop_at:
            try:
                token, body = next_call()
            except StopIteration:
                break
            sent = time.perf_counter()
            raw = json.dumps(body).encode()
            auth = f"Authorization: Bearer {token}\r\n" if token else ""
            writer.write((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n"
                          f"{auth}Content-Type: application/json\r\n"
                          f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            reply = json.loads(await reader.readexactly(length))
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected reply: {head[:40]!r} {str(reply)[:200]}")
            if latencies is not None:
                latencies.append(time.perf_counter() - sent)
            if seen is not None:
                seen(reply)
            done += weight(reply)
    finally:
        writer.close()
        counts.append(done)


async def post_rate(port: int, path: str, next_call: Callable[[], tuple[str, dict]], seconds: float,
                    connections: int = 4, weight: Callable[[dict], int] = lambda reply: 1) -> float:
    """POSTs per second (or `weight`ed units per second) where every request is new: `next_call`
    gives a fresh bearer token and body each time (one-time tokens, single-use jti)."""
    await asyncio.gather(*[_poster(port, path, next_call, time.perf_counter() + 0.5, [], weight)
                           for _ in range(connections)])
    counts: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*[_poster(port, path, next_call, started + seconds, counts, weight)
                           for _ in range(connections)])
    return sum(counts) / (time.perf_counter() - started)


@dataclass
class LoadResult:
    """What one load run measured: requests (or weighted units) per second and latency percentiles."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int

    @classmethod
    def of(cls, units: int, latencies: list[float], elapsed: float) -> "LoadResult":
        ordered = sorted(latencies) or [0.0]
        pick = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000  # noqa: E731
        return cls(units / elapsed, pick(0.50), pick(0.99), len(latencies))


async def load_get(port: int, path: str, headers: dict[str, str], seconds: float, connections: int = 64,
                   background: tuple[str, dict[str, str], int] | None = None) -> LoadResult:
    """GET `path` on `connections` keep-alive connections for `seconds` after a warm-up, optionally
    while `background` (path, headers, connections) runs beside it; latencies of `path` only."""
    request = _request(path, headers)
    await asyncio.gather(*[_worker(port, request, time.perf_counter() + 0.5, []) for _ in range(connections)])
    counts: list[int] = []
    latencies: list[float] = []
    started = time.perf_counter()
    jobs = [_worker(port, request, started + seconds, counts, latencies) for _ in range(connections)]
    if background:
        other = _request(background[0], background[1])
        jobs += [_worker(port, other, started + seconds, []) for _ in range(background[2])]
    await asyncio.gather(*jobs)
    return LoadResult.of(sum(counts), latencies, time.perf_counter() - started)


async def load_post(port: int, path: str, calls: list[tuple[Callable[[], tuple[str, dict]], Callable[[dict], None] | None]],
                    seconds: float, weight: Callable[[dict], int] = lambda reply: 1, warm_up: float = 0.5) -> LoadResult:
    """POSTs where every request is new, one connection per (next_call, seen) pair: `next_call` gives
    a fresh bearer token and body, `seen` reads the reply (a refresh token chain needs the last one)."""
    if warm_up:
        await asyncio.gather(*[_poster(port, path, call, time.perf_counter() + warm_up, [], weight, None, seen)
                               for call, seen in calls])
    counts: list[int] = []
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*[_poster(port, path, call, started + seconds, counts, weight, latencies, seen)
                           for call, seen in calls])
    return LoadResult.of(sum(counts), latencies, time.perf_counter() - started)


def call_json(port: int, method: str, path: str, token: str, body: dict | None = None) -> dict:
    """One JSON call with a bearer token (set-up steps of a benchmark, not the measured load)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read() or b"{}")


def _post(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read() or b"{}")


def sign_in(port: int, phone: str = "13800138000") -> str:
    """Log in through the dev SMS outbox; returns an access token."""
    _post(port, "/api/v1/auth/otp", {"phone": phone})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/dev/sms-outbox?phone={phone}") as reply:
        text = json.loads(reply.read())["items"][0]["text"]
    code = re.search(r"验证码为 (\d{6})", text).group(1)
    return _post(port, "/api/v1/auth/login", {"phone": phone, "code": code, "device_name": "bench"})["access_token"]



def verify_identity(port: int, token: str, id_number: str = "11010519491231002X") -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/me/identity",
        data=json.dumps({"name": "张三", "id_number": id_number}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, method="POST",
    )
    urllib.request.urlopen(request).read()


def add_client(env: dict[str, str], data_dir: str, name: str, audience: str, role: str) -> tuple[str, Any]:
    """A department, relying party or admin registered by `python -m app clients add`, with a new
    P-256 key: returns its client id (the JWT `iss`) and private key (kid "1")."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = Path(data_dir) / f"{role}-{os.urandom(3).hex()}.pem"
    pem.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    out = subprocess.run([sys.executable, "-m", "app", "clients", "add", "--name", name, "--audience", audience,
                          "--role", role, "--public-key", str(pem)], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return out.split("iss):", 1)[1].split()[0], key


# -- h2load (Debian's nghttp2-client): a C load generator; latency only from warm connections ------
#
# Not wrk: each wrk run opens its connections afresh and counts their first replies, and its
# latency figures add synthetic samples for every slow reply (coordinated-omission correction at
# the mean interval of a connection). A 200 ms start of 64 new connections, seen on the bare
# handler too, became a p99 of 100-200 ms in a 5 s run. h2load opens its connections, warms up
# for a second, then logs every request; p50 and p99 are computed from that log.

H2LOAD = shutil.which("h2load")
LOAD_CPUS: set[int] | None = None  # when set, the load runs on these cores only (the suite pins 1 worker apart)


def _h2load(port: int, path: str, headers: dict[str, str], seconds: float, connections: int,
            log: Path) -> subprocess.Popen:
    args = [H2LOAD, "--h1", "-t1", f"-c{connections}", f"-D{max(1, round(seconds))}", "--warm-up-time=1",
            f"--log-file={log}"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    if LOAD_CPUS:
        args = ["taskset", "-c", ",".join(map(str, sorted(LOAD_CPUS))), *args]
    log.unlink(missing_ok=True)  # h2load appends
    return subprocess.Popen([*args, f"http://127.0.0.1:{port}{path}"], stdout=subprocess.PIPE, text=True)


def _h2load_result(process: subprocess.Popen, log: Path) -> LoadResult:
    out = process.communicate()[0]
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    counts = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if codes is None or counts is None or int(codes[3]) or int(codes[4]) or int(counts[2]) or int(counts[3]):
        raise RuntimeError(f"h2load saw failed requests:\n{out}")
    rate = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)[1])
    latencies = sorted(int(line.split("\t")[2]) / 1000 for line in log.read_text().splitlines() if line)
    log.unlink(missing_ok=True)
    if not latencies:
        raise RuntimeError(f"h2load logged no requests:\n{out}")
    return LoadResult(rate, latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)], len(latencies))


def load_get_h2load(port: int, path: str, headers: dict[str, str], seconds: float, connections: int = 64,
                    background: tuple[str, dict[str, str], int] | None = None) -> LoadResult:
    """As `load_get`, driven by h2load (one thread, HTTP/1.1); `background` is a second h2load beside it."""
    with tempfile.TemporaryDirectory() as logs:
        beside = None
        if background:
            beside = _h2load(port, background[0], background[1], seconds, background[2], Path(logs, "beside"))
        result = _h2load_result(_h2load(port, path, headers, seconds, connections, Path(logs, "main")),
                                Path(logs, "main"))
        if beside is not None:
            _h2load_result(beside, Path(logs, "beside"))
    return result


def get_load(port: int, path: str, headers: dict[str, str], seconds: float, connections: int = 64,
             background: tuple[str, dict[str, str], int] | None = None) -> LoadResult:
    """GET load by h2load where it is installed, else by the asyncio generator above."""
    if H2LOAD:
        return load_get_h2load(port, path, headers, seconds, connections, background)
    return asyncio.run(load_get(port, path, headers, seconds, connections, background))
