"""An item's application form (申请表) as a JSON Schema (draft 2020-12): what a form schema may be, and its words.

A catalogue item declares its form in `ServiceItem.form_schema`; apps render the form from it, and the
application service validates every submission against it (app/services/applications/forms.py). A form
schema is an object schema whose every property has a `title`, the label an app shows (zh-Hans, the
catalogue's source language: in zh-Hant and English it comes from the `catalogue` gettext domain, as item
names do). References point inside the schema (`#/$defs/...`, checked to resolve): nothing is fetched from
elsewhere, and no `$id` or `$dynamicRef` moves them. A `format` must be one the platform checks (`date`,
`email`, `cn-mobile` …): an unknown one would silently check nothing.

Field order: a JSON object has none, and PostgreSQL's jsonb does not keep the order it was written in. So each
subschema with `properties` is stored with `x-order`, its field names in the order the administrator wrote them
(or gave in `x-order` themselves): apps show the fields in that order, and a form's problems are listed in it.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any, Iterator
from urllib.parse import unquote

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from app.errors import ValidationFailed
from app.services.catalogue import words

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FORM_FIELD_ORDER = "x-order"  # the field names of a subschema with properties, in the order they are shown
MAX_SCHEMA_BYTES = 32 * 1024
MAX_DEPTH = 8
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _is_id_number(value: object) -> bool:
    """A resident ID number (居民身份证号码, GB 11643): 17 digits, a check character, a real birth date."""
    if not isinstance(value, str):
        return True  # formats judge strings only; `type` speaks for the rest
    if not _ID_NUMBER.match(value):
        return False
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    check = "10X98765432"[sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS)) % 11]
    return value[17] == check


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _is_mobile(value: object) -> bool:
    return not isinstance(value, str) or bool(_MOBILE.match(value))


def _format_checker() -> FormatChecker:
    """The draft's own formats that need no extra package (date, time, email, ipv4 …), a strict RFC 3339
    date-time, and the Chinese ones forms ask for: `cn-mobile` (手机号码) and `cn-id-number` (身份证号码)."""
    checker = FormatChecker()
    for name in list(checker.checkers):
        if name not in Draft202012Validator.FORMAT_CHECKER.checkers:
            del checker.checkers[name]
    checker.checks("date-time")(_is_date_time)
    checker.checks("cn-mobile")(_is_mobile)
    checker.checks("cn-id-number")(_is_id_number)
    return checker


FORMAT_CHECKER = _format_checker()


def _problem(field: str, problem: str) -> ValidationFailed:
    return ValidationFailed([{"field": f"form_schema{field}", "problem": problem}])


def check_form_schema(schema: Any) -> dict[str, Any] | None:
    """The form schema as stored, or 422 VALIDATION_FAILED naming what is wrong with it (field `form_schema…`).

    `None` means the item asks for no particular form."""
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise _problem("", "a JSON Schema object, or null")
    if len(json.dumps(schema, ensure_ascii=False).encode("utf-8")) > MAX_SCHEMA_BYTES:
        raise _problem("", f"at most {MAX_SCHEMA_BYTES // 1024} KB")
    if schema.get("$schema", DRAFT) != DRAFT:
        raise _problem(".$schema", f"forms use JSON Schema draft 2020-12 ({DRAFT})")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        where = "".join(f".{part}" for part in error.absolute_path)
        raise _problem(where, str(error.message)[:200]) from None
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise _problem("", 'a form is {"type": "object", "properties": {...}}')
    for where, node in _nodes(schema, "", 0):
        _check_node(schema, where, node)
    ordered: dict[str, Any] = with_field_order(schema)
    return ordered


def with_field_order(node: Any) -> Any:
    """`node` with `x-order` in every subschema that has properties: as given when it names each field once,
    else the properties in the order written."""
    if isinstance(node, list):
        return [with_field_order(value) for value in node]
    if not isinstance(node, dict):
        return node
    ordered = {key: value if key in words.FORM_DATA_KEYWORDS else with_field_order(value)
               for key, value in node.items()}
    properties = node.get("properties")
    if isinstance(properties, dict):
        given = node.get(FORM_FIELD_ORDER)
        names = [str(name) for name in given] if isinstance(given, list) else []
        fits = len(names) == len(properties) and sorted(names) == sorted(properties)
        ordered[FORM_FIELD_ORDER] = names if fits else list(properties)
    return ordered


def _check_node(schema: dict[str, Any], where: str, node: dict[str, Any]) -> None:
    ref = node.get("$ref")
    if isinstance(ref, str) and not _points_inside(schema, ref):
        raise _problem(f"{where}.$ref", "references point to a place inside the schema (#/$defs/...)")
    if "$dynamicRef" in node or "$id" in node:
        raise _problem(where, "$id and $dynamicRef are not used in forms")
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt not in FORMAT_CHECKER.checkers:
        raise _problem(f"{where}.format", f"unknown format; known: {', '.join(sorted(FORMAT_CHECKER.checkers))}")
    for name, prop in (node.get("properties") or {}).items():
        if isinstance(prop, dict) and not (isinstance(prop.get("title"), str) and prop["title"].strip()):
            raise _problem(f"{where}.properties.{name}", "each field has a title, the label apps show")


def _points_inside(schema: dict[str, Any], ref: str) -> bool:
    """Whether `ref` is a JSON pointer (RFC 6901) to a place in `schema`: "#" or "#/$defs/date"."""
    if ref == "#":
        return True
    if not ref.startswith("#/"):
        return False
    node: Any = schema
    for token in ref[2:].split("/"):
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return isinstance(node, (dict, bool))


def _nodes(node: Any, where: str, depth: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every subschema (an object) in `node`, with where it is, refused past MAX_DEPTH levels."""
    if depth > MAX_DEPTH * 4:
        raise _problem(where, f"nested too deeply (at most {MAX_DEPTH} levels of fields)")
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            if key not in words.FORM_DATA_KEYWORDS:
                yield from _nodes(value, f"{where}.{key}", depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _nodes(value, f"{where}.{index}", depth + 1)


def declared_fields(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The form's top-level fields, by name, in the order the form shows them: its `x-order` (kept beside the
    properties, since PostgreSQL's jsonb keeps no key order), then any field it does not name."""
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return {}
    fields = {name: prop for name, prop in schema["properties"].items() if isinstance(prop, dict)}
    order = schema.get(FORM_FIELD_ORDER)
    named = [n for n in order if isinstance(n, str) and n in fields] if isinstance(order, list) else []
    return {name: fields[name] for name in [*named, *(n for n in fields if n not in named)]}


def schema_in(schema: dict[str, Any] | None, language: str) -> dict[str, Any] | None:
    """The schema with every title and description in `language` (the catalogue's own words)."""
    if schema is None:
        return None
    translated: dict[str, Any] = _translated(schema, language)
    return translated


def _translated(node: Any, language: str) -> Any:
    if isinstance(node, dict):
        return {key: words.text(value, language) if key in words.FORM_SHOWN_KEYWORDS and isinstance(value, str)
                else value if key in words.FORM_DATA_KEYWORDS else _translated(value, language)
                for key, value in node.items()}
    if isinstance(node, list):
        return [_translated(value, language) for value in node]
    return node


def field_title(schema: dict[str, Any] | None, path: list[str | int], language: str) -> str:
    """The label of the field at `path` (names and list positions) in `language`; its name if it has none."""
    node: Any = schema or {}
    title = ""
    for part in path:
        if not isinstance(node, dict):
            break
        node = node.get("items", {}) if isinstance(part, int) else (node.get("properties") or {}).get(part, {})
        if isinstance(node, dict) and isinstance(node.get("title"), str):
            title = node["title"]
    if not title:
        return ".".join(str(p) for p in path)
    return words.text(title, language)
