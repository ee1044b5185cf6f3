"""Migration 0039 on a database that already holds citizens: every existing account keeps its resident ID, now
with its document type beside it, and a row written afterwards without a type is a resident ID too."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlparse, urlunparse

from tortoise import Tortoise, connections
from tortoise.migrations.executor import MigrationExecutor, MigrationTarget

from app.db import tortoise_config

ON_POSTGRES = os.environ.get("APP_DATABASE_URL", "").startswith("postgres")
BEFORE = MigrationTarget("models", "0036_joint_applications")
INSERT = ("INSERT INTO citizens (id, phone_enc, phone_hash, name_enc, id_number_enc, id_number_hash, level, "
          "elderly_mode, created_at) VALUES ('{id}', 'x', '{hash}', {number}, {number}, {number}, {level}, {no}, "
          "'2026-12-01 00:00:00')")


async def _fresh_database(tmp_path) -> tuple[str, str | None]:
    """A new empty database: a SQLite file, or a PostgreSQL database of its own (dropped afterwards)."""
    if not ON_POSTGRES:
        return f"sqlite://{tmp_path}/migration.sqlite3", None
    import asyncpg

    name = f"mig_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(os.environ["APP_DATABASE_URL"].replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return urlunparse(urlparse(os.environ["APP_DATABASE_URL"])._replace(path=f"/{name}")), name


async def _drop(name: str | None) -> None:
    if name is None:
        return
    import asyncpg

    admin = await asyncpg.connect(os.environ["APP_DATABASE_URL"].replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_existing_citizens_become_resident_id_holders(tmp_path):
    url, name = await _fresh_database(tmp_path)
    config = tortoise_config(url)
    try:
        await Tortoise.init(config=config)
        conn = connections.get("default")
        executor = MigrationExecutor(conn, config["apps"])
        await executor.migrate([BEFORE])
        no = "FALSE" if ON_POSTGRES else "0"
        await conn.execute_script(INSERT.format(id="c-verified", hash="p1", number="'h1'", level=2, no=no))
        await conn.execute_script(INSERT.format(id="c-phone", hash="p2", number="NULL", level=1, no=no))
        await MigrationExecutor(conn, config["apps"]).migrate()
        _, rows = await conn.execute_query(
            "SELECT id, document_type, nationality, birth_date_enc FROM citizens ORDER BY id")
        assert [tuple(row) for row in rows] == [("c-phone", "resident_id", None, None),
                                                ("c-verified", "resident_id", "CHN", None)]
        await conn.execute_script(INSERT.format(id="c-later", hash="p3", number="NULL", level=1, no=no))
        _, rows = await conn.execute_query("SELECT document_type FROM citizens WHERE id = 'c-later'")
        assert tuple(rows[0]) == ("resident_id",)
    finally:
        await Tortoise.close_connections()
        await _drop(name)
