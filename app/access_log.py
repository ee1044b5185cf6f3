"""The request log: one line per request, written in batches (like nginx's `access_log … buffer=`).

Each line holds time, method, path (never the query string: it may carry a phone number; and
digit runs in the path starred, for an ID number typed into it), status, duration and request id. Lines are collected and written every 0.2 s or every 256
lines in one write, so no request pays for a write of its own to stderr. With `json_lines` (APP_LOG_FORMAT=json)
each line is one JSON object with the fields of the service's other JSON log lines (app/logs.py).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from typing import TextIO

from app.security.pii import mask_digit_runs


class AccessLog:
    def __init__(self, sink: TextIO | None = None, interval: float = 0.2, max_lines: int = 256,
                 json_lines: bool = False) -> None:
        self._sink = sink
        self._json = json_lines
        self._interval = interval
        self._max_lines = max_lines
        self._lines: list[str] = []
        self._scheduled: asyncio.TimerHandle | None = None

    def record(self, method: str, path: str, status: int, elapsed_ms: float, request_id: str) -> None:
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        path = mask_digit_runs(path)
        if self._json:
            self._lines.append(json.dumps({
                "time": stamp, "level": "INFO", "logger": "access", "message": f"{method} {path} {status}",
                "method": method, "path": path, "status": status, "duration_ms": round(elapsed_ms, 1),
                "request_id": request_id}, ensure_ascii=False) + "\n")
        else:
            self._lines.append(f"{stamp} access {method} {path} {status} {elapsed_ms:.1f}ms rid={request_id}\n")
        if len(self._lines) >= self._max_lines:
            self.flush()
        elif self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        if self._lines:
            sink = self._sink or sys.stderr
            sink.write("".join(self._lines))
            sink.flush()
            self._lines.clear()
