"""The one way a department is asked for a citizen's data (DepartmentAsker): 实名 first, then whether the service
is connected, then the citizen's own live reads limited per service, each decided before anything is sent."""

from __future__ import annotations

import pytest

from app.departments import exchange_services
from app.departments.exchange_services import HPF_ACCOUNT, DepartmentAsker, Reader
from app.errors import AppError
from app.integrations.exchange.models import ExchangeMessage
from tests.factories import sign_in, valid_id_number, verify_real_name

pytestmark = pytest.mark.departments

FUND = "/api/v1/provident-fund"


async def test_without_real_name_it_is_403_even_where_the_service_is_not_connected(client, sms, app):
    citizen = await sign_in(client, sms)
    unconnected = DepartmentAsker(app.ctx.services.departments.asker.platform, None)

    with pytest.raises(AppError) as raised:
        await unconnected.ask(HPF_ACCOUNT, citizen.id)

    assert (raised.value.code, raised.value.status) == ("IDENTITY_LEVEL_REQUIRED", 403)


async def test_with_real_name_a_service_not_connected_is_503(client, sms, app):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="311"))
    unconnected = DepartmentAsker(app.ctx.services.departments.asker.platform, None)

    with pytest.raises(AppError) as raised:
        await unconnected.ask(HPF_ACCOUNT, citizen.id)

    assert (raised.value.code, raised.value.status) == ("DEPARTMENT_NOT_CONNECTED", 503)


async def test_a_citizens_own_live_reads_are_limited_per_service_and_the_429_sends_nothing(
        client, sms, app, clock, departments_live, monkeypatch):
    monkeypatch.setattr(exchange_services, "LIVE_READS_PER_MINUTE", 2)
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="312"))

    for _ in range(2):
        assert (await client.get(FUND, headers=citizen.headers)).status_code == 200
    refused = await client.get(FUND, headers=citizen.headers)
    other_service = await client.get(f"{FUND}/withdrawal-eligibility", params={"reason": "rent"},
                                     headers=citizen.headers)

    assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert await ExchangeMessage.filter(service=HPF_ACCOUNT).count() == 2  # the refused read was never sent
    assert other_service.status_code == 200  # another service of the centre counts on its own

    clock.advance(61)
    assert (await client.get(FUND, headers=citizen.headers)).status_code == 200


async def test_reads_for_someone_else_or_another_purpose_are_not_counted_as_the_citizens_own(
        client, sms, app, departments_live, monkeypatch):
    monkeypatch.setattr(exchange_services, "LIVE_READS_PER_MINUTE", 1)
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="313"))
    asker = app.ctx.services.departments.asker

    for _ in range(2):
        await asker.ask(HPF_ACCOUNT, citizen.id, purpose="home_card")
        await asker.ask(HPF_ACCOUNT, citizen.id, purpose="proxy_request", reader=Reader.family_proxy("李*（子女）"))
    await asker.ask(HPF_ACCOUNT, citizen.id)

    with pytest.raises(AppError) as raised:
        await asker.ask(HPF_ACCOUNT, citizen.id)
    assert (raised.value.code, raised.value.status) == ("RATE_LIMITED", 429)


@pytest.mark.parametrize("path", [FUND, "/api/v1/social-insurance", "/api/v1/traffic/violations"])
async def test_a_reply_whose_signature_does_not_check_is_the_department_down_never_data(
        client, sms, departments_live, departments, path):
    citizen = await sign_in(client, sms)
    await verify_real_name(client, citizen, id_number=valid_id_number(sequence="312"))
    departments.behave("bad_signature", count=0)  # every department signs with a key we do not hold

    reply = await client.get(path, headers=citizen.headers)

    assert reply.status_code == 503, reply.text
    assert reply.json()["error"]["code"] == "DEPARTMENT_UNAVAILABLE" and int(reply.headers["Retry-After"]) >= 1
    assert set(reply.json()) == {"error"}  # nothing of the department's reply is shown
    [row] = await ExchangeMessage.all()  # not sent again: a key we do not know is not a passing fault
    assert (row.status, row.fault) == (200, "Server.ClientProxy.InvalidSignature")
