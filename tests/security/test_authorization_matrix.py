"""Every route × every audience's credential × owner / other citizen: no crossing, anywhere.

1. Audience crossing: a credential of one audience (citizen bearer, admin, partner or relying-party
   client JWT, each real and fresh) is refused with 401 on every route of every other audience,
   while it is accepted by its own routes (so the refusals are not just broken credentials).
2. Cross-citizen: 李四 (B) calls every citizen route, every method, with each of 张三's (A's)
   object ids in every path parameter and a body of the declared shape. Afterwards A's data, read
   back through every citizen GET route, is exactly what it was, and no reply to B named one of
   A's objects.
"""

from __future__ import annotations

import pytest

from tests.security.routes import Endpoint, endpoints, example_body
from tests.security.world import World, build_world, ids_in

AUDIENCES = ("citizen", "miniprogram", "admin", "partner", "relying_party")


@pytest.fixture
async def world(app, client, sms, clock, platform) -> World:
    return await build_world(client, sms, clock, platform)


@pytest.fixture
async def document(client) -> dict:
    return (await client.get("/docs/openapi.json")).json()


async def call(client, endpoint: Endpoint, headers: dict[str, str], document: dict, value: str = "x"):
    body = example_body(document, endpoint) if endpoint.method in ("POST", "PUT", "PATCH") else None
    return await client.request(endpoint.method, endpoint.url(value), headers=headers, json=body)


async def test_no_credential_crosses_into_another_audience(app, client, world, document):
    problems, accepted = [], {a: 0 for a in AUDIENCES}
    guarded = endpoints(app, AUDIENCES)
    assert {e.audience for e in guarded} == set(AUDIENCES)
    for endpoint in guarded:
        for audience in AUDIENCES:
            reply = await call(client, endpoint, await world.credentials.headers(audience), document)
            if audience == endpoint.audience:
                accepted[audience] += reply.status_code != 401
            elif reply.status_code != 401:
                problems.append(f"{audience} credential on {endpoint.method} {endpoint.url()} -> {reply.status_code}")
            elif reply.json()["error"]["code"] not in ("TOKEN_INVALID", "CLIENT_TOKEN_MALFORMED", "CLIENT_UNKNOWN",
                                                       "CLIENT_TOKEN_AUDIENCE_INVALID", "CLIENT_KEY_UNKNOWN",
                                                       "CLIENT_TOKEN_SIGNATURE_INVALID"):
                problems.append(f"{audience} on {endpoint.method} {endpoint.url()}: {reply.text[:120]}")
    assert not problems, "\n".join(problems)
    for audience, count in accepted.items():  # each credential is real: its own routes let it in
        own = [e for e in guarded if e.audience == audience]
        assert count >= len(own) * 0.8, f"{audience}: own credential accepted on {count} of {len(own)} routes"


def steady(value: object) -> object:
    """A reply without what the passing of time alone changes: a code's countdown, a live card's read time."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items()
                if k != "seconds_left" and not (k == "updated_at" and "stale" in value)}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


async def snapshot(client, app, owner_headers: dict[str, str], ids: set[str]) -> dict[str, object]:
    """A's data as A sees it: every citizen GET route, with A's ids in the path parameters."""
    seen: dict[str, object] = {}
    for endpoint in endpoints(app, ("citizen",)):
        if endpoint.method != "GET":
            continue
        for value in sorted(ids) if endpoint.params else ["-"]:
            reply = await client.get(endpoint.url(value), headers=owner_headers)
            if reply.status_code == 200:
                kind = reply.headers.get("content-type", "")
                # An image is drawn anew for each request (a printed card's code carries its own time):
                # what A sees there is that it is A's image at all, not the same bytes.
                seen[endpoint.url(value)] = steady(reply.json()) if "json" in kind else kind
    return seen


async def test_one_citizen_can_neither_read_nor_change_anothers_data(app, client, world, document):
    owner = world.owner.citizen.headers
    first = await snapshot(client, app, owner, set())
    owner_ids = set().union(*(ids_in(v) for v in first.values() if not isinstance(v, bytes)))
    owner_ids -= set().union(*(ids_in(v) for v in (await snapshot(client, app, world.other.citizen.headers,
                                                                   set())).values() if not isinstance(v, bytes)))
    assert len(owner_ids) >= 6, f"too few of A's objects to attack: {owner_ids}"
    before = await snapshot(client, app, owner, owner_ids)
    by_id = [url for url in before if url not in first]
    assert len(by_id) >= 3, f"A can open too few objects by id for the test to mean anything: {by_id}"

    attacker = world.other.citizen.headers
    leaks, attempts = [], 0
    for endpoint in endpoints(app, ("citizen",)):
        if not endpoint.params:
            continue
        for value in sorted(owner_ids):
            reply = await call(client, endpoint, attacker, document, value)
            attempts += 1
            assert reply.status_code < 500, f"{endpoint.method} {endpoint.url(value)}: {reply.text[:200]}"
            body = reply.json() if "json" in reply.headers.get("content-type", "") else {}
            named = ids_in(body) & owner_ids
            if reply.status_code < 300 and "image" in reply.headers.get("content-type", ""):
                leaks.append(f"{endpoint.method} {endpoint.url(value)} -> an image of A's")
            if named:
                leaks.append(f"{endpoint.method} {endpoint.url(value)} -> {reply.status_code} names {sorted(named)}")
    assert attempts >= 50
    print(f"{attempts} attempts by B on {len(owner_ids)} of A's objects; A opens {len(by_id)} by id")
    assert not leaks, "\n".join(leaks)

    after = await snapshot(client, app, owner, owner_ids)
    assert after.keys() == before.keys(), f"A's objects changed: {before.keys() ^ after.keys()}"
    changed = [f"{url}: {before[url]} -> {after[url]}" for url in before if before[url] != after[url]]
    assert not changed, f"B's requests changed what A sees at {changed}"
    assert (await client.get("/api/v1/me", headers=owner)).status_code == 200  # A's session was not signed out
