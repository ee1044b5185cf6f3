"""`python -m standins`: every stand-in outside party, on its own or with the app beside them.

    python -m standins [--data-dir data] [--our-url http://127.0.0.1:8000]
    python -m standins --with-app [--host 127.0.0.1] [--port 8000] [--workers 1]      (`make run`)

Starts each stand-in (logs in `<data-dir>/standins/`) and prints where each listens. On its own it
prints the APP_* variables that point an app at them and waits for Ctrl-C (or SIGTERM). With
`--with-app` it then starts the app as a process of its own (`python -m app serve`, those variables
in its environment), waits for it to end, and exits with its exit code. Either way, once the app
answers at its URL, the stand-ins that live in the app's data rather than its settings (the partner
region MO) are registered in it, and a line says so. Whatever ends it stops every stand-in; the
processes it starts die with it even when it is killed outright.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

import httpx

from app.config import ConfigError, Settings
from standins.process import (REPO_ROOT, STAND_INS, StandInError, StandIns, StandInSpec, _die_with_parent,
                              start_all)

APP_STOP_GRACE = 15.0  # seconds the app has to stop after SIGTERM before it is killed
READY_PATH = "/readyz"


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m standins", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(settings.data_dir), help="logs go to <data-dir>/standins/")
    parser.add_argument("--our-url", default=None,
                        help="where the app will serve (the payment provider posts its notices there); "
                             "default: http://127.0.0.1:<APP_PORT>, with --with-app where it is started")
    parser.add_argument("--with-app", action="store_true",
                        help="also start the app (`python -m app serve`) pointed at them, stop everything when it ends")
    parser.add_argument("--host", default=settings.host, help=f"with --with-app: the app's address (APP_HOST, "
                                                              f"default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"with --with-app: the app's port (APP_PORT, "
                                                                        f"default {settings.port})")
    parser.add_argument("--workers", type=int, default=None, help="with --with-app: the app's worker processes "
                                                                  "(APP_WORKERS; more than 1 needs APP_REDIS_URL)")
    parser.add_argument("--skip", action="append", default=[], choices=[spec.key for spec in STAND_INS],
                        metavar="STAND_IN", help="leave this stand-in out (repeatable; one of: "
                                                 + ", ".join(spec.key for spec in STAND_INS) + ")")
    args = parser.parse_args(argv)
    if args.with_app:
        return _with_app(settings, args)
    return _alone(settings, args)


def _chosen(skipped: list[str]) -> tuple[StandInSpec, ...]:
    """Every stand-in but those named by --skip."""
    return tuple(spec for spec in STAND_INS if spec.key not in skipped)


def _alone(settings: Settings, args: argparse.Namespace) -> int:
    """The stand-ins until Ctrl-C, for an app started separately."""
    our_url = args.our_url or f"http://127.0.0.1:{settings.port}"
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stand_ins = start_all(args.data_dir, our_url, settings, specs=_chosen(args.skip))
    except StandInError as exc:
        print(f"a stand-in did not start: {exc}", file=sys.stderr)
        return 1
    try:
        print("替身外部服务 Stand-in outside parties:", flush=True)
        for party, where in stand_ins.describe():
            print(f"  {where:<24} {party}" if where.startswith("http") else f"  {'-':<24} {party}: {where}")
        print(f"日志 Logs: {args.data_dir}/standins/")
        print("指向它们的设置 Point an app at them with:")
        for name, value in stand_ins.env().items():
            print(f"  export {name}={shlex.quote(value)}")
        for line in stand_ins.usage():
            print(f"  {line}")
        if any(spec.register for spec, _ in stand_ins.running):
            print(f"应用在 {stand_ins.our_url} 应答后登记互认伙伴 The partner region is registered in the app once "
                  f"it answers at {stand_ins.our_url} (--our-url)")
        print("Ctrl-C 全部停止 stops them all", flush=True)
        _register_when_ready(stand_ins, settings, stop)
        while not stop.wait(0.5):
            dead = [spec.key for spec, process in stand_ins.running if not process.running()]
            if dead:
                print(f"stand-in exited on its own: {', '.join(dead)} (see its log)", file=sys.stderr)
                return 1
        return 0
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stand_ins.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _with_app(settings: Settings, args: argparse.Namespace) -> int:
    """Every stand-in, then the app as a child process pointed at them; the app's exit code. Ctrl-C or
    SIGTERM asks the app to stop (SIGTERM), waits for it, then stops the stand-ins."""
    try:  # a bad --port or --workers is the app's configuration error: say it before starting anything
        settings = settings.with_(host=args.host, port=args.port,
                                  workers=settings.workers if args.workers is None else args.workers)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if settings.production:
        print("configuration error: production never uses stand-ins: serve with `python -m app`", file=sys.stderr)
        return 2
    our_url = args.our_url or _local_url(settings)
    asked_to_stop = threading.Event()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # while the stand-ins start: start_all stops those already started

    def stop_asked(signum: int, frame: object) -> None:
        asked_to_stop.set()  # the waiting loop forwards it to the app

    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    stand_ins: StandIns | None = None
    app: subprocess.Popen[bytes] | None = None
    try:
        try:
            stand_ins = start_all(args.data_dir, our_url, settings, specs=_chosen(args.skip))
        except StandInError as exc:
            print(f"a stand-in outside party did not start, so the app was not started: {exc}", file=sys.stderr)
            return 1
        for sig in previous:
            signal.signal(sig, stop_asked)
        _print_where(our_url, stand_ins, args.data_dir)
        command = [sys.executable, "-m", "app", "serve", "--host", settings.host, "--port", str(settings.port),
                   "--workers", str(settings.workers)]
        # The app is told where each stand-in is through its settings (APP_*), as it would be told of a
        # real provider; APP_STANDINS=off says they are looked after here.
        env = {**os.environ, **stand_ins.env(), "APP_STANDINS": "off"}
        app = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                               preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        _register_when_ready(stand_ins, settings, asked_to_stop)
        return _exit_code(_wait_for(app, asked_to_stop))
    except KeyboardInterrupt:
        return 130
    finally:
        for sig in previous:  # a second Ctrl-C must not cut the stop short and leave processes behind
            signal.signal(sig, signal.SIG_IGN)
        if app is not None and app.poll() is None:  # an error here while the app runs: it goes too
            _stop_app(app)
        if stand_ins is not None:
            stand_ins.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for(app: subprocess.Popen[bytes], asked_to_stop: threading.Event) -> int:
    """The app's return code once it has ended: on its own, or asked to by Ctrl-C or SIGTERM."""
    while app.poll() is None:
        if asked_to_stop.wait(0.2):
            _stop_app(app)
    return app.returncode


