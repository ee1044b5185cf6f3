"""Benchmark: paying (缴费) through WeChat Pay API v3, as ratios to a bare Sanic handler in the same run.

Two rows, one worker:

- `payment_create`: `POST /api/v1/payments`, each with a new Idempotency-Key and a payable no payment has
  touched yet (a traffic fine or utility bill of a real-named citizen, looked up at the department stand-in),
  so every request makes a payment and submits its order to the gateway (201 with the signed pay params).
- `payment_notice`: `POST /api/provider/v1/payment-notifications`, a genuine `TRANSACTION.SUCCESS` notice for
  each payment made (the first row's, and the rest of the payables paid after it, unmeasured): platform
  signature verified, resource decrypted, the payment settled (receipt, paid reference, wallet licence, inbox
  message), each answered `applied`.

The gateway is the stand-in WeChat Pay process (`standins/wechatpay`), started here beside the service with a
merchant key and a platform key made for the run; the service pins that platform key
(APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE/_ID), so the notices this benchmark signs with it are as genuine as the
gateway's own. With the load apart (the suite's one-worker rows), the service runs on the server's core and
the gateway beside the load, as a provider on machines of its own.

Each row's note says what bounds it: the app's CPU time a request (read from /proc over the measured seconds)
and how busy that kept its core, and the share of it its cryptography takes (RSA-2048 signatures, or the
verify and AES-GCM, timed in-process on the server's core).

Run alone: `.venv/bin/python -m bench.payments [seconds]` (PostgreSQL + Redis as `bench.suite`, or the
embedded default); in `make bench` they are rows of the one-worker service.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.accounts.rules import id_check_char
from app.clock import CHINA_TZ
from app.config import Settings
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.integrations.payment_providers.wechatpay import write_merchant_key
from bench import _load
from bench._load import SERVICE, LoadResult, call_json, free_port, get_load, running, sign_in, verify_identity
from standins.process import StandInProcess

NOTIFY_PATH = "/api/provider/v1/payment-notifications"
CONNECTIONS = 16  # each create waits on the department lookup and the gateway: enough to keep one worker busy
NOTICE_CONNECTIONS = 16
PAYABLES_PER_SECOND = 160  # payables made ready per second of the create row (a faster run says it ran out)
SIGN_IN_THREADS = 8

Rows = list[tuple[str, LoadResult, str, str]]  # (name, result, unit, what bounds it)


# -- the gateway ------------------------------------------------------------------------------------------------


@dataclass
class Gateway:
    """The stand-in WeChat Pay gateway of this run, the keys the benchmark holds, and the service's settings."""

    url: str
    process: StandInProcess
    platform_key: rsa.RSAPrivateKey
    platform_serial: str
    api_v3_key: bytes
    mchid: str
    appid: str  # the phone app's: orders of POST /api/v1/payments are APP orders
    env: dict[str, str]  # APP_* pointing the service at it, the platform key pinned


