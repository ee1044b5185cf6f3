"""Stand-ins for four department systems on the data exchange (docs/exchange.md), in one process:

    python -m standins.departments --port 0 [--client CN-GD/GOV/11440000MB2C93140X/yss-app] [--latency 0.02]
                                   [--client-jwks-url http://127.0.0.1:8000/.well-known/jwks.json | --client-jwks FILE]

- 人社 (social insurance) `CN-GD/GOV/11440000MB2D0001XA/hrss`: insured-status/v1, contributions/v1,
  rights-record/v1, social-security-card/v1, pension-certification/v1;
- 住房公积金 `CN-GD/GOV/11440000MB2D0002XA/hpf`: account/v1, deposits/v1, withdrawal-eligibility/v1;
- 交管 `CN-GD/GOV/11440000MB2D0003XA/tpb`: vehicles/v1, driving-licence/v1, violations/v1, settlements/v1;
- 医保 `CN-GD/GOV/11440000MB2D0004XA/nhsa`: medical-account/v1.

Each is a member of the exchange with its own ES256 key (made at start, in memory). A request is
`POST /r1/<service id>` with the X-Road headers and body `{"subject": {"id_number": ...}, ...}`. It is checked
as a department's gateway would: the headers (400, 401 Client.Stale), X-Road-Service equal to the path's
service (400), the client one this department registered (403 Client.UnknownClient), the purpose one it
authorised that client for on that service (403 Client.PurposeNotAuthorised), the message id new
(401 Client.Replayed), the signature by one of the client's published keys (401 Client.SignatureInvalid), the
body (400 Client.BadRequest) and the ID number's check character (404 Client.UnknownSubject). Every reply,
errors included (`{"type", "message"}`), carries X-Road-Id, X-Road-Request-Hash (omitted when the headers are
too malformed to compute it) and X-Road-Signature by the department's key over the reply. A path naming no
department of this process is answered 404 Client.UnknownService unsigned: no key here speaks for it.

The client's public keys come from `--client-jwks-url` (fetched when first needed, fetched again at most every
30 s, `--client-jwks-refetch`, when a request names a kid not yet seen; unreachable: 503
Server.ServerProxy.NetworkError) or `--client-jwks FILE` (read again when it changed). Data is
derived from a hash of the ID number (see people.py, hrss.py, hpf.py, tpb.py, nhsa.py): every reply says `"sample": true`.

Every exchange is kept in the department's message log (in memory): ids, client, service, purpose, represented
party, user pseudonym, request hash, reply digest, status, fault and time; never a body.

Test controls under `/_standin/` (unsigned): `GET health`, `GET keys`, `GET registry?client=`,
`GET messages[?id=]`, `POST driving-licence-status {"id_number", "status"}` (交管 records that status code(s) for
that person's driving licence, e.g. D 暂扣; A again for 正常), `POST client-keys {"jwks_url"}` (where the client's keys are, once it is known), `POST behaviour {"department": "hrss"|"hpf"|"tpb"|"nhsa"|"*", "mode": "slow"|"fail"|"hang"|
"bad_signature", "count", "delay"}`, `DELETE behaviour`, `POST authorisations {"service", "purposes"[, "client"]}`,
`POST reset`. `--port 0` picks a free port; the first line on stdout is `LISTENING <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sanic import Request, Sanic
from sanic import json as reply
from sanic.response import HTTPResponse

from app.clock import CHINA_TZ
from app.integrations.exchange import protocol
from app.integrations.exchange.protocol import ExchangeRefused, RequestHeaders
from app.security.keys import b64url, kid_bytes_for, public_jwk
from standins.departments import hpf, hrss, nhsa, tpb
from standins.departments.people import UnknownSubject, checked_id_number
from standins.faults import Behaviour

DEFAULT_CLIENT = "CN-GD/GOV/11440000MB2C93140X/yss-app"
MODES = ("slow", "fail", "hang", "bad_signature")
READ_PURPOSES = ("citizen_request", "home_card", "material_prefill", "eligibility_check", "proxy_request")
JWKS_REFETCH = 30.0  # seconds between fetches of the client's JWKS for an unknown kid
KEEP_MESSAGES = 5000
TIMEOUT, RETRIES, BREAKER = 2.0, 1, {"failures": 5, "open_seconds": 30}  # what the registry proposes

Handler = Callable[[str | None, date, dict[str, Any], "DepartmentState"], dict[str, Any]]


def _read(fn: Callable[[str, date, dict[str, Any]], dict[str, Any]]) -> Handler:
    def handle(id_number: str | None, today: date, body: dict[str, Any], state: DepartmentState) -> dict[str, Any]:
        assert id_number is not None
        return fn(id_number, today, body)
    return handle


def _violations(id_number: str | None, today: date, body: dict[str, Any], state: DepartmentState) -> dict[str, Any]:
    assert id_number is not None
    return tpb.violations(id_number, today, body, state.settled)


def _driving_licence(id_number: str | None, today: date, body: dict[str, Any],
                     state: DepartmentState) -> dict[str, Any]:
    assert id_number is not None
    return tpb.driving_licence(id_number, today, body, state.licence_statuses.get(id_number))


def _settlements(id_number: str | None, today: date, body: dict[str, Any], state: DepartmentState) -> dict[str, Any]:
    return tpb.settle(id_number, today, body, state.settled, time.time())


@dataclass(frozen=True)
class Department:
    key: str
    member: str
    name: str
    services: dict[str, Handler]  # "<code>/<version>" -> handler

    def service_ids(self) -> list[str]:
        return [f"{self.member}/{code}" for code in self.services]


DEPARTMENTS = (
    Department("hrss", "CN-GD/GOV/11440000MB2D0001XA/hrss", "广东省人力资源和社会保障厅（示例）", {
        "insured-status/v1": _read(hrss.insured_status), "contributions/v1": _read(hrss.contributions),
        "rights-record/v1": _read(hrss.rights_record), "social-security-card/v1": _read(hrss.social_security_card),
        "pension-certification/v1": _read(hrss.pension_certification)}),
    Department("hpf", "CN-GD/GOV/11440000MB2D0002XA/hpf", "广州住房公积金管理中心（示例）", {
        "account/v1": _read(hpf.account), "deposits/v1": _read(hpf.deposits),
        "withdrawal-eligibility/v1": _read(hpf.withdrawal_eligibility)}),
    Department("tpb", "CN-GD/GOV/11440000MB2D0003XA/tpb", "广东省公安厅交通管理局（示例）", {
        "vehicles/v1": _read(tpb.vehicles), "driving-licence/v1": _driving_licence,
        "violations/v1": _violations, "settlements/v1": _settlements}),
    Department("nhsa", "CN-GD/GOV/11440000MB2D0004XA/nhsa", "广东省医疗保障局（示例）", {
        "medical-account/v1": _read(nhsa.medical_account)}),
)
TPB_DRIVING_LICENCE = "CN-GD/GOV/11440000MB2D0003XA/tpb/driving-licence/v1"
SUBJECT_OPTIONAL = {"CN-GD/GOV/11440000MB2D0003XA/tpb/settlements/v1"}  # a fine is known by its decision number
WRITES = SUBJECT_OPTIONAL


def default_authorisations(client: str) -> dict[tuple[str, str], set[str]]:
    """What each department authorised the platform for: reads for its own purposes everywhere, a relying
    party's check on the social security card only, settlement on the traffic fines' settlements only, the
    wallet's status sync (licence_status) on the driving licence only."""
    found: dict[tuple[str, str], set[str]] = {}
    for department in DEPARTMENTS:
        for service in department.service_ids():
            found[(client, service)] = set() if service in WRITES else set(READ_PURPOSES)
    found[(client, "CN-GD/GOV/11440000MB2D0001XA/hrss/social-security-card/v1")].add("relying_party_check")
    found[(client, "CN-GD/GOV/11440000MB2D0003XA/tpb/settlements/v1")].add("settlement")
    found[(client, TPB_DRIVING_LICENCE)].add("licence_status")
    return found


