"""Database wiring: Tortoise ORM on SQLite (embedded default) or PostgreSQL, schema by migrations.

Migrations live in `app/migrations/` (Tortoise's own migration framework, dialect-neutral
operations) and are applied at start on the embedded default, or by `python -m app migrate`.
"""

from __future__ import annotations

from typing import Any, cast

from tortoise import Tortoise, connections
from tortoise.queryset import QuerySet
from tortoise.migrations.executor import MigrationExecutor

from app.config import sqlite_path
from app.file_modes import create_private_file, make_private_dir

# Every module that defines models, in one Tortoise app called "models".
MODEL_MODULES = [
    "app.audit",
    "app.security.clients",
    "app.accounts.models",
    "app.notifications.models",
    "health_code.models",
    "health_code.interop.models",
    "app.vouchers.models",
    "app.services.catalogue.models",
    "app.services.applications.models",
    "app.services.appointments.models",
    "app.services.ratings.models",
    "app.services.cards.models",
    "elderly_mode.models",
    "app.payments.models",
    "app.miniprogram.models",
    "app.integrations.exchange.models",
    "app.departments.models",
    "app.hotline.models",
    "app.uploads.models",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = database_url.replace("postgresql://", "postgres://", 1)
    if url.startswith("sqlite://") and "synchronous=" not in url:
        # The embedded default runs in WAL mode (Tortoise sets it); with synchronous=NORMAL a commit
        # no longer waits for an fsync. The database stays consistent on a crash; a power cut may lose
        # the last commits, which is acceptable for the embedded default (production is PostgreSQL).
        url += ("&" if "?" in url else "?") + "synchronous=NORMAL"
    return {
        "connections": {"default": url},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": "default", "migrations": "app.migrations"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(database_url: str, migrate: bool) -> None:
    path = sqlite_path(database_url)
    if path is not None:
        # Made private before SQLite opens it: SQLite gives its -wal and -shm files the database file's mode.
        make_private_dir(path.parent)
        create_private_file(path)
    config = tortoise_config(database_url)
    # Sanic runs listeners and handlers in different tasks: share the context (as tortoise.contrib.sanic does).
    await Tortoise.init(config=config, _enable_global_fallback=True)
    if migrate:
        await apply_migrations(config)


async def apply_migrations(config: dict[str, Any]) -> None:
    executor = MigrationExecutor(connections.get("default"), config["apps"])
    await executor.migrate()


async def ping_db() -> None:
    await connections.get("default").execute_query("SELECT 1")


async def close_db() -> None:
    await Tortoise.close_connections()


def dialect() -> str:
    return str(connections.get("default").capabilities.dialect)


def placeholders(conn: Any, count: int, first: int = 1) -> str:
    """Parameter placeholders for SQL of our own (on hot paths, where building an ORM query costs
    more than running it), in `conn`'s dialect: "?, ?" on SQLite, "$1, $2" on PostgreSQL."""
    if conn.capabilities.dialect == "sqlite":
        return ", ".join("?" * count)
    return ", ".join(f"${number}" for number in range(first, first + count))


async def column(query: QuerySet[Any], field: str) -> list[Any]:
    """`field` of every row `query` selects: `values_list(field, flat=True)`, which Tortoise declares as
    a list of tuples although with one field it returns the values themselves. Callers name the type."""
    return cast(list[Any], await query.values_list(field, flat=True))
