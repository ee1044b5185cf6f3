"""Benchmark: authenticated `GET /api/v1/me` throughput as a ratio to a bare Sanic handler.

Run: `make bench` (or `.venv/bin/python -m bench.me_throughput [seconds]`). Each server runs
as one process on the embedded default (SQLite + in-memory cache); the same load generator
drives both in the same run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile

from bench._load import bare_sanic, free_port, measure, our_service, sign_in


def main(seconds: float = 5.0) -> None:
    base_port, app_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir, bare_sanic(base_port), our_service(app_port, data_dir):
        token = sign_in(app_port)
        base_rps = asyncio.run(measure(base_port, "/ping", {}, seconds))
        me_rps = asyncio.run(measure(app_port, "/api/v1/me", {"Authorization": f"Bearer {token}"}, seconds))
    print(f"baseline bare Sanic handler: {base_rps:8.0f} req/s")
    print(f"GET /api/v1/me (ES256 JWT, session check, citizen row, PII decrypt + mask): {me_rps:8.0f} req/s")
    print(f"ratio me/baseline: {me_rps / base_rps:.3f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
