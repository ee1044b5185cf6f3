"""The live routes, walked generically: each with its audience, path parameters and a plausible body.

Nothing here names a path, so routes added later (elderly mode, mini-programs, payments) are
attacked the same way as soon as they are registered.
"""

from __future__ import annotations

import re
from urllib.parse import quote
from dataclasses import dataclass
from typing import Any

from tests.api.test_route_guards import routes_by_audience

PARAM = re.compile(r"<([^:>]+)(?::[^>]+)?>")


@dataclass(frozen=True)
class Endpoint:
    audience: str
    method: str
    path: str  # the router's path, e.g. api/v1/applications/<application_id:str>

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    @property
    def openapi_path(self) -> str:
        return "/" + PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)

    def url(self, value: str = "x") -> str:
        """The path with `value` (percent-encoded) in every path parameter."""
        return "/" + PARAM.sub(lambda _: quote(value, safe=""), self.path)

    @property
    def writes(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


def endpoints(app, audiences: tuple[str, ...] | None = None) -> list[Endpoint]:
    found = []
    for audience, routes in routes_by_audience(app).items():
        if audience == "framework" or (audiences and audience not in audiences):
            continue
        for route in routes:
            found += [Endpoint(audience, method, route.path) for method in sorted(route.methods - {"HEAD", "OPTIONS"})]
    return sorted(found, key=lambda e: (e.audience, e.path, e.method))


def example_body(document: dict[str, Any], endpoint: Endpoint, text: str = "示例") -> Any:
    """A body of the declared shape (required fields filled, `text` in every string), or {}."""
    operation = document["paths"].get(endpoint.openapi_path, {}).get(endpoint.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    return example(document, schema, text) if schema else {}


def example(document: dict[str, Any], schema: dict[str, Any] | None, text: str, depth: int = 0) -> Any:
    schema = resolve(document, schema or {})
    if depth > 6:
        return None
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            options = [resolve(document, s) for s in schema[combinator]]
            typed = [s for s in options if s.get("type") != "null"] or options
            return example(document, typed[0], text, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: example(document, properties[name], text, depth + 1) for name in properties}
    if kind == "array":
        return [example(document, schema.get("items"), text, depth + 1)] if schema.get("minItems") else []
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1.0, schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return text


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


async def call(client, endpoint: Endpoint, headers: dict[str, str], document: dict, value: str = "x", body: Any = None,
               text: str = "示例"):
    """One request to `endpoint`: `value` in every path parameter, `body` or one of the declared shape."""
    if body is None:
        body = example_body(document, endpoint, text) if endpoint.method in ("POST", "PUT", "PATCH") else None
    return await client.request(endpoint.method, endpoint.url(value), headers=headers, json=body)
