"""Client against client: every route of the client audiences × owner X / other client Y of the same roles.

For relying parties, partners and departments (admin clients), Y calls every route with each value that
names one of X's objects (a standing request, a presentation X asked for or redeemed, a partner's own
codes and revocations, a venue X registered, an application X claimed, a licence its issuer issued)
in every path parameter and in the body fields that name objects. Each call is refused (4xx, never
401: Y's credential is good) — a batch route refuses each item — its reply names none of X's objects,
and it leaves no audit entry by Y that claims an access or a success. Afterwards X's objects read
back exactly as before, the citizens' data (every citizen GET route) too, and X still uses them.

The routes come from the app: a new route of these audiences is attacked as soon as it exists, or the
test asks for it to be named below, with the reason it holds no object of one client.
"""

from __future__ import annotations

import pytest

from tests.security.routes import Endpoint, call, endpoints, example_body
from tests.security.world import (Rivals, admin_rivals, audit_mark, audited_since, build_world, claims_success, ids_in,
                                  partner_rivals, relying_party_rivals, snapshot)

# Routes that hold no object of one client: what they take belongs to citizens, or to everyone holding a role.
NOT_PER_CLIENT = {
    ("relying_party", "POST", "api/rp/v1/licence-verifications"):
        "a licence share is the citizen's, shown to whoever they choose: any relying party verifies it (each check "
        "is in the holder's access log); no relying party owns a share",
    ("relying_party", "POST", "api/rp/v1/standing-requests"): "creates the caller's own request; the body names no object",
    ("admin", "GET", "api/admin/v1/applications/<application_id:str>"):
        "the clerks' queue is shared: any clerk reads an application (in the citizen's access log); a claim reserves "
        "deciding it, not reading it",
    ("admin", "POST", "api/admin/v1/venues/<venue_id:str>/exposures"):
        "a health administrator marks an exposure at any venue: the venue's owner is not the health authority",
    ("admin", "PUT", "api/admin/v1/licence-types/<code:str>/issuer"):
        "the licence administrator (re)assigns the issuer of any type: that is the role",
    # Admin routes with a body and no path parameter: they name citizens (by ID number), catalogue items or new
    # objects of the caller's own, never an object of another client.
    ("admin", "POST", "api/admin/v1/appointment-slots"): "an office opens a slot for any catalogue item",
    ("admin", "POST", "api/admin/v1/family/consent-codes"): "a service hall serves any citizen in person",
    ("admin", "POST", "api/admin/v1/health-code/verifications"): "verifies our codes, held by citizens",
    ("admin", "POST", "api/admin/v1/partners"): "the partner registry is one, kept by partner administrators",
    ("admin", "POST", "api/admin/v1/payment-reconciliations"): "reconciles a day of all payments",
    ("admin", "POST", "api/admin/v1/risk-areas"): "the risk-area list is one, kept by health administrators",
    ("admin", "POST", "api/admin/v1/services"): "creates a catalogue draft",
    ("admin", "POST", "api/admin/v1/test-results"): "a lab reports a result for any citizen",
    ("admin", "POST", "api/admin/v1/vaccinations"): "a vaccinator records a dose for any citizen",
    ("admin", "POST", "api/admin/v1/venues"): "registers the caller's own venue",
    ("admin", "POST", "api/admin/v1/voucher-revocations"): "the ID authority revokes any citizen's voucher",
}

# Routes where Y's write is accepted and lands in Y's own namespace: X's objects stay as they were (read back).
OWN_NAMESPACE = {
    ("partner", "POST", "api/partner/v1/revocations"):
        "a partner revokes code hashes in its own list; only the issuing partner's list applies to a code",
}


@pytest.fixture
async def document(client) -> dict:
    return (await client.get("/docs/openapi.json")).json()


def key(endpoint: Endpoint) -> tuple[str, str, str]:
    return endpoint.audience, endpoint.method, endpoint.path


