"""The exchange client against a department of the tests' own: signed both ways, logged, refused locally where
it can be, and never passing on a reply that does not verify as data."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Callable

import pytest

from app import audit
from app.clock import MovableClock
from app.integrations.exchange import client as exchange_client
from app.integrations.exchange.client import (
    DepartmentRefused, DepartmentUnavailable, ExchangeClient, PurposeNotAuthorised, ServiceNotRegistered,
    SubjectUnknown)
from app.integrations.exchange.models import ExchangeMessage
from tests.integrations.exchange.conftest import CITIZEN, ID_NUMBER, RECORD
from tests.integrations.exchange.department import Department

MakeClient = Callable[..., ExchangeClient]
BODY = {"subject": {"id_number": ID_NUMBER}}


async def ask(exchange: ExchangeClient, department: Department, purpose: str = "home_card", **options: Any) -> Any:
    return await exchange.call(department.service(), CITIZEN, purpose, BODY, **options)


async def test_a_good_call_returns_the_data_and_logs_one_message_with_digests_and_no_body(
        exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration()))

    assert await ask(exchange, hrss) == RECORD

    [row] = await ExchangeMessage.all()
    [theirs] = hrss.log
    # The two logs of one exchange agree on the message id and both digests.
    assert (row.message_id, row.request_hash, row.response_hash) == \
        (theirs.message_id, theirs.request_hash, theirs.response_hash)
    assert (row.service, row.client, row.purpose, row.status, row.fault, row.attempt) == \
        (hrss.service(), "CN-GD/GOV/11440000MB2C93140X/yss-app", "home_card", 200, None, 1)
    assert row.user == theirs.user and row.duration_ms >= 0
    stored = " ".join(str(value) for value in (await ExchangeMessage.all().values())[0].values())
    assert ID_NUMBER not in stored and CITIZEN not in stored and "enterprise_pension" not in stored


async def test_the_request_verifies_at_the_department_with_our_published_jwks(
        exchange_for: MakeClient, hrss: Department, platform: Any) -> None:
    exchange = exchange_for((hrss, hrss.registration()))
    await ask(exchange, hrss, "citizen_request")

    [(headers, content)] = hrss.received  # accepted only after verify_detached against the published JWKS
    assert content == BODY
    assert str(headers.client) == "CN-GD/GOV/11440000MB2C93140X/yss-app" and str(headers.service) == hrss.service()
    assert headers.purpose == "citizen_request" and re.fullmatch(r"[0-9a-f]{32}", headers.message_id)
    assert abs(headers.time - time.time()) < 5
    assert platform.keys.current.kid in {k["kid"] for k in hrss.our_jwks["keys"]}


async def test_a_request_signed_by_a_key_we_do_not_publish_is_refused_by_the_department(
        exchange_for: MakeClient, hrss: Department) -> None:
    hrss.our_jwks = {"keys": []}
    exchange = exchange_for((hrss, hrss.registration()))

    with pytest.raises(DepartmentRefused) as refused:
        await ask(exchange, hrss)
    assert (refused.value.status, refused.value.fault) == (401, "Client.SignatureInvalid")
    assert not hrss.received


@pytest.mark.parametrize("mode, fault", [
    ("tamper_body", "Server.ClientProxy.InvalidSignature"),
    ("other_key", "Server.ClientProxy.InvalidSignature"),
    ("unsigned", "Server.ClientProxy.InvalidSignature"),
    ("other_id", "Server.ClientProxy.MessageIdMismatch"),
    ("other_hash", "Server.ClientProxy.RequestHashMismatch"),
    ("not_json", "Server.ClientProxy.InvalidReply"),
])
async def test_a_reply_that_does_not_verify_is_the_department_down_and_never_data(
        exchange_for: MakeClient, hrss: Department, mode: str, fault: str) -> None:
    exchange = exchange_for((hrss, hrss.registration(retries=2)))
    hrss.behave(mode, "ok", "ok")

    with pytest.raises(DepartmentUnavailable) as down:
        await ask(exchange, hrss)

    assert down.value.fault == fault and down.value.retry_after >= 1
    # Not sent again: a reply that does not verify is not a passing fault, even for a read with retries.
    assert len(hrss.received) == 1
    [row] = await ExchangeMessage.all()
    assert (row.status, row.fault) == (200, fault)


async def test_a_hanging_department_fails_within_the_timeout_retries_included(
        exchange_for: MakeClient, hrss: Department) -> None:
    async with hrss.serve():
        exchange = exchange_for((hrss, hrss.registration(timeout=0.4, retries=2)), network=True)
        hrss.behave("hang", "hang", "hang")
        started = time.monotonic()
        with pytest.raises(DepartmentUnavailable) as down:
            await ask(exchange, hrss)
        took = time.monotonic() - started

    assert down.value.fault == "Server.ClientProxy.Timeout"
    assert 0.35 < took < 0.4 + 0.3  # the timeout is the whole call's: no retry after it ran out
    [row] = await ExchangeMessage.all()
    assert (row.status, row.response_hash, row.fault) == (None, None, "Server.ClientProxy.Timeout")


async def test_a_good_call_over_a_real_socket(exchange_for: MakeClient, hrss: Department) -> None:
    async with hrss.serve():
        exchange = exchange_for((hrss, hrss.registration()), network=True)
        assert await ask(exchange, hrss) == RECORD
    [row] = await ExchangeMessage.all()
    assert (row.status, row.response_hash) == (200, hrss.log[0].response_hash)


async def test_a_read_is_sent_again_after_a_5xx_and_a_write_is_not(exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration(retries=1)))

    hrss.behave("unavailable")
    assert await ask(exchange, hrss, read=True) == RECORD
    rows = await ExchangeMessage.all().order_by("attempt")
    assert [(r.attempt, r.status, r.fault) for r in rows] == \
        [(1, 503, "Server.ServerProxy.ServiceFailed"), (2, 200, None)]
    assert rows[0].message_id != rows[1].message_id  # a new message id for every request

    hrss.received.clear()
    hrss.behave("unavailable")
    with pytest.raises(DepartmentUnavailable):
        await ask(exchange, hrss, read=False)
    assert len(hrss.received) == 1  # a write (a settlement) is never sent twice


async def test_an_unsigned_gateway_error_is_the_department_down_and_a_read_is_sent_again(
        exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration(retries=1)))
    hrss.behave("gateway")

    assert await ask(exchange, hrss) == RECORD
    rows = await ExchangeMessage.all().order_by("attempt")
    assert [(r.status, r.fault) for r in rows] == [(502, "Server.ServerProxy.HTTP502"), (200, None)]


async def test_while_the_breaker_is_half_open_one_trial_call_goes_through_and_the_others_fail_fast(
        exchange_for: MakeClient, hrss: Department, clock: MovableClock) -> None:
    exchange = exchange_for((hrss, hrss.registration(failures=1, open_seconds=30, timeout=1.0)))
    hrss.behave("unavailable")
    with pytest.raises(DepartmentUnavailable):
        await ask(exchange, hrss)
    clock.advance(31)

    hrss.behave("hang")
    trial = asyncio.ensure_future(ask(exchange, hrss))
    for _ in range(1000):  # until the trial call has reached the department (10 s at most)
        if not hrss.modes:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the trial call never reached the department")
    with pytest.raises(DepartmentUnavailable) as fast:
        await ask(exchange, hrss)
    assert fast.value.fault == "Server.ClientProxy.CircuitOpen"

    with pytest.raises(DepartmentUnavailable) as failed:
        await trial
    assert failed.value.fault == "Server.ClientProxy.Timeout" and failed.value.retry_after == 30  # open again
    with pytest.raises(DepartmentUnavailable) as still:
        await ask(exchange, hrss)
    assert still.value.fault == "Server.ClientProxy.CircuitOpen"


async def test_the_breaker_opens_after_n_failures_fails_fast_and_closes_after_a_good_trial(
        exchange_for: MakeClient, hrss: Department, clock: MovableClock) -> None:
    exchange = exchange_for((hrss, hrss.registration(failures=2, open_seconds=30)))
    hrss.behave("unavailable", "unavailable")
    for _ in range(2):
        with pytest.raises(DepartmentUnavailable):
            await ask(exchange, hrss)
    assert len(hrss.received) == 2

    started = time.monotonic()
    with pytest.raises(DepartmentUnavailable) as fast:
        await ask(exchange, hrss)
    assert time.monotonic() - started < 0.1
    assert (fast.value.fault, fast.value.retry_after) == ("Server.ClientProxy.CircuitOpen", 30)
    assert len(hrss.received) == 2 and await ExchangeMessage.all().count() == 2  # nothing sent, nothing logged

    clock.advance(31)  # half-open: one trial call goes through, and closes the breaker
    assert await ask(exchange, hrss) == RECORD
    assert await ask(exchange, hrss) == RECORD
    assert len(hrss.received) == 4


async def test_refusals_by_the_department_do_not_trip_the_breaker(exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration(failures=1)))
    hrss.records = {}
    for _ in range(3):
        with pytest.raises(SubjectUnknown):
            await ask(exchange, hrss)
    assert len(hrss.received) == 3


async def test_an_unregistered_service_or_unauthorised_purpose_is_refused_before_any_request(
        exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration(purposes={"home_card"})))

    with pytest.raises(ServiceNotRegistered):
        await exchange.call(hrss.service("contributions"), CITIZEN, "home_card", BODY)
    with pytest.raises(PurposeNotAuthorised) as refused:
        await ask(exchange, hrss, "material_prefill")
    with pytest.raises(PurposeNotAuthorised):
        await ask(exchange, hrss, "not-a-purpose")

    assert refused.value.fault == "Client.PurposeNotAuthorised"
    assert not hrss.received and await ExchangeMessage.all().count() == 0


async def test_a_purpose_the_department_did_not_authorise_answers_403_logged_at_both_ends(
        exchange_for: MakeClient, hrss: Department) -> None:
    # We believe the department authorised proxy reads; the department does not.
    hrss.purposes = {"home_card"}
    exchange = exchange_for((hrss, hrss.registration(purposes={"home_card", "proxy_request"})))

    with pytest.raises(PurposeNotAuthorised) as refused:
        await ask(exchange, hrss, "proxy_request", actor="*三（子女）", actor_type="proxy",
                  represented_party="family:child")

    assert refused.value.fault == "Client.PurposeNotAuthorised"
    [row] = await ExchangeMessage.all()
    [theirs] = hrss.log
    assert (row.status, row.fault, row.purpose) == (403, "Client.PurposeNotAuthorised", "proxy_request")
    assert (theirs.message_id, theirs.status, theirs.fault) == (row.message_id, 403, row.fault)
    assert await audit.access_log(CITIZEN) == []  # nothing was read


async def test_other_refusals_name_the_fault(exchange_for: MakeClient, hrss: Department) -> None:
    hrss.client = "CN-GD/GOV/11440000MB2C93140X/another-app"
    exchange = exchange_for((hrss, hrss.registration()))
    with pytest.raises(PurposeNotAuthorised) as unknown_client:
        await ask(exchange, hrss)
    assert unknown_client.value.fault == "Client.UnknownClient"


async def test_a_proxy_read_appears_in_the_citizen_access_log_and_their_own_read_does_not(
        exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration()))

    await ask(exchange, hrss, "citizen_request", actor=CITIZEN)
    assert await audit.access_log(CITIZEN) == []

    await ask(exchange, hrss, "proxy_request", actor="*三（子女）", actor_type="proxy", represented_party="family:child")
    [entry] = await audit.access_log(CITIZEN)
    assert (entry.actor, entry.actor_type, entry.action) == ("*三（子女）", "proxy", "department_data_read")
    assert entry.attributes == [hrss.service()]
    assert entry.purpose == "亲友代办（proxy_request），代您办理（family:child）"
    assert hrss.received[-1][0].represented_party == "family:child"
    [row] = await ExchangeMessage.filter(purpose="proxy_request")
    assert row.represented_party == "family:child"


async def test_a_read_by_someone_else_must_name_them(exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration()))
    with pytest.raises(ValueError):
        await ask(exchange, hrss, "proxy_request", actor_type="proxy")
    with pytest.raises(ValueError):
        await ask(exchange, hrss, "proxy_request", actor="x", represented_party="子女")  # headers are ASCII
    assert not hrss.received


async def test_the_user_is_64_hex_and_differs_between_departments_for_one_citizen(
        exchange_for: MakeClient, hrss: Department, hpf: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration()), (hpf, hpf.registration("balance")))

    await ask(exchange, hrss)
    await ask(exchange, hrss)
    await exchange.call(hpf.service("balance"), CITIZEN, "home_card", BODY)

    first, again = (h.user for h, _ in hrss.received)
    [(other, _)] = hpf.received
    assert re.fullmatch(r"[0-9a-f]{64}", first) and first == again
    assert other.user != first and ID_NUMBER not in first


async def test_a_caller_that_gives_up_still_leaves_its_message_row(exchange_for: MakeClient, hrss: Department) -> None:
    exchange = exchange_for((hrss, hrss.registration(timeout=5)))
    hrss.behave("hang")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ask(exchange, hrss), timeout=0.2)

    [row] = await ExchangeMessage.all()
    assert (row.status, row.fault) == (None, exchange_client.FAULT_CANCELLED)
