"""`python -m bench.dashboard [seconds]`: the operations dashboard's panels (docs/grafana-dashboard.json) drawn
from a real run, as docs/screenshots/operations-dashboard.png. Not a Grafana screenshot: Grafana cannot be
installed on this machine, so the same queries are computed here from real scrapes of `/metrics`.

It serves the service (two workers on PostgreSQL + Redis when they answer, else one on the embedded
default) with `APP_METRICS_PORT`, one home-card department hanging (水电燃气) and the face provider down, and
drives sign-ins' reads, code fetches, verifications (valid and forged), home screens and face checks from a
few threads, heavier in the middle third. `/metrics` is scraped every 5 s; each panel's query (rates over
the last 30 s, p99 from the histogram's buckets, hit ratios, gauges) is evaluated at each scrape as
Prometheus would, and plotted.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

from PIL import Image, ImageDraw, ImageFont

from bench import _load, suite
from bench import partner_verification as partner_bench

OUT = _load.ROOT / "docs" / "screenshots" / "operations-dashboard.png"
LOG = _load.ROOT / "bench" / "results" / "dashboard-service.log"  # the run's own log lines (JSON), git-ignored
SCRAPE_EVERY = 5.0
WINDOW = 30.0  # seconds a rate is taken over
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


# -- the run ---------------------------------------------------------------------------------------

def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    samples: Samples = defaultdict(dict)
    for line in text.splitlines():
        found = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if found:
            labels = tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', found.group(2) or "")))
            samples[found.group(1)][labels] = float(found.group(3))
    return samples


def _call(port: int, method: str, path: str, token: str, body: dict | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()
            return reply.status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


def drive(port: int, token: str, verifier: tuple[str, Any], stop: threading.Event, busy: Callable[[], bool]) -> None:
    """One client's mix of requests until `stop`; faster while `busy()`."""
    client_id, key = verifier
    payload, sample = "", base64.b64encode(os.urandom(4096)).decode()
    while not stop.is_set():
        _call(port, "GET", "/api/v1/me", token)
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/health-code",
                                                           headers={"Authorization": f"Bearer {token}"})) as reply:
            payload = json.loads(reply.read())["payload"]
        for checked in (payload, payload) if random.random() < 0.8 else (payload, "GDHC1:NOT-A-CODE"):
            _call(port, "POST", "/api/admin/v1/health-code/verifications", partner_bench._token(key, client_id, "1", "admin"),
                  {"payload": checked, "purpose": "机场查验（示例）"})
        if random.random() < 0.5:
            _call(port, "GET", "/api/v1/home", token)
        if random.random() < 0.05:
            _call(port, "POST", "/api/v1/me/identity/face", token, {"liveness_sample": sample})
        time.sleep(random.uniform(0.0, 0.05) if busy() else random.uniform(0.1, 0.4))


def run(seconds: float) -> list[tuple[float, Samples]]:
    with tempfile.TemporaryDirectory() as data, suite.backend() as backing:
        port, metrics_port = _load.free_port(), _load.free_port()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            dead = probe.getsockname()[1]
        env = {**suite.service_env(data, backing), "APP_METRICS_PORT": str(metrics_port), "APP_SCHEDULER_ENABLED": "true",
               "APP_LOG_FORMAT": "json",
               "APP_CARD_BACKEND_HANG": "utility_bills", "APP_CARD_MAX_TTL": "30",
               "APP_FACE_URL": f"http://127.0.0.1:{dead}"}
        workers = 2 if backing.get("APP_REDIS_URL") else 1
        args = [*_load.SERVICE, "--port", str(port), "--workers", str(workers)]
        process = _load.start_server(args, env, port, timeout=180, log=LOG)
        try:
            _ready(port)
            verifier = _load.add_client({**os.environ, **env}, data, "白云机场查验点（示例）", "admin", "verifier")
            tokens = []
            for n in range(4):
                token = _load.sign_in(port, f"1390000{n:04d}")
                _load.verify_identity(port, token, _id_number(n))
                _call(port, "POST", "/api/v1/home/cards/utility_bills", token)
                tokens.append(token)
            started, stop = time.monotonic(), threading.Event()

            def busy() -> bool:
                return seconds / 3 < time.monotonic() - started < 2 * seconds / 3

            threads = [threading.Thread(target=drive, args=(port, token, verifier, stop, busy), daemon=True)
                       for token in tokens]
            for thread in threads:
                thread.start()
            scrapes = []
            try:
                while time.monotonic() - started < seconds:
                    scrapes.append((time.monotonic() - started, scrape(metrics_port)))
                    time.sleep(SCRAPE_EVERY)
            finally:
                stop.set()
                for thread in threads:
                    thread.join(15)
            print(f"{len(scrapes)} scrapes of {workers} worker(s) on "
                  f"{'PostgreSQL + Redis' if backing.get('APP_REDIS_URL') else 'the embedded default'}")
            return scrapes
        finally:
            process.terminate()
            process.wait(30)


