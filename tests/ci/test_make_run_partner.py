"""`make run`'s partner region: the stand-in Macao ("MO") the launcher starts is registered in the app it starts.

The launcher registers it once the app answers, through the admin API as our partner admin would (an admin
client made with `python -m app clients add`, the stand-in's API key, its key feed, a holder key handed over).
Then, with nothing done by hand, MO checks our codes (through our partner API and offline) and a citizen
converts a code of MO. Started again on the same data, it is the same partner, registered once.

On PostgreSQL runs the service has a database of its own (tests/served.py), and Redis when APP_REDIS_URL is set.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, cast

import httpx
import pytest

from app.config import Settings
from bench._load import free_port
from standins.partner_registration import ADMIN_NAME, NAME, NotRegistered, register
from tests.conftest import REDIS_URL
from tests.factories import new_phone, valid_id_number
from tests.served import ROOT, Served, call, served, signed_in_citizen

REGISTERED = re.compile(r"互认伙伴 MO (已登记 registered|登记已更新 registration brought up to date) in the app")
NOT_REGISTERED = "未能在应用中登记"
CITIZEN = "陈志明"  # born 1990-03-07 (valid_id_number's default birth date); masked "*明"
AS_MACAO_KNOWS_HIM = {"name": "陳志明", "birth_date": "1990-03-07"}  # traditional characters, the same person


@pytest.fixture(scope="module")
def service() -> Iterator[Served]:
    env: dict[str, str] = {}
    if REDIS_URL:
        env.update(APP_REDIS_URL=REDIS_URL, APP_CACHE_NAMESPACE=f"make-run-partner-{secrets.token_hex(4)}")
    with served(left_out=(), **env) as running:
        running.start(timeout=120)
        yield running


def registered_partner(service: Served, starts: int = 1, timeout: float = 60) -> tuple[str, str]:
    """Where the stand-in MO of the latest start listens, once the launcher says it registered it for the
    `starts`-th time; and what it said then."""
    deadline = time.monotonic() + timeout
    while len(said := REGISTERED.findall(service.log())) < starts:
        assert NOT_REGISTERED not in service.log(), service.log()[-3000:]
        assert time.monotonic() < deadline, f"MO not registered within {timeout:.0f} s:\n{service.log()[-3000:]}"
        time.sleep(0.3)
    listening = re.findall(r"(http://127\.0\.0\.1:\d+)\s+互认伙伴 Partner region MO", service.log())
    assert len(listening) == starts, service.log()[-3000:]
    return listening[-1], said[-1]


def citizen(service: Served) -> str:
    """A real-name citizen (陈志明, 1990-03-07); the access token."""
    return signed_in_citizen(service, new_phone(), valid_id_number(sequence=f"{secrets.randbelow(900) + 100}"),
                             CITIZEN)


def macao_code(mo: httpx.Client, **fields: Any) -> dict[str, Any]:
    made = mo.post("/codes", json={"name_masked": "*明", "holder": AS_MACAO_KNOWS_HIM, **fields})
    assert made.status_code == 200, made.text
    return made.json()


def convert(service: Served, token: str, payload: str) -> tuple[int, dict]:
    status, body, _ = call(service.port, "POST", "/api/v1/health-code/conversions",
                           {"code": payload, "consent": True}, token=token)
    return status, body


def test_mo_checks_our_codes_and_a_citizen_converts_a_code_of_mo(service: Served) -> None:
    partner, _ = registered_partner(service)
    token = citizen(service)
    status, ours, _ = call(service.port, "GET", "/api/v1/health-code", token=token)
    assert status == 200, ours
    with httpx.Client(base_url=partner, timeout=15) as mo:
        called = mo.post("/call/verifications", json={"codes": [ours["payload"]]}).json()
        assert called["status"] == 200, called
        [result] = called["body"]["results"]
        assert (result["valid"], result["color"], result["partner_color"], result["subject_masked"]) == \
            (True, "green", "绿码", "*明"), result
        offline = mo.post("/verify-ours", json={"payload": ours["payload"]}).json()
        assert offline["valid"] is True and offline["issuer"] == "CN-GD", offline
        theirs = macao_code(mo, colour="yellow")

    status, converted = convert(service, token, theirs["payload"])
    assert status == 201, converted
    assert converted["color"] == "yellow"
    assert converted["source"]["partner"] == "MO" and converted["source"]["partner_name"] == NAME
    status, log, _ = call(service.port, "GET", "/api/v1/me/access-log", token=token)
    assert (NAME, "partner", "health_code_verified") in [(e["actor"], e["actor_type"], e["action"]) for e in log["items"]]


def test_started_again_on_the_same_data_mo_is_the_same_partner_registered_once(service: Served) -> None:
    partner, _ = registered_partner(service)
    starts = len(REGISTERED.findall(service.log()))
    with httpx.Client(base_url=partner, timeout=15) as mo:
        kids = [key["kid"] for key in mo.get("/keys").json()["signing_keys"]]
        before = macao_code(mo, ttl=900)  # made before the restart, converted after it

    service.stop()
    service.start(timeout=120)
    partner, said = registered_partner(service, starts + 1)
    assert said.startswith("登记已更新"), said

    token = citizen(service)
    status, ours, _ = call(service.port, "GET", "/api/v1/health-code", token=token)
    assert status == 200, ours
    with httpx.Client(base_url=partner, timeout=15) as mo:
        assert [key["kid"] for key in mo.get("/keys").json()["signing_keys"]] == kids  # its keys kept (--keys-dir)
        called = mo.post("/call/verifications", json={"codes": [ours["payload"]]}).json()
        assert called["status"] == 200 and called["body"]["results"][0]["valid"] is True, called
        after = macao_code(mo)
    for code in (before, after):  # the same signing key and the same holder key, before and after
        status, converted = convert(service, token, code["payload"])
        assert status == 201, converted
        assert converted["source"]["partner"] == "MO"

    assert service.query(f"SELECT count(*) FROM api_clients WHERE name = '{ADMIN_NAME}'") == [(1,)]
    assert service.query("SELECT count(*) FROM partners") == [(1,)]
    assert service.query("SELECT count(*) FROM partner_holder_keys") == [(1,)]
    assert service.query("SELECT count(*) FROM partner_keys WHERE retired_at IS NULL AND revoked_at IS NULL") == \
        [(len(kids),)]


def test_production_never_registers_a_stand_in_partner(tmp_path) -> None:
    """Refused before anything is asked of the stand-in or the app (both addresses here answer nothing)."""
    production = cast(Settings, SimpleNamespace(production=True, data_dir=tmp_path))
    with pytest.raises(NotRegistered, match="production never registers a stand-in partner"):
        register("http://127.0.0.1:9", production, "http://127.0.0.1:9")
    assert not (tmp_path / "standins").exists()  # no admin client made, nothing kept


@contextmanager
def stand_ins_alone(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """`python -m standins ARGS` (no app) for an app that would serve on a free port: the launcher, its output
    file (once it printed its listing) and that port. Killed at the end if it still runs."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    env.update(APP_ENV="dev", APP_DATA_DIR=str(tmp_path / "data"), APP_PORT=str(port), PYTHONUNBUFFERED="1")
    out = tmp_path / "stdout.log"
    with out.open("wb") as written:
        launcher = subprocess.Popen([sys.executable, "-m", "standins", *args], cwd=ROOT, env=env, stdout=written,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C" not in out.read_text(errors="replace"):
            assert launcher.poll() is None and time.monotonic() < deadline, out.read_text(errors="replace")
            time.sleep(0.2)
        yield launcher, out, port
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()


@pytest.mark.same_on_every_backend  # the launcher alone, on the embedded default
def test_the_stand_ins_alone_list_mo_and_say_it_is_registered_once_an_app_answers(tmp_path) -> None:
    """`python -m standins` without the app: MO is started and listed with how to use it, and waits for an app."""
    with stand_ins_alone(tmp_path) as (launcher, out, port):
        printed = out.read_text()
        [partner] = re.findall(r"(http://127\.0\.0\.1:\d+)\s+互认伙伴 Partner region MO", printed)
        assert f"POST {partner}/codes" in printed and f"POST {partner}/call/verifications" in printed
        assert f"answers at http://127.0.0.1:{port}" in printed
        assert httpx.get(f"{partner}/keys", timeout=5).status_code == 200
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(30) == 0, out.read_text()
        assert "互认伙伴 MO 已登记" not in out.read_text()  # no app answered: nothing registered, nothing said
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{partner}/keys", timeout=2)


@pytest.mark.same_on_every_backend  # the launcher alone, on the embedded default
def test_a_stand_in_left_out_with_skip_is_neither_started_nor_listed_and_an_unknown_one_is_refused(tmp_path) -> None:
    refused = subprocess.run([sys.executable, "-m", "standins", "--skip", "macao"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "partner_region" in refused.stderr  # argparse names the choices

    with stand_ins_alone(tmp_path, "--skip", "partner_region") as (launcher, out, _):
        printed = out.read_text()
        assert "腾讯云" in printed and "Partner region MO" not in printed and "registered in the app" not in printed
        assert not (tmp_path / "data" / "standins" / "partner_region.log").exists()
        assert (tmp_path / "data" / "standins" / "tencent_cloud.log").exists()  # where a started one logs
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(30) == 0, out.read_text()
