"""Helper for hand-written migrations whose SQL differs per database (triggers, functions).

The leading underscore keeps Tortoise's migration loader from reading this as a migration.
"""

from __future__ import annotations

from typing import Any, Callable, Coroutine

Statements = dict[str, list[str]]  # dialect ("sqlite", "postgres") -> SQL statements


def run_sql(statements: Statements) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    """A RunPython callable that executes the statements for the connected dialect."""

    async def run(apps: Any, schema_editor: Any) -> None:
        client = schema_editor.client
        for statement in statements[client.capabilities.dialect]:
            await client.execute_script(statement)

    return run
