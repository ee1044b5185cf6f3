"""Benchmark: the health-code fetch (JSON and PNG) as ratios to a bare Sanic handler, same run.

Also prints the QR version of a real payload and PNG rendering speed against the default
qrcode + pillow pipeline. Run: `.venv/bin/python -m bench.health_code_fetch [seconds]`.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
import urllib.request

import qrcode

from bench._load import bare_sanic, free_port, measure, our_service, p99_latency, sign_in, verify_identity
from app.qr import qr_version
from health_code.render import render_png


def default_pipeline(payload: str) -> bytes:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q)
    qr.add_data(payload)
    qr.make(fit=True)
    out = io.BytesIO()
    qr.make_image().save(out)
    return out.getvalue()


def per_second(render, payload: str, seconds: float = 1.5) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        render(payload)
        count += 1
    return count / (time.perf_counter() - started)


def main(seconds: float = 4.0, access_log: bool = True) -> None:
    base_port, app_port = free_port(), free_port()
    # Every PNG request renders (no image cache): the worst case for the JSON requests beside it.
    with tempfile.TemporaryDirectory() as data_dir, bare_sanic(base_port), \
            our_service(app_port, data_dir, APP_ACCESS_LOG=str(access_log).lower(), APP_HEALTH_CODE_IMAGE_CACHE="0"):
        token = sign_in(app_port)
        verify_identity(app_port, token)
        auth = {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"http://127.0.0.1:{app_port}/api/v1/health-code", headers=auth)
        payload = json.loads(urllib.request.urlopen(request).read())["payload"]
        base_rps = asyncio.run(measure(base_port, "/ping", {}, seconds))
        json_rps = asyncio.run(measure(app_port, "/api/v1/health-code", auth, seconds))
        png_rps = asyncio.run(measure(app_port, "/api/v1/health-code?format=png", auth, seconds))
        p99_alone = asyncio.run(p99_latency(app_port, "/api/v1/health-code", auth, seconds))
        p99_beside_json = asyncio.run(p99_latency(app_port, "/api/v1/health-code", auth, seconds,
                                                  background=("/api/v1/health-code", 4)))
        p99_beside_png = asyncio.run(p99_latency(app_port, "/api/v1/health-code", auth, seconds,
                                                 background=("/api/v1/health-code?format=png", 4)))
    ours = per_second(lambda p: render_png(p, "green", "绿码 · 未发现风险"), payload)
    default = per_second(default_pipeline, payload)
    print(f"payload: {len(payload)} characters, QR version {qr_version(payload)} at error correction Q")
    print(f"access log: {'on' if access_log else 'off'}")
    print(f"baseline bare Sanic handler:        {base_rps:8.0f} req/s")
    print(f"GET /api/v1/health-code (JSON):     {json_rps:8.0f} req/s   ratio {json_rps / base_rps:.3f}")
    print(f"GET /api/v1/health-code?format=png: {png_rps:8.0f} req/s   ratio {png_rps / base_rps:.3f}")
    print(f"JSON p99 latency: {p99_alone:.2f} ms alone, {p99_beside_json:.2f} ms with 4 more JSON clients, "
          f"{p99_beside_png:.2f} ms with 4 PNG clients each rendering a new image: ratio "
          f"{p99_beside_png / p99_beside_json:.2f} to the same load of JSON")
    print(f"PNG rendering: ours {ours:.0f}/s vs default qrcode+pillow {default:.0f}/s: ratio {ours / default:.1f}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0, access_log="--no-access-log" not in sys.argv)