def _stop_app(app: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the app stops serving and exits), SIGKILL if it is still there after APP_STOP_GRACE."""
    try:
        app.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + APP_STOP_GRACE
    while app.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if app.poll() is None:
        print(f"the app did not stop within {APP_STOP_GRACE:.0f} s of SIGTERM: killed", file=sys.stderr)
        app.kill()
        app.wait()


def _exit_code(returncode: int) -> int:
    """A child's return code as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def _local_url(settings: Settings) -> str:
    """Where this machine reaches the app (a wildcard bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _register_when_ready(stand_ins: StandIns, settings: Settings, stop: threading.Event) -> None:
    """In the background: once the app answers at its URL, register there the stand-ins that live in its data
    (the partner region) and print what was done. Nothing while the app does not answer; `stop` ends the wait."""
    if not any(spec.register for spec, _ in stand_ins.running):
        return

    def run() -> None:
        with httpx.Client(timeout=2.0) as probe:
            while not stop.wait(0.3):
                try:
                    if probe.get(f"{stand_ins.our_url}{READY_PATH}").status_code == 200:
                        break
                except httpx.TransportError:
                    pass  # not serving yet
            else:
                return
        for line in stand_ins.register_in_app(settings):
            print(f"  {line}", flush=True)

    threading.Thread(target=run, name="register-stand-ins", daemon=True).start()


def _print_where(our_url: str, stand_ins: StandIns, data_dir: str) -> None:
    lines = ["", "粤省事式政务服务平台（示例）· dev: the app and the stand-in outside parties",
             f"  {our_url:<24} 应用 App (API 文档 docs: {our_url}/docs)"]
    lines += [f"  {where:<24} {party}" if where.startswith("http") else f"  {'-':<24} {party}: {where}"
              for party, where in stand_ins.describe()]
    lines += [f"  {line}" for line in stand_ins.usage()]
    lines += [f"  登录验证码 Login codes: {our_url}/dev/sms-outbox?phone=<手机号 phone>",
              f"  替身日志 Stand-in logs: {data_dir}/standins/",
              "  Ctrl-C 全部停止 stops the app and every stand-in", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
