"""Every text input of a route, one at a time, around a request that passes validation.

`valid_example` builds a body of the declared shape that the schema accepts: strings honour `enum`,
`const`, `format`, `pattern` and their lengths, numbers their bounds, an optional array gets one
element and a free-form object one entry. Field names the world knows (an id of the caller's own
objects, a phone number, an ID number) are filled from `known`, so the request goes as deep as it can.
`string_leaves` then names every string in it by its JSON path, and `replaced` swaps exactly one.
Query parameters are not in the OpenAPI document: `query_parameters` reads them off the handler (and
the module's helpers it calls), with the default the handler gives as a valid value.

Nothing here names a route: routes added later get the same treatment.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
import re
from datetime import datetime, timedelta
from typing import Any, Iterator, Sequence

from app.clock import rfc3339
from tests.security.routes import Endpoint, resolve

TEXT = "示例"
Path = tuple[str | int, ...]


@functools.lru_cache(maxsize=None)
def pattern_example(pattern: str, min_length: int = 0, max_length: int | None = None) -> str:
    """The smallest string matching `pattern` (and the lengths), the same on every run."""
    import hypothesis
    from hypothesis import strategies as st

    return hypothesis.find(st.from_regex(pattern, fullmatch=True),
                           lambda s: len(s) >= min_length and (max_length is None or len(s) <= max_length),
                           settings=hypothesis.settings(database=None, max_examples=2000))


def fit(text: str, schema: dict[str, Any]) -> str:
    """`text` repeated or cut to the declared lengths."""
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    while len(text) < low:
        text += text or "x"
    return text[:high] if high is not None else text


def valid_example(document: dict[str, Any], schema: dict[str, Any] | None, known: dict[str, Any], now: datetime,
                  name: str | None = None, depth: int = 0, times: Iterator[int] | None = None) -> Any:
    """A value `schema` accepts, with `known[name]` for a field the world has a real value for. Times are
    tomorrow, an hour apart in the order they appear (a start before its end)."""
    schema = resolve(document, schema or {})
    times = times if times is not None else itertools.count()
    if depth > 8:
        return None
    if name in known and "enum" not in schema:
        return value_of(known[name])
    combined = combined_schema(document, schema)
    if combined is not None:
        return valid_example(document, combined, known, now, name, depth + 1, times)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return object_example(document, schema, known, now, depth, times)
    if kind == "array":
        return array_example(document, schema, known, now, name, depth, times)
    if kind in ("integer", "number"):
        return number_example(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return text_example(schema, now + timedelta(days=1, hours=next(times)))


def combined_schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """The one schema to follow for `anyOf` / `oneOf` (the first that is not null) or `allOf` (all merged); None
    when `schema` combines nothing."""
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [resolve(document, s) for s in schema[combinator]]
            typed = [s for s in options if s.get("type") != "null"] or options
            return typed[0]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(resolve(document, part))
        return merged
    return None


def object_example(document: dict[str, Any], schema: dict[str, Any], known: dict[str, Any], now: datetime,
                   depth: int, times: Iterator[int]) -> dict[str, Any]:
    properties = schema.get("properties", {})
    value = {key: valid_example(document, properties[key], known, now, key, depth + 1, times) for key in properties}
    extra = schema.get("additionalProperties")
    if not properties and extra:  # a free-form object (a form, a mapping): one entry
        keys = resolve(document, schema.get("propertyNames", {})).get("enum") or ["note"]
        value[keys[0]] = valid_example(document, extra if isinstance(extra, dict) else {"type": "string"}, known,
                                       now, None, depth + 1, times)
    return value


def array_example(document: dict[str, Any], schema: dict[str, Any], known: dict[str, Any], now: datetime,
                  name: str | None, depth: int, times: Iterator[int]) -> list[Any]:
    count = max(1, schema.get("minItems", 1))
    if schema.get("maxItems") == 0:
        count = 0
    item = valid_example(document, schema.get("items"), known, now, singular(name), depth + 1, times)
    return [copy.deepcopy(item) for _ in range(count)]


def number_example(schema: dict[str, Any], kind: str) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in schema else 0))
    value = max(1, low)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    return value if kind == "integer" else float(value)


def singular(name: str | None) -> str | None:
    """The name an element of a list field would have (`hashes` -> `hash`), to look it up in `known`."""
    if not name:
        return None
    return name[:-2] if name.endswith(("shes", "ches", "sses")) else name[:-1] if name.endswith("s") else name


def value_of(value: Any) -> Any:
    """A known value: made anew each time when it is a function (a fresh phone number, a signed proof)."""
    return value() if callable(value) else copy.deepcopy(value)


def past_time(schema: dict[str, Any], now: datetime) -> str:
    """Yesterday, for a time or date the service wants in the past (a sample taken, a day reconciled)."""
    when = now - timedelta(days=1)
    return when.date().isoformat() if schema.get("format") == "date" else rfc3339(when)


def text_example(schema: dict[str, Any], when: datetime) -> str:
    kind = schema.get("format")
    if kind == "date-time":
        return rfc3339(when)
    if kind == "date":
        return when.date().isoformat()
    if kind == "time":
        return "08:30:00"
    if kind == "email":
        return "zhang.san@example.cn"
    if kind in ("uri", "url"):
        return "https://gov-app.example.cn/sample"
    if kind == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    if "pattern" in schema:
        return pattern_example(schema["pattern"], schema.get("minLength", 0), schema.get("maxLength"))
    return fit(TEXT, schema)


# Refusals that come before a handler looks at its input (the parser, the guards, the router), and those of
# the guards about the caller, not the input: a client without the role, a citizen below the identity level.
BEFORE_HANDLER = {"VALIDATION_FAILED", "MALFORMED_JSON", "JSON_TOO_DEEP", "IDEMPOTENCY_KEY_REQUIRED",
                  "IDEMPOTENCY_KEY_INVALID", "METHOD_NOT_ALLOWED", "PAYLOAD_TOO_LARGE", "RATE_LIMITED",
                  "CLIENT_ROLE_REQUIRED", "CLIENT_SUSPENDED", "IDENTITY_LEVEL_REQUIRED", "ELDERLY_MODE_REQUIRED"}


def past_validation(status: int, code: str, audience: str) -> bool:
    """The request got past parsing, validation and the guards into the handler's own work: a success, or a
    refusal the handler gave about the data (a 404 naming what was not found, a 409, a 403 about the object,
    a 401 of a public route, which has no guard: a code or ticket looked up and not found)."""
    if status >= 500 or code in BEFORE_HANDLER:
        return False
    if status == 404:
        return code not in ("NOT_FOUND", "")
    if status == 401:
        return audience == "public"
    return status not in (405, 413, 422, 429)


def error_code(reply: Any) -> str:
    if "json" not in reply.headers.get("content-type", "") or reply.status_code < 400:
        return ""
    body = reply.json()
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code", "") if isinstance(error, dict) else ""


def request_schema(document: dict[str, Any], endpoint: Endpoint) -> dict[str, Any] | None:
    operation = document["paths"].get(endpoint.openapi_path, {}).get(endpoint.method.lower(), {})
    return operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")


def string_leaves(value: Any, path: Path = ()) -> list[Path]:
    """The JSON path of every string in `value`."""
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in string_leaves(item, (*path, key))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in string_leaves(item, (*path, index))]
    return [path] if isinstance(value, str) else []


def replaced(value: Any, path: Path, new: Any) -> Any:
    """A copy of `value` with only the leaf at `path` replaced by `new`."""
    value = copy.deepcopy(value)
    node = value
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return value


def without(value: Any, path: Path) -> Any:
    """A copy of `value` without the field (or list element) at `path`."""
    value = copy.deepcopy(value)
    node = value
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]
    return value


ARG = re.compile(r"""request\.args\.get\(\s*["']([^"']+)["'](?:\s*,\s*["']([^"']*)["'])?""")
CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\(\s*request\b")


def query_parameters(handler: Any, pattern: re.Pattern[str] = ARG) -> dict[str, str]:
    """The query parameters a handler reads (itself, or through a helper it gives the request), each with the
    default the handler falls back to ("" when it has none); with another `pattern`, what else it reads."""
    found: dict[str, str] = {}
    seen: set[Any] = set()

    def read(function: Any) -> None:
        function = inspect.unwrap(function)
        if function in seen or not inspect.isfunction(function):
            return
        seen.add(function)
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            return
        for match in pattern.finditer(source):
            found.setdefault(match.group(1), (match.groups()[1:] or ("",))[0] or "")
        for helper in CALL.findall(source):
            if helper in function.__globals__:
                read(function.__globals__[helper])

    read(handler)
    return found


def rate_limit_counters(platform: Any, monkeypatch: Any) -> set[str]:
    """The rate-limit counters (`rl:…`) run up from now on: a test that hits a limit with its own
    requests wipes them and sends again, so what stands behind the limit is reached too."""
    counters: set[str] = set()
    real_incr_many = platform.cache.incr_many

    # Every limit counts through incr_many (ratelimit.hit_all), also a single one (ratelimit.hit).
    async def incr_many(keys: Sequence[tuple[str, float]], amount: int = 1) -> list[int]:
        counters.update(key for key, _ in keys if key.startswith("rl:"))
        return await real_incr_many(keys, amount)

    monkeypatch.setattr(platform.cache, "incr_many", incr_many)
    return counters
