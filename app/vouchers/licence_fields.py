"""Field schemas of licence types: a small JSON Schema subset, checked when loaded, and masking.

`jsonschema` is not a dependency, and licence fields need little: flat objects of strings,
numbers and booleans with `required`, `additionalProperties`, `enum`, `pattern`, lengths,
bounds and `format: date`. `check_schema` refuses any other keyword when the types are loaded,
so a schema can never carry a rule that is silently not enforced.

Extension keywords: `x-label` (the field's label in zh-Hans/zh-Hant/en), `x-pii` (how a value
is masked in replies and images), `x-holder` (the field naming the holder); on the object,
`x-number` (the licence number's label and pattern) and `x-order` (display order, since
PostgreSQL JSONB does not keep key order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from app.security.pii import mask_id_number, mask_name, mask_phone

ANNOTATIONS = {"title", "description", "x-label", "x-pii", "x-holder", "_comment"}
OBJECT_KEYWORDS = {"type", "properties", "required", "additionalProperties", "x-number", "x-order", "$schema"} | ANNOTATIONS
VALUE_KEYWORDS = {"type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "format"} | ANNOTATIONS
VALUE_TYPES = {"string", "integer", "number", "boolean"}
FORMATS = {"date"}
PII_KINDS = {"name", "id_number", "phone", "address", "birth_date", "number"}
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class SchemaError(ValueError):
    """A licence-type schema uses something this validator does not enforce."""


@dataclass(frozen=True)
class FieldView:
    """One field as shown: its name, its label in each language, and its (masked) value."""

    name: str
    label: Mapping[str, str]
    value: str


def check_schema(code: str, schema: Mapping[str, Any]) -> None:
    """Refuse a schema with keywords, types or formats that `validate` would not enforce."""
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise SchemaError(f"{code}: the schema must be an object with properties")
    _only(code, schema, OBJECT_KEYWORDS)
    properties = schema["properties"]
    missing = [name for name in schema.get("required", []) if name not in properties]
    if missing:
        raise SchemaError(f"{code}: required fields without a property: {missing}")
    for name, spec in properties.items():
        where = f"{code}.{name}"
        _only(where, spec, VALUE_KEYWORDS)
        if spec.get("type") not in VALUE_TYPES:
            raise SchemaError(f"{where}: type must be one of {sorted(VALUE_TYPES)}")
        if "format" in spec and spec["format"] not in FORMATS:
            raise SchemaError(f"{where}: format {spec['format']!r} is not supported")
        if "x-pii" in spec and spec["x-pii"] not in PII_KINDS:
            raise SchemaError(f"{where}: x-pii must be one of {sorted(PII_KINDS)}")
        if "pattern" in spec:
            re.compile(spec["pattern"])
    if len([n for n, spec in properties.items() if spec.get("x-holder")]) > 1:
        raise SchemaError(f"{code}: at most one field may be x-holder")


def _only(where: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise SchemaError(f"{where}: unsupported keywords {sorted(unknown)}")


def validate(schema: Mapping[str, Any], values: Any, path: str = "fields") -> list[dict[str, str]]:
    """Problems of `values` against `schema`, as {"field", "problem"} items (empty when valid)."""
    if not isinstance(values, dict):
        return [{"field": path, "problem": "an object is required"}]
    properties = schema["properties"]
    problems = [{"field": f"{path}.{name}", "problem": "required"}
                for name in schema.get("required", []) if values.get(name) is None]
    for name, value in values.items():
        spec = properties.get(name)
        if spec is None:
            if schema.get("additionalProperties", True) is False:
                problems.append({"field": f"{path}.{name}", "problem": "not a field of this licence type"})
            continue
        if value is not None:
            problem = _value_problem(spec, value)
            if problem:
                problems.append({"field": f"{path}.{name}", "problem": problem})
    return problems


def _value_problem(spec: Mapping[str, Any], value: Any) -> str | None:
    kind = spec["type"]
    if not _is_type(kind, value):
        return f"must be a {kind}"
    if "enum" in spec and value not in spec["enum"]:
        return "must be one of " + "/".join(str(v) for v in spec["enum"])
    if kind == "string":
        if len(value) < spec.get("minLength", 0) or len(value) > spec.get("maxLength", len(value)):
            return f"length must be {spec.get('minLength', 0)}..{spec.get('maxLength', '')}"
        if "pattern" in spec and not re.search(spec["pattern"], value):
            return "format"
        if spec.get("format") == "date" and not _is_date(value):
            return "must be a date YYYY-MM-DD"
    elif kind in ("integer", "number"):
        if value < spec.get("minimum", value) or value > spec.get("maximum", value):
            return "out of range"
    return None


def _is_type(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def mask(kind: str | None, value: Any) -> str:
    """A field value as it may be shown: PII masked by kind, anything else as text."""
    text = value if isinstance(value, str) else ("是" if value is True else "否" if value is False else str(value))
    if kind == "name":
        return mask_name(text)
    if kind == "id_number":
        return mask_id_number(text)
    if kind == "phone":
        return mask_phone(text)
    if kind == "address":
        return text[:6] + "****" if len(text) > 6 else "****"
    if kind == "birth_date":
        return text[:4] + "-**-**"
    if kind == "number":
        return mask_number(text)
    return text


def mask_number(number: str) -> str:
    """A document number: the first 4 and the last 4 characters show (less of a short one)."""
    if len(number) > 10:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    if len(number) > 4:
        return number[:1] + "*" * (len(number) - 3) + number[-2:]
    return "*" * len(number)


def shown_fields(schema: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[FieldView, ...]:
    """The fields present, in display order, labelled and masked."""
    properties = schema["properties"]
    order = schema.get("x-order") or list(properties)
    return tuple(
        FieldView(name, properties[name].get("x-label") or {"zh-Hans": name}, mask(properties[name].get("x-pii"), values[name]))
        for name in order if name in properties and values.get(name) is not None
    )


def holder_name(schema: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """The value of the field marked x-holder, unmasked (mask it before showing it)."""
    for name, spec in schema["properties"].items():
        if spec.get("x-holder") and isinstance(values.get(name), str):
            return values[name]
    return None