@dataclass
class SigningKey:
    private: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def generate(cls) -> SigningKey:
        private = ec.generate_private_key(ec.SECP256R1())
        return cls(private, b64url(kid_bytes_for(private.public_key())))

    def jwk(self) -> dict[str, str]:
        return public_jwk(self.kid, self.private.public_key())


class ClientKeys:
    """The client's public keys by kid, from its JWKS URL or file, fetched again (at most every 30 s) when a
    request names a kid not held."""

    def __init__(self, url: str | None, path: Path | None, refetch: float = JWKS_REFETCH) -> None:
        self.url, self.path, self.refetch = url, path, refetch
        self.keys: dict[str, Any] = {}
        self.fetched_at = float("-inf")
        self.file_mtime: float | None = None
        self._lock = asyncio.Lock()

    async def find(self, kid: str) -> Any | None:
        if kid not in self.keys:
            async with self._lock:
                if kid not in self.keys:
                    await self._refresh()
        return self.keys.get(kid)

    async def _refresh(self) -> None:
        documents: list[Any] = []
        if self.path is not None:
            mtime = self.path.stat().st_mtime if self.path.is_file() else None
            if mtime is not None and mtime != self.file_mtime:
                self.file_mtime = mtime
                documents.append(json.loads(self.path.read_text()))
        if self.url and time.monotonic() - self.fetched_at >= self.refetch:
            self.fetched_at = time.monotonic()
            try:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    answer = await client.get(self.url)
                    answer.raise_for_status()
                    documents.append(answer.json())
            except (httpx.HTTPError, ValueError) as error:
                raise ExchangeRefused("Server.ServerProxy.NetworkError", 503,
                                      f"the client's JWKS could not be fetched: {type(error).__name__}") from None
        for document in documents:
            for jwk in document.get("keys", []) if isinstance(document, dict) else []:
                try:
                    self.keys[str(jwk["kid"])] = jwt.PyJWK(jwk, algorithm=protocol.ALGORITHM).key
                except (KeyError, TypeError, jwt.PyJWTError):
                    continue

    def reset(self) -> None:
        self.keys.clear()
        self.fetched_at, self.file_mtime = float("-inf"), None


