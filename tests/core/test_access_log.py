"""The request log: every request leaves a line with its request id, never its query string."""

from __future__ import annotations

import io
from dataclasses import replace

from app.access_log import AccessLog


async def test_each_request_is_logged_without_its_query_string(app, client):
    sink = io.StringIO()
    app.ctx.services = replace(app.ctx.services, access_log=AccessLog(sink=sink, interval=60))
    reply = await client.get("/dev/sms-outbox?phone=13800138000", headers={"X-Request-ID": "desk-42"})
    assert reply.status_code == 200
    await client.get("/healthz")
    app.ctx.services.access_log.flush()
    lines = sink.getvalue().splitlines()
    assert len(lines) == 2
    assert "GET /dev/sms-outbox 200" in lines[0] and "rid=desk-42" in lines[0]
    assert "13800138000" not in sink.getvalue() and "phone=" not in sink.getvalue()


async def test_lines_are_written_in_batches():
    sink = io.StringIO()
    log = AccessLog(sink=sink, interval=60, max_lines=3)
    log.record("GET", "/a", 200, 1.0, "r1")
    log.record("GET", "/b", 200, 1.0, "r2")
    assert sink.getvalue() == ""  # still buffered
    log.record("GET", "/c", 404, 1.0, "r3")
    assert len(sink.getvalue().splitlines()) == 3
    log.flush()
    assert len(sink.getvalue().splitlines()) == 3


async def test_an_id_number_typed_into_a_path_is_starred_in_the_log(app, client):
    sink = io.StringIO()
    app.ctx.services = replace(app.ctx.services, access_log=AccessLog(sink=sink, interval=60))
    reply = await client.get("/api/v1/e-receipts/440106199001011234")
    assert reply.status_code == 200 and reply.json()["valid"] is False
    app.ctx.services.access_log.flush()
    assert "440106199001011234" not in sink.getvalue()
    assert "/e-receipts/****************** " in sink.getvalue()
