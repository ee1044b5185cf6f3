"""What the service counts for its operators (运维指标): Prometheus series every layer reports through.

The core and the domains call the small functions below; none of them knows Prometheus. They do nothing
until `enable()` (the composition root calls it when `APP_METRICS_PORT` is set), so a service without
metrics pays one flag test per call. The series are served by `app.metrics_server`, on a port of their own,
from one process for all workers: each worker writes its values to files in a folder the main process made
(`PROMETHEUS_MULTIPROC_DIR`, read by prometheus-client when this module is first imported).

Labels are bounded sets: a route's pattern (never the path with its ids), a job's name, an outside party's
name and an error kind, a verification's result code. No label ever holds a citizen's data.

Counts and observations are added up in the worker's memory and written to the shared files once a second
(`flush`, on the running loop; at once where no loop runs): a write to those files takes a lock and costs
microseconds, and the hottest reports (a near-cache read, every request) come many times a millisecond.

| series | labels | what |
| --- | --- | --- |
| `app_http_requests_total` | route, method, status | requests answered |
| `app_http_request_duration_seconds` | route, method | time from the first byte read to the reply |
| `app_health_code_verifications_total` | channel, result | codes checked: valid, status_changed, or the error code |
| `app_circuit_breaker_state` | breaker | 0 closed, 1 half-open, 2 open (the last any worker saw) |
| `app_circuit_breaker_transitions_total` | breaker, state | times a breaker moved into `state` |
| `app_cache_requests_total` | tier, result | cache reads: tier near (a worker's mirror) or shared (Redis, or the in-memory cache) |
| `app_job_runs_total` | job, result | scheduled runs: ok, failed, or skipped (another worker had it) |
| `app_job_duration_seconds` | job | how long a run that ran took |
| `app_outside_party_errors_total` | party, kind | failed calls to an outside party: unavailable, throttled, misconfigured, refused |
| `app_database_replica_fallbacks_total` | reason | lag-tolerant reads the primary served instead of the replica: lagging, unreachable |
"""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_left
from collections import defaultdict
from typing import Any, Sequence, TypeVar

from prometheus_client import Counter, Gauge, Histogram

T = TypeVar("T")

# Seconds: the public API answers in milliseconds; the slow end is the request timeout.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
_CODE = re.compile(r"^[A-Za-z_]{1,40}$")

HTTP_REQUESTS = Counter("app_http_requests_total", "HTTP requests answered, by route pattern, method and status.",
                        ["route", "method", "status"])
HTTP_SECONDS = Histogram("app_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern.",
                         ["route", "method"], buckets=LATENCY_BUCKETS)
VERIFICATIONS = Counter("app_health_code_verifications_total",
                        "Health codes and border passes checked, by channel and result.", ["channel", "result"])
BREAKER_STATE = Gauge("app_circuit_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
                      ["breaker"], multiprocess_mode="livemostrecent")
BREAKER_TRANSITIONS = Counter("app_circuit_breaker_transitions_total", "Circuit breaker moves into a state.",
                              ["breaker", "state"])
CACHE_REQUESTS = Counter("app_cache_requests_total", "Cache reads, by tier (near, shared) and result (hit, miss).",
                         ["tier", "result"])
JOB_RUNS = Counter("app_job_runs_total", "Scheduled job runs, by job and result (ok, failed, skipped).",
                   ["job", "result"])
JOB_SECONDS = Histogram("app_job_duration_seconds", "Time a scheduled job's run took.", ["job"], buckets=JOB_BUCKETS)
OUTSIDE_ERRORS = Counter("app_outside_party_errors_total", "Failed calls to outside parties, by party and kind.",
                         ["party", "kind"])
REPLICA_FALLBACKS = Counter("app_database_replica_fallbacks_total",
                            "Lag-tolerant reads served by the primary because the replica lagged or failed, by reason.",
                            ["reason"])

# Every series this module defines, by the name Prometheus shows (alert rules and the dashboard are checked
# against it).
SERIES = (
    "app_http_requests_total", "app_http_request_duration_seconds_bucket", "app_http_request_duration_seconds_sum",
    "app_http_request_duration_seconds_count", "app_health_code_verifications_total", "app_circuit_breaker_state",
    "app_circuit_breaker_transitions_total", "app_cache_requests_total", "app_job_runs_total",
    "app_job_duration_seconds_bucket", "app_job_duration_seconds_sum", "app_job_duration_seconds_count",
    "app_outside_party_errors_total", "app_database_replica_fallbacks_total",
)

FLUSH_EVERY = 1.0  # seconds counts wait in a worker's memory before they reach the files /metrics reads

