"""How the service's log lines look (`APP_LOG_FORMAT`): text for a person at a terminal, or JSON, one object a
line, for a log collector. Either way each line written while a request is handled carries its request id,
the one its reply's `X-Request-ID` and error envelope show.

A JSON line: `{"time", "level", "logger", "message", "request_id"?}`, and for an exception its type and where
it was raised (`exception`, `traceback`), never its message, which may quote a citizen's data. Nothing else
is added: what the code logs is already written without personal data (paths are starred, queries left out).
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Sanic's own loggers carry handlers of their own; as JSON they go through the root's handler instead.
SANIC_LOGGERS = ("sanic.root", "sanic.error", "sanic.access", "sanic.server", "sanic.websockets")


class RequestIdFilter(logging.Filter):
    """Puts the request being handled (if any) on each record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The text line, with ` rid=<id>` at its end while a request is handled (unless the message has it)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} rid={request_id}" if request_id and "rid=" not in text else text


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]  # StreamHandler[TextIO] from 3.12's stubs on
    """The root handler `configure` installs (found again by its type, so configuring twice replaces it)."""


def configure(log_format: str, *, force: bool = False) -> None:
    """Route every log record to stderr in `log_format` (text or json) at INFO. Without `force`, leaves a
    process whose logging someone else set up (a test runner) as it is."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, _OurHandler)]
    if not force and root.handlers and not ours:
        return
    for handler in ours if not force else list(root.handlers):
        root.removeHandler(handler)
    handler = _OurHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # httpx logs every request's URL at INFO, query included (a phone number for the dev outbox).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in SANIC_LOGGERS:
        sanic_logger = logging.getLogger(name)
        if log_format == "json":
            for own in list(sanic_logger.handlers):
                sanic_logger.removeHandler(own)
            sanic_logger.propagate = True
        elif sanic_logger.handlers:
            sanic_logger.propagate = False  # written by Sanic's own handler: not a second time by the root's
