"""Monthly range partitions for the append-only tables, and the record of months archived (`archived_partitions`).

On PostgreSQL each of audit_entries (by `at`), health_evidence (by `recorded_at`), issued_health_codes (by
`issued_at`) and exchange_messages (by `at`) becomes a table PARTITIONED BY RANGE on that column: a new
partitioned table is made beside the old one, the rows are copied, the old table is dropped and the new
one takes its name, then its indexes, foreign keys, triggers and comments are made again as the catalogue
described them before. All in the migration's one transaction: a failure leaves the plain table as it was.

A primary key of a partitioned table must hold the partition column: the key becomes (seq, at),
(id, recorded_at), (code_id, issued_at), (message_id, at) under the old constraint's name. The ORM still
treats the first column as the key; each of those ids is unique on its own by how it is made (the audit
head hands out `seq` under a row lock, the others are random ids).

Partitions: one per calendar month (UTC) from the earliest row's month to three months after the current
one, named <table>_YYYY_MM, plus <table>_default so that an insert never fails. The partition job
(app/partitions.py) keeps the coming months made; the retention job archives and drops old ones.

On SQLite (no partitioning) the tables stay plain; only `archived_partitions` is made.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# table -> partition column, primary key column
TABLES = {
    "audit_entries": ("at", "seq"),
    "health_evidence": ("recorded_at", "id"),
    "issued_health_codes": ("issued_at", "code_id"),
    "exchange_messages": ("at", "message_id"),
}
MONTHS_AHEAD = 3


def _month(moment: datetime) -> tuple[int, int]:
    return moment.year, moment.month


def _next(month: tuple[int, int]) -> tuple[int, int]:
    year, number = month
    return (year + 1, 1) if number == 12 else (year, number + 1)


def _bound(month: tuple[int, int]) -> str:
    return f"'{month[0]:04d}-{month[1]:02d}-01 00:00:00+00'"


async def _rows(client: Any, sql: str) -> list[dict[str, Any]]:
    _, rows = await client.execute_query(sql)
    return [dict(row) for row in rows]


async def _keep_sequences(client: Any, old: str, table: str) -> None:
    """A serial column's sequence belongs to the old table's column: it passes to the new table's, whose
    default (copied by LIKE) already uses it, before the old table is dropped."""
    owned = await _rows(client, f"SELECT s.relname AS sequence, a.attname AS column FROM pg_depend d "
                                f"JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                                f"JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
                                f"WHERE d.refobjid = 'public.{old}'::regclass AND d.deptype = 'a'")
    for row in owned:
        await client.execute_script(f'ALTER SEQUENCE "{row["sequence"]}" OWNED BY "{table}"."{row["column"]}"')


async def _partition(client: Any, table: str) -> None:
    column, key = TABLES[table]
    old = f"{table}_unpartitioned"
    oid = f"'public.{table}'::regclass"
    # What the catalogue says of the table now, made again on the partitioned one.
    indexes = await _rows(client, f"SELECT pg_get_indexdef(i.indexrelid) AS ddl FROM pg_index i "
                                  f"WHERE i.indrelid = {oid} AND NOT i.indisprimary")
    keys = await _rows(client, f"SELECT conname, pg_get_constraintdef(oid) AS ddl FROM pg_constraint "
                               f"WHERE conrelid = {oid} AND contype IN ('f', 'c') ORDER BY conname")
    primary = await _rows(client, f"SELECT conname FROM pg_constraint WHERE conrelid = {oid} AND contype = 'p'")
    triggers = await _rows(client, f"SELECT pg_get_triggerdef(oid) AS ddl FROM pg_trigger "
                                   f"WHERE tgrelid = {oid} AND NOT tgisinternal ORDER BY tgname")
    comment = await _rows(client, f"SELECT obj_description({oid}, 'pg_class') AS text")
    months = await _rows(client, f"SELECT min({column}) AS first FROM {table}")

    await client.execute_script(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    await client.execute_script(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING COMMENTS INCLUDING STORAGE) '
        f'PARTITION BY RANGE ("{column}")')
    now = datetime.now(timezone.utc)
    first = months[0]["first"]
    month = _month(first.astimezone(timezone.utc)) if first is not None else _month(now)
    last = _month(now)
    for _ in range(MONTHS_AHEAD):
        last = _next(last)
    while month <= last:
        await client.execute_script(
            f'CREATE TABLE "{table}_{month[0]:04d}_{month[1]:02d}" PARTITION OF "{table}" '
            f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(_next(month))})")
        month = _next(month)
    await client.execute_script(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
    await client.execute_script(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    await _keep_sequences(client, old, table)
    await client.execute_script(f'DROP TABLE "{old}"')

    name = primary[0]["conname"] if primary else f"{table}_pkey"
    await client.execute_script(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" PRIMARY KEY ("{key}", "{column}")')
    for row in indexes:  # the definitions name the table, which the partitioned one now is
        await client.execute_script(row["ddl"])
    for row in keys:
        await client.execute_script(f'ALTER TABLE "{table}" ADD CONSTRAINT "{row["conname"]}" {row["ddl"]}')
    for row in triggers:
        await client.execute_script(row["ddl"])
    if comment and comment[0]["text"]:
        text = comment[0]["text"].replace("'", "''")
        await client.execute_script(f"COMMENT ON TABLE \"{table}\" IS '{text}'")


async def partition_tables(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return  # SQLite has no partitions: the tables stay as they are
    for table in TABLES:
        await _partition(client, table)


async def unpartition_tables(apps: Any, schema_editor: Any) -> None:
    """Back to plain tables with single-column keys (rows, indexes, keys, triggers and comments kept)."""
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for table, (_, key) in TABLES.items():
        oid = f"'public.{table}'::regclass"
        indexes = await _rows(client, f"SELECT pg_get_indexdef(i.indexrelid) AS ddl FROM pg_index i "
                                      f"WHERE i.indrelid = {oid} AND NOT i.indisprimary")
        keys = await _rows(client, f"SELECT conname, pg_get_constraintdef(oid) AS ddl FROM pg_constraint "
                                   f"WHERE conrelid = {oid} AND contype IN ('f', 'c') AND conparentid = 0")
        triggers = await _rows(client, f"SELECT pg_get_triggerdef(oid) AS ddl FROM pg_trigger "
                                       f"WHERE tgrelid = {oid} AND NOT tgisinternal AND tgparentid = 0")
        comment = await _rows(client, f"SELECT obj_description({oid}, 'pg_class') AS text")
        old = f"{table}_partitioned"
        await client.execute_script(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        await client.execute_script(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING COMMENTS)')
        await client.execute_script(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
        await _keep_sequences(client, old, table)
        await client.execute_script(f'DROP TABLE "{old}" CASCADE')
        await client.execute_script(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ("{key}")')
        for statement in [r["ddl"] for r in indexes + triggers]:
            await client.execute_script(statement)
        for row in keys:
            await client.execute_script(f'ALTER TABLE "{table}" ADD CONSTRAINT "{row["conname"]}" {row["ddl"]}')
        if comment and comment[0]["text"]:
            text = comment[0]["text"].replace("'", "''")
            await client.execute_script(f"COMMENT ON TABLE \"{table}\" IS '{text}'")


class Migration(migrations.Migration):
    dependencies = [('models', '0041_data_exports')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ArchivedPartition',
            fields=[
                ('id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('table_name', fields.CharField(max_length=64, db_index=True)),
                ('partition_name', fields.CharField(unique=True, max_length=64)),
                ('range_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('range_end', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('rows', fields.BigIntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('storage_key', fields.CharField(max_length=200)),
                ('size', fields.BigIntField()),
                ('chain_ends', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')),
                                                decoder=loads)),
                ('archived_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'archived_partitions', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'A month of an append-only table moved out of the database into object '
                                          'storage by the retention job: where, how many rows, its SHA-256.'},
            bases=['Model'],
        ),
        ops.RunPython(partition_tables, unpartition_tables),
    ]
