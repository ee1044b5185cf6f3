"""Soak: a bounded mixed workload (login, code fetch, partner verification, booking, applying) on
loopback for a fixed time, sampling the server's memory and open connections as it goes.

The service runs as `python -m app` on PostgreSQL + Redis (or the embedded default when those are
not reachable). Every `SAMPLE_EVERY` seconds the resident memory of the server process and its
children, its open file descriptors, PostgreSQL backends of its database and Redis clients are
recorded. At the end the first and last thirds of the samples after a warm-up (a tenth of the run,
at least 30 s, while connection pools fill) are compared: a growth trend in any
of them, or any reply other than the expected ones (2xx, and 429 from the limits), or a request with
no reply at all, fails the run; the report counts the replies of each action (route) apart.
Results go to `bench/results/soak.json` and `bench/results/soak.md`.
Run: `.venv/bin/python -m bench.soak [seconds]` (600 by default).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import random
import re
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.accounts.rules import id_check_char
from bench import partner_verification as partner_bench
from bench._load import SERVICE, add_client, free_port, running
from bench.suite import RESULTS, backend, service_env

SAMPLE_EVERY = 10.0
CITIZENS = 12
ITEM = "gd-hrss-001"  # 社会保障卡申领 (sample catalogue)
GROWTH_LIMIT = 1.25  # last third over first third, per sampled figure
NO_REPLY = 0  # the status counted for a request that got no HTTP reply (refused, reset, timed out)
ID_SEGMENT = re.compile(r"/[a-z]{1,8}_[A-Za-z0-9_-]{6,}(?=/|$)")


def route_of(path: str) -> str:
    """The path as a route: no query, ids as {id} (one line per action in the report)."""
    return ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


def _sample_scan() -> bytes:
    """A small grey PNG: the scanned page every soak application names (sample)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (64, 80), 240).save(out, "PNG")
    return out.getvalue()


SAMPLE_SCAN = _sample_scan()


