"""PII never goes into logs: a citizen's whole sign-up leaves no phone, name, ID number or code there.

Every logger is turned up to DEBUG (including the ORM's SQL log and the framework's access
log), so a future change that logs a value "just for debugging" fails here.
"""

from __future__ import annotations

import io
import logging
import re

import pytest

from app.access_log import AccessLog
from tests.factories import last_code, live_sample, new_phone, valid_id_number


@pytest.fixture
def all_logs(caplog):
    """Capture every record of every logger at DEBUG, including loggers that do not propagate."""
    caplog.set_level(logging.DEBUG)
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    loggers = [lg for lg in loggers if isinstance(lg, logging.Logger)]
    attached = []
    for lg in loggers:
        caplog.set_level(logging.DEBUG, logger=lg.name)
        if not lg.propagate:
            lg.addHandler(caplog.handler)
            attached.append(lg)
    yield caplog
    for lg in attached:
        lg.removeHandler(caplog.handler)


CLIENT_SIDE = ("httpx", "httpcore")  # the test's own HTTP client logs the URLs it calls


def texts_of(caplog) -> list[str]:
    texts = []
    for record in caplog.records:
        if record.name.split(".")[0] in CLIENT_SIDE:
            continue
        texts.append(record.getMessage())
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(record.stack_info)
    return texts


async def test_a_full_sign_up_leaves_no_pii_in_the_logs(app, client, sms, all_logs):
    request_log = io.StringIO()
    app.ctx.access_log = AccessLog(sink=request_log, interval=60)
    phone = new_phone()
    name = "欧阳娜娜"
    id_number = valid_id_number(birth="19851231", sequence="472")

    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
    code = last_code(sms, phone)
    wrong = "000000" if code != "000000" else "111111"
    assert (await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong})).status_code == 401
    login = await client.post("/api/v1/auth/login", json={"phone": f"+86 {phone}", "code": code, "device_name": "小米 14"})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    bad = await client.post("/api/v1/me/identity", headers=headers, json={"name": name, "id_number": id_number[:-1] + "0" if id_number[-1] != "0" else id_number[:-1] + "1"})
    assert bad.status_code == 422
    assert (await client.post("/api/v1/me/identity", headers=headers, json={"name": name, "id_number": id_number})).status_code == 200
    assert (await client.post("/api/v1/me/identity/face", headers=headers, json={"liveness_sample": live_sample()})).status_code == 200
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["level"] == 3
    outbox = await client.get("/dev/sms-outbox", params={"phone": phone})
    assert outbox.status_code == 200 and code in outbox.text
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refreshed.status_code == 200
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204

    app.ctx.access_log.flush()
    texts = texts_of(all_logs) + request_log.getvalue().splitlines()
    assert any("/api/v1/me" in t for t in texts), "the access log should have been captured"
    everything = "\n".join(texts)
    for secret in (phone, name, id_number, id_number[6:14], login.json()["refresh_token"], login.json()["access_token"]):
        assert secret not in everything, f"{secret!r} found in the logs"
    assert not re.search(rf"(?<!\d){code}(?!\d)", everything), "the login code was logged"
