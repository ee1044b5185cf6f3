"""Close the gaps left by 0002: TRUNCATE of the audit log (PostgreSQL) and deleting its head row."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from app.migrations._dialect_sql import run_sql

SQLITE = [
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END",
]
POSTGRES = [
    "CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS audit_head_no_delete"]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_entries_no_truncate ON audit_entries",
    "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0002_audit_append_only")]

    operations = [
        ops.RunPython(
            run_sql({"sqlite": SQLITE, "postgres": POSTGRES}),
            run_sql({"sqlite": SQLITE_DOWN, "postgres": POSTGRES_DOWN}),
        )
    ]