def _ready(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the service did not become ready")


def _id_number(n: int) -> str:
    from app.accounts.rules import id_check_char

    first17 = f"440106198503{n + 10:02d}{n:03d}"
    return first17 + id_check_char(first17)


# -- the queries, as Prometheus evaluates them --------------------------------------------------------

def _sum_by(samples: Samples, series: str, by: tuple[str, ...], where: Callable[[dict[str, str]], bool] = lambda _: True
            ) -> dict[tuple[str, ...], float]:
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for labels, value in samples.get(series, {}).items():
        named = dict(labels)
        if where(named):
            out[tuple(named.get(b, "") for b in by)] += value
    return out


def rates(scrapes: list[tuple[float, Samples]], series: str, by: tuple[str, ...],
          where: Callable[[dict[str, str]], bool] = lambda _: True, per: float | None = None) -> dict[tuple[str, ...], list[tuple[float, float]]]:
    """rate() (or increase() over `per` seconds) over WINDOW at each scrape, summed by `by`."""
    lines: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)
    for i, (at, now) in enumerate(scrapes):
        back = next((j for j in range(i, -1, -1) if at - scrapes[j][0] >= WINDOW), None)
        if back is None:
            continue
        then_at, then = scrapes[back]
        before = _sum_by(then, series, by, where)
        for key, value in _sum_by(now, series, by, where).items():
            rate = max(0.0, value - before.get(key, 0.0)) / (at - then_at)
            lines[key].append((at, rate * per if per else rate))
    return lines