@contextmanager
def gateway(folder: Path, our_port: int) -> Iterator[Gateway]:
    """Start `python -m standins.wechatpay` with a merchant key and a platform key made here; stop it after."""
    defaults = Settings()
    merchant_key_file, merchant_public_file = write_merchant_key(folder)
    merchant_der = v3.load_private_key(merchant_key_file.read_bytes()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    merchant_serial = hashlib.sha1(merchant_der).hexdigest().upper()
    platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform_file, platform_public_file = folder / "platform_key.pem", folder / "platform_pub.pem"
    platform_file.write_bytes(platform_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    platform_file.chmod(0o600)
    platform_public_file.write_bytes(platform_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    command = [sys.executable, "-m", "standins.wechatpay", "--port", "0", "--mchid", defaults.payments.merchant_id,
               "--appid", defaults.miniprogram.appid, "--appid", defaults.payments.app_appid,
               "--api-v3-key", defaults.payments.api_v3_key, "--merchant-public-key", str(merchant_public_file),
               "--merchant-serial", merchant_serial, "--platform-key", str(platform_file)]
    process = StandInProcess("wechatpay", command, "/_standin/health", folder / "wechatpay.log")
    url = process.run()
    try:
        with urllib.request.urlopen(f"{url}/_standin/health") as reply:
            serial = json.loads(reply.read())["platform_serial"]
        env = {"APP_PAYMENT_PROVIDER_URL": url, "APP_PAYMENT_MERCHANT_KEY_FILE": str(merchant_key_file),
               "APP_PAYMENT_MERCHANT_SERIAL": merchant_serial,
               "APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE": str(platform_public_file),
               "APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID": serial,
               "APP_PAYMENT_NOTIFY_URL": f"http://127.0.0.1:{our_port}{NOTIFY_PATH}"}
        yield Gateway(url, process, platform_key, serial, defaults.payments.api_v3_key.encode(),
                      defaults.payments.merchant_id, defaults.payments.app_appid, env)
    finally:
        process.stop()


# -- what is paid -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payable:
    token: str  # the citizen's access token
    reference: str
    amount_fen: int
    description: str


def _citizen_payables(port: int, n: int) -> list[Payable]:
    """Citizen `n` of the run, signed in and real-named (实名): what the departments say they owe."""
    token = sign_in(port, phone=f"139{n:08d}")
    born = date(1960, 1, 1) + timedelta(days=n // 900)
    first17 = f"440106{born:%Y%m%d}{100 + n % 900:03d}"
    verify_identity(port, token, id_number=first17 + id_check_char(first17))
    owed = call_json(port, "GET", "/api/v1/payables", token)["items"]
    return [Payable(token, p["reference"], p["amount_fen"], p["description"])
            for p in owed if p["kind"] in ("traffic_fine", "utility_bill") and not p["paid"]]


def payables(port: int, count: int, first: int = 0) -> list[Payable]:
    """At least `count` unpaid payables, of citizens `first`, `first + 1`, … (about 2.8 each)."""
    found: list[Payable] = []
    n = first
    with ThreadPoolExecutor(SIGN_IN_THREADS) as pool:
        while len(found) < count:
            batch = max(SIGN_IN_THREADS, (count - len(found)) // 2)
            for owed in pool.map(lambda i: _citizen_payables(port, i), range(n, n + batch)):
                found += owed
            n += batch
    return found


# -- genuine notices --------------------------------------------------------------------------------------------


def transaction_notice(gate: Gateway, payment_id: str, amount_fen: int) -> tuple[dict[str, str], bytes]:
    """A `TRANSACTION.SUCCESS` notice as the gateway posts it: the transaction encrypted with the APIv3 key, the
    body signed with the platform key (a fresh nonce: each is a delivery of its own)."""
    now = time.time()
    paid_at = datetime.fromtimestamp(now, CHINA_TZ).isoformat(timespec="seconds")
    transaction = {
        "mchid": gate.mchid, "appid": gate.appid, "out_trade_no": payment_id,
        "transaction_id": f"4200{secrets.randbelow(10**6):06d}{paid_at[:10].replace('-', '')}"
                          f"{secrets.randbelow(10**10):010d}",
        "trade_type": "APP", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS",
        "attach": "", "success_time": paid_at, "payer": {"openid": "o" + secrets.token_urlsafe(21)[:27]},
        "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY", "payer_currency": "CNY"}}
    resource = v3.encrypt_resource(gate.api_v3_key, json.dumps(transaction, ensure_ascii=False).encode(),
                                   associated_data="transaction", original_type="transaction")
    notice = {"id": f"EV-{secrets.token_hex(12)}", "create_time": paid_at, "resource_type": "encrypt-resource",
              "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功", "resource": resource}
    body = json.dumps(notice, ensure_ascii=False, separators=(",", ":")).encode()
    headers = v3.signed_headers(body, serial=gate.platform_serial, private_key=gate.platform_key,
                                timestamp=int(now), nonce=v3.new_nonce())
    return {**headers, "Content-Type": "application/json"}, body


# -- the load ---------------------------------------------------------------------------------------------------

Call = tuple[dict[str, str], bytes]  # headers and the exact body bytes


async def _poster(port: int, path: str, calls: Iterator[Call], stop_at: float, expect: int, counts: list[int],
                  latencies: list[float] | None, seen: Callable[[dict], None] | None) -> None:
    """One keep-alive connection POSTing the next call until `stop_at` or the calls run out; a reply other than
    `expect` stops the run (the figure would count failures)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < stop_at:
            try:
                headers, body = next(calls)
            except StopIteration:
                break
            sent = time.perf_counter()
            lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            writer.write((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n{lines}"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            reply = json.loads(await reader.readexactly(length))
            if not head.startswith(f"HTTP/1.1 {expect}".encode()):
                raise RuntimeError(f"unexpected reply: {head[:40]!r} {str(reply)[:300]}")
            if latencies is not None:
                latencies.append(time.perf_counter() - sent)
            if seen is not None:
                seen(reply)
            done += 1
    finally:
        writer.close()
        counts.append(done)


async def load(port: int, path: str, calls: Iterator[Call], seconds: float, connections: int, expect: int,
               seen: Callable[[dict], None] | None = None, warm_up: float = 0.5,
               cpu: Callable[[], float] = lambda: 0.0) -> tuple[LoadResult, float]:
    """POSTs on `connections` connections for `seconds` after a warm-up, every one a new call (the run ends
    early, and its rate's denominator with it, when the calls run out); with the `cpu` seconds spent meanwhile."""
    if warm_up:
        await asyncio.gather(*[_poster(port, path, calls, time.perf_counter() + warm_up, expect, [], None, seen)
                               for _ in range(connections)])
    counts: list[int] = []
    latencies: list[float] = []
    spent, started = cpu(), time.perf_counter()
    await asyncio.gather(*[_poster(port, path, calls, started + seconds, expect, counts, latencies, seen)
                           for _ in range(connections)])
    elapsed, spent = time.perf_counter() - started, cpu() - spent
    return LoadResult.of(sum(counts), latencies, elapsed), spent


def creations(owed: list[Payable]) -> Iterator[Call]:
    """Each payable paid once, with a new Idempotency-Key."""
    for payable in owed:
        body = {"reference": payable.reference, "amount_fen": payable.amount_fen, "currency": "CNY",
                "description": payable.description}
        yield ({"Authorization": f"Bearer {payable.token}", "Idempotency-Key": secrets.token_hex(16),
                "Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False).encode())


# -- what bounds the rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CryptoCosts:
    """Seconds of one core for each cryptographic step, timed in this process on the server's core."""

    rsa_sign: float  # RSA-2048 PKCS#1 v1.5 SHA-256, as the merchant key signs
    rsa_verify: float  # the platform's signature on a reply or notice
    aes_gcm_open: float  # a notice's resource


def crypto_costs(gate: Gateway, seconds: float = 0.5) -> CryptoCosts:
    def per_call(step: Callable[[], Any]) -> float:
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(20):
                step()
            count += 20
        return (time.perf_counter() - started) / count

    key, message = gate.platform_key, b"1700000000\nNONCE\n" + b"x" * 600 + b"\n"
    signature = v3.rsa_sign(message, key)
    headers, body = transaction_notice(gate, "PAY" + "0" * 24, 100)
    resource = json.loads(body)["resource"]
    costs = (per_call(lambda: v3.rsa_sign(message, key)),
             per_call(lambda: v3.rsa_verify(message, signature, key.public_key())),
             per_call(lambda: v3.decrypt_resource(gate.api_v3_key, resource)))
    return CryptoCosts(*costs)


def on_server_cores(measure: Callable[[], Any]) -> Any:
    """`measure()` run in this process on the server's cores when the load runs apart (on the others)."""
    if not _load.LOAD_CPUS:
        return measure()
    load_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - _load.LOAD_CPUS)
    try:
        return measure()
    finally:
        os.sched_setaffinity(0, load_cpus)


def app_cpu(launcher: subprocess.Popen) -> Callable[[], float]:
    """The CPU seconds (user + system) the app has used so far: `python -m app serve` below the launcher and its
    workers, not the stand-ins beside it."""
    def children(pids: list[int]) -> list[int]:
        found = subprocess.run(["pgrep", "-P", ",".join(map(str, pids))], capture_output=True, text=True).stdout
        return [int(pid) for pid in found.split()]

    apps = [pid for pid in children([launcher.pid]) if b"app\0serve" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    if not apps:
        raise RuntimeError("the launcher started no app")
    tree, frontier = list(apps), list(apps)
    while frontier:
        frontier = children(frontier)
        tree += frontier
    tick = os.sysconf("SC_CLK_TCK")

    def spent() -> float:
        total = 0
        for pid in tree:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    return spent


# -- the rows ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    result: LoadResult
    cpu: float  # CPU seconds the app spent in the measured window

    @property
    def cpu_each(self) -> float:
        return self.cpu / max(1, self.result.requests)

    @property
    def busy(self) -> float:
        """The share of one core the app kept busy."""
        return self.cpu_each * self.result.rate

    def busy_text(self) -> str:
        waited = "" if self.busy >= 0.9 else ": the rest of the time it waited, on the database and what runs beside it"
        return f"its core {self.busy:.0%} busy{waited}"


def measure(data_dir: str, env: dict[str, str], seconds: float) -> Rows:
    """Both rows on a one-worker service of their own (this run's database and cache, `env`), beside a gateway
    of their own. When the suite runs the load apart (`_load.LOAD_CPUS`), the service goes on the server's
    cores and the gateway on the load's."""
    from bench.suite import pin  # bench.suite registers these rows: imported when they run

    port = free_port()
    with tempfile.TemporaryDirectory() as folder, gateway(Path(folder), port) as gate:
        with running([*SERVICE, "--port", str(port)], {**env, **gate.env}, port,
                     log=Path(folder) / "service.log") as server:
            if _load.LOAD_CPUS:
                pin(server, set(range(os.cpu_count() or 1)) - _load.LOAD_CPUS)
                assert gate.process.process is not None
                pin(gate.process.process, _load.LOAD_CPUS)
            cpu = app_cpu(server)
            costs = on_server_cores(lambda: crypto_costs(gate))
            started = time.perf_counter()
            owed = payables(port, int((seconds + 0.5) * PAYABLES_PER_SECOND))
            print(f"payments: {len(owed)} payables ready in {time.perf_counter() - started:.0f} s", flush=True)
            made: list[tuple[str, int]] = []
            calls = iter(creations(owed))
            created = Measured(*asyncio.run(load(port, "/api/v1/payments", calls, seconds, CONNECTIONS, 201, cpu=cpu,
                                                 seen=lambda reply: made.append((reply["id"], reply["amount_fen"])))))
            measured_made = len(made)
            # the payables left over become payments too (not measured), so there is more to settle than was made
            asyncio.run(load(port, "/api/v1/payments", calls, 3600, CONNECTIONS, 201, warm_up=0,
                             seen=lambda reply: made.append((reply["id"], reply["amount_fen"]))))
            notices = iter([transaction_notice(gate, payment_id, amount) for payment_id, amount in made])
            outcomes: list[str] = []
            settled = Measured(*asyncio.run(load(port, NOTIFY_PATH, notices, seconds, NOTICE_CONNECTIONS, 200, cpu=cpu,
                                                 seen=lambda reply: outcomes.append(reply["outcome"]))))
    if set(outcomes) != {"applied"}:
        raise RuntimeError(f"a notice was not applied: {sorted(set(outcomes))}")
    return [("payment_create", created.result, "req/s", create_note(created, costs, len(owed), measured_made, seconds)),
            ("payment_notice", settled.result, "req/s", notice_note(settled, costs, seconds))]


def _ran_out(result: LoadResult, seconds: float, what: str) -> str:
    ran = result.requests / result.rate if result.rate else 0.0
    return (f" The {what} ran out after {ran:.1f} s of the {seconds:g} s." if ran < seconds * 0.95 else "")


def create_note(measured: Measured, costs: CryptoCosts, owed: int, made: int, seconds: float) -> str:
    crypto = 3 * costs.rsa_sign + costs.rsa_verify
    return (f"POST /api/v1/payments, a new Idempotency-Key and unpaid payable each ({made} payments made of {owed} "
            f"payables ready), {CONNECTIONS} connections, the stand-in gateway beside. The worker spent "
            f"{measured.cpu_each * 1e3:.1f} ms of CPU a payment ({measured.busy_text()}). Its own "
            f"cryptography, 3 RSA-2048 signatures ({costs.rsa_sign * 1e3:.2f} ms each: the request's Authorization, "
            f"the app's pay params on the created order and again on the reply) and the verify of the gateway's "
            f"reply, {crypto * 1e3:.1f} ms of it ({crypto / measured.cpu_each:.0%}). Python around I/O bounds the "
            "rest: the department lookup of what is owed, the lock in the cache, the gateway call over httpx, the payment, "
            "its events and two audit entries written, and the reply read back."
            + _ran_out(measured.result, seconds, "payables"))


def notice_note(measured: Measured, costs: CryptoCosts, seconds: float) -> str:
    crypto = costs.rsa_verify + costs.aes_gcm_open
    return (f"POST {NOTIFY_PATH}, a genuine TRANSACTION.SUCCESS notice for each payment made as in the row above, "
            f"{NOTICE_CONNECTIONS} connections, each applied. The worker spent {measured.cpu_each * 1e3:.1f} ms of "
            f"CPU a notice ({measured.busy_text()}); RSA-2048 verify ({costs.rsa_verify * 1e6:.0f} µs) "
            f"and AES-GCM ({costs.aes_gcm_open * 1e6:.0f} µs) are {crypto / measured.cpu_each:.0%} of it. The "
            "settlement bounds it: the replay key in the cache, the payer's name decrypted, one transaction (state "
            "move, event, paid reference, receipt), the receipt put in the wallet, two audit entries, the inbox "
            "message and its SMS, and the notice logged." + _ran_out(measured.result, seconds, "payments to settle"))


def main(seconds: float = 3.0) -> int:
    """Both rows beside a bare handler measured in the same run, as the suite's one-worker rows are."""
    from bench.suite import backend, backing_services_on, pin, service_env

    with backend() as backing, tempfile.TemporaryDirectory() as data_dir:
        env = service_env(data_dir, backing)
        base_port = free_port()
        apart = len(os.sched_getaffinity(0)) >= 2
        everywhere = os.sched_getaffinity(0)
        with running(["-m", "bench.bare_sanic", str(base_port), "1"], {}, base_port) as bare_server:
            if apart:
                pin(bare_server, {1})
                os.sched_setaffinity(0, {0})
                _load.LOAD_CPUS = {0}
            try:
                with backing_services_on({0}) if apart else nullcontext():
                    bare = get_load(base_port, "/ping", {}, seconds, 64)
                    rows = measure(data_dir, env, seconds)
                    after = get_load(base_port, "/ping", {}, seconds, 64)
            finally:
                os.sched_setaffinity(0, everywhere)
                _load.LOAD_CPUS = None
    base = (bare.rate + after.rate) / 2
    print(f"backend: {'PostgreSQL + Redis' if backing.get('APP_REDIS_URL') else 'SQLite + in-memory cache'}; "
          f"bare handler {bare.rate:,.0f} req/s before, {after.rate:,.0f} after (the baseline: their mean)")
    for name, result, unit, note in rows:
        print(f"{name}: {result.rate:,.1f} {unit}, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
              f"ratio {result.rate / base:.4f}\n  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0))
