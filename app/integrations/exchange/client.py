"""The calling side of the department data exchange (docs/exchange.md): every department call of the platform.

`ExchangeClient.call(service, citizen_id, purpose, body)` asks one registered department service for a
citizen's data and returns the reply body, or raises one of the errors below. On the way it:

1. refuses, before anything is sent, a service that is not registered or a purpose the department did not
   authorise us for (`ServiceNotRegistered`, `PurposeNotAuthorised`);
2. fails fast while the service's circuit breaker is open (`DepartmentUnavailable`); the breaker lives in the
   shared cache, so every worker sees it;
3. names the citizen by a per-department pseudonym, signs the request with the platform's current key and
   posts it, within the registration's timeout for the whole call;
4. accepts only a reply that echoes our message id and request hash and is signed by a registered key of
   the department. Anything else is the department being down, never data;
5. sends a read again on a timeout, a network error or a 5xx, while the call's time lasts (`retries`);
6. writes one `ExchangeMessage` per request sent (digests, never a body), and, when someone other than the
   citizen is reading, an entry in the citizen's access log.

A reply whose signature does not check is not sent again: it is not a passing fault like a timeout but a
department key we do not know or someone in between, and asking again would hand the citizen's request to the
same party. It counts towards the breaker like any other failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import urlparse

import httpx

from app import audit, metrics
from app.integrations import ProviderError, ProviderUnavailable, http_client
from app.integrations.exchange import protocol
from app.integrations.exchange.models import ExchangeMessage
from app.integrations.exchange.registry import Registration

if TYPE_CHECKING:
    from app.platform import Platform

log = logging.getLogger(__name__)

MAX_REPLY_BYTES = 1 << 20
DEFAULT_RETRY_AFTER = 5  # seconds a caller is told to wait after one failed call (the breaker still closed)
RETRY_PAUSE = 0.05  # seconds between two attempts of a read
# Faults the calling side finds itself, named as X-Road's client-side security server names its own.
FAULT_TIMEOUT = "Server.ClientProxy.Timeout"
FAULT_NETWORK = "Server.ClientProxy.NetworkError"
FAULT_SIGNATURE = "Server.ClientProxy.InvalidSignature"
FAULT_MESSAGE_ID = "Server.ClientProxy.MessageIdMismatch"
FAULT_REQUEST_HASH = "Server.ClientProxy.RequestHashMismatch"
FAULT_REPLY = "Server.ClientProxy.InvalidReply"
FAULT_CIRCUIT_OPEN = "Server.ClientProxy.CircuitOpen"
FAULT_CANCELLED = "Server.ClientProxy.Cancelled"
_FAULT_TYPE = re.compile(r"(Client|Server)(\.[A-Za-z0-9_]{1,40}){1,3}")
_REPRESENTED = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,119}")  # a header value: printable ASCII, as X-Road's ids


# -- what a caller may meet ----------------------------------------------------------------------------------

class ExchangeError(ProviderError):
    """A department call that gave no data. `fault` is an X-Road fault type: no personal data, safe to log."""

    def __init__(self, service: str, fault: str) -> None:
        super().__init__(fault)
        self.service, self.fault = service, fault


class DepartmentUnavailable(ExchangeError, ProviderUnavailable):
    """The department could not be reached, failed, did not answer in time, or answered with a reply that
    does not verify; or its breaker is open. Tell the citizen to try again in `retry_after` seconds (503)."""

    def __init__(self, service: str, fault: str, retry_after: int = DEFAULT_RETRY_AFTER, retryable: bool = False) -> None:
        super().__init__(service, fault)
        self.retry_after = max(1, int(retry_after))
        self.retryable = retryable  # a passing fault: a read may be sent again


class PurposeNotAuthorised(ExchangeError):
    """The department did not authorise us for this purpose (or does not know us as a client): 403."""


class ServiceNotRegistered(PurposeNotAuthorised):
    """No such service in the registry: we are authorised for nothing there."""


class PurposeNotRegistered(PurposeNotAuthorised):
    """Our registry does not list this purpose for the service: refused here, before anything is sent (our own
    configuration, not the department's answer)."""


class SubjectUnknown(ExchangeError):
    """The department holds no records of this person (404 Client.UnknownSubject)."""


class DepartmentRefused(ExchangeError):
    """Any other refusal by the department (a 4xx with its fault type): our request was wrong or stale."""

    def __init__(self, service: str, fault: str, status: int) -> None:
        super().__init__(service, fault)
        self.status = status


# -- the client ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _BreakerState:
    open: bool  # tripped: during its cool-down nothing is sent; after it, this call is the one trial
    failing: bool  # failures are being counted


@dataclass
class _Sent:
    """One request on its way and what came of it, for the message log."""

    headers: protocol.RequestHeaders
    request_hash: str
    attempt: int
    started: float
    status: int | None = None
    response_hash: str | None = None
    fault: str | None = None


class ExchangeClient:
    """Calls registered department services for the platform (docs/exchange.md)."""

    def __init__(self, platform: Platform, registrations: Iterable[Registration] | Mapping[str, Registration], *,
                 http: httpx.AsyncClient | None = None) -> None:
        self.platform = platform
        self.client_id = protocol.MemberId.parse(platform.settings.exchange.client)
        items = registrations.values() if isinstance(registrations, Mapping) else registrations
        self.registrations: dict[str, Registration] = {str(r.service): r for r in items}
        # One pooled client for every department (keep-alive connections per gateway); timeouts are per call.
        self.http = http or http_client(follow_redirects=False)
        self._logging: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        if self._logging:
            await asyncio.gather(*self._logging, return_exceptions=True)
        await self.http.aclose()

    def registration(self, service: str) -> Registration | None:
        return self.registrations.get(service)

    def pseudonym(self, member_code: str, citizen_id: str) -> str:
        """The citizen's pseudonym at one department (its member code): how a request names them, and what the
        message log keeps as `user`."""
        return self.platform.pii.lookup_hash(f"{member_code}:{citizen_id}", "exchange_user")

    async def messages_about(self, citizen_id: str) -> list[ExchangeMessage]:
        """The message log's lines about the citizen, oldest first: found by their pseudonym at every department
        registered now and every one the log names (one no longer registered was asked about them too)."""
        logged = await ExchangeMessage.all().distinct().values_list("service", flat=True)
        codes = {registration.service.provider.member_code for registration in self.registrations.values()}
        codes |= {code for code in map(_member_code, logged) if code}
        users = [self.pseudonym(code, citizen_id) for code in sorted(codes)]
        return await ExchangeMessage.filter(user__in=users).order_by("at", "message_id")

    async def call(self, service: str, citizen_id: str, purpose: str, body: dict[str, Any], *, read: bool = True,
                   represented_party: str = "", actor: str | None = None, actor_type: str = "citizen") -> dict[str, Any]:
        """The department's reply body to `body`, asked for `citizen_id` and `purpose` (one of
        protocol.PURPOSES). `read=False` (a write, e.g. a settlement) is never sent twice. When someone other
        than the citizen asks (`actor_type` not "citizen", or `represented_party`: someone acting for the
        citizen, named by an ASCII code such as "family:child"), `actor` names them for the citizen's access log.

        Raises ServiceNotRegistered or PurposeNotAuthorised (403), SubjectUnknown (404), DepartmentRefused
        (another 4xx) or DepartmentUnavailable (503 with Retry-After)."""
        registration = self._authorised(service, purpose)
        _check_reader(represented_party, actor, actor_type)
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        user = self.pseudonym(registration.service.provider.member_code, citizen_id)
        breaker = await self._admit(registration)
        try:
            return await self._attempts(registration, breaker, user, purpose, represented_party, payload, citizen_id,
                                        actor, actor_type, read)
        except ExchangeError as error:
            metrics.outside_party_error(f"exchange:{registration.service}",
                                        "unavailable" if isinstance(error, DepartmentUnavailable) else "refused")
            raise

    async def _attempts(self, registration: Registration, breaker: _BreakerState, user: str, purpose: str,
                        represented_party: str, payload: bytes, citizen_id: str, actor: str | None, actor_type: str,
                        read: bool) -> dict[str, Any]:
        """Send, and send a read again while its time lasts; the breaker counts what came of it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + registration.timeout
        attempts = 1 + (registration.retries if read else 0)
        for attempt in range(1, attempts + 1):
            try:
                data = await self._send(registration, user, purpose, represented_party, payload, attempt, deadline)
            except DepartmentUnavailable as error:
                if error.retryable and attempt < attempts and deadline - loop.time() > RETRY_PAUSE:
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                error.retry_after = await self._failed(registration, breaker)
                raise
            except ExchangeError:
                await self._recovered(registration, breaker)  # it answered, and signed what it said
                raise
            await self._recovered(registration, breaker)
            await self._record_access(registration, citizen_id, purpose, represented_party, actor, actor_type)
            return data
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _authorised(self, service: str, purpose: str) -> Registration:
        registration = self.registrations.get(service)
        if registration is None:
            log.warning("exchange: %s is not registered", service[:340])
            raise ServiceNotRegistered(service, "Client.UnknownService")
        if purpose not in registration.purposes:
            log.warning("exchange: %s did not authorise purpose %s", service, purpose[:40])
            raise PurposeNotRegistered(service, "Client.PurposeNotAuthorised")
        return registration

    # -- one request -----------------------------------------------------------------------------------------
    async def _send(self, registration: Registration, user: str, purpose: str, represented_party: str,
                    payload: bytes, attempt: int, deadline: float) -> dict[str, Any]:
        headers = protocol.RequestHeaders(self.client_id, registration.service, uuid.uuid4().hex, user, purpose,
                                          represented_party, int(time.time()))  # the wall clock the receiver checks
        signing_input = protocol.request_signing_input("POST", _path(registration.url), headers, payload)
        key = self.platform.keys.current
        signature = protocol.sign_detached(signing_input, key.private_key, key.kid)
        sent = _Sent(headers, protocol.sha256(signing_input), attempt, time.monotonic())
        at = self.platform.clock.now()
        try:
            status, reply_headers, reply = await self._post(registration, headers, signature, payload, deadline)
            sent.status, sent.response_hash = status, protocol.sha256(reply)
            return self._accept(registration, sent, reply_headers, reply)
        except ExchangeError as error:
            sent.fault = error.fault
            raise
        except asyncio.CancelledError:
            sent.fault = FAULT_CANCELLED  # the caller gave up: the department may have logged it all the same
            raise
        finally:
            # Written by a task of its own, so a caller cancelled mid-call still leaves its row.
            task = asyncio.ensure_future(self._log(registration, sent, at))
            self._logging.add(task)
            task.add_done_callback(self._logging.discard)
            await asyncio.shield(task)

    async def _post(self, registration: Registration, headers: protocol.RequestHeaders, signature: str,
                    payload: bytes, deadline: float) -> tuple[int, httpx.Headers, bytes]:
        service = str(registration.service)
        remaining = deadline - asyncio.get_running_loop().time()
        request_headers = {**headers.as_headers(), protocol.HEADER_SIGNATURE: signature,
                           "Content-Type": "application/json", "Accept": "application/json"}
        try:
            # httpx's timeout bounds each read; the outer one bounds the whole exchange (a trickling reply too).
            async with asyncio.timeout(max(remaining, 0.001)):
                async with self.http.stream("POST", registration.url, content=payload, headers=request_headers,
                                            timeout=max(remaining, 0.001)) as response:
                    reply = bytearray()
                    async for chunk in response.aiter_bytes():
                        reply += chunk
                        if len(reply) > MAX_REPLY_BYTES:
                            raise DepartmentUnavailable(service, FAULT_REPLY)
                    return response.status_code, response.headers, bytes(reply)
        except (TimeoutError, httpx.TimeoutException):
            raise DepartmentUnavailable(service, FAULT_TIMEOUT, retryable=True) from None
        except httpx.HTTPError:
            raise DepartmentUnavailable(service, FAULT_NETWORK, retryable=True) from None

    def _accept(self, registration: Registration, sent: _Sent, reply_headers: httpx.Headers,
                reply: bytes) -> dict[str, Any]:
        """The data of a verified 2xx reply; every other reply raised as what it means."""
        service, status = str(registration.service), sent.status or 0
        problem = self._unverified(registration, sent, reply_headers, reply)
        if status >= 500:  # a gateway's own 502 is not signed: down either way, and worth asking again
            fault = _fault_type(reply) if problem is None else f"Server.ServerProxy.HTTP{status}"
            raise DepartmentUnavailable(service, fault or f"Server.ServerProxy.HTTP{status}", retryable=True)
        if problem is not None:
            log.warning("exchange: reply of %s refused (%s), message %s", service, problem, sent.headers.message_id)
            raise DepartmentUnavailable(service, problem)
        if 200 <= status < 300:
            data = _json_object(reply)
            if data is None:
                raise DepartmentUnavailable(service, FAULT_REPLY)
            return data
        if not 400 <= status < 500:
            raise DepartmentUnavailable(service, FAULT_REPLY)
        fault = _fault_type(reply) or "Client.Unspecified"
        if status == 403 and fault in ("Client.PurposeNotAuthorised", "Client.UnknownClient"):
            log.warning("exchange: %s refused us (%s), message %s", service, fault, sent.headers.message_id)
            raise PurposeNotAuthorised(service, fault)
        if status == 404 and fault == "Client.UnknownSubject":
            raise SubjectUnknown(service, fault)
        log.warning("exchange: %s refused message %s: %s %s", service, sent.headers.message_id, status, fault)
        raise DepartmentRefused(service, fault, status)

    @staticmethod
    def _unverified(registration: Registration, sent: _Sent, reply_headers: httpx.Headers, reply: bytes) -> str | None:
        """Why the reply is not the department's answer to this request, or None when it is."""
        if reply_headers.get(protocol.HEADER_ID) != sent.headers.message_id:
            return FAULT_MESSAGE_ID
        if reply_headers.get(protocol.HEADER_REQUEST_HASH) != sent.request_hash:
            return FAULT_REQUEST_HASH
        signing_input = protocol.response_signing_input(sent.status or 0, sent.headers.message_id, sent.request_hash,
                                                        reply)
        try:
            protocol.verify_detached(reply_headers.get(protocol.HEADER_SIGNATURE, ""), signing_input,
                                     registration.keys.get)
        except protocol.ExchangeRefused:
            return FAULT_SIGNATURE
        return None

    async def _log(self, registration: Registration, sent: _Sent, at: Any) -> None:
        h = sent.headers
        await ExchangeMessage.create(
            message_id=h.message_id, at=at, client=str(h.client), service=str(registration.service), purpose=h.purpose,
            represented_party=h.represented_party, user=h.user, attempt=sent.attempt, request_hash=sent.request_hash,
            response_hash=sent.response_hash, status=sent.status, fault=sent.fault,
            duration_ms=round((time.monotonic() - sent.started) * 1000))

    # -- the circuit breaker (per service, in the shared cache: the home cards' states) -------------------
    def _keys(self, registration: Registration) -> tuple[str, str, str]:
        name = str(registration.service)
        # One hash tag per service: its breaker's keys, read together, share a slot of a Redis Cluster.
        return f"exchange:bo:{{{name}}}", f"exchange:bf:{{{name}}}", f"exchange:bp:{{{name}}}"

    async def _admit(self, registration: Registration) -> _BreakerState:
        """The breaker's state, or DepartmentUnavailable at once while it is open."""
        opened_key, failing_key, trial_key = self._keys(registration)
        opened, failing = await self.platform.cache.get_many([opened_key, failing_key])
        if opened is not None:
            wait = float(opened) - self.platform.clock.timestamp()
            if wait > 0:
                self._circuit_open(registration, "open")
                raise DepartmentUnavailable(str(registration.service), FAULT_CIRCUIT_OPEN, retry_after=math.ceil(wait))
            # Half-open: one trial call across all workers; the others keep failing fast until it ends.
            if not await self.platform.cache.set_if_absent(trial_key, "1", ttl=registration.timeout + 1):
                self._circuit_open(registration, "half_open")
                raise DepartmentUnavailable(str(registration.service), FAULT_CIRCUIT_OPEN,
                                            retry_after=math.ceil(registration.timeout))
            metrics.breaker(f"exchange:{registration.service}", "half_open")
        return _BreakerState(opened is not None, failing is not None)

    @staticmethod
    def _circuit_open(registration: Registration, state: str) -> None:
        """A call refused by the breaker, unsent: counted as the party's error of kind circuit_open."""
        metrics.breaker(f"exchange:{registration.service}", state)
        metrics.outside_party_error(f"exchange:{registration.service}", "circuit_open")

    async def _failed(self, registration: Registration, state: _BreakerState) -> int:
        """Count a failed call; trip the breaker at the registration's count. Returns the Retry-After."""
        opened_key, failing_key, trial_key = self._keys(registration)
        policy = registration.breaker
        window = max(600.0, 10 * policy.open_seconds)  # failures further apart than this are not "in a row"
        count = await self.platform.cache.incr(failing_key, ttl=window)
        if not state.open and count < policy.failures:
            return DEFAULT_RETRY_AFTER
        until = self.platform.clock.timestamp() + policy.open_seconds
        # The key outlives the cool-down: after it, the stored time says "half-open".
        await self.platform.cache.set(opened_key, repr(until), ttl=policy.open_seconds + window)
        await self.platform.cache.delete(failing_key)
        await self.platform.cache.delete(trial_key)
        metrics.breaker(f"exchange:{registration.service}", "open")
        log.warning("exchange: %s failed %s times, circuit open for %s s", registration.service, count,
                    policy.open_seconds)
        return math.ceil(policy.open_seconds)

    async def _recovered(self, registration: Registration, state: _BreakerState) -> None:
        metrics.breaker(f"exchange:{registration.service}", "closed")
        if state.open or state.failing:
            for key in self._keys(registration):
                await self.platform.cache.delete(key)

    # -- the citizen's access log ----------------------------------------------------------------------------
    async def _record_access(self, registration: Registration, citizen_id: str, purpose: str, represented_party: str,
                             actor: str | None, actor_type: str) -> None:
        if actor is None or (actor_type == "citizen" and not represented_party):
            return  # the citizen's own request
        why = f"{protocol.PURPOSE_NAMES[purpose]}（{purpose}）"
        if represented_party:
            why += f"，代您办理（{represented_party}）"
        await audit.record_access(self.platform.clock, citizen_id=citizen_id, actor=actor[:128],
                                  actor_type="proxy" if actor_type == "citizen" else actor_type,
                                  action="department_data_read", attributes=[str(registration.service)],
                                  purpose=why[:200])


def _check_reader(represented_party: str, actor: str | None, actor_type: str) -> None:
    """A caller's mistake, refused before anything is sent."""
    if represented_party and not _REPRESENTED.fullmatch(represented_party):
        raise ValueError("represented_party is a printable ASCII code of at most 120 characters")
    if (actor_type != "citizen" or represented_party) and not actor:
        raise ValueError("a read by someone other than the citizen names them (actor), for the access log")
    if actor_type not in audit.ACTOR_TYPES:
        raise ValueError(f"unknown actor_type {actor_type!r}")


def _member_code(service: Any) -> str | None:
    """The member code of a logged service identifier (`<instance>/<class>/<member code>/<subsystem>/<code>/<v>`)."""
    try:
        return protocol.ServiceId.parse(str(service)).provider.member_code
    except protocol.ExchangeRefused:
        return None


def _path(url: str) -> str:
    parts = urlparse(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _fault_type(reply: bytes) -> str | None:
    """The fault type of a signed error body, when it is one."""
    value = _json_object(reply)
    fault = value.get("type") if value else None
    return fault if isinstance(fault, str) and _FAULT_TYPE.fullmatch(fault) and len(fault) <= 64 else None
