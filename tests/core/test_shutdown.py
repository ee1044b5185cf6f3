"""Stopping the app: however it is asked to stop, the process ends and lets go of its port.

A supervisor and an operator's terminal often both send SIGTERM. When the second one's handler runs
while the app is already closing its connections, Sanic's `app.stop()` stops the event loop under the
closing and runs the stop listeners again. Two signals a few milliseconds apart land there only now and
then, so the app here is `python -m app serve` with one listener more, first of the stop listeners,
that calls `app.stop()` once, as that second signal's handler does. On a database of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench._load import free_port
from tests.served import ROOT, call, database_of_its_own, wait_ready

START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

# `python -m app serve`, whose app is asked to stop once more just as it starts closing.
_ASKED_TWICE = """
import sys
import app.server as server
from app.__main__ import main

built = server.create_app


def create_app(*args, **kwargs):
    sanic = built(*args, **kwargs)
    asked = []

    @sanic.after_server_stop  # registered last, so run first: stop listeners run in reverse
    async def asked_again(app):
        if not asked:
            asked.append(True)
            app.stop()

    return sanic


server.create_app = create_app
sys.exit(main(sys.argv[1:]))
"""


@contextmanager
def _serving(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """The app served in dev (`_ASKED_TWICE`) on its own database, once it answers /readyz: (process, port, log)."""
    port, log_path = free_port(), folder / "app.log"
    with database_of_its_own(folder, prefix="shutdown") as url:
        env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
        env.update(APP_ENV="dev", APP_DATA_DIR=str(folder / "data"), APP_DATABASE_URL=url,
                   PYTHONUNBUFFERED="1")
        with log_path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-c", _ASKED_TWICE, "serve", "--host", "127.0.0.1", "--port", str(port),
                                        "--workers", "1"], cwd=ROOT, env=env, stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL)
        try:
            wait_ready(process, port, log_path, START_TIMEOUT)
            yield process, port, log_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _refused(port: int) -> bool:
    try:
        call(port, "GET", "/healthz", timeout=2)
    except OSError:
        return True
    return False


def test_asked_to_stop_again_while_closing_the_app_still_ends_cleanly(tmp_path: Path) -> None:
    with _serving(tmp_path) as (app, port, log_path):
        app.send_signal(signal.SIGTERM)
        try:
            returncode = app.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_TIMEOUT:.0f} s after being asked to stop twice:\n"
                        f"{log_path.read_text(errors='replace')[-3000:]}")
        log = log_path.read_text(errors="replace")
        assert returncode == 0, log[-3000:]
        assert "Tortoise-ORM shutdown" in log.split("Stopping worker", 1)[-1], "its database was not closed"
        assert "Worker complete" in log, "it did not finish its stop"
        assert _refused(port)
