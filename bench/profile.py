"""Profile one hot path of the served service with pyinstrument, on the same backend as `make bench`.

    .venv/bin/python -m bench.profile [json|png|home|home-warm|partner|partner-cold|verification|redemption|refresh]
                                      [seconds]

The load comes from this process (the asyncio generator, the same requests as `bench.suite`); the text
profile goes to bench/results/profile-<path>.txt. The set-up (signing citizens in, registering the
partner or the scanner, making the voucher tokens or the refresh chains) is done on a server without the
profiler; then, on PostgreSQL + Redis, where everything it made is kept, the server is started again as
`python -m pyinstrument -m app` (one worker, in-process) for the load alone, so the profile shows the
requests measured and not their set-up. On the embedded default (an in-memory cache, lost with its
process) the one profiled server does both.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import tempfile
from contextlib import ExitStack
from typing import Callable

from bench._load import ROOT, LoadResult, call_json, free_port, load_get, running, sign_in, stand_ins, verify_identity
from bench.home_cards import CARDS
from bench import voucher_redemption as voucher_bench
from bench.suite import (CONNECTIONS, RESULTS, PartnerBench, add_scanner, backend, partner_load, service_env,
                         single_verifications, token_refreshes, voucher_redemptions)

PATHS = {"json": "/api/v1/health-code", "png": "/api/v1/health-code?format=png", "home": "/api/v1/home",
         "home-warm": "/api/v1/home"}
SETTINGS = {"home-warm": {"APP_CARD_MAX_TTL": "3600"}}  # cards served from the cache once fetched


def prepared(which: str, port: int, cli_env: dict[str, str], data_dir: str, seconds: float) -> Callable[[], LoadResult]:
    """Set up the path `which` on the server at `port`; the returned function runs its load."""
    token = sign_in(port)
    verify_identity(port, token)
    call_json(port, "POST", "/api/v1/me/identity/face", token,
              {"liveness_sample": base64.b64encode(os.urandom(4096)).decode()})
    call_json(port, "PUT", "/api/v1/home/cards", token, {"types": CARDS})
    if which in ("partner", "partner-cold"):
        partner = PartnerBench.register(port, cli_env, data_dir)
        call = partner.cold_call(25_000 * (seconds + 1.5)) if which == "partner-cold" else partner.known_call()
        return lambda: partner_load(port, call, seconds)
    if which == "verification":
        partner = PartnerBench.register(port, cli_env, data_dir)
        scanner = add_scanner(cli_env, data_dir)
        return lambda: single_verifications(port, scanner, partner, seconds)
    if which == "redemption":
        return voucher_redemptions(port, token, voucher_bench.register_hotel(cli_env, data_dir), seconds)
    if which == "refresh":
        return token_refreshes(port, seconds)
    return lambda: asyncio.run(load_get(port, PATHS[which], {"Authorization": f"Bearer {token}"}, seconds,
                                        CONNECTIONS))


def main(which: str = "json", seconds: float = 8.0) -> int:
    out = RESULTS / f"profile-{which}.txt"
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "profile-server.log"
    with backend() as backing, tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = {**service_env(data_dir, backing), **SETTINGS.get(which, {})}
        profiled = ["-m", "pyinstrument", "-r", "text", "-o", str(out), "-m", "app", "--port", str(port)]
        with stand_ins(port, data_dir, env) as pointed, ExitStack() as servers:
            server_env, cli_env = {**env, **pointed}, {**os.environ, **env}
            kept = bool(backing.get("APP_REDIS_URL"))
            servers.enter_context(running(["-m", "app", "--port", str(port)] if kept else profiled, server_env, port,
                                          log=log))
            load = prepared(which, port, cli_env, data_dir, seconds)
            if kept:
                servers.close()  # the set-up's server stops; the profiled one serves the load alone
                servers.enter_context(running(profiled, server_env, port, log=log))
            result = load()
            print(f"{which}: {result.rate:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
                  f"(under the profiler)")
    print(f"profile: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(sys.argv[1:2] or ["json"]), *(float(a) for a in sys.argv[2:3])))