class Client:
    """One citizen's phone, talking HTTP/1.1 keep-alive through urllib (blocking calls in threads)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.token = ""
        self.by_route: Counter[tuple[str, int]] = Counter()  # ("POST /api/v1/appointments", 201)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token or self.token:
            all_headers["Authorization"] = f"Bearer {token or self.token}"
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=all_headers,
                                         data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                raw, status = reply.read(), reply.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        except (urllib.error.URLError, OSError, http.client.HTTPException):  # no reply: counted, never expected
            raw, status = b"", NO_REPLY
        self.by_route[(f"{method} {route_of(path)}", status)] += 1
        try:
            return status, json.loads(raw) if raw and raw[:1] in b"{[" else raw
        except ValueError:
            return status, raw

    def upload(self) -> str:
        """A scanned page uploaded as the request body (材料上传); its id, or "" when refused (counted)."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1/uploads", method="POST",
                                         data=SAMPLE_SCAN, headers={"Content-Type": "image/png",
                                                                    "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, body = reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            status, body = error.code, {}
        except (urllib.error.URLError, OSError, http.client.HTTPException):
            status, body = NO_REPLY, {}
        self.by_route[("POST /api/v1/uploads", status)] += 1
        return str(body.get("id", ""))

    def login(self, phone: str) -> bool:
        if self.call("POST", "/api/v1/auth/otp", {"phone": phone})[0] != 202:
            return False
        status, outbox = self.call("GET", f"/dev/sms-outbox?phone={phone}")
        if status != 200 or not isinstance(outbox, dict) or not outbox.get("items"):
            return False  # the reply is counted already
        code = outbox["items"][0]["text"].split("验证码为 ", 1)[1][:6]
        status, login = self.call("POST", "/api/v1/auth/login", {"phone": phone, "code": code, "device_name": "soak"})
        if status == 200:
            self.token = login["access_token"]
        return status == 200


def process_figures(pid: int) -> tuple[int, int]:
    """Resident memory (kB) and open descriptors of `pid` and its descendants."""
    def children(p: int) -> list[int]:
        try:
            return [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            return []

    todo, rss, fds = [pid], 0, 0
    while todo:
        p = todo.pop()
        todo += children(p)
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except (OSError, StopIteration):
            continue
    return rss, fds


async def backing_connections(env: dict[str, str]) -> tuple[int | None, int | None]:
    pg = redis_clients = None
    if env.get("APP_DATABASE_URL"):
        import asyncpg

        url = env["APP_DATABASE_URL"].replace("postgres://", "postgresql://", 1)
        conn = await asyncpg.connect(url)
        try:
            pg = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()") - 1
        finally:
            await conn.close()
    if env.get("APP_REDIS_URL"):
        from app.cache import redis_client

        r = redis_client(env["APP_REDIS_URL"])  # on a cluster, INFO answers from one node
        try:
            redis_clients = int((await r.info("clients"))["connected_clients"]) - 1
        finally:
            await r.aclose()
    return pg, redis_clients


def set_up(port: int, env: dict[str, str], data_dir: str) -> tuple[list[Client], Any, str]:
    clients = []
    for i in range(CITIZENS):
        client = Client(port)
        assert client.login(f"1360013{7000 + i:04d}"), "set-up login failed"
        first17 = f"44010619850101{200 + i:03d}"
        assert client.call("POST", "/api/v1/me/identity", {"name": "王五", "id_number": first17 + id_check_char(first17)})[0] == 200
        client.call("POST", "/api/v1/me/identity/face", {"liveness_sample": base64.b64encode(os.urandom(4096)).decode()})
        clients.append(client)
    partner_key = partner_bench.register_partner(port, {**os.environ, **env}, data_dir)
    office = add_client({**os.environ, **env}, data_dir, "天河区政务服务中心（示例）", "admin", "office")
    return clients, partner_key, office


def one_action(client: Client, partner_key: Any, office: tuple[str, Any], n: int) -> None:
    """One step of a citizen's day, weighted as the real mix is: mostly showing the code."""
    roll = random.random()
    if roll < 0.60:
        client.call("GET", "/api/v1/health-code")
    elif roll < 0.75:
        _, code = client.call("GET", "/api/v1/health-code")
        if isinstance(code, dict) and "payload" in code:
            client.call("POST", "/api/partner/v1/verifications", {"codes": [code["payload"]] * 5},
                        token=partner_bench._token(partner_key, "MO", "mo-api-1", "partner"))
    elif roll < 0.85:
        client.call("GET", "/api/v1/home")
    elif roll < 0.93:
        book_and_cancel(client, office, n)
    elif roll < 0.98:
        scans = [client.upload(), client.upload()]  # a 429 of the upload limit leaves this application out
        if all(scans):
            client.call("POST", "/api/v1/applications", headers={"Idempotency-Key": secrets.token_hex(12)}, body={
                "item_id": ITEM, "form": {"联系电话": "13900000000"},
                "materials": [{"name": "居民身份证", "upload_ref": scans[0]},
                              {"name": "近期免冠彩色证件照（电子版）", "upload_ref": scans[1]}]})
    else:  # someone new signs in on a phone of their own
        newcomer = Client(client.port)
        newcomer.login(f"135{random.randrange(10**8):08d}")
        client.by_route.update(newcomer.by_route)


def book_and_cancel(client: Client, office: tuple[str, Any], n: int) -> None:
    office_id, key = office
    starts = (datetime.now(timezone.utc) + timedelta(days=2 + n % 20)).replace(minute=0, second=0, microsecond=0)
    token = partner_bench._token(key, office_id, "1", "admin")
    status, slot = client.call("POST", "/api/admin/v1/appointment-slots", token=token, body={
        "item_id": ITEM, "office": "天河区政务服务中心（示例）", "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=30)).isoformat(), "capacity": 3})
    if status != 201:
        return
    status, booked = client.call("POST", "/api/v1/appointments", {"slot_id": slot["id"]})
    if status == 201:
        client.call("DELETE", f"/api/v1/appointments/{booked['id']}")


async def drive(clients: list[Client], partner_key: Any, office: tuple[str, Any], stop_at: float) -> None:
    async def citizen_day(client: Client) -> None:
        n = 0
        while time.monotonic() < stop_at:
            await asyncio.to_thread(one_action, client, partner_key, office, n)
            n += 1

    await asyncio.gather(*(citizen_day(c) for c in clients))


async def sample(server_pid: int, env: dict[str, str], stop_at: float, samples: list[dict[str, Any]]) -> None:
    started = time.monotonic()
    while time.monotonic() < stop_at:
        rss, fds = process_figures(server_pid)
        pg, redis_clients = await backing_connections(env)
        samples.append({"t": round(time.monotonic() - started, 1), "rss_kb": rss, "fds": fds, "pg_backends": pg,
                        "redis_clients": redis_clients})
        await asyncio.sleep(SAMPLE_EVERY)


def trend(samples: list[dict[str, Any]], key: str, warm_up: float) -> float | None:
    """Mean of the last third over the first third, after the warm-up (pools fill as load arrives)."""
    values = [s[key] for s in samples if s[key] is not None and s["t"] >= warm_up]
    if len(values) < 6:
        return None
    third = len(values) // 3
    first, last = sum(values[:third]) / third, sum(values[-third:]) / third
    return round(last / first, 3) if first else None


def main(seconds: float = 600.0) -> int:
    clients, samples, backend_name = soak(seconds)
    result = summary(clients, samples, seconds, backend_name)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    lines = report(result, samples)
    (RESULTS / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["passed"] else 1


def soak(seconds: float) -> tuple[list[Any], list[dict[str, Any]], str]:
    """Serve, drive the clients and sample the server for `seconds`; the clients' tallies and the samples."""
    port = free_port()
    RESULTS.mkdir(exist_ok=True)
    with backend() as backing, tempfile.TemporaryDirectory() as data_dir:
        env = service_env(data_dir, backing)
        with running([*SERVICE, "--port", str(port)], env, port, log=RESULTS / "soak-server.log") as server:
            clients, partner_key, office = set_up(port, env, data_dir)
            samples: list[dict[str, Any]] = []
            stop_at = time.monotonic() + seconds

            async def both() -> None:
                await asyncio.gather(drive(clients, partner_key, office, stop_at),
                                     sample(server.pid, env, stop_at, samples))

            asyncio.run(both())
    return clients, samples, "PostgreSQL + Redis" if backing.get("APP_REDIS_URL") else "SQLite"


def summary(clients: list[Any], samples: list[dict[str, Any]], seconds: float, backend_name: str) -> dict[str, Any]:
    """Replies by route and status, and the growth of each sampled figure; passed when nothing unexpected grew."""
    by_route = sum((c.by_route for c in clients), Counter())
    statuses: Counter[int] = Counter()
    for (_, status), n in by_route.items():
        statuses[status] += n
    # 429 is the limits' own answer (intended); anything else outside 2xx, or no reply, fails the run.
    unexpected = {s: n for s, n in statuses.items() if not (200 <= s < 300 or s == 429)}
    routes = sorted({route for route, _ in by_route})
    replies = {route: {str(status): n for (r, status), n in sorted(by_route.items()) if r == route} for route in routes}
    warm_up = max(30.0, seconds / 10)
    trends = {k: trend(samples, k, warm_up) for k in ("rss_kb", "fds", "pg_backends", "redis_clients")}
    grew = {k: v for k, v in trends.items() if v is not None and v > GROWTH_LIMIT}
    return {"seconds": seconds, "backend": backend_name,
            "requests": sum(statuses.values()), "statuses": dict(sorted(statuses.items())), "unexpected": unexpected,
            "rate_limited": statuses.get(429, 0), "by_route": replies,
            "trends_last_over_first_third": trends, "samples": samples, "passed": not unexpected and not grew}


def report(result: dict[str, Any], samples: list[dict[str, Any]]) -> list[str]:
    """The soak's result as the lines of bench/results/soak.md."""
    lines = [f"# Soak {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {result['backend']} · {result['seconds']:g} s · "
             f"{result['requests']} requests", "",
             f"Replies: {result['statuses']}; rate-limited (429, intended): {result['rate_limited']}; "
             f"unexpected: {result['unexpected'] or 'none'}", "",
             "| action | replies |", "| --- | --- |",
             *(f"| {route} | {', '.join(f'{n} × {status}' for status, n in counts.items())} |"
               for route, counts in result["by_route"].items()), "",
             "| figure | first sample | last sample | last third / first third |", "| --- | --- | --- | --- |"]
    for key, value in result["trends_last_over_first_third"].items():
        if samples and samples[0][key] is not None:
            lines.append(f"| {key} | {samples[0][key]} | {samples[-1][key]} | {value} |")
    lines += ["", f"Result: {'passed' if result['passed'] else 'FAILED'} (growth limit {GROWTH_LIMIT}×)"]
    return lines


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0))