@dataclass
class LogEntry:
    """One exchange as the department keeps it: never a body."""

    id: str
    department: str
    client: str
    service: str
    purpose: str
    represented: str
    user: str
    request_hash: str
    response_sha256: str
    status: int
    fault: str
    at: float
    ms: float


@dataclass
class DepartmentState:
    client: str
    client_keys: ClientKeys
    keys: dict[str, SigningKey] = field(default_factory=lambda: {d.key: SigningKey.generate() for d in DEPARTMENTS})
    authorisations: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    seen: dict[str, float] = field(default_factory=dict)  # message id -> when first accepted
    log: list[LogEntry] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)  # department key or "*" -> behaviour
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)  # decision number -> status, at, payment
    licence_statuses: dict[str, str] = field(default_factory=dict)  # ID number -> 驾驶证状态 other than A (正常)
    latency: float = 0.0  # seconds every department takes to answer, as its own systems would

    def __post_init__(self) -> None:
        if not self.authorisations:
            self.authorisations = default_authorisations(self.client)

    def reset(self) -> None:
        self.authorisations = default_authorisations(self.client)
        self.seen.clear()
        self.log.clear()
        self.behaviours.clear()
        self.settled.clear()
        self.licence_statuses.clear()
        self.client_keys.reset()

    def next_behaviour(self, department: str) -> Behaviour | None:
        """The behaviour for this department's reply, counting it down."""
        key = department if department in self.behaviours else "*"
        behaviour = self.behaviours.get(key)
        if behaviour is not None and behaviour.use():
            del self.behaviours[key]
        return behaviour

    def remember(self, message_id: str, now: float) -> None:
        """Accept a message id once (Client.Replayed after); ids older than twice the window are forgotten, as
        their requests would be refused as stale."""
        if message_id in self.seen:
            raise ExchangeRefused("Client.Replayed", 401, message_id)
        self.seen[message_id] = now
        if len(self.seen) > 10_000:
            self.seen = {k: t for k, t in self.seen.items() if now - t < 2 * protocol.WINDOW}

    def record(self, entry: LogEntry) -> None:
        self.log.append(entry)
        del self.log[:-KEEP_MESSAGES]


@dataclass
class Exchange:
    """What is known of a request while it is handled: enough to sign and log its reply."""

    department: Department
    message_id: str = ""
    request_hash: str = ""
    headers: RequestHeaders | None = None
    started: float = field(default_factory=time.monotonic)


