"""Serving `/metrics` (app/metrics.py) for every worker from the main process, on `APP_METRICS_PORT`.

`prepare()` runs in the main process before any series is reported: it makes a fresh folder
(0700, under the system's temporary folder) for this start and names it in `PROMETHEUS_MULTIPROC_DIR`,
which the workers inherit, so each writes its values to files of its own there. `serve()` then starts a
small HTTP server in a thread of the main process that adds up every worker's files at each scrape. A
worker that died (a crash, SIGKILL) keeps its counts, which must never go down; its last gauge readings are
dropped at the next scrape (`mark_process_dead`), so a breaker state only a dead worker saw is not shown.
The folder is removed when the main process ends.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_FILE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def prepare() -> str:
    """A fresh folder for this start's worker files, named in the environment; its path."""
    folder = tempfile.mkdtemp(prefix="gov-app-metrics-")  # mode 0700
    os.environ[ENV] = folder
    if "prometheus_client.values" in sys.modules:
        # Imported already (the settings' checks reach app.integrations): it chose this process's memory for
        # values made from now on. Choose again; app.metrics makes its labelled values only when reported.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def forget_dead_workers(folder: str) -> list[int]:
    """Drop the live-gauge files of worker processes that no longer run; the pids dropped."""
    from prometheus_client import multiprocess

    dead = []
    for path in Path(folder).iterdir():
        found = _LIVE_FILE.match(path.name)
        if found and not _alive(int(found.group(1))):
            dead.append(int(found.group(1)))
            multiprocess.mark_process_dead(int(found.group(1)), folder)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process reuses the number: not our worker, but keep its files
        return True
    return True


def serve(host: str, port: int) -> Any:
    """Start serving the workers' series at http://host:port/metrics in a thread; the server. OSError when
    the port cannot be bound."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    folder = os.environ[ENV]

    class LiveWorkers(MultiProcessCollector):
        def collect(self) -> Iterable[Any]:
            forget_dead_workers(folder)
            collected: Iterable[Any] = super().collect()  # type: ignore[no-untyped-call]  # untyped in prometheus-client
            return collected

    registry = CollectorRegistry()
    LiveWorkers(registry, folder)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
