"""Profile one hot path of the served service with pyinstrument, on the same backend as `make bench`.

    .venv/bin/python -m bench.profile [json|png|home|home-warm|partner|partner-cold] [seconds]

The service runs as `python -m pyinstrument -m app` (one worker, in-process), the load comes from
this process (the asyncio generator, the same requests as `bench.suite`); the text profile goes to
bench/results/profile-<path>.txt.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import tempfile

from bench._load import ROOT, call_json, free_port, load_get, running, sign_in, stand_ins, verify_identity
from bench.home_cards import CARDS
from bench.suite import CONNECTIONS, RESULTS, PartnerBench, backend, partner_load, service_env

PATHS = {"json": "/api/v1/health-code", "png": "/api/v1/health-code?format=png", "home": "/api/v1/home",
         "home-warm": "/api/v1/home"}
SETTINGS = {"home-warm": {"APP_CARD_MAX_TTL": "3600"}}  # cards served from the cache once fetched


def main(which: str = "json", seconds: float = 8.0) -> int:
    out = RESULTS / f"profile-{which}.txt"
    RESULTS.mkdir(exist_ok=True)
    with backend() as backing, tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = {**service_env(data_dir, backing), **SETTINGS.get(which, {})}
        args = ["-m", "pyinstrument", "-r", "text", "-o", str(out), "-m", "app", "--port", str(port)]
        with stand_ins(port, data_dir, env) as pointed, running(args, {**env, **pointed}, port,
                                                                 log=RESULTS / "profile-server.log"):
            token = sign_in(port)
            verify_identity(port, token)
            call_json(port, "POST", "/api/v1/me/identity/face", token,
                      {"liveness_sample": base64.b64encode(os.urandom(4096)).decode()})
            call_json(port, "PUT", "/api/v1/home/cards", token, {"types": CARDS})
            if which in ("partner", "partner-cold"):
                partner = PartnerBench.register(port, {**os.environ, **env}, data_dir)
                call = partner.cold_call(25_000 * (seconds + 1.5)) if which == "partner-cold" else partner.known_call()
                result = partner_load(port, call, seconds)
            else:
                result = asyncio.run(load_get(port, PATHS[which], {"Authorization": f"Bearer {token}"}, seconds,
                                              CONNECTIONS))
            print(f"{which}: {result.rate:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
                  f"(under the profiler)")
    print(f"profile: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(sys.argv[1:2] or ["json"]), *(float(a) for a in sys.argv[2:3])))