def find_department(path_service: str) -> tuple[Department, str] | None:
    for department in DEPARTMENTS:
        if path_service.startswith(department.member + "/"):
            return department, path_service[len(department.member) + 1:]
    return None


def beijing_today() -> date:
    return datetime.fromtimestamp(time.time(), CHINA_TZ).date()


def signed_reply(state: DepartmentState, exchange: Exchange, status: int, body: dict[str, Any],
                 bad_signature: bool = False) -> HTTPResponse:
    """The reply, signed by the department's key over status, message id, request hash and body; logged."""
    content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    key = state.keys[exchange.department.key]
    signer = SigningKey.generate().private if bad_signature else key.private
    signature = protocol.sign_detached(
        protocol.response_signing_input(status, exchange.message_id, exchange.request_hash, content), signer, key.kid)
    headers = {protocol.HEADER_SIGNATURE: signature}
    if exchange.message_id:
        headers[protocol.HEADER_ID] = exchange.message_id
    if exchange.request_hash:
        headers[protocol.HEADER_REQUEST_HASH] = exchange.request_hash
    known = exchange.headers
    state.record(LogEntry(
        exchange.message_id, exchange.department.key, str(known.client) if known else "",
        str(known.service) if known else "", known.purpose if known else "",
        known.represented_party if known else "", known.user if known else "", exchange.request_hash,
        protocol.sha256(content), status, str(body.get("type", "")) if status >= 400 else "", time.time(),
        round((time.monotonic() - exchange.started) * 1000, 1)))
    return HTTPResponse(content, status=status, headers=headers, content_type="application/json")


def fault(state: DepartmentState, exchange: Exchange, refused: ExchangeRefused) -> HTTPResponse:
    return signed_reply(state, exchange, refused.status, {"type": refused.fault, "message": refused.detail})


def _echoed_id(request: Request) -> str:
    value = request.headers.get(protocol.HEADER_ID, "")
    return value if protocol.MESSAGE_ID.fullmatch(value) else ""


async def check_request(state: DepartmentState, request: Request, exchange: Exchange, path_service: str) -> None:
    """Every check a department's gateway makes before it answers; ExchangeRefused for the first that fails."""
    headers = protocol.read_request_headers(request.headers, time.time())
    exchange.headers = headers
    path = request.path + (f"?{request.query_string}" if request.query_string else "")
    signing_input = protocol.request_signing_input(request.method, path, headers, request.body or b"")
    exchange.request_hash = protocol.sha256(signing_input)
    if str(headers.service) != path_service:
        raise ExchangeRefused("Client.BadHeader", 400, f"{protocol.HEADER_SERVICE} is not the service of the path")
    if str(headers.client) != state.client:
        raise ExchangeRefused("Client.UnknownClient", 403, str(headers.client))
    if headers.purpose not in state.authorisations.get((str(headers.client), path_service), set()):
        raise ExchangeRefused("Client.PurposeNotAuthorised", 403, f"{headers.purpose} on {path_service}")
    if headers.message_id in state.seen:
        raise ExchangeRefused("Client.Replayed", 401, headers.message_id)
    signature = request.headers.get(protocol.HEADER_SIGNATURE, "")
    try:
        kid = str(jwt.get_unverified_header(signature).get("kid", ""))
    except jwt.PyJWTError:
        raise ExchangeRefused("Client.SignatureInvalid", 401, "malformed") from None
    key = await state.client_keys.find(kid)
    protocol.verify_detached(signature, signing_input, lambda k: key if k == kid else None)
    state.remember(headers.message_id, time.time())


