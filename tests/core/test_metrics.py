"""The operators' series in one process (app/metrics.py): kept only when enabled, labelled by bounded names;
the multiprocess folder (app/metrics_server.py); what jobs, caches, adapters and verifications report."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from app import metrics, metrics_server
from app.cache import MemoryCache
from app.config import ConfigError, Settings
from app.integrations import ProviderMisconfigured, ProviderThrottled, ProviderUnavailable, reported
from app.integrations.tencent_cloud import Credentials, TencentCloudClient, TencentCloudError
from app.jobs import run_exclusively
from app.cache import LockNotAcquired, cache_lock


def value(series: str, **labels: str) -> float:
    metrics.flush()  # counts wait up to a second in memory
    return REGISTRY.get_sample_value(series, labels) or 0.0


@pytest.fixture
def on():
    metrics.enable()
    yield
    metrics.disable()


def test_nothing_is_kept_until_enabled():
    before = value("app_outside_party_errors_total", party="jpush", kind="unavailable")
    metrics.outside_party_error("jpush", "unavailable")
    assert value("app_outside_party_errors_total", party="jpush", kind="unavailable") == before


def test_a_verification_result_is_its_code_lower_case_and_anything_else_is_other(on):
    before = value("app_health_code_verifications_total", channel="verifier", result="expired")
    metrics.verification("verifier", "EXPIRED")
    metrics.verification("verifier", "4401061990<script>")
    assert value("app_health_code_verifications_total", channel="verifier", result="expired") == before + 1
    assert value("app_health_code_verifications_total", channel="verifier", result="other") >= 1


def test_a_breaker_state_is_its_last_sight_and_each_move_is_counted_once(on):
    name = "exchange:test-breaker"
    for state in ("closed", "closed", "open", "open", "half_open", "closed"):
        metrics.breaker(name, state)
    assert value("app_circuit_breaker_state", breaker=name) == 0
    assert value("app_circuit_breaker_transitions_total", breaker=name, state="open") == 1
    assert value("app_circuit_breaker_transitions_total", breaker=name, state="closed") == 2
    assert value("app_circuit_breaker_transitions_total", breaker=name, state="half_open") == 1


async def test_shared_cache_reads_count_hits_and_misses(on):
    cache = MemoryCache()
    hits, misses = value("app_cache_requests_total", tier="shared", result="hit"), \
        value("app_cache_requests_total", tier="shared", result="miss")
    await cache.set("a", "1", ttl=60)
    assert await cache.get("a") == "1" and await cache.get("b") is None
    assert await cache.get_many(["a", "b", "c"]) == ["1", None, None]
    assert value("app_cache_requests_total", tier="shared", result="hit") == hits + 2
    assert value("app_cache_requests_total", tier="shared", result="miss") == misses + 3


async def test_job_runs_are_counted_ok_failed_and_skipped(on, platform):
    async def fine() -> str:
        return "done"

    async def broken() -> None:
        raise RuntimeError("the job's own bug")

    ok, failed, skipped = (value("app_job_runs_total", job="metrics-demo", result=r) for r in ("ok", "failed", "skipped"))
    assert await run_exclusively(platform.cache, "metrics-demo", fine) is True
    with pytest.raises(RuntimeError):
        await run_exclusively(platform.cache, "metrics-demo", broken)
    async with cache_lock(platform.cache, "job:metrics-demo"):  # another worker is running it
        assert await run_exclusively(platform.cache, "metrics-demo", fine) is False

    async def waits_for_a_lock() -> None:
        raise LockNotAcquired("hc:evaluate:cit_1")

    with pytest.raises(LockNotAcquired):
        await run_exclusively(platform.cache, "metrics-demo", waits_for_a_lock)
    assert value("app_job_runs_total", job="metrics-demo", result="ok") == ok + 1
    assert value("app_job_runs_total", job="metrics-demo", result="failed") == failed + 2
    assert value("app_job_runs_total", job="metrics-demo", result="skipped") == skipped + 1
    assert value("app_job_duration_seconds_count", job="metrics-demo") >= 3


async def test_counts_reach_the_series_within_a_second_in_one_write(on):
    import asyncio

    before = value("app_http_requests_total", route="/flush-test", method="GET", status="200")
    for _ in range(3):
        metrics.http_request("/flush-test", "GET", 200, 0.004)
    metrics.http_request("/flush-test", "GET", 200, 7.0)
    assert REGISTRY.get_sample_value("app_http_requests_total", {"route": "/flush-test", "method": "GET",
                                                                "status": "200"}) in (None, before)  # not yet
    await asyncio.sleep(metrics.FLUSH_EVERY + 0.2)
    labels = {"route": "/flush-test", "method": "GET"}
    assert REGISTRY.get_sample_value("app_http_requests_total", {**labels, "status": "200"}) == before + 4
    assert REGISTRY.get_sample_value("app_http_request_duration_seconds_bucket", {**labels, "le": "0.005"}) == 3
    assert REGISTRY.get_sample_value("app_http_request_duration_seconds_bucket", {**labels, "le": "5.0"}) == 3
    assert REGISTRY.get_sample_value("app_http_request_duration_seconds_bucket", {**labels, "le": "10.0"}) == 4
    assert REGISTRY.get_sample_value("app_http_request_duration_seconds_sum", labels) == pytest.approx(7.012)


def test_reported_counts_provider_errors_by_kind_but_not_the_partys_answers(on):
    party = "test_party"
    for error in (ProviderUnavailable("timeout"), ProviderThrottled("http_429"), ProviderMisconfigured("http_403"),
                  TencentCloudError("FailedOperation.IdNameMisMatch")):
        with pytest.raises(type(error)), reported(party, answers=(TencentCloudError,)):
            raise error
    for kind in ("unavailable", "throttled", "misconfigured"):
        assert value("app_outside_party_errors_total", party=party, kind=kind) == 1
    assert value("app_outside_party_errors_total", party=party, kind="refused") == 0


async def test_a_tencent_cloud_service_unreachable_is_its_error(on):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = TencentCloudClient("http://127.0.0.1:9", Credentials("id", "key"), service="vms", version="2020-09-02",
                                region="ap-guangzhou", timeout=1)
    client.http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    before = value("app_outside_party_errors_total", party="tencent_vms", kind="unavailable")
    with pytest.raises(ProviderUnavailable):
        await client.call("SendCodeVoice", {})
    await client.close()
    assert value("app_outside_party_errors_total", party="tencent_vms", kind="unavailable") == before + 1


def test_the_metrics_port_is_never_the_public_one():
    with pytest.raises(ConfigError, match="APP_METRICS_PORT must differ from APP_PORT"):
        Settings.from_env({"APP_METRICS_PORT": "8000", "APP_PORT": "8000"})
    with pytest.raises(ConfigError, match="APP_METRICS_PORT"):
        Settings.from_env({"APP_METRICS_PORT": "0"})
    assert Settings.from_env({}).metrics_port is None  # off unless asked for


def test_each_start_gets_a_fresh_private_folder_and_dead_workers_lose_their_live_gauges(monkeypatch):
    monkeypatch.delenv(metrics_server.ENV, raising=False)
    folder = metrics_server.prepare()
    try:
        assert os.environ[metrics_server.ENV] == folder
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert metrics_server.prepare() != folder  # the next start's
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        dead_pid = int(gone.stdout)
        for name in (f"gauge_livemostrecent_{dead_pid}.db", f"gauge_livemostrecent_{os.getpid()}.db",
                     f"counter_{dead_pid}.db"):
            (Path(folder) / name).write_bytes(b"")
        assert metrics_server.forget_dead_workers(folder) == [dead_pid]
        left = sorted(p.name for p in Path(folder).iterdir())
        assert left == sorted([f"counter_{dead_pid}.db", f"gauge_livemostrecent_{os.getpid()}.db"])  # counts stay
    finally:
        import shutil

        from prometheus_client import values

        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(os.environ.pop(metrics_server.ENV), ignore_errors=True)
        values.ValueClass = values.MutexValue  # this test process keeps its values in memory again


def test_a_taken_metrics_port_stops_the_start_with_a_configuration_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
        env.update(APP_DATA_DIR=str(tmp_path), APP_METRICS_PORT=str(port), APP_PORT=str(port + 1 if port < 65535 else 1024))
        done = subprocess.run([sys.executable, "-m", "app", "serve"], cwd=Path(__file__).resolve().parents[2], env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"configuration error: APP_METRICS_PORT {port} cannot be served" in done.stderr
