"""The audit log as many chains (one per subject hash) anchored into a root chain.

Each entry names its chain; `audit_head` holds one row per chain, keyed by the chain's number (the one head
row of before, id 1, becomes chain 0's: the entries written before are chain 0's first entries, hashed as
they always were). `audit_layout` records, at first use, how many chains there are and where the entries
written as one chain end. `audit_root` is the chain of anchors, with its own head.

Written to work on a partitioned `audit_entries` as well: the column is added with ALTER TABLE ADD COLUMN
and its index is not unique. On PostgreSQL `seq` comes from a sequence, so writers of different chains
share no lock; on SQLite it is the largest seq plus one, under SQLite's one writer.

Going down is refused once an entry was written with chains (`_refuse_once_chained`); on a log without any it
gives the one chain its head row 1 back and, on SQLite, puts back the append-only triggers of audit_entries
that removing the chain column dropped.
"""

import functools
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from app.migrations._dialect_sql import run_sql

_APPEND_ONLY_SQLITE = [
    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
    for table in ("audit_root", "audit_layout") for verb in ("UPDATE", "DELETE")
]
SQLITE = [
    "CREATE INDEX audit_entries_chain_seq ON audit_entries (chain, seq)",
    "UPDATE audit_head SET id = 0 WHERE id = 1",
    *_APPEND_ONLY_SQLITE,
    "CREATE TRIGGER audit_root_head_no_delete BEFORE DELETE ON audit_root_head "
    "BEGIN SELECT RAISE(ABORT, 'audit_root_head cannot be deleted'); END",
]
POSTGRES = [
    "CREATE INDEX audit_entries_chain_seq ON audit_entries (chain, seq)",
    "UPDATE audit_head SET id = 0 WHERE id = 1",
    "CREATE SEQUENCE audit_entry_seq OWNED BY audit_entries.seq",
    "SELECT setval('audit_entry_seq', COALESCE((SELECT MAX(seq) FROM audit_entries), 0) + 1, false)",
    *[f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
      "FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()" for table in ("audit_root", "audit_layout")],
    *[f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
      "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()" for table in ("audit_root", "audit_layout")],
    "CREATE TRIGGER audit_root_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_root_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()",
]
SQLITE_DOWN = [
    "DROP INDEX IF EXISTS audit_entries_chain_seq",
    *[f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for table in ("audit_root", "audit_layout")
      for verb in ("update", "delete")],
    "DROP TRIGGER IF EXISTS audit_root_head_no_delete",
    "UPDATE audit_head SET id = 1 WHERE id = 0",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS audit_entries_chain_seq",
    "DROP SEQUENCE IF EXISTS audit_entry_seq",
    *[f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}" for table in ("audit_root", "audit_layout")
      for name in ("append_only", "no_truncate")],
    "DROP TRIGGER IF EXISTS audit_root_head_no_delete ON audit_root_head",
    "UPDATE audit_head SET id = 1 WHERE id = 0",
]

# SQLite drops a table's triggers when Tortoise rebuilds it to remove a column (the chain column, going down):
# the append-only triggers of 0002 are put back once the rebuild is done.
SQLITE_APPEND_ONLY_AGAIN = [
    f"CREATE TRIGGER IF NOT EXISTS audit_entries_no_{verb.lower()} BEFORE {verb} ON audit_entries "
    "BEGIN SELECT RAISE(ABORT, 'audit_entries is append-only'); END" for verb in ("UPDATE", "DELETE")
]


class ChainsInUse(RuntimeError):
    """Going below 0043 once an entry was written with chains: the one-chain code could not verify the log."""


async def _refuse_once_chained(apps: Any, schema_editor: Any) -> None:
    """Going down is refused once any entry was chained the new way: the layout is recorded by the first such
    entry, and a chain other than 0 has a head. Moving chain 0's head back to id 1 would then collide with chain
    1's, and the version before could neither verify the other chains' entries nor number its own after them."""
    client = schema_editor.client
    _, layout = await client.execute_query("SELECT COUNT(*) AS n FROM audit_layout")
    _, heads = await client.execute_query("SELECT COUNT(*) AS n FROM audit_head WHERE id > 0")
    if int(layout[0]["n"]) or int(heads[0]["n"]):
        raise ChainsInUse("migration 0043 cannot be undone: audit entries were written with chains (audit_layout "
                          "or a head of a chain above 0 exists); the version before the chains could not verify "
                          "or continue this log. Restore a backup taken before 0043 instead.")
    await run_sql({"sqlite": SQLITE_DOWN, "postgres": POSTGRES_DOWN})(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [('models', '0042_monthly_partitions')]

    initial = False

    operations = [
        # Its way back runs last, after the chain column is removed (which on SQLite rebuilds the table).
        ops.RunPython(ops.RunPython.noop, run_sql({"sqlite": SQLITE_APPEND_ONLY_AGAIN, "postgres": []})),
        ops.AddField(
            model_name='AuditEntry',
            name='chain',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.CreateModel(
            name='AuditLayout',
            fields=[
                ('id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('chains', fields.IntField()),
                ('legacy_seq', fields.BigIntField()),
            ],
            options={'table': 'audit_layout', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'How many audit chains there are, fixed at first use, and the last entry '
                                          'written when the log was one chain.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditRoot',
            fields=[
                ('seq', fields.BigIntField(primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('anchors', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')),
                                             decoder=loads)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'audit_root', 'app': 'models', 'pk_attr': 'seq',
                     'table_description': 'The root chain: each entry anchors the heads of the audit chains that '
                                          'moved since the one before.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditRootHead',
            fields=[
                ('id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField()),
                ('hash', fields.CharField(max_length=64)),
                ('anchored', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')),
                                              decoder=loads)),
            ],
            options={'table': 'audit_root_head', 'app': 'models', 'pk_attr': 'id',
                     'table_description': 'The last root entry, and the head of each chain it anchored.'},
            bases=['Model'],
        ),
        ops.RunPython(
            run_sql({"sqlite": SQLITE, "postgres": POSTGRES}),
            _refuse_once_chained,
        ),
    ]
