"""The exchange client against the stand-in departments (standins/departments/), a process of their own that
fetches our keys from the JWKS our app publishes on a real socket: the registry it writes loads as ours, and the
two message logs of an exchange agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import AsyncIterator

import pytest
from sanic import Sanic

from app.integrations.exchange.client import DepartmentUnavailable, ExchangeClient, PurposeNotAuthorised
from app.integrations.exchange.models import ExchangeMessage
from app.integrations.exchange.registry import load_registry
from app.platform import Platform
from standins.departments.control import DepartmentsStandIn
from tests.factories import valid_id_number
from tests.health_code.interop.partner_process import serve_live

INSURED_STATUS = "CN-GD/GOV/11440000MB2D0001XA/hrss/insured-status/v1"
CITIZEN = "c_standin_citizen"


@pytest.fixture
async def standin(departments_url: str, app: Sanic, platform: Platform,
                  tmp_path: Path) -> AsyncIterator[tuple[DepartmentsStandIn, ExchangeClient]]:
    control = DepartmentsStandIn(departments_url)
    control.reset()
    async with serve_live(app) as ours:
        control.client_keys_at(f"{ours}/.well-known/jwks.json")
        path = tmp_path / "registry.json"
        path.write_text(json.dumps(control.registry()), "utf-8")
        registry = load_registry(path, client=platform.settings.exchange.client)
        exchange = ExchangeClient(platform, registry.services.values())
        try:
            yield control, exchange
        finally:
            await exchange.aclose()
            control.reset()
            control.close()


async def test_a_call_through_the_standin_verifies_both_ways_and_the_logs_agree(
        standin: tuple[DepartmentsStandIn, ExchangeClient]) -> None:
    control, exchange = standin
    data = await exchange.call(INSURED_STATUS, CITIZEN, "home_card", {"subject": {"id_number": valid_id_number()}})

    assert data["sample"] is True
    [row] = await ExchangeMessage.all()
    [theirs] = control.messages(row.message_id)
    assert (theirs["request_hash"], theirs["response_sha256"], theirs["status"]) == \
        (row.request_hash, row.response_hash, row.status)
    assert (theirs["user"], theirs["purpose"], theirs["service"]) == (row.user, "home_card", INSURED_STATUS)


async def test_a_purpose_the_standin_withdrew_is_refused_at_both_ends(
        standin: tuple[DepartmentsStandIn, ExchangeClient]) -> None:
    control, exchange = standin
    control.authorise(INSURED_STATUS, ["citizen_request"])  # no longer home_card, which our registry still lists

    with pytest.raises(PurposeNotAuthorised):
        await exchange.call(INSURED_STATUS, CITIZEN, "home_card", {"subject": {"id_number": valid_id_number()}})

    [row] = await ExchangeMessage.all()
    [theirs] = control.messages(row.message_id)
    assert (row.status, row.fault) == (403, "Client.PurposeNotAuthorised") == (theirs["status"], theirs["fault"])


async def test_a_standin_reply_with_a_bad_signature_is_never_data(
        standin: tuple[DepartmentsStandIn, ExchangeClient]) -> None:
    control, exchange = standin
    control.behave("bad_signature", department="hrss", count=3)

    with pytest.raises(DepartmentUnavailable) as down:
        await exchange.call(INSURED_STATUS, CITIZEN, "home_card", {"subject": {"id_number": valid_id_number()}})
    assert down.value.fault == "Server.ClientProxy.InvalidSignature"
    assert await ExchangeMessage.all().count() == 1  # not sent again
