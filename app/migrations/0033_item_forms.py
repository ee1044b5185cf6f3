"""Item forms (申请表): each catalogue item may declare a JSON Schema (draft 2020-12) for its application form in
`service_items.form_schema`; null means the item asks for no particular form (any JSON object is taken).

A database seeded before forms existed gets the sample catalogue's forms for its sample items, and their 秒批
rules where an item has never had any (rules_version 0, no rules): the column is new, so no administrator can
have edited a form yet, and rules someone set are left alone. A fresh database has no items yet; seeding fills
them in as usual."""

import functools
import json
from json import dumps, loads
from pathlib import Path
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

SAMPLE = Path(__file__).resolve().parent.parent / "services" / "catalogue" / "sample_catalogue.json"
SQL = {
    "sqlite": ("UPDATE service_items SET form_schema = ? WHERE id = ? AND sample AND form_schema IS NULL",
               "UPDATE service_items SET approval_rules = ? WHERE id = ? AND sample AND approval_rules IS NULL "
               "AND rules_version = 0"),
    "postgres": ("UPDATE service_items SET form_schema = $1::jsonb WHERE id = $2 AND sample AND form_schema IS NULL",
                 "UPDATE service_items SET approval_rules = $1::jsonb WHERE id = $2 AND sample "
                 "AND approval_rules IS NULL AND rules_version = 0"),
}


def _ordered(node: Any) -> Any:
    """The schema with `x-order` (its field names in the order written) in each subschema with properties, as
    seeding stores it: jsonb keeps no key order."""
    if isinstance(node, list):
        return [_ordered(value) for value in node]
    if not isinstance(node, dict):
        return node
    ordered = {key: value if key in ("enum", "const", "default", "examples") else _ordered(value)
               for key, value in node.items()}
    if isinstance(node.get("properties"), dict):
        ordered["x-order"] = list(node["properties"])
    return ordered


async def sample_forms(apps: Any, schema_editor: Any) -> None:
    """Give the sample items already in the database the sample forms (and rules where they have none)."""
    client = schema_editor.client
    forms_sql, rules_sql = SQL[client.capabilities.dialect]
    for item in json.loads(SAMPLE.read_text(encoding="utf-8"))["items"]:
        if item.get("form_schema"):
            await client.execute_query(forms_sql, [dumps(_ordered(item["form_schema"]), ensure_ascii=False), item["id"]])
        if item.get("approval_rules") and item.get("form_schema"):
            await client.execute_query(rules_sql, [dumps(item["approval_rules"], ensure_ascii=False), item["id"]])


async def _nothing(apps: Any, schema_editor: Any) -> None:
    """Going back drops the column; the rules filled in stay (they are the sample catalogue's own)."""


class Migration(migrations.Migration):
    dependencies = [('models', '0032_partner_holder_keys')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ServiceItem',
            name='form_schema',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.RunPython(sample_forms, _nothing),
    ]
