"""The joint form of a bundle (一件事一表申请): one form across the bundle's items, shared fields asked once.

Each item of a bundle may declare its form as a JSON Schema object (`ServiceItem.form_schema`). The joint form
merges them:

- a field (a property name) that several items declare with the same shape (the schema without its words:
  title, description, examples) is shared: asked once, and its value goes to each of those items; it is
  required when any of them requires it;
- a field only one item declares, or one that items declare with different shapes (e.g. `name` the child's name
  for one and the parent's for another, with other limits), belongs to that item alone: the citizen gives it
  under the item (`parts.<item_id>`);
- a material (by name) several items ask for is given once and attached to each of them; it is required when
  any of them requires it.

An item without a schema takes every shared value given (its form is free JSON, as for a single application).
Pure functions over plain data: no database, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from app.services.catalogue.service import declared_fields

WORDS = frozenset({"title", "description", "examples", "default", "$comment"})


@dataclass(frozen=True)
class PartForm:
    """One item's place in the joint form: its own fields (asked under the item) and its schema."""

    item_id: str
    item_name: str
    schema: dict[str, Any] | None
    own: dict[str, Any] = field(default_factory=dict)  # field -> schema, asked under this item only
    own_required: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JointForm:
    """The merged form: shared fields (each naming its items), each part's own fields, the merged materials."""

    shared: dict[str, dict[str, Any]]  # field -> {"schema", "required", "items"}
    parts: list[PartForm]
    materials: list[dict[str, Any]]  # {name, required, licence_type, items}


def shape(schema: Any) -> Any:
    """A field's schema without its words: two fields of the same shape take the same values."""
    if isinstance(schema, dict):
        return {k: shape(v) for k, v in schema.items() if k not in WORDS}
    if isinstance(schema, list):
        return [shape(v) for v in schema]
    return schema


def required(schema: dict[str, Any] | None) -> set[str]:
    found = schema.get("required") if isinstance(schema, dict) else None
    return {r for r in found if isinstance(r, str)} if isinstance(found, list) else set()


def merge(items: Sequence[tuple[str, str, dict[str, Any] | None, list[dict[str, Any]]]]) -> JointForm:
    """The joint form of items given as (id, name, form schema, materials), in the bundle's order."""
    declared: dict[str, list[tuple[str, Any]]] = {}  # field -> [(item id, schema)]
    for item_id, _, schema, _ in items:
        for name, spec in declared_fields(schema).items():
            declared.setdefault(name, []).append((item_id, spec))
    shared_names = {name for name, uses in declared.items() if _shared(uses)}
    shared = {name: _shared_field(name, declared[name], items) for name in declared if name in shared_names}
    parts = [_part(item_id, name, schema, shared_names) for item_id, name, schema, _ in items]
    return JointForm(shared, parts, merged_materials([(item_id, materials) for item_id, _, _, materials in items]))


def _shared(uses: list[tuple[str, Any]]) -> bool:
    return len(uses) > 1 and all(shape(spec) == shape(uses[0][1]) for _, spec in uses)


def _shared_field(name: str, uses: list[tuple[str, Any]],
                  items: Sequence[tuple[str, str, dict[str, Any] | None, list[dict[str, Any]]]]) -> dict[str, Any]:
    schemas = {item_id: schema for item_id, _, schema, _ in items}
    return {"schema": uses[0][1], "required": any(name in required(schemas[i]) for i, _ in uses),
            "items": [i for i, _ in uses]}


def _part(item_id: str, item_name: str, schema: dict[str, Any] | None, shared_names: set[str]) -> PartForm:
    own = {name: spec for name, spec in declared_fields(schema).items() if name not in shared_names}
    return PartForm(item_id, item_name, schema, own, sorted(required(schema) & set(own)))


def merged_materials(items: Sequence[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Each material name once, in the order first asked: required by any item, and the items asking for it."""
    merged: dict[str, dict[str, Any]] = {}
    for item_id, materials in items:
        for spec in materials:
            entry = merged.setdefault(spec["name"], {"name": spec["name"], "required": False,
                                                     "licence_type": spec.get("licence_type"), "items": []})
            entry["required"] = entry["required"] or bool(spec.get("required", True))
            entry["licence_type"] = entry["licence_type"] or spec.get("licence_type")
            entry["items"].append(item_id)
    return list(merged.values())


def part_forms(form: JointForm, shared_values: Mapping[str, Any],
               own_values: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """Each part's form from the joint submission, and the problems of the submission as a whole: a shared
    value no item takes, a part that is not in the bundle. A part's form: the shared values its item declares
    (all of them for an item without a schema), then the values given under the item."""
    problems = [{"field": f"parts.{item_id}", "problem": "not an item of this joint application"}
                for item_id in own_values if item_id not in {p.item_id for p in form.parts}]
    taken: set[str] = set()
    forms: dict[str, dict[str, Any]] = {}
    for part in form.parts:
        declared = declared_fields(part.schema)
        mine = {k: v for k, v in shared_values.items() if part.schema is None or k in declared}
        taken |= set(mine)
        forms[part.item_id] = {**mine, **dict(own_values.get(part.item_id, {}))}
    problems += [{"field": f"form.{name}", "problem": "no item of this bundle asks for this field"}
                 for name in shared_values if name not in taken]
    return forms, problems
