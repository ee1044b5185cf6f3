"""`.ci/audit_deps.py` against a stand-in PyPI project JSON served on 127.0.0.1.

Each test plants the answers for a few package names, writes a requirements file of pins and
runs the script as CI does (a subprocess), then checks its exit code and what it names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "audit_deps.py"


def project(latest: str, *vulns: dict) -> dict:
    return {"info": {"name": "x", "version": latest}, "releases": {}, "vulnerabilities": list(vulns)}


def vuln(vuln_id: str, fixed_in: list[str], withdrawn: str | None = None) -> dict:
    return {
        "id": vuln_id,
        "aliases": [f"CVE-2099-{vuln_id[-4:]}"],
        "summary": f"Planted flaw {vuln_id}\nsecond line, not printed",
        "details": "details",
        "fixed_in": fixed_in,
        "link": f"https://osv.dev/vulnerability/{vuln_id}",
        "source": "osv",
        "withdrawn": withdrawn,
    }


class StandInIndex:
    """answers[name] is a project dict (200), an int (that status), or a list of those, one per request."""

    def __init__(self) -> None:
        self.answers: dict[str, object] = {}
        self.hits: Counter[str] = Counter()
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = self.path.strip("/").split("/")  # pypi/<name>/json
                name = parts[1] if len(parts) == 3 and parts[::2] == ["pypi", "json"] else ""
                index.hits[name] += 1
                answer = index.answers.get(name, 404)
                if isinstance(answer, list):
                    answer = answer[min(index.hits[name], len(answer)) - 1]
                status, body = (200, json.dumps(answer).encode()) if isinstance(answer, dict) else (answer, b"{}")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pypi"


@pytest.fixture
def index() -> Iterator[StandInIndex]:
    stand_in = StandInIndex()
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def audit(index: StandInIndex, tmp_path: Path, pins: str, *extra: str) -> subprocess.CompletedProcess[str]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(pins)
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--requirements", str(requirements), "--index-url", index.url, "--timeout", "5", *extra],
        capture_output=True, text=True, timeout=60, env=env,
    )


def test_a_vulnerability_of_the_installed_latest_fails_and_is_named(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["bad-pkg"] = project("1.2.0", vuln("PYSEC-2099-0001", ["1.2.1"]))
    index.answers["fine"] = project("3.0")
    run = audit(index, tmp_path, "Bad_Pkg[extra]==1.2.0  # comment\nfine==3.0\n")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "VULNERABLE: Bad_Pkg 1.2.0" in run.stdout
    assert "PYSEC-2099-0001 (CVE-2099-0001): Planted flaw PYSEC-2099-0001 [fixed in: 1.2.1]" in run.stdout
    assert "second line" not in run.stdout
    assert index.hits["bad-pkg"] == 1  # asked under its PEP 503 name


def test_a_withdrawn_vulnerability_passes(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["pkg"] = project("1.0", vuln("GHSA-0000-0000-0002", [], withdrawn="2099-01-01T00:00:00Z"))
    run = audit(index, tmp_path, "pkg==1.0.0\n")  # 1.0.0 is 1.0
    assert run.returncode == 0, run.stdout + run.stderr
    assert "GHSA" not in run.stdout and "PASS" in run.stdout


def test_behind_latest_is_not_verifiable_and_fails_only_when_strict(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["old"] = project("2.0")
    run = audit(index, tmp_path, "old==1.5\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "not verifiable: old 1.5 installed, 2.0 latest" in run.stdout
    strict = audit(index, tmp_path, "old==1.5\n", "--strict")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "not verifiable: old 1.5 installed, 2.0 latest" in strict.stdout


def test_a_vulnerability_of_latest_not_fixed_in_ours_fails_a_behind_package(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["old"] = project("2.0", vuln("PYSEC-2099-0003", ["2.0.1"]))
    run = audit(index, tmp_path, "old==1.5\n")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "VULNERABLE: old 1.5 (not verifiable: 1.5 installed, 2.0 latest" in run.stdout
    assert "PYSEC-2099-0003" in run.stdout


def test_a_vulnerability_of_latest_fixed_at_or_below_ours_is_not_counted(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["old"] = project("2.0", vuln("PYSEC-2099-0004", ["1.4.2", "2.0.1"]))
    run = audit(index, tmp_path, "old==1.5\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "not verifiable: old 1.5 installed, 2.0 latest" in run.stdout
    assert "PYSEC-2099-0004 (listed for 2.0) is fixed in 1.4.2 <= 1.5: not counted" in run.stdout


def test_a_distribution_the_index_does_not_know_is_skipped(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["known"] = project("1.0")
    run = audit(index, tmp_path, "our-local-package==0.1\nknown==1.0\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipped: our-local-package 0.1" in run.stdout


def test_an_index_answering_500_twice_fails_as_incomplete(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["flaky"] = [500, 500, project("1.0")]
    index.answers["bad"] = project("1.0", vuln("PYSEC-2099-0005", []))
    run = audit(index, tmp_path, "flaky==1.0\nbad==1.0\n")
    assert run.returncode == 2, run.stdout + run.stderr
    assert index.hits["flaky"] == 2  # one retry, no more
    assert "unreachable: flaky 1.0" in run.stdout and "HTTP 500" in run.stdout
    assert "audit is incomplete" in run.stdout
    assert "PYSEC-2099-0005" in run.stdout  # what was found is still shown


def test_one_transient_500_is_retried(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["flaky"] = [500, project("1.0")]
    run = audit(index, tmp_path, "flaky==1.0\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert index.hits["flaky"] == 2


def test_an_index_that_is_not_listening_fails_as_incomplete(index: StandInIndex, tmp_path: Path) -> None:
    index.server.shutdown()
    index.server.server_close()
    run = audit(index, tmp_path, "pkg==1.0\n")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "audit is incomplete" in run.stdout


def test_a_line_that_is_not_a_pin_is_refused(index: StandInIndex, tmp_path: Path) -> None:
    run = audit(index, tmp_path, "pkg>=1.0\n")
    assert run.returncode == 2
    assert "not a name==version pin" in run.stderr


def test_the_installed_distributions_are_audited_without_requirements(index: StandInIndex, tmp_path: Path) -> None:
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    run = subprocess.run([sys.executable, str(SCRIPT), "--index-url", index.url, "--timeout", "5"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stdout + run.stderr  # every one 404 here: skipped
    assert "skipped: pytest " in run.stdout and f"installed in {sys.executable}" in run.stdout


def test_an_accepted_advisory_passes_with_its_reason_for_that_version_only(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["ecdsa"] = project("0.19.2", vuln("PYSEC-2099-1325", []))
    accepted = tmp_path / "accepted.txt"
    accepted.write_text("# judged not to apply\necdsa==0.19.2 CVE-2099-1325 verification only, dev-only\n")
    run = audit(index, tmp_path, "ecdsa==0.19.2\n", "--accepted", str(accepted))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "accepted PYSEC-2099-1325: verification only, dev-only" in run.stdout  # named by its alias
    assert "vulnerable                         0" in run.stdout

    index.answers["ecdsa"] = project("0.19.3", vuln("PYSEC-2099-1325", []))  # not fixed in the next one either
    upgraded = audit(index, tmp_path, "ecdsa==0.19.3\n", "--accepted", str(accepted))
    assert upgraded.returncode == 1 and "VULNERABLE: ecdsa 0.19.3" in upgraded.stdout, upgraded.stdout


def test_another_advisory_of_an_accepted_version_still_fails(index: StandInIndex, tmp_path: Path) -> None:
    index.answers["ecdsa"] = project("0.19.2", vuln("PYSEC-2099-1325", []), vuln("PYSEC-2099-0002", ["0.19.4"]))
    accepted = tmp_path / "accepted.txt"
    accepted.write_text("ecdsa==0.19.2 PYSEC-2099-1325 verification only\n")
    run = audit(index, tmp_path, "ecdsa==0.19.2\n", "--accepted", str(accepted))
    assert run.returncode == 1, run.stdout
    assert "PYSEC-2099-0002" in run.stdout and "accepted PYSEC-2099-1325" in run.stdout


def test_an_acceptance_without_a_reason_is_refused(index: StandInIndex, tmp_path: Path) -> None:
    accepted = tmp_path / "accepted.txt"
    accepted.write_text("ecdsa==0.19.2 PYSEC-2099-1325\n")
    run = audit(index, tmp_path, "ecdsa==0.19.2\n", "--accepted", str(accepted))
    assert run.returncode == 2 and "expected 'name==version ADVISORY-ID reason'" in run.stderr, run.stderr
