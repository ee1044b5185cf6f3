"""Factories for the account-deletion (注销) tests: the fresh SMS code (step-up) a request needs, rows of any
table with every required column filled with sample values, and a snapshot of every table of the schema."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, timezone
from typing import Any

import httpx
from tortoise import Tortoise
from tortoise.models import Model

from standins.tencent_cloud.control import TencentStandIn
from tests.factories import SignedInCitizen

DELETION = "/api/v1/me/deletion"
STEP_UP = "/api/v1/me/step-up"
_SIX_DIGITS = re.compile(r"(?<!\d)(\d{6})(?!\d)")
_RELATIONS = ("BackwardFKRelation", "BackwardOneToOneRelation", "ManyToManyFieldInstance")


async def step_up(client: httpx.AsyncClient, sms: TencentStandIn, citizen: SignedInCitizen) -> None:
    """Prove, on this session, that the citizen holds their phone now: the code by SMS, then typed in."""
    sent = await client.post(f"{STEP_UP}/code", headers=citizen.headers)
    assert sent.status_code == 202, sent.text
    code = _SIX_DIGITS.search(sms.outbox(citizen.phone)[0].text)
    assert code, "no code in the step-up SMS"
    passed = await client.post(STEP_UP, headers=citizen.headers, json={"code": code.group(1)})
    assert passed.status_code == 200, passed.text


async def ask_deletion(client: httpx.AsyncClient, sms: TencentStandIn, citizen: SignedInCitizen) -> dict[str, Any]:
    await step_up(client, sms, citizen)
    asked = await client.post(DELETION, headers=citizen.headers)
    assert asked.status_code == 202, asked.text
    return asked.json()


def _sample(field: Any, now: datetime) -> Any:
    kind = type(field).__name__
    if kind == "DatetimeField":
        return now
    if kind == "DateField":
        return now.date() if isinstance(now, datetime) else date.today()
    if kind in ("IntField", "BigIntField", "SmallIntField"):
        return 1
    if kind == "BooleanField":
        return False
    if kind == "JSONField":
        return {}
    if kind == "TextField":
        return "示例"
    return ("示例" + secrets.token_hex(8))[:field.max_length]


def _filled_by_relation(model: type[Model], name: str) -> bool:
    """A relation, or the id column behind one (given through the relation)."""
    meta = model._meta
    relations = meta.fk_fields | meta.o2o_fields
    return name in relations or any(meta.fields_map[r].source_field == name for r in relations)


async def make(model: type[Model], now: datetime | None = None, **given: Any) -> Model:
    """A row of `model` with `given` values and sample values (示例) in every other required column."""
    now = now or datetime.now(timezone.utc)
    values: dict[str, Any] = {}
    for name, field in model._meta.fields_map.items():
        if name in given or type(field).__name__ in _RELATIONS or _filled_by_relation(model, name):
            continue
        if field.null or field.default is not None or getattr(field, "generated", False):
            continue
        values[name] = _sample(field, now)
    return await model.create(**values, **given)


def every_model() -> dict[str, type[Model]]:
    """Every table of the schema, by model name (Tortoise's own registry: a new table is never missed)."""
    return dict(Tortoise.apps["models"])


async def snapshot() -> dict[str, dict[Any, dict[str, Any]]]:
    """Every row of every table, by model name and primary key."""
    tables: dict[str, dict[Any, dict[str, Any]]] = {}
    for name, model in every_model().items():
        pk = model._meta.pk_attr
        tables[name] = {row[pk]: row for row in await model.all().values()}
    return tables
