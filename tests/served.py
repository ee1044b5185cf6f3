"""The service as real processes on loopback, for tests that kill it or talk raw TCP: `python -m standins
--with-app`, as `make run` starts it (the stand-in outside parties, then `python -m app serve` beside them).

On PostgreSQL runs the process gets a database of its own (made here, dropped after); otherwise a
SQLite file in a temporary folder. The cache is always the in-memory one: one worker, one process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bench._load import free_port
from tests.conftest import DATABASE_URL, ON_POSTGRES, _with_database

ROOT = Path(__file__).resolve().parents[1]


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict, dict[str, str]]:
    """One request; (status, JSON body, headers). Connection errors propagate (OSError)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=all_headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"{}"), dict(reply.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def _admin_sql(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float) -> None:
    """Until the service `process` started answers /readyz on `port` with 200. RuntimeError, quoting the end
    of its log, if the process exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            raise RuntimeError(f"the service exited with {process.returncode}: {log[-3000:]}")
        try:
            if call(port, "GET", "/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service did not answer /readyz within {timeout:.0f} s")


class Served:
    """A running service: its port, its database URL, and how to stop or kill it and start it again."""

    def __init__(self, data_dir: str, database_url: str, left_out: tuple[str, ...] = ("partner_region",),
                 **env: str) -> None:
        self.port = free_port()
        self.database_url = database_url
        self.left_out = left_out  # stand-ins the test does not need (`python -m standins --skip`)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        self.env.update(APP_DATA_DIR=data_dir, APP_DATABASE_URL=database_url, APP_SCHEDULER_ENABLED="false",
                        APP_CARD_BACKEND_LATENCY="0", **env)
        self.process: subprocess.Popen | None = None
        self.log_path = Path(data_dir) / "service.log"

    def start(self, timeout: float = 120) -> None:
        with open(self.log_path, "ab") as log:  # a file, not a pipe: a full pipe would stall the service
            skipped = [arg for key in self.left_out for arg in ("--skip", key)]
            self.process = subprocess.Popen([sys.executable, "-m", "standins", "--with-app", "--port", str(self.port),
                                             *skipped],
                                            cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True)
        try:
            wait_ready(self.process, self.port, self.log_path, timeout)
        except RuntimeError:
            self.kill()
            raise

    @property
    def tencent_cloud_url(self) -> str:
        """Where the stand-in Tencent Cloud listens, as the launcher printed it last (its log spans restarts)."""
        found = re.findall(r"(http://127\.0\.0\.1:\d+)\s+腾讯云", self.log())
        assert found, f"the service printed no Tencent Cloud stand-in: {self.log()[-1500:]}"
        return found[-1]

    def enrol(self, name: str, id_number: str) -> None:
        """Tell the stand-in identity authority about a person (its registry, as the real one has)."""
        from standins.tencent_cloud.control import TencentStandIn

        with TencentStandIn(self.tencent_cloud_url) as authority:
            authority.add_person(name, id_number)

    def log(self) -> str:
        """What the service wrote (its own log lines and the request log)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a power cut would: no clean-up runs. Its whole process
        group: the launcher, the app and the stand-ins."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def query(self, sql: str) -> list[tuple]:
        """Read the service's own database directly (what is really stored, not what the API says)."""
        if self.database_url.startswith("sqlite://"):
            import sqlite3

            with sqlite3.connect(self.database_url[len("sqlite://"):].split("?")[0]) as conn:
                return conn.execute(sql).fetchall()
        import asyncpg

        async def run() -> list[tuple]:
            conn = await asyncpg.connect(self.database_url.replace("postgres://", "postgresql://", 1))
            try:
                return [tuple(row) for row in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(run())


@contextmanager
def database_of_its_own(folder: str | Path, prefix: str = "served") -> Iterator[str]:
    """The URL of a database for a service process of its own: on PostgreSQL runs one made here (dropped
    after, whatever still holds it), otherwise a SQLite file in `folder`."""
    if not ON_POSTGRES:
        yield f"sqlite://{folder}/app.sqlite3"
        return
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    _admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(DATABASE_URL, name)
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def served(left_out: tuple[str, ...] = ("partner_region",), **env: str) -> Iterator[Served]:
    """The service as `make run` starts it, but for the stand-ins `left_out` (the partner region, which
    only its own tests need), on a database of its own."""
    with tempfile.TemporaryDirectory() as data, database_of_its_own(data) as url:
        service = Served(data, url, left_out, **env)
        try:
            yield service
        finally:
            service.stop()


def signed_in_citizen(service: Served, phone: str, id_number: str, name: str = "陈志明") -> str:
    """Log in through the dev SMS outbox and verify the real name (a person the stand-in identity
    authority is first told about); the access token."""
    port = service.port
    service.enrol(name, id_number)
    assert call(port, "POST", "/api/v1/auth/otp", {"phone": phone})[0] == 202
    outbox = call(port, "GET", f"/dev/sms-outbox?phone={phone}")[1]
    code = re.search(r"验证码为 (\d{6})", next(m["text"] for m in outbox["items"] if "验证码为" in m["text"])).group(1)
    status, login, _ = call(port, "POST", "/api/v1/auth/login", {"phone": phone, "code": code})
    assert status == 200, login
    token = login["access_token"]
    status, body, _ = call(port, "POST", "/api/v1/me/identity", {"name": name, "id_number": id_number}, token=token)
    assert status == 200, body
    return token
