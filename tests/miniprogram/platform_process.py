"""The stand-in mini-program platform (`python -m miniprogram_mock`) as its own process for the tests.

One process per test run (`start_platform`, started by the `mini_program_platform` session fixture
in tests/conftest.py with the same `launch` machinery as the partner region); each test talks to
it with its own users (random names), clears the faults it queued, and counts calls as deltas.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.health_code.interop.partner_process import end_now, launch

APPID = "wx5a3e9c2b7d1f0a46"
SECRET = "sample-secret-0123456789abcdef"


@dataclass
class PlatformProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        end_now(self.process)


def start_platform(log_dir: Path, appid: str = APPID, secret: str = SECRET) -> PlatformProcess:
    log_path = log_dir / "miniprogram-platform.log"
    command = [sys.executable, "-m", "miniprogram_mock", "--port", "0", "--appid", appid, "--secret", secret]
    url, process = launch(command, log_path, "/mock/health", what="stand-in mini-program platform")
    return PlatformProcess(url, process, log_path)
