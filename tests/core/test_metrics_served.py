"""`/metrics` of a served service under load: every series the operators' dashboard and alerts read, added up
across workers (two with Redis; the embedded default serves one), on a port of its own, rising as requests
come; and the JSON log lines of the same run parse, carry request ids and hold no personal data."""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from typing import Any

import pytest

from app import metrics
from app.metrics import SERIES
from bench import _load
from bench import partner_verification as partner_bench
from bench._load import free_port
from bench.dashboard import scrape
from tests.conftest import ON_POSTGRES, REDIS_URL
from tests.factories import live_sample, new_phone, valid_id_number
from tests.served import Served, call, served, signed_in_citizen

pytestmark = pytest.mark.api
WORKERS = 2 if REDIS_URL else 1  # several workers need Redis: the embedded default refuses them
NAME = "林晓彤"  # sample person (示例), told to the stand-in identity authority


def total(samples: dict, series: str, **match: str) -> float:
    return sum(value for labels, value in samples.get(series, {}).items()
               if all((key, want) in labels for key, want in match.items()))


def dead_port() -> int:
    """A loopback port nobody listens on (an outside party that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def add_verifier(service: Served) -> None:
    """A verifier registered with `python -m app clients add` against the served database."""
    env = {**service.env, "APP_DATABASE_URL": service.database_url}
    verifier[:] = _load.add_client(env, service.env["APP_DATA_DIR"], "白云机场查验点（示例）", "admin", "verifier")


def verifier_token() -> str:
    """A new client JWT of the verifier (each is good once)."""
    client_id, key = verifier
    return partner_bench._token(key, client_id, "1", "admin")


def load(service: Served, token: str, rounds: int) -> None:
    """Signed-in reads (cache hits and misses), code fetches, verifications (valid and forged), home cards."""
    for _ in range(rounds):
        assert call(service.port, "GET", "/api/v1/me", token=token)[0] == 200
        status, code, _ = call(service.port, "GET", "/api/v1/health-code", token=token)
        assert status == 200, code
        for payload in (code["payload"], "GDHC1:FORGED"):
            status, body, _ = call(service.port, "POST", "/api/admin/v1/health-code/verifications",
                                   {"payload": payload, "purpose": "机场查验（测试）"}, token=verifier_token())
            assert status in (200, 422), body
        assert call(service.port, "GET", "/api/v1/home", token=token)[0] == 200


# Served here without a read replica: its fallbacks are counted in tests/core/test_replica.py.
SERIES_WITHOUT_A_REPLICA = [s for s in SERIES if s != "app_database_replica_fallbacks_total"]

verifier: list[Any] = []  # client id, private key


@pytest.fixture(scope="module")
def service():
    env: dict[str, Any] = dict(APP_METRICS_PORT=str(free_port()), APP_LOG_FORMAT="json", APP_WORKERS=str(WORKERS),
                               APP_FACE_URL=f"http://127.0.0.1:{dead_port()}",
                               APP_CARD_BACKEND_HANG="utility_bills", APP_CARD_BREAKER_FAILURES="1")
    if REDIS_URL:
        env.update(APP_REDIS_URL=REDIS_URL, APP_CACHE_NAMESPACE=f"metrics-{secrets.token_hex(4)}")
    with served(**env) as running:
        running.env["APP_SCHEDULER_ENABLED"] = "true"  # job runs are among the series
        running.start(timeout=120)
        yield running


def test_metrics_serves_every_series_under_load_and_they_rise(service):
    metrics_port = int(service.env["APP_METRICS_PORT"])
    phone, id_number = new_phone(), valid_id_number(birth="19880412", sequence="263")
    token = signed_in_citizen(service, phone, id_number, NAME)
    add_verifier(service)
    # 水电燃气: a card whose department (an in-process stand-in) hangs, behind a breaker that opens at once.
    assert call(service.port, "POST", "/api/v1/home/cards/utility_bills", token=token)[0] == 200
    # The face provider is down: an outside party's error, counted and answered 503.
    status, body, _ = call(service.port, "POST", "/api/v1/me/identity/face", {"liveness_sample": live_sample()},
                           token=token)
    assert status == 503, body
    load(service, token, 5)
    time.sleep(metrics.FLUSH_EVERY + 0.5)  # each worker writes its counts once a second
    first = scrape(metrics_port)
    for series in SERIES_WITHOUT_A_REPLICA:
        assert series in first, f"{series} missing from /metrics"
    assert total(first, "app_http_requests_total", route="/api/v1/me", method="GET", status="200") >= 5
    assert not any(re.search(r"\d{6}", dict(labels).get("route", "")) for labels in first["app_http_requests_total"])
    assert total(first, "app_health_code_verifications_total", channel="verifier", result="valid") >= 5
    refused = total(first, "app_health_code_verifications_total", channel="verifier") - \
        total(first, "app_health_code_verifications_total", channel="verifier", result="valid")
    assert refused >= 5
    assert total(first, "app_outside_party_errors_total", party="tencent_faceid", kind="unavailable") >= 1
    assert total(first, "app_cache_requests_total", result="hit") > 0
    assert total(first, "app_cache_requests_total", result="miss") > 0
    assert total(first, "app_job_runs_total", result="ok") > 0
    breakers = {dict(labels)["breaker"]: value for labels, value in first["app_circuit_breaker_state"].items()}
    assert any(name.startswith("card:") for name in breakers) and set(breakers.values()) <= {0, 1, 2}, breakers
    assert breakers.get("card:utility_bills") == 2  # open
    assert total(first, "app_circuit_breaker_transitions_total", breaker="card:utility_bills", state="open") >= 1

    load(service, token, 5)
    time.sleep(metrics.FLUSH_EVERY + 0.5)
    second = scrape(metrics_port)
    for series, labels in (("app_http_requests_total", {"route": "/api/v1/me"}),
                           ("app_http_request_duration_seconds_count", {"route": "/api/v1/health-code"}),
                           ("app_health_code_verifications_total", {"channel": "verifier"}),
                           ("app_cache_requests_total", {})):
        assert total(second, series, **labels) > total(first, series, **labels), series
    deadline = time.monotonic() + 40  # the quickest job runs every 15 s
    while total(scrape(metrics_port), "app_job_runs_total") <= total(first, "app_job_runs_total"):
        assert time.monotonic() < deadline, "no job ran again"
        time.sleep(1)

    # Never on the public port.
    status, _, _ = call(service.port, "GET", "/metrics")
    assert status == 404

    _json_logs_carry_request_ids_and_no_pii(service, token, phone, id_number)


def _json_logs_carry_request_ids_and_no_pii(service: Served, token: str, phone: str, id_number: str) -> None:
    request_id = f"metrics-test-{secrets.token_hex(4)}"
    call(service.port, "GET", "/api/v1/me", token=token, headers={"X-Request-ID": request_id})
    call(service.port, "GET", f"/api/v1/applications/{id_number}", token=token)  # an ID number typed into a path
    time.sleep(1)  # the request log is written every 0.2 s
    text = service.log()
    lines = [line for line in text.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]  # every JSON line parses
    assert {"time", "level", "logger", "message"} <= set(records[-1])
    mine = [r for r in records if r.get("request_id") == request_id]
    assert mine and mine[0]["logger"] == "access" and mine[0]["path"] == "/api/v1/me"
    assert sum(1 for r in records if r.get("logger") == "access" and r.get("request_id")) >= 20
    for secret in (phone, id_number, NAME, id_number[6:14]):
        assert secret not in text, "personal data in the service's log"
    if ON_POSTGRES:
        assert any(r.get("logger", "").startswith("sanic") for r in records)  # Sanic's own lines are JSON too
