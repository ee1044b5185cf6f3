"""Log lines as text or JSON (APP_LOG_FORMAT, app/logs.py): one object a line, the request id on each line
written while a request is handled, an exception's type and place but never its message."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace

import pytest

from app import logs
from app.access_log import AccessLog
from app.config import ConfigError, Settings


def record(message: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, args, exc_info)  # type: ignore[arg-type]


def formatted(formatter: logging.Formatter, entry: logging.LogRecord) -> str:
    logs.RequestIdFilter().filter(entry)
    return formatter.format(entry)


def test_a_json_line_is_one_object_with_the_request_id_being_handled():
    token = logs.REQUEST_ID.set("rid-42")
    try:
        line = formatted(logs.JsonFormatter(), record("card backend %s failed\nagain", "utility_bills"))
    finally:
        logs.REQUEST_ID.reset(token)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "card backend utility_bills failed\nagain"
    assert parsed["request_id"] == "rid-42" and parsed["level"] == "WARNING" and parsed["logger"] == "app.test"
    assert parsed["time"].endswith("+00:00")
    assert "request_id" not in json.loads(formatted(logs.JsonFormatter(), record("between requests")))


def test_an_exception_is_logged_by_its_type_and_place_never_its_message():
    number = "440106" + "199003071234"  # not written whole here: a traceback quotes its source lines
    try:
        raise ValueError(f"身份证号 {number} 不符")
    except ValueError:
        import sys

        line = formatted(logs.JsonFormatter(), record("failed", exc_info=sys.exc_info()))
    parsed = json.loads(line)
    assert parsed["exception"] == "ValueError" and "test_logs.py" in parsed["traceback"]
    assert "440106199003071234" not in line


def test_a_text_line_ends_with_the_request_id():
    token = logs.REQUEST_ID.set("rid-7")
    try:
        line = formatted(logs.TextFormatter(logs.TEXT_FORMAT), record("hello"))
        said = formatted(logs.TextFormatter(logs.TEXT_FORMAT), record("unhandled on GET / rid=%s", "rid-7"))
    finally:
        logs.REQUEST_ID.reset(token)
    assert line.endswith("app.test hello rid=rid-7")
    assert said.count("rid=") == 1


async def test_the_access_log_as_json_keeps_its_masking():
    sink = io.StringIO()
    log = AccessLog(sink=sink, json_lines=True)
    log.record("GET", "/api/v1/applications/440106199003071234", 404, 1.234, "rid-9")
    log.flush()
    parsed = json.loads(sink.getvalue())
    assert parsed["path"] == "/api/v1/applications/******************"
    assert parsed["request_id"] == "rid-9" and parsed["status"] == 404 and parsed["duration_ms"] == 1.2
    assert "440106199003071234" not in sink.getvalue()


def test_configure_leaves_a_test_runners_logging_alone_unless_forced():
    root = logging.getLogger()
    before = list(root.handlers)
    logs.configure("json")
    assert root.handlers == before  # pytest's capture handler is there: not ours to replace


def test_the_log_format_is_text_or_json():
    assert Settings.from_env({"APP_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="APP_LOG_FORMAT"):
        Settings.from_env({"APP_LOG_FORMAT": "xml"})


async def test_a_request_sets_the_request_id_its_log_lines_carry(app, client):
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    logging.getLogger("app.server-test").addHandler(handler)
    seen: list[str | None] = []

    @app.on_request(priority=1)
    async def note(request) -> None:  # runs after the request context is set
        seen.append(logs.REQUEST_ID.get())
        logging.getLogger("app.server-test").warning("handling")

    app.ctx.services = replace(app.ctx.services, access_log=None)
    try:
        reply = await client.get("/healthz", headers={"X-Request-ID": "from-the-phone-1"})
    finally:
        logging.getLogger("app.server-test").removeHandler(handler)
    assert reply.headers["x-request-id"] == "from-the-phone-1"
    assert seen == ["from-the-phone-1"]
    assert json.loads(sink.getvalue().splitlines()[0])["request_id"] == "from-the-phone-1"
