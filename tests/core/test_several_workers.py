"""Two worker processes behind one port share codes, limits and sessions through Redis."""

from __future__ import annotations

import json
import os
import signal
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench._load import free_port

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("APP_REDIS_URL", "")


def call(port: int, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.skipif(not REDIS_URL, reason="several workers need APP_REDIS_URL (the embedded default refuses them)")
def test_every_login_works_whichever_worker_answers():
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        env.update(APP_DATA_DIR=data, APP_DATABASE_URL=f"sqlite://{data}/app.sqlite3", APP_REDIS_URL=REDIS_URL,
                   APP_CACHE_NAMESPACE=f"workers-test-{port}", APP_SCHEDULER_ENABLED="false")
        # As `make run` starts it: the stand-ins (the SMS outbox, the identity authority), then the app.
        server = subprocess.Popen([sys.executable, "-m", "standins", "--with-app", "--port", str(port), "--workers", "2",
                                   "--skip", "partner_region"],
                                  cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.monotonic() + 90  # a start on a busy machine: only a failure waits this long
            while time.monotonic() < deadline:
                try:
                    if call(port, "GET", "/readyz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.3)
            else:
                pytest.fail("the two workers did not start")
            for n in range(8):
                phone = f"1370000{port % 1000:03d}{n}"
                assert call(port, "POST", "/api/v1/auth/otp", {"phone": phone})[0] == 202
                status, outbox = call(port, "GET", f"/dev/sms-outbox?phone={phone}")
                code = re.search(r"验证码为 (\d{6})", outbox["items"][0]["text"]).group(1)
                status, login = call(port, "POST", "/api/v1/auth/login", {"phone": phone, "code": code})
                assert status == 200, login
                assert call(port, "GET", "/api/v1/me", token=login["access_token"])[0] == 200
                assert call(port, "POST", "/api/v1/auth/logout", token=login["access_token"])[0] == 204
                assert call(port, "GET", "/api/v1/me", token=login["access_token"])[0] == 401  # on every worker
            # Each worker draws QR images in a helper process of its own (a daemonic Sanic worker
            # once could not start one, and every PNG of `--workers 2` was a 500).
            phone = f"1370001{port % 1000:03d}9"
            call(port, "POST", "/api/v1/auth/otp", {"phone": phone})
            code = re.search(r"验证码为 (\d{6})", call(port, "GET", f"/dev/sms-outbox?phone={phone}")[1]["items"][0]["text"])
            token = call(port, "POST", "/api/v1/auth/login", {"phone": phone, "code": code.group(1)})[1]["access_token"]
            # A sample resident the stand-in identity authority knows (standins/tencent_cloud/sample_people.json).
            assert call(port, "POST", "/api/v1/me/identity", {"name": "陈嘉欣", "id_number": "440106198503124526"},
                        token=token)[0] == 200
            for _ in range(6):  # whichever worker answers
                request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health-code?format=png",
                                                 headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=30) as reply:
                    assert reply.status == 200 and reply.read().startswith(b"\x89PNG")
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:  # a busy machine: never leave the workers behind
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(5)