_on = False
_children: dict[tuple[Any, ...], Any] = {}
_counts: defaultdict[tuple[Any, ...], float] = defaultdict(float)  # (counter, *labels): amount not yet written
_observed: dict[tuple[Any, ...], tuple[list[float], list[int]]] = {}  # (histogram, *labels): [sum], bucket counts
_flush: asyncio.TimerHandle | None = None
_flush_loop: asyncio.AbstractEventLoop | None = None


def enable() -> None:
    """Start keeping the series (once per process, by the composition root)."""
    global _on
    _on = True


def disable() -> None:
    """Stop keeping them (tests)."""
    global _on
    _on = False


def enabled() -> bool:
    return _on


def _child(metric: Any, *labels: str) -> Any:
    """The labelled series, looked up once per process: `labels()` takes a lock and converts every value."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def _count(key: tuple[Any, ...], amount: float = 1.0) -> None:
    _counts[key] += amount
    _schedule()


def _observe(key: tuple[Any, ...], value: float) -> None:
    entry = _observed.get(key)
    if entry is None:
        entry = _observed[key] = ([0.0], [0] * len(key[0]._upper_bounds))
    entry[0][0] += value
    entry[1][bisect_left(key[0]._upper_bounds, value)] += 1  # the first bucket whose bound is >= value
    _schedule()


def _schedule() -> None:
    global _flush, _flush_loop
    if _flush is not None and _flush_loop is not None and not _flush_loop.is_closed():
        return  # a flush is due on a loop that still runs
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        flush()
        return
    _flush, _flush_loop = loop.call_later(FLUSH_EVERY, flush), loop


def flush() -> None:
    """Write what this worker counted since the last flush to its series."""
    global _flush
    if _flush is not None:
        _flush.cancel()
        _flush = None
    counts, observed = list(_counts.items()), list(_observed.items())
    _counts.clear()
    _observed.clear()
    for (metric, *labels), amount in counts:
        _child(metric, *labels).inc(amount)
    for (metric, *labels), (total, buckets) in observed:
        child = _child(metric, *labels)
        child._sum.inc(total[0])  # as Histogram.observe does for each value, once for all of them
        for bucket, count in zip(child._buckets, buckets):
            if count:
                bucket.inc(count)


def http_request(route: str, method: str, status: int, seconds: float) -> None:
    if _on:
        _count((HTTP_REQUESTS, route, method, str(status)))
        _observe((HTTP_SECONDS, route, method), seconds)


def verification(channel: str, result: str) -> None:
    """One code checked on `channel` (verifier, partner, inbound, border_pass): `valid`, `status_changed` or
    the error code it failed with (EXPIRED, REVOKED, …), kept lower-case."""
    if _on:
        _count((VERIFICATIONS, channel, result.lower() if _CODE.match(result) else "other"))


def breaker(name: str, state: str) -> None:
    """The breaker `name` (e.g. `exchange:<service>`, `card:<backend>`) was seen in `state` (closed, half_open,
    open). A move is counted when this worker's last sight of it differs."""
    if not _on:
        return
    gauge = _child(BREAKER_STATE, name)
    value = BREAKER_STATES[state]
    if _last_breaker.get(name) != value:
        _last_breaker[name] = value
        _count((BREAKER_TRANSITIONS, name, state))
    gauge.set(value)


_last_breaker: dict[str, int] = {}


def cache_read(tier: str, value: T) -> T:
    """Count one read of `tier` (near, shared) as a hit when it found a value; returns `value`."""
    if _on:
        _count((CACHE_REQUESTS, tier, "miss" if value is None else "hit"))
    return value


def cache_reads(tier: str, values: Sequence[Any]) -> Any:
    """`cache_read` for each value of a multi-key read; returns `values`."""
    if _on:
        hits = sum(value is not None for value in values)
        if hits:
            _count((CACHE_REQUESTS, tier, "hit"), hits)
        if len(values) - hits:
            _count((CACHE_REQUESTS, tier, "miss"), len(values) - hits)
    return values


def job_run(job: str, result: str, seconds: float | None = None) -> None:
    """A scheduled run of `job`: ok, failed or skipped; `seconds` when it ran."""
    if _on:
        _count((JOB_RUNS, job, result))
        if seconds is not None:
            _observe((JOB_SECONDS, job), seconds)


def outside_party_error(party: str, kind: str) -> None:
    """A call to `party` (tencent_sms, jpush, wechatpay, exchange:<service>, …) failed as `kind`."""
    if _on:
        _count((OUTSIDE_ERRORS, party, kind))


def replica_fallback(reason: str) -> None:
    """A lag-tolerant read went to the primary: the replica was `lagging` or `unreachable` (app/db.py)."""
    if _on:
        _count((REPLICA_FALLBACKS, reason))
