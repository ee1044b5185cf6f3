"""PII never goes into logs: a citizen's whole sign-up leaves no phone, name, ID number or code there.

Every logger is turned up to DEBUG (including the ORM's SQL log and the framework's access
log), so a future change that logs a value "just for debugging" fails here.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace

import pytest

from app.access_log import AccessLog
from tests.factories import last_code, live_sample, make_department, new_phone, valid_id_number


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
    app.ctx.services = replace(app.ctx.services, access_log=AccessLog(sink=request_log, interval=60))
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

    app.ctx.services.access_log.flush()
    texts = texts_of(all_logs) + request_log.getvalue().splitlines()
    assert any("/api/v1/me" in t for t in texts), "the access log should have been captured"
    everything = "\n".join(texts)
    for secret in (phone, name, id_number, id_number[6:14], login.json()["refresh_token"], login.json()["access_token"]):
        assert secret not in everything, f"{secret!r} found in the logs"
    assert not re.search(rf"(?<!\d){code}(?!\d)", everything), "the login code was logged"


async def test_pii_is_absent_from_logs_error_replies_and_audit_payloads_across_the_services(
        app, client, sms, clock, platform, all_logs):
    """Two citizens with a voucher, a licence and its share, an application and an appointment; then a
    hotel redeems, a lab posts a result, and many calls fail with personal data in what they sent."""
    from app.audit import AuditEntry
    from tests.security.world import build_world
    from tests.vouchers.voucher_factory import redeem, relying_party, shown_token

    request_log = io.StringIO()
    app.ctx.services = replace(app.ctx.services, access_log=AccessLog(sink=request_log, interval=60))
    world = await build_world(client, sms, clock, platform)
    owner, other = world.owner, world.other
    lab = await make_department(clock, "广州金域检验所（示例）", ["lab"])
    hotel = await relying_party(clock, "示例大酒店前台", ["is_holder", "name_masked", "id_last4"])
    token = (await shown_token(client, owner, clock, attributes=["is_holder", "name_masked"]))["token"]
    assert (await redeem(client, hotel, token, ["is_holder", "name_masked"])).status_code == 200
    posted = await client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
        "id_number": owner.id_number, "result": "negative", "sampled_at": clock.now().isoformat(), "sample_id": "S-001"})
    assert posted.status_code < 300, posted.text

    failing = [  # each sends someone's personal data and must fail without repeating it
        client.post("/api/v1/me/identity", headers=other.headers, json={"name": "张三", "id_number": owner.id_number}),
        client.post("/api/v1/me/identity", headers=owner.headers, json={"name": "张" * 40, "id_number": "4401" + "9" * 20}),
        client.post("/api/v1/auth/otp", json={"phone": owner.citizen.phone + "99"}),
        client.post("/api/v1/auth/login", json={"phone": owner.citizen.phone, "code": "12345x"}),
        client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
            "id_number": valid_id_number(birth="19700101", sequence="999"), "result": "negative",
            "sampled_at": clock.now().isoformat(), "sample_id": "S-002"}),
        client.post("/api/admin/v1/test-results", headers=lab.headers(), json={
            "id_number": owner.id_number, "result": owner.citizen.phone, "sampled_at": "昨天", "sample_id": "S-003"}),
        redeem(client, hotel, token, ["is_holder"]),  # already used
    ]
    errors = []
    for call in failing:
        reply = await call
        assert reply.status_code >= 400, reply.text
        errors.append(reply.text)

    app.ctx.services.access_log.flush()
    secrets_of = {"phone": [owner.citizen.phone, other.citizen.phone], "name": ["张三", "李四"],
                  "id number": [owner.id_number, other.id_number, owner.id_number[6:14], other.id_number[6:14]]}
    logs = "\n".join(texts_of(all_logs) + request_log.getvalue().splitlines())
    audit = "\n".join(f"{e.actor} {e.action} {e.subject_id} {e.attributes} {e.purpose}" for e in await AuditEntry.all())
    assert "voucher_redeemed" in audit and len(errors) == len(failing)
    for kind, values in secrets_of.items():
        for value in values:
            assert value not in logs, f"a {kind} is in the logs"
            assert value not in audit, f"a {kind} is in an audit entry"
            for text in errors:
                assert value not in text, f"a {kind} is in an error reply: {text[:200]}"