def p99(scrapes: list[tuple[float, Samples]], by: str) -> dict[tuple[str, ...], list[tuple[float, float]]]:
    buckets = rates(scrapes, "app_http_request_duration_seconds_bucket", (by, "le"))
    per_key: dict[str, dict[float, dict[float, float]]] = defaultdict(lambda: defaultdict(dict))
    for (key, le), points in buckets.items():
        for at, rate in points:
            per_key[key][at][float("inf") if le == "+Inf" else float(le)] = rate
    lines: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)
    for key, moments in per_key.items():
        for at, counts in sorted(moments.items()):
            quantile = _quantile(0.99, sorted(counts.items()))
            if quantile is not None:
                lines[(key,)].append((at, quantile))
    return lines


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """histogram_quantile: linear within the bucket the rank falls in."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 1.0)
        lower, below = upper, count
    return lower


def hit_ratio(scrapes: list[tuple[float, Samples]]) -> dict[tuple[str, ...], list[tuple[float, float]]]:
    hits = rates(scrapes, "app_cache_requests_total", ("tier",), lambda l: l["result"] == "hit")
    every = rates(scrapes, "app_cache_requests_total", ("tier",))
    return {key: [(at, h / t) for (at, h), (_, t) in zip(hits.get(key, []), points) if t > 0]
            for key, points in every.items()}


def gauge(scrapes: list[tuple[float, Samples]], series: str, by: str) -> dict[tuple[str, ...], list[tuple[float, float]]]:
    lines: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)
    for at, samples in scrapes:
        for labels, value in samples.get(series, {}).items():
            lines[(dict(labels)[by],)].append((at, value))
    return lines


# -- drawing ----------------------------------------------------------------------------------------

BACKGROUND, PANEL, GRID, TEXT, DIM = (17, 18, 23), (24, 27, 31), (44, 48, 55), (204, 204, 220), (140, 140, 155)
COLOURS = [(115, 191, 105), (242, 204, 12), (87, 148, 242), (255, 120, 10), (242, 73, 92), (184, 119, 217),
           (138, 184, 255), (250, 222, 42), (150, 217, 141), (255, 152, 48)]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        from noto_cjk_sans_otc import FONT_PATH

        return ImageFont.truetype(str(FONT_PATH), size, index=2)
    except Exception:  # any failure to load the CJK font: the default font still draws the figures
        return ImageFont.load_default()


def _panel(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, lines: dict[tuple[str, ...], list[tuple[float, float]]],
           seconds: float, unit: str, top: int = 6) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=PANEL, outline=GRID)
    draw.text((x0 + 10, y0 + 6), title, fill=TEXT, font=_font(15))
    chosen = sorted(lines.items(), key=lambda item: -max((v for _, v in item[1]), default=0))[:top]
    plot = (x0 + 60, y0 + 34, x1 - 12, y1 - 26 - 16 * ((len(chosen) + 1) // 2))
    peak = max((v for _, points in chosen for _, v in points), default=0.0) or 1.0
    peak *= 1.1
    small = _font(11)
    for i in range(5):
        y = plot[3] - (plot[3] - plot[1]) * i / 4
        draw.line((plot[0], y, plot[2], y), fill=GRID)
        draw.text((x0 + 6, y - 7), _label(peak * i / 4, unit), fill=DIM, font=small)
    for minute in range(0, int(seconds) + 1, 30):
        x = plot[0] + (plot[2] - plot[0]) * minute / seconds
        draw.text((x - 8, plot[3] + 3), f"{minute}s", fill=DIM, font=small)
    for n, (key, points) in enumerate(chosen):
        colour = COLOURS[n % len(COLOURS)]
        xy = [(plot[0] + (plot[2] - plot[0]) * at / seconds, plot[3] - (plot[3] - plot[1]) * v / peak) for at, v in points]
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        elif xy:
            draw.ellipse((xy[0][0] - 2, xy[0][1] - 2, xy[0][0] + 2, xy[0][1] + 2), fill=colour)
        lx, ly = x0 + 12 + (n % 2) * (x1 - x0) // 2, plot[3] + 20 + 16 * (n // 2)
        draw.rectangle((lx, ly + 4, lx + 10, ly + 8), fill=colour)
        draw.text((lx + 14, ly - 2), " ".join(key)[:48] or "(all)", fill=TEXT, font=small)


def _label(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"
    if unit == "%":
        return f"{value * 100:.0f}%"
    return f"{value:.2f}" if value < 10 else f"{value:.0f}"


def render(scrapes: list[tuple[float, Samples]], out: Path = OUT) -> None:
    seconds = scrapes[-1][0] if scrapes else 1.0
    width, height, header = 1600, 1420, 50
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((16, 12), "粤省事式政务服务平台（示例）· operations — the panels of docs/grafana-dashboard.json from real "
              "/metrics scrapes (not a Grafana screenshot: python -m bench.dashboard)", fill=TEXT, font=_font(16))
    panels = [
        ("Requests per second, by route", rates(scrapes, "app_http_requests_total", ("route",)), "req/s"),
        ("p99 latency, by route", p99(scrapes, "route"), "s"),
        ("Replies per second, by status", rates(scrapes, "app_http_requests_total", ("status",)), "req/s"),
        ("Health-code verifications per second, by channel and result",
         rates(scrapes, "app_health_code_verifications_total", ("channel", "result")), "ops"),
        ("Circuit breakers (0 closed, 1 half-open, 2 open)", gauge(scrapes, "app_circuit_breaker_state", "breaker"), ""),
        ("Cache hit ratio, by tier", hit_ratio(scrapes), "%"),
        ("Scheduled job runs per minute, by result", rates(scrapes, "app_job_runs_total", ("result",), per=60), ""),
        ("Outside-party errors per second, by party and kind",
         rates(scrapes, "app_outside_party_errors_total", ("party", "kind")), "ops"),
    ]
    w, h = (width - 30) // 2, (height - header - 40) // 4
    for i, (title, lines, unit) in enumerate(panels):
        x, y = 10 + (i % 2) * (w + 10), header + (i // 2) * (h + 10)
        _panel(draw, (x, y, x + w, y + h), title, lines, seconds, unit)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)
    print(f"wrote {out}")


def main(seconds: float = 150.0) -> int:
    render(run(seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 150.0))
