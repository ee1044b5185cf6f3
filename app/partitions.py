"""Monthly partitions of the append-only tables (PostgreSQL), and the record of the months archived.

Migration 0042 made audit_entries, health_evidence, issued_health_codes and exchange_messages tables
PARTITIONED BY RANGE on their time column, one partition per calendar month (UTC) named <table>_YYYY_MM
and a <table>_default catching anything outside them. `app.retention` keeps the coming months made and
moves months older than their retention period out to object storage, recording each in `ArchivedPartition`.

On SQLite the tables are plain tables: nothing here applies there (`partitioned` says so).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from json import dumps, loads
from typing import Any

from tortoise import fields
from tortoise.models import Model


class ArchivedPartition(Model):
    """A month of an append-only table moved out of the database into object storage by the retention job: where, how many rows, its SHA-256."""

    id = fields.IntField(pk=True)
    table_name = fields.CharField(max_length=64, db_index=True)
    partition_name = fields.CharField(max_length=64, unique=True)
    range_start = fields.DatetimeField()  # the month's first instant (UTC), included
    range_end = fields.DatetimeField()  # the next month's first instant, excluded
    rows = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)  # hex SHA-256 of the stored object (the gzip file)
    storage_key = fields.CharField(max_length=200)
    size = fields.BigIntField()
    # audit_entries only: the last archived entry of each chain, {"<chain>": {"seq": n, "hash": "…"}}; the
    # first retained entry of a chain must link to it (`audit.verify_chain`).
    chain_ends: Any = fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(",", ":")),
                                       decoder=loads)
    archived_at = fields.DatetimeField()

    class Meta:
        table = "archived_partitions"


@dataclass(frozen=True)
class PartitionedTable:
    """An append-only table and the column its months are cut on."""

    name: str
    column: str
    retention_setting: str  # the field of `RetentionSettings` holding its retention in days


# The audit log first: the job archives it, so its own entries land in a table it has already handled.
TABLES = (
    PartitionedTable("audit_entries", "at", "audit_entries_days"),
    PartitionedTable("health_evidence", "recorded_at", "health_evidence_days"),
    PartitionedTable("issued_health_codes", "issued_at", "issued_health_codes_days"),
    PartitionedTable("exchange_messages", "at", "exchange_messages_days"),
)
BY_NAME = {table.name: table for table in TABLES}

Month = tuple[int, int]
_MONTH_PARTITION = re.compile(r"^(?P<table>[a-z_]+)_(?P<year>\d{4})_(?P<month>\d{2})$")


def month_of(moment: datetime) -> Month:
    moment = moment.astimezone(timezone.utc)
    return moment.year, moment.month


def next_month(month: Month) -> Month:
    year, number = month
    return (year + 1, 1) if number == 12 else (year, number + 1)


def month_start(month: Month) -> datetime:
    return datetime(month[0], month[1], 1, tzinfo=timezone.utc)


def partition_name(table: str, month: Month) -> str:
    return f"{table}_{month[0]:04d}_{month[1]:02d}"


def month_of_partition(table: str, name: str) -> Month | None:
    """The month a partition named <table>_YYYY_MM holds; None for the default partition or another name."""
    match = _MONTH_PARTITION.match(name)
    if match is None or match["table"] != table:
        return None
    return int(match["year"]), int(match["month"])


def partitioned(conn: Any) -> bool:
    """Does this database partition the tables (PostgreSQL), or are they plain (SQLite)?"""
    return bool(conn.capabilities.dialect == "postgres")


async def month_partitions(conn: Any, table: str) -> dict[Month, str]:
    """The month partitions attached to `table` now, by month."""
    _, rows = await conn.execute_query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = $1::regclass", [f"public.{table}"])
    found = {}
    for row in rows:
        month = month_of_partition(table, row["name"])
        if month is not None:
            found[month] = row["name"]
    return found