def read_body(request: Request, optional_subject: bool) -> tuple[str | None, dict[str, Any]]:
    """The ID number (checked) and the body; Client.BadRequest or Client.UnknownSubject."""
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        raise ExchangeRefused("Client.BadRequest", 400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ExchangeRefused("Client.BadRequest", 400, "the body must be a JSON object")
    subject = body.get("subject")
    if subject is None and optional_subject:
        return None, body
    if not isinstance(subject, dict):
        raise ExchangeRefused("Client.BadRequest", 400, "subject.id_number is required")
    try:
        return checked_id_number(subject.get("id_number")), body
    except UnknownSubject as unknown:
        raise ExchangeRefused("Client.UnknownSubject", 404, str(unknown)) from None
    except ValueError as invalid:
        raise ExchangeRefused("Client.BadRequest", 400, str(invalid)) from None


async def act_out(behaviour: Behaviour | None) -> bool:
    """Wait as a slow or hanging department would; True when the reply must then fail."""
    if behaviour is None or behaviour.mode == "bad_signature":
        return False
    if behaviour.mode in ("slow", "hang"):
        await asyncio.sleep(behaviour.delay or (600.0 if behaviour.mode == "hang" else 1.0))
    return behaviour.mode == "fail"


def answer(state: DepartmentState, department: Department, code: str, request: Request) -> dict[str, Any]:
    service = f"{department.member}/{code}"
    id_number, body = read_body(request, service in SUBJECT_OPTIONAL)
    try:
        return department.services[code](id_number, beijing_today(), body, state)
    except UnknownSubject as unknown:
        raise ExchangeRefused("Client.UnknownSubject", 404, str(unknown)) from None
    except ValueError as invalid:
        raise ExchangeRefused("Client.BadRequest", 400, str(invalid)) from None


def _hash_if_possible(request: Request) -> tuple[RequestHeaders | None, str]:
    try:
        headers = protocol.read_request_headers(request.headers, time.time())
    except ExchangeRefused:
        return None, ""
    path = request.path + (f"?{request.query_string}" if request.query_string else "")
    return headers, protocol.sha256(protocol.request_signing_input(request.method, path, headers, request.body or b""))


def _service_entry(state: DepartmentState, department: Department, service: str, client: str,
                   base: str) -> dict[str, Any]:
    return {"service": service, "department": department.key, "name": department.name, "url": f"{base}/r1/{service}",
            "keys": [state.keys[department.key].jwk()],
            "purposes": sorted(state.authorisations.get((client, service), set())), "timeout": TIMEOUT,
            "retries": 0 if service in WRITES else RETRIES, "breaker": dict(BREAKER)}


def _behaviour_from(body: Any) -> tuple[str, Behaviour] | str:
    """The department and behaviour a control asks for, or what is wrong with it."""
    body = body if isinstance(body, dict) else {}
    department = body.get("department", "*")
    try:
        behaviour = Behaviour(str(body.get("mode")), int(body.get("count", 1)), float(body.get("delay", 0.0)))
    except (TypeError, ValueError):
        return "count and delay must be numbers"
    if department != "*" and department not in {d.key for d in DEPARTMENTS}:
        return f"department one of {', '.join(d.key for d in DEPARTMENTS)} or *"
    if behaviour.mode not in MODES or behaviour.count < 0 or behaviour.delay < 0:
        return f"mode one of {MODES}, count >= 0 (0: until cleared), delay >= 0"
    return department, behaviour


def create_app(state: DepartmentState, name: str = "departments_standin") -> Sanic:
    app = Sanic(name)
    app.config.AUTO_EXTEND = False
    app.ctx.state = state

    @app.post("/r1/<path_service:path>")
    async def exchange(request: Request, path_service: str) -> HTTPResponse:
        found = find_department(path_service)
        if found is None:
            return reply({"type": "Client.UnknownService", "message": "no department of this gateway"}, status=404)
        department, code = found
        exchange = Exchange(department, _echoed_id(request))
        if code not in department.services:
            exchange.headers, exchange.request_hash = _hash_if_possible(request)
            return fault(state, exchange, ExchangeRefused("Client.UnknownService", 404, path_service))
        behaviour: Behaviour | None = None
        try:
            await check_request(state, request, exchange, path_service)
            behaviour = state.next_behaviour(department.key)
            if state.latency:
                await asyncio.sleep(state.latency)
            if await act_out(behaviour):
                raise ExchangeRefused("Server.ServerProxy.InternalError", 500, "the department's system failed")
            data = answer(state, department, code, request)
        except ExchangeRefused as refused:
            return fault(state, exchange, refused)
        return signed_reply(state, exchange, 200, data,
                            bad_signature=behaviour is not None and behaviour.mode == "bad_signature")

    @app.get("/_standin/health")
    async def health(request: Request) -> HTTPResponse:
        return reply({"status": "ok", "party": "departments", "departments": [d.member for d in DEPARTMENTS]})

    @app.get("/_standin/keys")
    async def keys(request: Request) -> HTTPResponse:
        return reply({d.key: {"member": d.member, "name": d.name, "keys": [state.keys[d.key].jwk()]}
                      for d in DEPARTMENTS})

    @app.get("/_standin/registry")
    async def registry(request: Request) -> HTTPResponse:
        client = request.args.get("client") or state.client
        base = f"{request.scheme}://{request.host}"
        return reply({"client": client, "services": [_service_entry(state, d, service, client, base)
                                                     for d in DEPARTMENTS for service in d.service_ids()]})

    @app.get("/_standin/messages")
    async def messages(request: Request) -> HTTPResponse:
        wanted = request.args.get("id")
        items = [asdict(e) for e in reversed(state.log) if wanted is None or e.id == wanted]
        return reply({"items": items})

    @app.post("/_standin/behaviour")
    async def behave(request: Request) -> HTTPResponse:
        asked = _behaviour_from(request.json)
        if isinstance(asked, str):
            return reply({"message": asked}, status=400)
        department, behaviour = asked
        state.behaviours[department] = behaviour
        return reply({"department": department, **asdict(behaviour)})

    @app.delete("/_standin/behaviour")
    async def calm(request: Request) -> HTTPResponse:
        state.behaviours.clear()
        return reply({"cleared": True})

    @app.get("/_standin/authorisations")
    async def authorisations(request: Request) -> HTTPResponse:
        return reply({"items": [{"client": c, "service": s, "purposes": sorted(p)}
                                for (c, s), p in sorted(state.authorisations.items())]})

    @app.post("/_standin/authorisations")
    async def authorise(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        service, purposes, client = body.get("service"), body.get("purposes"), body.get("client", state.client)
        services = {s for d in DEPARTMENTS for s in d.service_ids()}
        if service not in services or not isinstance(purposes, list) or not isinstance(client, str) \
                or any(p not in protocol.PURPOSES for p in purposes):
            return reply({"message": "service one of this gateway's, purposes a list of "
                                     f"{', '.join(protocol.PURPOSES)}"}, status=400)
        state.authorisations[(client, service)] = set(purposes)
        return reply({"client": client, "service": service, "purposes": sorted(purposes)})

    @app.post("/_standin/client-keys")
    async def client_keys(request: Request) -> HTTPResponse:
        url = request.json.get("jwks_url") if isinstance(request.json, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return reply({"message": "jwks_url: where the client publishes its keys (http or https)"}, status=400)
        state.client_keys.url = url
        state.client_keys.reset()
        return reply({"jwks_url": url})

    @app.post("/_standin/driving-licence-status")
    async def licence_status(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        try:
            id_number = checked_id_number(body.get("id_number"))
            status = body.get("status")
            name = tpb.licence_status_name(status if isinstance(status, str) else "")
        except (UnknownSubject, ValueError) as wrong:
            return reply({"message": str(wrong)}, status=400)
        if not tpb.driving_licence(id_number, beijing_today(), {})["holds_licence"]:
            return reply({"message": "this person holds no driving licence here"}, status=404)
        state.licence_statuses[id_number] = body["status"]
        return reply({"status": body["status"], "status_name": name})

    @app.post("/_standin/reset")
    async def reset(request: Request) -> HTTPResponse:
        state.reset()
        return reply({"reset": True})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standins.departments", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8330, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--client", default=DEFAULT_CLIENT, help="the platform's subsystem these departments serve")
    parser.add_argument("--client-jwks-url", default=None, help="where the client publishes its keys (JWKS)")
    parser.add_argument("--client-jwks", type=Path, default=None, help="a JWKS file of the client's keys")
    parser.add_argument("--client-jwks-refetch", type=float, default=JWKS_REFETCH,
                        help="seconds before the JWKS URL is fetched again for an unknown kid")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every department takes to answer")
    args = parser.parse_args(argv)
    protocol.MemberId.parse(args.client)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    keys = ClientKeys(args.client_jwks_url, args.client_jwks, args.client_jwks_refetch)
    app = create_app(DepartmentState(args.client, keys, latency=max(args.latency, 0.0)))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
