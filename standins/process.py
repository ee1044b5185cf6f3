"""Start and stop the stand-in outside parties as processes of their own.

`StandInProcess` runs one stand-in: a command started from the repository root, its stdout and
stderr in a log file, ready once it printed `LISTENING <port>` and its health path answers 200;
`stop()` sends SIGTERM and, after a grace period, SIGKILL.

`start_all(data_dir, our_url, settings)` starts every stand-in of `STAND_INS` (logs under
`<data_dir>/standins/`) and returns `StandIns`: `settings_for()` is what to change in the app's
settings to point each adapter at its stand-in, `describe()` says where each one listens and
`usage()` how to use those that need a word, and `register_in_app()`, once the app answers, enters
in the app's own data the parties that live there rather than in its settings (the partner region,
through the admin API). A party whose settings already name a real provider (not loopback) is left
alone. Adding a stand-in is one more `StandInSpec` in `STAND_INS`.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings, default_of
from app.integrations.payment_providers import wechatpay
from standins import partner_registration as partner
from standins.departments import registration as departments
from app.file_modes import make_private_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0  # seconds for a stand-in to bind and answer its health path
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
NOTIFY_PATH = "/api/provider/v1/payment-notifications"  # our payment-notice callback
_LISTENING = re.compile(r"^LISTENING (\d+)\s*$", re.MULTILINE)


class StandInError(RuntimeError):
    """A stand-in exited or did not come up in time; the message quotes the end of its log."""


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the thread that started it dies, so that a starter
    killed with SIGKILL leaves no stand-in behind. Elsewhere nothing is done."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class StandInProcess:
    """One stand-in process: `start()`, `wait_ready()` (or `run()` for both), `stop()`.

    Start it from the thread that lives as long as it should: on Linux the child is told to stop when
    that thread ends (the starter killed outright included)."""

    def __init__(self, name: str, command: list[str], health_path: str, log_path: Path, *,
                 timeout: float = START_TIMEOUT, host: str = "127.0.0.1", env: Mapping[str, str] | None = None) -> None:
        self.name, self.command, self.health_path = name, command, health_path
        self.log_path, self.timeout, self.host = Path(log_path), timeout, host
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise StandInError(f"{self.name} is not listening yet")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        """Start the command (cwd: the repository root); output goes to the log file, created 0600."""
        make_private_dir(self.log_path.parent)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)

    def wait_ready(self) -> str:
        """Block until `LISTENING <port>` is logged and the health path answers 200; the base URL.
        StandInError (the stand-in stopped) if it exits or does not answer within the timeout."""
        if self.process is None:
            raise StandInError(f"{self.name} was not started")
        deadline = time.monotonic() + self.timeout
        with httpx.Client(timeout=2) as probe:
            while True:
                if self.process.poll() is not None:
                    raise StandInError(f"{self.name} exited with {self.process.returncode} "
                                       f"(log {self.log_path}):\n{self.log_tail()}")
                if self.port is None:
                    found = _LISTENING.search(self.log())
                    self.port = int(found.group(1)) if found else None
                if self.port is not None:
                    try:
                        if probe.get(f"{self.url}{self.health_path}").status_code == 200:
                            return self.url
                    except httpx.TransportError:
                        pass  # bound, not serving yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise StandInError(f"{self.name} did not answer GET {self.health_path} within {self.timeout:.0f} s "
                                       f"(log {self.log_path}):\n{self.log_tail()}")
                time.sleep(0.05)

    def run(self) -> str:
        self.start()
        return self.wait_ready()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, grace: float = STOP_GRACE) -> None:
        """Wait up to `grace` seconds for it to end, then SIGKILL it."""
        if self.process is None:
            return
        try:
            self.process.wait(max(grace, 0.0))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        self.terminate()
        self.wait_or_kill(grace)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:]) or "(nothing logged)"


# -- the outside parties ------------------------------------------------------------------------------

Point = Callable[[str, Settings, str], dict[str, Any]]
Register = Callable[[str, Settings, str], str]


@dataclass(frozen=True)
class StandInSpec:
    """One outside party's stand-in: how to start it, how to tell it is up, and the settings that point
    the app at it (`point(url, settings, our_url)`). `urls` are the settings naming where the party
    answers: the stand-in is started when one of them is left at its default (an operator who names
    a URL, even a loopback one, chose that party); a party no setting names (it is entered in the
    app's data instead) is always started. `calls_us`: it is told where the app serves (`--our-url`).
    `register(url, settings, our_url)`, once the app answers, enters it in the app's data and says so
    in a line; `usage` (lines with `{url}`) is printed under the listing."""

    key: str
    party: str
    module: str
    health_path: str
    urls: tuple[str, ...]
    args: Callable[[Settings], list[str]] = lambda settings: []
    point: Point = lambda url, settings, our_url: {}
    calls_us: bool = False
    register: Register | None = None
    usage: tuple[str, ...] = ()

    def wanted(self, settings: Settings) -> bool:
        return not self.urls or any(_left_at_default(settings, name) for name in self.urls)

    def command(self, settings: Settings, our_url: str) -> list[str]:
        told = ["--our-url", our_url] if self.calls_us else []
        return [sys.executable, "-m", self.module, "--port", "0", *told, *self.args(settings)]


def _left_at_default(settings: Settings, name: str) -> bool:
    return settings.setting(name) in ("", default_of(name))


def _point_urls(names: tuple[str, ...]) -> Point:
    """Every URL setting of `names` left at its default becomes the stand-in's URL."""
    def point(url: str, settings: Settings, our_url: str) -> dict[str, Any]:
        return {name: url for name in names if _left_at_default(settings, name)}
    return point


def _point_payments(url: str, settings: Settings, our_url: str) -> dict[str, Any]:
    """The gateway URL and our notice callback on the address the app serves on (unless set). The platform
    certificates are downloaded by the adapter (`GET /v3/certificates`), as without a pinned public key."""
    changes: dict[str, Any] = {"payment_provider_url": url}
    if not settings.payments.notify_url:
        changes["payment_notify_url"] = f"{our_url}{NOTIFY_PATH}"
    return changes


def _wechatpay_args(settings: Settings) -> list[str]:
    """Our merchant account as the stand-in gateway knows it: the public half of our API key (generated
    outside production), its serial, the APIv3 key, and both appids (mini-program and phone app)."""
    key = wechatpay.load_merchant_key(settings)
    return ["--mchid", settings.payments.merchant_id, "--appid", settings.miniprogram.appid,
            "--appid", settings.payments.app_appid, "--api-v3-key", settings.payments.api_v3_key,
            "--merchant-public-key", str(wechatpay.merchant_public_key_path(settings)),
            "--merchant-serial", wechatpay.merchant_serial(settings, key)]


TENCENT_URLS = ("sms_url", "voice_url", "identity_url", "face_url")

STAND_INS: tuple[StandInSpec, ...] = (
    StandInSpec("tencent_cloud", "腾讯云 Tencent Cloud (短信 SMS, 语音验证码 voice codes, 二要素 identity, 人脸核身 face)",
                "standins.tencent_cloud", "/_standin/health", TENCENT_URLS,
                args=lambda s: ["--secret-id", s.tencent.secret_id, "--secret-key", s.tencent.secret_key,
                                "--sms-sdk-app-id", s.sms.sdk_app_id, "--voice-sdk-app-id", s.voice.sdk_app_id,
                                "--sign-name", s.sms.sign_name],
                point=_point_urls(TENCENT_URLS)),
    StandInSpec("jpush", "极光推送 JPush (app push)", "standins.jpush", "/_standin/health", ("push_url",),
                args=lambda s: ["--app-key", s.push.app_key, "--master-secret", s.push.master_secret],
                point=_point_urls(("push_url",))),
    StandInSpec("payment_provider", "微信支付 WeChat Pay API v3 (缴费 payments)", "standins.wechatpay",
                "/_standin/health", ("payment_provider_url",), args=_wechatpay_args, point=_point_payments),
    StandInSpec("departments", "部门数据交换 Departments on the exchange (人社 hrss, 住房公积金 hpf, 交管 tpb, 医保 nhsa)",
                "standins.departments", "/_standin/health", ("exchange_registry",),
                args=departments.args, point=departments.point),
    StandInSpec("miniprogram_platform", "小程序平台 Mini-program platform", "miniprogram_mock", "/mock/health",
                ("miniprogram_api_url",),
                args=lambda s: ["--appid", s.miniprogram.appid, "--secret", s.miniprogram.secret],
                point=_point_urls(("miniprogram_api_url",))),
    StandInSpec("partner_region", partner.PARTY, "standins.partner_region", partner.HEALTH_PATH, (),
                args=partner.args, calls_us=True, register=partner.register, usage=partner.USAGE),
)


def module_exists(module: str) -> bool:
    """Whether `python -m module` finds it in this checkout (said plainly rather than as a stand-in's crash)."""
    path = REPO_ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


@dataclass
class StandIns:
    """The running stand-ins, what points the app at them, and the parties left out (and why)."""

    our_url: str
    running: list[tuple[StandInSpec, StandInProcess]] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    left_out: list[tuple[StandInSpec, str]] = field(default_factory=list)

    def settings_for(self) -> dict[str, Any]:
        """The settings changes (`settings.with_(**changes)`) that point the app at the stand-ins."""
        return dict(self.changes)

    def env(self) -> dict[str, str]:
        """The same as APP_* environment variables, for an app started on its own."""
        return {f"APP_{name.upper()}": str(value) for name, value in self.changes.items()}

    def describe(self) -> list[tuple[str, str]]:
        """(party, where it listens), or for a party left out (party, why), in the order of STAND_INS."""
        lines = [(spec, process.url) for spec, process in self.running] + self.left_out
        order = {spec.key: n for n, spec in enumerate(STAND_INS)}
        return [(spec.party, where) for spec, where in sorted(lines, key=lambda line: order.get(line[0].key, 99))]

    def usage(self) -> list[str]:
        """How to use the running stand-ins that need a word."""
        return [line.format(url=process.url) for spec, process in self.running for line in spec.usage]

    def register_in_app(self, settings: Settings) -> list[str]:
        """Enter each running stand-in that lives in the app's data there (the app answers at `our_url`):
        a line per party saying what was done, or why it was not."""
        lines = []
        for spec, process in self.running:
            if spec.register is not None:
                try:
                    lines.append(spec.register(process.url, settings, self.our_url))
                except Exception as problem:  # said, and the app and the other parties go on without it
                    lines.append(f"{spec.key}: 未能在应用中登记 not registered in the app: {problem}")
        return lines

    def pids(self) -> list[int]:
        return [process.pid for _, process in self.running if process.pid is not None]

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM to every stand-in at once, then SIGKILL to any still running after `grace` seconds."""
        for _, process in self.running:
            process.terminate()
        deadline = time.monotonic() + grace
        for _, process in self.running:
            process.wait_or_kill(deadline - time.monotonic())

    def __enter__(self) -> StandIns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_all(data_dir: Path | str, our_url: str, settings: Settings, *, timeout: float = START_TIMEOUT,
              specs: tuple[StandInSpec, ...] = STAND_INS) -> StandIns:
    """Start every stand-in the settings need (logs in `<data_dir>/standins/<key>.log`) and wait until each
    answers. The processes start from this thread one after the other; they are awaited in parallel.
    If one fails, all are stopped and StandInError names it, quoting its log."""
    log_dir = Path(data_dir) / "standins"
    make_private_dir(log_dir)  # beside the database and keys: 0700, logs 0600
    found = StandIns(our_url.rstrip("/"))
    try:
        for spec in specs:
            if not spec.wanted(settings):
                found.left_out.append((spec, "configured: " + ", ".join(
                    settings.setting(name) for name in spec.urls)))
            elif not module_exists(spec.module):
                raise StandInError(f"{spec.key}: {spec.module} is not in this checkout")
            else:
                process = StandInProcess(spec.key, spec.command(settings, found.our_url), spec.health_path,
                                         log_dir / f"{spec.key}.log", timeout=timeout)
                process.start()
                found.running.append((spec, process))
        with ThreadPoolExecutor(max_workers=max(1, len(found.running))) as pool:
            waits = [pool.submit(process.wait_ready) for _, process in found.running]
            failures = [str(error) for error in (w.exception() for w in waits) if error is not None]
        if failures:
            raise StandInError("\n\n".join(failures))
        for spec, process in found.running:
            found.changes.update(spec.point(process.url, settings, found.our_url))
    except BaseException:
        found.stop()
        raise
    return found
