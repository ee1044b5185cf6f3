"""`make run` as a newcomer meets it: `python -m app` in dev, a real process on the embedded default.

It must start every stand-in outside party as a process of its own, print where the app and each
one listens, let a citizen sign in with the code shown at /dev/sms-outbox and pay a bill at the
stand-in payment provider, and stop everything, stand-ins included, on one Ctrl-C (SIGINT).
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

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # first start: keys, migrations and four stand-ins, on a machine busy with other tests
STOP_TIMEOUT = 15.0

# Each outside party: a word of its line in the printed block, and the health path of its stand-in.
PARTIES = {
    "Tencent Cloud": "/_standin/health",
    "JPush": "/_standin/health",
    "Payment provider": "/v1/keys",
    "Mini-program platform": "/mock/health",
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
        """party word -> URL, from the block the app printed."""
        lines = _WHERE.findall(self.output())
        return {word: url for word in PARTIES for url, party in lines if word in party}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`python -m app` as `make run` starts it: dev, the embedded default, no APP_* but a data folder and a port."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to find the processes the app started")
    folder = tmp_path_factory.mktemp("make-run")
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("APP_")}
    env.update(APP_ENV="dev", APP_DATA_DIR=str(folder / "data"), APP_PORT=str(port), PYTHONUNBUFFERED="1")
    out_path, err_path = folder / "stdout.log", folder / "stderr.log"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        # Its own session, so that whatever this test leaves running can be ended as one group.
        process = subprocess.Popen([sys.executable, "-m", "app"], cwd=REPO_ROOT, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    app = Served(f"http://127.0.0.1:{port}", process, out_path, err_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"python -m app exited with {process.returncode} before it was ready\n{app.logs()}")
            try:
                if httpx.get(f"{app.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"python -m app not ready within {START_TIMEOUT:.0f} s\n{app.logs()}")
            time.sleep(0.2)
        yield app
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything still there (a failed test's leftovers)
        except ProcessLookupError:
            pass
        process.wait()


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
    phone = f"139{uuid.uuid4().int % 10 ** 8:08d}"
    with httpx.Client(base_url=served.url, timeout=15) as http:
        sent = http.post("/api/v1/auth/otp", json={"phone": phone})
        assert sent.status_code == 202, sent.text
        outbox = http.get("/dev/sms-outbox", params={"phone": phone})
        texts = [item["text"] for item in outbox.json().get("items", [])] if outbox.status_code == 200 else []
        codes = [found.group(1) for text in texts if (found := re.search(r"(?<!\d)(\d{6})(?!\d)", text))]
        assert codes, f"no login code at /dev/sms-outbox: {outbox.status_code} {outbox.text[:300]}"
        login = http.post("/api/v1/auth/login", json={"phone": phone, "code": codes[0], "device_name": "新手的手机"})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        name, id_number = _sample_resident()  # 实名, as the identity authority's stand-in knows the person
        verified = http.post("/api/v1/me/identity", json={"name": name, "id_number": id_number})
        assert verified.status_code == 200, verified.text

        payables = http.get("/api/v1/payables")
        assert payables.status_code == 200, payables.text
        payable = next(p for p in payables.json()["items"] if not p["paid"])
        started = http.post("/api/v1/payments", headers={"Idempotency-Key": f"make-run-{uuid.uuid4().hex}"},
                            json={"reference": payable["reference"], "amount_fen": payable["amount_fen"],
                                  "currency": "CNY", "description": payable["description"]})
        assert started.status_code == 201, started.text
        payment = started.json()
        pay_url = payment["next_step"]["url"]
        provider = served.stand_ins().get("Payment provider", "")
        assert provider and pay_url.startswith(f"{provider}/pay/"), (pay_url, provider)

        paid = httpx.post(f"{pay_url}/pay", timeout=10)  # the payer confirms on the provider's pay page
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
    assert len(children) >= len(PARTIES), f"expected a process per stand-in, found {sorted(children)}"

    served.process.send_signal(signal.SIGINT)
    try:
        served.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m app still running {STOP_TIMEOUT:.0f} s after SIGINT\n{served.logs()}")
    deadline = time.monotonic() + 3  # the app waited for its stand-ins; give the kernel a moment to reap
    while (left := [pid for pid in children if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running after the app stopped: {left}\n{served.logs()}"
    assert not [url for url in urls if _accepts(url)], served.logs()
    assert served.process.returncode == 0, served.logs()


def _sample_resident() -> tuple[str, str]:
    """The first made-up resident of the Tencent Cloud stand-in's sample data (its 二要素 authority)."""
    people = json.loads((REPO_ROOT / "standins" / "tencent_cloud" / "sample_people.json").read_text())["people"]
    return people[0]["name"], people[0]["id_number"]
