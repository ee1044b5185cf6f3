"""Stored rows as records of a citizen's own data, for the copy of it they may ask for (个人信息副本).

Each domain gives its part of the copy through its own `service` module, built with `record_of`: every
column of the row, times in ISO 8601, encrypted columns opened (the copy is for the citizen themself, so
their own personal data is in clear), and keyed lookup hashes left out (they are derived from values the
record already holds in clear and mean nothing outside this service).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Collection, Mapping, Protocol

from tortoise.models import Model

from app.security.pii import PiiCipher

log = logging.getLogger(__name__)

Records = list[dict[str, Any]]
Areas = dict[str, Records]
"""A domain's part of the copy: area name (e.g. "applications") -> one record per stored row."""


class FileSink(Protocol):
    """Where a domain puts the files of a citizen's copy, one at a time (the copy holds at most so many bytes)."""

    def has_room(self, size: int) -> bool:
        """Whether a file of `size` bytes still fits in the copy."""

    async def add(self, name: str, content: bytes) -> None:
        """The file written into the copy as `name`, off the event loop."""


@dataclass(frozen=True)
class Sealed:
    """How an encrypted column is opened: its PII context, formatted with the row's own columns
    ("application-form:{id}"), and whether the opened text is JSON to be given as a value."""

    context: str
    json: bool = False


def plain(value: Any) -> Any:
    """A stored value as JSON holds it: times and dates in ISO 8601, amounts as text, bytes in base64."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def record_of(row: Model, pii: PiiCipher, *, sealed: Mapping[str, Sealed] | None = None,
              skip: Collection[str] = (), **extra: Any) -> dict[str, Any]:
    """Every column of `row` (a foreign key as its `…_id`) except `skip` and the `…_hash` lookup columns;
    each `…_enc` column opened as `sealed` says and named without `_enc`. An encrypted column neither
    `sealed` nor `skip` names is left out, with a warning: a copy never carries ciphertext, and a column
    added later does not fail every copy (tests/exports/test_export_coverage.py fails on it instead).
    `extra` is added as given."""
    sealed = sealed or {}
    columns = {name: getattr(row, name) for name in row._meta.fields_db_projection}
    record: dict[str, Any] = {}
    for name, value in columns.items():
        if name in skip or name.endswith("_hash"):
            continue
        if name.endswith("_enc") and name not in sealed:
            log.warning("personal data copy: %s.%s is encrypted and not opened: left out", type(row).__name__, name)
        elif name in sealed:
            record[name.removesuffix("_enc")] = opened(pii, value, sealed[name], columns)
        else:
            record[name] = plain(value)
    record.update({name: plain(value) for name, value in extra.items()})
    return record


def opened(pii: PiiCipher, value: str | None, how: Sealed, columns: Mapping[str, Any] | None = None) -> Any:
    """An encrypted value opened (None and "" stay as they are)."""
    if not value:
        return value
    text = pii.decrypt(value, how.context.format(**(columns or {})))
    return json.loads(text) if how.json else text
