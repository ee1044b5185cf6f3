"""Nothing held about a citizen is missed by their copy (个人信息副本): every table with a column naming a
citizen (its owner, holder, or a link to an account) is in the copy, or on LEFT_OUT with the reason; every
encrypted column of a row in the copy is opened or left out on purpose. A merge that adds such a table or
column fails here, not in a citizen's copy."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.fields.relational import ForeignKeyFieldInstance
from tortoise.models import Model

from api.services import services_of
from app import personal_data
from app.accounts.models import Citizen
from app.exports.archive import ArchiveWriter
from app.personal_data import record_of
from tests.exports.test_data_export import held_everywhere

NAMES_A_CITIZEN = re.compile(r"citizen|owner|holder")

LEFT_OUT: dict[str, str] = {
    "data_exports": "the copies themselves: asking for one and each download are in account_events and access_log",
}
"""Tables with a column naming a citizen that the copy leaves out, each with why."""


def _names_a_citizen(model: type[Model]) -> bool:
    columns = model._meta.fields_db_projection.values()
    links = [field for field in model._meta.fields_map.values()
             if isinstance(field, ForeignKeyFieldInstance) and field.related_model is Citizen]
    return bool(links) or any(NAMES_A_CITIZEN.search(column) for column in columns)


def _tables_naming_a_citizen() -> set[str]:
    models = Tortoise.apps["models"].values()
    return {Citizen._meta.db_table} | {model._meta.db_table for model in models if _names_a_citizen(model)}


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Every record_of call of every domain's export watched: the tables copied, and per table any
    encrypted column neither opened nor skipped."""
    seen: dict[str, set[str]] = {}

    def watched(row: Model, pii: Any, *, sealed: Any = None, skip: Any = (), **extra: Any) -> dict[str, Any]:
        unsaid = {name for name in row._meta.fields_db_projection
                  if name.endswith("_enc") and name not in (sealed or {}) and name not in skip}
        seen.setdefault(row._meta.db_table, set()).update(unsaid)
        return personal_data.record_of(row, pii, sealed=sealed, skip=skip, **extra)

    for module in list(sys.modules.values()):
        if getattr(module, "record_of", None) is personal_data.record_of and module is not personal_data:
            monkeypatch.setattr(module, "record_of", watched)
    return seen


@pytest.mark.departments
async def test_every_table_naming_a_citizen_is_in_the_copy_or_left_out_for_a_reason(app, client, sms, clock, grandma,
                                                                                     grandma_card, copied):
    await held_everywhere(app, client, sms, clock, grandma, grandma_card)
    writer = ArchiveWriter(2 ** 20)
    try:
        await services_of(app).exports.gather(grandma.id, writer)
    finally:
        writer.close()
    missed = _tables_naming_a_citizen() - set(copied) - set(LEFT_OUT)
    assert not missed, f"tables naming a citizen neither in the copy nor in LEFT_OUT: {sorted(missed)}"
    unopened = {table: sorted(columns) for table, columns in copied.items() if columns}
    assert not unopened, f"encrypted columns neither opened (sealed=) nor left out (skip=): {unopened}"
    assert not set(LEFT_OUT) & set(copied), "a table on LEFT_OUT is in the copy after all"


async def test_an_encrypted_column_not_said_how_to_open_is_left_out_not_an_error(app, caplog):
    pii = services_of(app).platform.pii
    citizen = Citizen(id="cit_sample", phone_enc=pii.encrypt("13800138000", "phone"), phone_hash="0" * 64)
    with caplog.at_level(logging.WARNING, logger="app.personal_data"):
        record = record_of(citizen, pii)
    assert "phone_enc" not in record and "phone" not in record
    assert "Citizen.phone_enc is encrypted and not opened" in caplog.text and "13800138000" not in caplog.text
