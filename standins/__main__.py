"""`python -m standins`: every stand-in outside party on its own, for an app started separately.

    python -m standins [--data-dir data] [--our-url http://127.0.0.1:8000]

Starts each stand-in (logs in `<data-dir>/standins/`), prints where each listens and the APP_*
variables that point an app at them, waits for Ctrl-C (or SIGTERM) and stops them all.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from app.config import ConfigError, Settings
from standins.process import StandInError, start_all


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m standins", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(settings.data_dir), help="logs go to <data-dir>/standins/")
    parser.add_argument("--our-url", default=f"http://127.0.0.1:{settings.port}",
                        help="where the app will serve (the payment provider posts its notices there)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stand_ins = start_all(args.data_dir, args.our_url, settings)
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
        print("Ctrl-C 全部停止 stops them all", flush=True)
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


if __name__ == "__main__":
    sys.exit(main())
