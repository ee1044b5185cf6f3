"""Benchmark: the home screen (GET /api/v1/home) with 6 pinned cards, as a ratio to a bare Sanic handler.

What is measured: the service runs with APP_CARD_MAX_TTL=0, so every home request really calls
the five department stand-ins (社保, 公积金, 医保, 交通违法, 水电燃气), each answering after 20 ms
(APP_CARD_BACKEND_LATENCY=0.02), and reads the health-code status: 6 cards, fetched concurrently.
Then one department hangs (APP_CARD_BACKEND_HANG=provident_fund, honoured outside production only)
and the home p99 is compared with the card timeout: once with the circuit breaker kept shut (every
request waits for the timeout: the bound itself) and once with the default breaker (it opens and the
hanging department is no longer waited for). Run: `.venv/bin/python -m bench.home_cards [seconds]`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from bench._load import SERVICE, call_json, free_port, measure, p99_latency, sign_in, start_server, verify_identity

CARDS = ["health_code", "social_security", "provident_fund", "medical_insurance", "traffic_violations", "utility_bills"]
TIMEOUT = 0.3
MARGIN_MS = 50.0


def _service(data_dir: str, port: int, **extra: str) -> tuple:
    env = {"APP_DATA_DIR": data_dir, "APP_DATABASE_URL": "", "APP_REDIS_URL": "", "APP_SCHEDULER_ENABLED": "false",
           "APP_CARD_BACKEND_LATENCY": "0.02", "APP_CARD_MAX_TTL": "0", "APP_CARD_TIMEOUT": str(TIMEOUT), **extra}
    process = start_server([*SERVICE, "--port", str(port)], env, port)
    token = sign_in(port)
    verify_identity(port, token)
    call_json(port, "PUT", "/api/v1/home/cards", token, {"types": CARDS})
    return process, {"Authorization": f"Bearer {token}"}, token


def main(seconds: float = 4.0) -> None:
    base_port = free_port()
    baseline = start_server(["-m", "bench.bare_sanic", str(base_port)], {}, base_port)
    processes = [baseline]
    try:
        base_rps = asyncio.run(measure(base_port, "/ping", {}, seconds))
        with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2, \
                tempfile.TemporaryDirectory() as d3:
            port = free_port()
            service, auth, token = _service(d1, port)
            processes.append(service)
            statuses = [c["status"] for c in call_json(port, "GET", "/api/v1/home", token)["cards"]]
            home_rps = asyncio.run(measure(port, "/api/v1/home", auth, seconds))
            # 16 connections each waiting ~20 ms for the departments bound the figure above; more
            # connections show what one worker does when latency is not the limit.
            home_rps_64 = asyncio.run(measure(port, "/api/v1/home", auth, seconds, connections=64))
            p99_healthy = asyncio.run(p99_latency(port, "/api/v1/home", auth, seconds))

            shut_port = free_port()  # breaker never opens: every request waits for the hanging card's timeout
            shut, shut_auth, shut_token = _service(d2, shut_port, APP_CARD_BACKEND_HANG="provident_fund",
                                                   APP_CARD_BREAKER_FAILURES="100000")
            processes.append(shut)
            hang_cards = {c["type"]: c["status"] for c in call_json(shut_port, "GET", "/api/v1/home", shut_token)["cards"]}
            p99_hang = asyncio.run(p99_latency(shut_port, "/api/v1/home", shut_auth, seconds))
            hang_rps = asyncio.run(measure(shut_port, "/api/v1/home", shut_auth, seconds))

            open_port = free_port()
            opened, open_auth, open_token = _service(d3, open_port, APP_CARD_BACKEND_HANG="provident_fund")
            processes.append(opened)
            for _ in range(5):  # the first five requests wait for the timeout; then the breaker is open (30 s)
                call_json(open_port, "GET", "/api/v1/home", open_token)
            p99_breaker = asyncio.run(p99_latency(open_port, "/api/v1/home", open_auth, seconds))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)

    bound = TIMEOUT * 1000 + MARGIN_MS
    print(f"6 cards: {', '.join(CARDS)}; 5 department stand-ins at 20 ms each, freshness off (every request "
          f"calls them); card timeout {TIMEOUT * 1000:.0f} ms; statuses {statuses}")
    print(f"baseline bare Sanic handler:          {base_rps:8.0f} req/s")
    print(f"GET /api/v1/home (all answering):     {home_rps:8.0f} req/s   ratio {home_rps / base_rps:.3f}   "
          f"p99 {p99_healthy:.1f} ms")
    print(f"GET /api/v1/home, 64 connections:     {home_rps_64:8.0f} req/s   ratio {home_rps_64 / base_rps:.3f}")
    print(f"provident_fund hanging, breaker shut: {hang_rps:8.0f} req/s   ratio {hang_rps / base_rps:.3f}   "
          f"p99 {p99_hang:.1f} ms vs timeout+{MARGIN_MS:.0f} ms = {bound:.0f} ms: "
          f"{'within' if p99_hang <= bound else 'OVER'} (card: {hang_cards.get('provident_fund')})")
    print(f"provident_fund hanging, breaker open: p99 {p99_breaker:.1f} ms after the 5 timeouts that opened it "
          f"(ratio {p99_breaker / p99_healthy:.2f} to all answering)")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
