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

Department against department: a clerk of another department (Y) calls every admin route with each of
the objects of X's department (applications, a follow-up case, the items). Each answers as for an
unknown id: 404, so that a clerk does not even learn what exists elsewhere (403 would confirm it), or
the route's role refusal. No listing or statistic Y reads shows any of them; X still works them after.
"""

from __future__ import annotations

import pytest

from app.services.applications.service import STATUSES

from tests.security.routes import Endpoint, call, endpoints, example_body
from tests.security.world import (CIVIL_AFFAIRS, Rivals, admin_rivals, audit_mark, audited_since, build_world,
                                  claims_success, department_rivals, ids_in, partner_rivals, relying_party_rivals,
                                  snapshot)

# Routes that hold no object of one client: what they take belongs to citizens, or to everyone holding a role.
NOT_PER_CLIENT = {
    ("relying_party", "POST", "api/rp/v1/licence-verifications"):
        "a licence share is the citizen's, shown to whoever they choose: any relying party verifies it (each check "
        "is in the holder's access log); no relying party owns a share",
    ("relying_party", "POST", "api/rp/v1/standing-requests"): "creates the caller's own request; the body names no object",
    ("relying_party", "POST", "api/rp/v1/social-security-card/checks"):
        "checks a 电子社保卡 QR the holder shows, once: no relying party owns a QR (each check is in the holder's "
        "access log; a second check of the same QR is 409, tests/departments/test_social_security_card.py)",
    ("relying_party", "POST", "api/rp/v1/offline-checks"):
        "checks an offline ID QR the citizen shows, with a nonce issued to the caller: another party's nonce is "
        "refused (OFFLINE_NONCE_MISMATCH, tests/vouchers/test_offline_key_binding.py); no relying party owns a QR",
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
    ("admin", "POST", "api/admin/v1/oidc-clients"):
        "registers a new site (OpenID Connect client): the site registry is one, kept by OIDC administrators",
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


async def problems_when_y_names(client, endpoint: Endpoint, rivals: Rivals, document: dict, value: str) -> list[str]:
    """Y calls the route naming X's `value`: refused (never 401 or 500), no image of X's, none of X's objects
    named, no audit entry by Y that claims a success (unless the write lands in Y's own namespace)."""
    own_namespace = key(endpoint) in OWN_NAMESPACE
    fill = rivals.bodies.get((endpoint.method, endpoint.path))
    mark = await audit_mark()
    reply = await call(client, endpoint, rivals.intruder.headers(), document, value,
                       body=fill(value) if fill else None, text=value)
    what = f"Y on {endpoint.method} {endpoint.url(value[:24])}… -> {reply.status_code}"
    assert reply.status_code not in (401, 500), f"{what}: {reply.text[:200]}"
    problems = []
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
    return problems


async def assert_citizens_data_unchanged(client, app, world, citizens_before: dict[str, object]) -> None:
    citizens_after = await citizens_data(client, app, world)
    changed = [url for url in citizens_before if citizens_before[url] != citizens_after.get(url)]
    assert citizens_after.keys() == citizens_before.keys() and not changed, f"Y changed what 张三 sees at {changed}"


@pytest.mark.parametrize("audience", ["relying_party", "partner", "admin"])
async def test_a_client_can_neither_read_nor_change_another_clients_objects(app, client, sms, clock, platform, document,
                                                                              audience):
    world = await build_world(client, sms, clock, platform)
    rivals = {"relying_party": lambda: relying_party_rivals(client, clock, world),
              "partner": lambda: partner_rivals(client, clock, world, app.ctx.services.interop),
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
        for value in rivals.values:
            problems += await problems_when_y_names(client, endpoint, rivals, document, value)
            attempts += 1
    print(f"{audience}: {attempts} attempts by Y on {len(targets)} of {len(routes)} routes with {len(rivals.values)} "
          f"of X's objects")
    assert not problems, "\n".join(problems)

    assert await rivals.state() == objects_before, "Y's requests changed X's objects"
    await assert_citizens_data_unchanged(client, app, world, citizens_before)
    if rivals.after:
        await rivals.after()


UNKNOWN_ID = "ap_NoSuchObject0000"
# What a listing may be asked for: every status of the queue, X's department and items by name, each case state.
LISTING_QUERIES = [{}, *({"status": status} for status in STATUSES), {"department_id": CIVIL_AFFAIRS},
                   *({"state": state} for state in ("open", "overdue", "answered"))]


def error_of(reply) -> tuple[int, str | None]:
    body = reply.json() if "json" in reply.headers.get("content-type", "") else {}
    return reply.status_code, (body.get("error") or {}).get("code") if isinstance(body, dict) else None


# The clerk's own routes: each must be reached past its role check with X's objects.
CLERK_ROUTES = {("admin", method, f"api/admin/v1/{path}") for method, path in (
    ("GET", "applications/<application_id:str>"), ("POST", "applications/<application_id:str>/claim"),
    ("POST", "applications/<application_id:str>/decision"), ("POST", "applications/<application_id:str>/completion"),
    ("POST", "follow-up-cases/<case_id:str>/answer"), ("GET", "services/<item_id:str>/approval-rules"),
)}


async def problems_when_a_clerk_names(client, endpoint: Endpoint, rivals: Rivals, document: dict
                                      ) -> tuple[list[str], bool]:
    """Y calls the route with each of X's department's objects: answered exactly as for an unknown id, naming
    none of them, with no audit entry that claims a success. Also says whether the route was reached past its
    role check."""
    y = rivals.intruder
    fill = rivals.bodies.get((endpoint.method, endpoint.path))
    unknown = error_of(await call(client, endpoint, y.headers(), document, UNKNOWN_ID,
                                  body=fill(UNKNOWN_ID) if fill else None))
    problems, reached = [], False
    for value in rivals.values:
        mark = await audit_mark()
        reply = await call(client, endpoint, y.headers(), document, value, body=fill(value) if fill else None)
        what = f"Y on {endpoint.method} {endpoint.url(value[:24])} -> {reply.status_code}"
        if error_of(reply) == (403, "CLIENT_ROLE_REQUIRED"):
            continue  # not a clerk's route: refused before any object is looked for
        reached = True
        if reply.status_code != 404 or error_of(reply) != unknown:
            problems.append(f"{what}: not answered as an unknown id {unknown}: {reply.text[:160]}")
        named = {s for s in rivals.secret if s in reply.text}
        if named:
            problems.append(f"{what}: names X's {sorted(named)}")
        if any(e.actor in (y.id, y.name) and claims_success(e) for e in await audited_since(mark)):
            problems.append(f"{what}: audited as a success")
    return problems, reached


async def assert_no_listing_shows_xs_objects(client, app, rivals: Rivals) -> None:
    """No listing or statistic Y reads, whatever it asks for, shows any of X's department's objects."""
    y = rivals.intruder
    for endpoint in [e for e in endpoints(app, ("admin",)) if e.method == "GET" and not e.params]:
        items = [value for value in rivals.values if value not in rivals.secret]  # a reply may echo these
        for query in [*LISTING_QUERIES, *({"item_id": item} for item in items)]:
            reply = await client.get(endpoint.url(), headers=y.headers(), params=query)
            named = {s for s in rivals.secret if s in reply.text}
            assert reply.status_code < 500 and not named, f"Y on GET {endpoint.url()} {query}: names X's {named}"
            if endpoint.path == "api/admin/v1/ratings/stats" and reply.status_code == 200:
                counted = reply.json()
                assert (counted["count"], counted["follow_up_cases"]["open"]) == (0, 0), f"Y counts X's ratings: {query}"


async def test_a_clerk_sees_and_acts_on_its_own_departments_items_only(app, client, sms, clock, platform, document):
    world = await build_world(client, sms, clock, platform)
    rivals = await department_rivals(client, clock, world)
    objects_before = await rivals.state()
    problems, reached = [], set()
    for endpoint in [e for e in endpoints(app, ("admin",)) if e.params]:
        found, was_reached = await problems_when_a_clerk_names(client, endpoint, rivals, document)
        problems += found
        if was_reached:
            reached.add(key(endpoint))
    assert not problems, "\n".join(problems)
    assert CLERK_ROUTES <= reached, f"the clerk's routes were not all tried: {sorted(reached)}"

    await assert_no_listing_shows_xs_objects(client, app, rivals)

    assert await rivals.state() == objects_before, "Y's requests changed X's department's objects"
    assert rivals.after
    await rivals.after()
