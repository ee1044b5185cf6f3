"""Test helpers for a real second party: the stand-in partner region as its own process, and our
app served on a real loopback port so that process can call us over HTTP.

`launch(command, log_path, probe_path)` starts any stand-in process that prints `LISTENING <port>`
first and waits until it answers (the partner region here, the mini-program platform in
tests/miniprogram/); `end_now(process)` stops one.

`start_partner(our_url, log_dir)` runs `python -m standins.partner_region --port 0`
(the stand-in binds a free port and prints `LISTENING <port>` first), waits until `GET /keys`
answers and returns a `PartnerRegion`; `await partner.stop()` ends it (SIGTERM, then SIGKILL).
Its output goes to `log_dir/standin-<id>.log`, quoted in the error when it does not come up.

`serve_live(app)` serves an app that is already started (the `app` fixture: its ASGI lifespan startup and the
`before_server_start` listeners have run, the database is up) on 127.0.0.1:<free port> in the
running event loop, beside the in-process ASGI `client`: both reach the same app, platform,
database and clock. It uses Sanic's low-level `create_server` with a socket we bind, and runs
no lifecycle event itself, so the `app` fixture still owns start-up and shutdown.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import httpx
from sanic import Sanic

REPO_ROOT = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 30.0
_LISTENING = re.compile(r"^LISTENING (\d+)$", re.MULTILINE)


@dataclass
class PartnerRegion:
    """A running stand-in partner: its base URL and a client for its control endpoints."""

    partner_id: str
    url: str
    our_url: str
    client: httpx.AsyncClient
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self) -> None:
        await self.client.aclose()
        await _end(self.process)


async def _end(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # Sanic drains connections and stops
        for _ in range(int(grace / 0.05)):
            if process.poll() is not None:
                return
            await asyncio.sleep(0.05)
        process.kill()
        await asyncio.to_thread(process.wait)


def launch(command: list[str], log_path: Path, probe_path: str, timeout: float = STARTUP_TIMEOUT,
           what: str = "stand-in") -> tuple[str, subprocess.Popen[bytes]]:
    """Start a stand-in process that prints `LISTENING <port>` (cwd = repo root) and wait until
    `GET probe_path` answers 200; its base URL and the process. Blocking: call it in a thread from async code."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as probe:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            if found:
                url = f"http://127.0.0.1:{found.group(1)}"
                try:
                    if probe.get(f"{url}{probe_path}").status_code == 200:
                        return url, process
                except httpx.TransportError:
                    pass  # bound but not serving yet
            if time.monotonic() > deadline:
                end_now(process)
                raise RuntimeError(f"{what} did not answer in {timeout} s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)


def end_now(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM (Sanic drains connections and stops), then SIGKILL after `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def start_partner(our_url: str, log_dir: Path, partner_id: str = "MO",
                        our_issuer: str = "https://gov-app.example.cn", keys_dir: Path | None = None,
                        timeout: float = STARTUP_TIMEOUT) -> PartnerRegion:
    """Start the stand-in as a subprocess (cwd = repo root) and wait until it answers."""
    log_path = log_dir / f"standin-{partner_id}.log"
    command = [sys.executable, "-m", "standins.partner_region", "--port", "0",
               "--partner-id", partner_id, "--our-url", our_url, "--our-issuer", our_issuer]
    if keys_dir is not None:
        command += ["--keys-dir", str(keys_dir)]
    url, process = await asyncio.to_thread(launch, command, log_path, "/keys", timeout, "stand-in partner")
    return PartnerRegion(partner_id, url, our_url, httpx.AsyncClient(base_url=url, timeout=30), process, log_path)


@asynccontextmanager
async def serve_live(app: Sanic, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve an already started app on a real socket in this event loop; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    app.config.MOTD = False
    was_asgi = app.asgi
    # Binds to `sock` and starts listening at once; lifecycle events are not run (the caller's job).
    server = await app.create_server(sock=sock, access_log=False, return_asyncio_server=True)
    app.asgi = was_asgi  # create_server flips it off; the in-process ASGI client keeps working either way
    assert server is not None and server.is_serving()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.server.close()
        for connection in list(server.connections):
            connection.close()  # keep-alive connections would otherwise outlive the test
        await server.server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run while the loop is alive