def attacked(endpoint: Endpoint, rivals: Rivals, document: dict) -> bool:
    """A route takes object names in its path, or in a body the rivals say how to fill; one with neither
    (a listing, a GET of the caller's own) cannot be handed another client's object."""
    if key(endpoint) in NOT_PER_CLIENT:
        return False
    if endpoint.params or (endpoint.method, endpoint.path) in rivals.bodies:
        return True
    assert not (endpoint.writes and example_body(document, endpoint) not in ({}, None)), (
        f"{endpoint.method} {endpoint.path} takes a body: say in Rivals.bodies how X's objects go into it, "
        "or name it in NOT_PER_CLIENT with the reason")
    return False


def refused(reply, expected_own_namespace: bool) -> bool:
    if expected_own_namespace:
        return reply.status_code < 500
    if 400 <= reply.status_code < 500:
        return True
    results = reply.json().get("results") if "json" in reply.headers.get("content-type", "") else None
    return reply.status_code == 200 and bool(results) and not any(r.get("valid") for r in results)


async def citizens_data(client, app, world) -> dict[str, object]:
    owner = world.owner.citizen.headers
    ids = set().union(*(ids_in(v) for v in (await snapshot(client, app, owner, set())).values()))
    return await snapshot(client, app, owner, ids)


@pytest.mark.parametrize("audience", ["relying_party", "partner", "admin"])
async def test_a_client_can_neither_read_nor_change_another_clients_objects(app, client, sms, clock, platform, document,
                                                                              audience):
    world = await build_world(client, sms, clock, platform)
    rivals = {"relying_party": lambda: relying_party_rivals(client, clock, world),
              "partner": lambda: partner_rivals(client, clock, world, app.ctx.interop),
              "admin": lambda: admin_rivals(client, clock, world)}[audience]
    rivals = await rivals()
    routes = endpoints(app, (audience,))
    stale = {k for k in (*NOT_PER_CLIENT, *OWN_NAMESPACE) if k[0] == audience} - {key(e) for e in routes}
    assert not stale, f"named routes that no longer exist: {stale}"
    targets = [e for e in routes if attacked(e, rivals, document)]
    assert targets, f"no {audience} route to attack"
    objects_before, citizens_before = await rivals.state(), await citizens_data(client, app, world)

    problems, attempts = [], 0
    for endpoint in targets:
        own_namespace = key(endpoint) in OWN_NAMESPACE
        for value in rivals.values:
            fill = rivals.bodies.get((endpoint.method, endpoint.path))
            mark = await audit_mark()
            reply = await call(client, endpoint, rivals.intruder.headers(), document, value,
                               body=fill(value) if fill else None, text=value)
            attempts += 1
            what = f"Y on {endpoint.method} {endpoint.url(value[:24])}… -> {reply.status_code}"
            assert reply.status_code not in (401, 500), f"{what}: {reply.text[:200]}"
            if not refused(reply, own_namespace):
                problems.append(f"{what}: not refused: {reply.text[:160]}")
            if reply.status_code < 300 and "image" in reply.headers.get("content-type", ""):
                problems.append(f"{what}: an image of X's")
            named = {s for s in rivals.secret if s in reply.text}
            if named:
                problems.append(f"{what}: names X's {sorted(s[:24] for s in named)}")
            claimed = [f"{e.category} {e.action} {e.attributes}" for e in await audited_since(mark)
                       if e.actor in (rivals.intruder.id, rivals.intruder.name) and claims_success(e)]
            if claimed and not own_namespace:
                problems.append(f"{what}: audited as a success: {claimed}")
    print(f"{audience}: {attempts} attempts by Y on {len(targets)} of {len(routes)} routes with {len(rivals.values)} "
          f"of X's objects")
    assert not problems, "\n".join(problems)

    assert await rivals.state() == objects_before, "Y's requests changed X's objects"
    citizens_after = await citizens_data(client, app, world)
    changed = [url for url in citizens_before if citizens_before[url] != citizens_after.get(url)]
    assert citizens_after.keys() == citizens_before.keys() and not changed, f"Y changed what 张三 sees at {changed}"
    if rivals.after:
        await rivals.after()
