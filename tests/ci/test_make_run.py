"""`make run` as a newcomer meets it: `python -m standins --with-app` in dev, real processes on the embedded default.

It must start every stand-in outside party as a process of its own and the app as another, print where
the app and each one listens, let a citizen sign in with the code shown at /dev/sms-outbox and pay a bill
through the stand-in WeChat Pay gateway, and stop everything, app and stand-ins, on one Ctrl-C (SIGINT); killed
outright (SIGKILL), it leaves nothing behind either.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

# `make run`'s own processes, always on the embedded default.
pytestmark = pytest.mark.same_on_every_backend

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # first start: keys, migrations and six stand-ins, on a machine busy with other tests
STOP_TIMEOUT = 15.0

# Each outside party: a word of its line in the printed block, and the health path of its stand-in.
PARTIES = {
    "Tencent Cloud": "/_standin/health",
    "JPush": "/_standin/health",
    "WeChat Pay": "/_standin/health",
    "Departments": "/_standin/health",
    "Mini-program platform": "/mock/health",
    "Partner region": "/keys",
}
_WHERE = re.compile(r"^\s+(http://127\.0\.0\.1:\d+)\s+(.+)$", re.MULTILINE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc: the stand-ins, the QR render helper, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has exited)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _accepts(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def logs(self) -> str:
        err = self.err_path.read_text(errors="replace").splitlines()[-40:]
        return f"--- stdout\n{self.output()}\n--- stderr (end)\n" + "\n".join(err)

    def stand_ins(self) -> dict[str, str]:
        """party word -> URL, from the block the launcher printed."""
        lines = _WHERE.findall(self.output())
        return {word: url for word in PARTIES for url, party in lines if word in party}


MAKE_RUN = [sys.executable, "-m", "standins", "--with-app"]  # what `make run` runs (Makefile)


def _launch(folder: Path) -> Served:
    """`make run`'s command as it starts it: dev, the embedded default, no APP_* but a data folder and a port."""
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    env.update(APP_ENV="dev", APP_DATA_DIR=str(folder / "data"), APP_PORT=str(port), PYTHONUNBUFFERED="1")
    out_path, err_path = folder / "stdout.log", folder / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        # Its own session, so that whatever this test leaves running can be ended as one group.
        process = subprocess.Popen(MAKE_RUN, cwd=REPO_ROOT, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    launched = Served(f"http://127.0.0.1:{port}", process, out_path, err_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"{' '.join(MAKE_RUN[1:])} exited with {process.returncode} before it was ready\n"
                            f"{launched.logs()}")
            try:
                if httpx.get(f"{launched.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app not ready within {START_TIMEOUT:.0f} s\n{launched.logs()}")
            time.sleep(0.2)
    except BaseException:
        _end(launched)
        raise
    return launched


def _end(launched: Served) -> None:
    """One SIGINT, then SIGKILL to the whole group for whatever is still there (a failed test's leftovers)."""
    if launched.process.poll() is None:
        launched.process.send_signal(signal.SIGINT)
        try:
            launched.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(launched.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    launched.process.wait()


def _gone_soon(pids: set[int], timeout: float) -> list[int]:
    """Those of `pids` still running after up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _commands(pids: set[int]) -> dict[int, str]:
    found = {}
    for pid in pids:
        try:
            found[pid] = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            pass
    return found


def _app_pid(pids: set[int]) -> list[int]:
    return [pid for pid, command in _commands(pids).items() if " -m app serve" in command]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the processes the launcher started")
    launched = _launch(tmp_path_factory.mktemp("make-run"))
    try:
        yield launched
    finally:
        _end(launched)


@pytest.mark.parametrize("party", list(PARTIES))
def test_the_printed_block_names_each_stand_in_and_it_answers(served: Served, party: str) -> None:
    health = PARTIES[party]
    output = served.output()
    assert f"{served.url}/dev/sms-outbox?phone=" in output and "Ctrl-C" in output, output
    url = served.stand_ins().get(party)
    assert url, f"no line names where the {party} stand-in listens:\n{output}"
    assert url != served.url
    assert httpx.get(f"{url}{health}", timeout=5).status_code == 200


def test_a_citizen_signs_in_with_the_outbox_code_and_pays_a_bill(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=15) as http:
        signed_in(http)

        payables = http.get("/api/v1/payables")
        assert payables.status_code == 200, payables.text
        payable = next(p for p in payables.json()["items"] if not p["paid"])
        started = http.post("/api/v1/payments", headers={"Idempotency-Key": f"make-run-{uuid.uuid4().hex}"},
                            json={"reference": payable["reference"], "amount_fen": payable["amount_fen"],
                                  "currency": "CNY", "description": payable["description"]})
        assert started.status_code == 201, started.text
        payment = started.json()
        assert payment["next_step"]["type"] == "wechat_app_pay", payment
        assert payment["next_step"]["params"]["prepayid"].startswith("wx"), payment
        gateway = served.stand_ins().get("WeChat Pay", "")
        assert gateway, served.output()
        # The payer confirms in WeChat: the stand-in's control plays that part.
        paid = httpx.post(f"{gateway}/_standin/orders/{payment['id']}/pay", json={"outcome": "success"}, timeout=10)
        assert paid.status_code == 200, paid.text
        deadline = time.monotonic() + 20
        while (state := http.get(f"/api/v1/payments/{payment['id']}").json()["state"]) != "success":
            assert time.monotonic() < deadline, f"payment still {state} 20 s after it was paid"
            time.sleep(0.2)
        receipt = http.get(f"/api/v1/payments/{payment['id']}/receipt")
        assert receipt.status_code == 200 and receipt.json()["status"] == "paid", receipt.text


def test_one_ctrl_c_stops_the_app_and_every_stand_in(served: Served) -> None:
    children = _descendants(served.process.pid)
    urls = [served.url, *served.stand_ins().values()]
    assert len(urls) == 1 + len(PARTIES), served.output()
    assert len(children) >= len(PARTIES) + 1, f"expected a process per stand-in and the app, found {sorted(children)}"
    assert _app_pid(children), f"no `python -m app serve` among {_commands(children)}"

    served.process.send_signal(signal.SIGINT)
    try:
        served.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the launcher still running {STOP_TIMEOUT:.0f} s after SIGINT\n{served.logs()}")
    left = _gone_soon(children, 3)  # the launcher waited for them; give the kernel a moment to reap
    assert not left, f"still running after the launcher stopped: {_commands(set(left))}\n{served.logs()}"
    assert not [url for url in urls if _accepts(url)], served.logs()
    assert served.process.returncode == 0, served.logs()


def test_the_launcher_killed_outright_leaves_no_app_or_stand_in(tmp_path: Path) -> None:
    """SIGKILL runs no clean-up: the app and the stand-ins are told by the kernel (PR_SET_PDEATHSIG)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the processes the launcher started")
    launched = _launch(tmp_path)
    try:
        children = _descendants(launched.process.pid)
        urls = [launched.url, *launched.stand_ins().values()]
        assert len(urls) == 1 + len(PARTIES), launched.output()
        assert _app_pid(children), f"no `python -m app serve` among {_commands(children)}"

        launched.process.kill()
        launched.process.wait()
        left = _gone_soon(children, STOP_TIMEOUT)
        assert not left, f"still running after the launcher was killed: {_commands(set(left))}\n{launched.logs()}"
        assert not [url for url in urls if _accepts(url)], launched.logs()
    finally:
        _end(launched)


def test_the_app_alone_still_answers_help() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    done = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--port" in done.stdout and "Traceback" not in done.stderr


def signed_in(http: httpx.Client, device_name: str = "新手的手机", *, verified: bool = True) -> None:
    """A new citizen signs in with the code the stand-in SMS provider received (read at /dev/sms-outbox), and
    with `verified` passes 实名 as the identity authority's stand-in knows the person."""
    phone = f"139{uuid.uuid4().int % 10 ** 8:08d}"
    sent = http.post("/api/v1/auth/otp", json={"phone": phone})
    assert sent.status_code == 202, sent.text
    outbox = http.get("/dev/sms-outbox", params={"phone": phone})
    texts = [item["text"] for item in outbox.json().get("items", [])] if outbox.status_code == 200 else []
    codes = [found.group(1) for text in texts if (found := re.search(r"(?<!\d)(\d{6})(?!\d)", text))]
    assert codes, f"no login code at /dev/sms-outbox: {outbox.status_code} {outbox.text[:300]}"
    login = http.post("/api/v1/auth/login", json={"phone": phone, "code": codes[0], "device_name": device_name})
    assert login.status_code == 200, login.text
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    if verified:
        name, id_number = _sample_resident()
        identity = http.post("/api/v1/me/identity", json={"name": name, "id_number": id_number})
        assert identity.status_code == 200, identity.text


def _sample_resident() -> tuple[str, str]:
    """The first made-up resident of the Tencent Cloud stand-in's sample data (its 二要素 authority)."""
    people = json.loads((REPO_ROOT / "standins" / "tencent_cloud" / "sample_people.json").read_text())["people"]
    return people[0]["name"], people[0]["id_number"]
