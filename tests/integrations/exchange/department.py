"""A department of the tests' own, the answering side of docs/exchange.md written from the protocol alone:
it verifies our request against the JWKS we publish, checks the client and the purposes it authorised, signs
its replies with its own key and keeps its own message log. `behave` makes it misbehave in the ways a tampered,
misdirected or failing reply would. It answers through httpx.MockTransport (conftest's `exchange_for`) or on a
real socket (`serve()`)."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from app.integrations.exchange import protocol
from app.integrations.exchange.registry import BreakerPolicy, Registration
from app.security.keys import b64url, kid_bytes_for, public_jwk

CLIENT = "CN-GD/GOV/11440000MB2C93140X/yss-app"
HRSS = "CN-GD/GOV/11440000MB2D0001XA/hrss"
HPF = "CN-GD/GOV/11440000MB2D0002XA/hpf"


def new_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, b64url(kid_bytes_for(key.public_key()))


@dataclass
class Logged:
    """One line of the department's own message log."""

    message_id: str
    user: str
    purpose: str
    represented_party: str
    request_hash: str
    response_hash: str
    status: int
    fault: str | None


@dataclass
class Department:
    member: str  # e.g. HRSS
    our_jwks: Mapping[str, Any]  # the platform's, as published at /.well-known/jwks.json
    purposes: set[str] = field(default_factory=lambda: {"citizen_request", "home_card", "proxy_request"})
    client: str = CLIENT
    records: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # by ID number
    base_url: str = "http://hrss.test"

    def __post_init__(self) -> None:
        self.key, self.kid = new_key()
        self.modes: list[str] = []  # what the next replies do, one per request; then "ok"
        self.received: list[tuple[protocol.RequestHeaders, dict[str, Any]]] = []
        self.log: list[Logged] = []
        self.seen: set[str] = set()

    # -- set-up ------------------------------------------------------------------------------------------
    def service(self, code: str = "insured-status") -> str:
        return f"{self.member}/{code}/v1"

    def url(self, service: str) -> str:
        return f"{self.base_url}/r1/{service}"

    def jwk(self) -> dict[str, str]:
        return public_jwk(self.kid, self.key.public_key())

    def registration(self, code: str = "insured-status", *, purposes: set[str] | None = None, timeout: float = 2.0,
                     retries: int = 0, failures: int = 5, open_seconds: float = 30.0) -> Registration:
        service = self.service(code)
        return Registration(service=protocol.ServiceId.parse(service), url=self.url(service),
                            keys={self.kid: self.key.public_key()},
                            purposes=frozenset(purposes or {"citizen_request", "home_card", "proxy_request"}),
                            timeout=timeout, retries=retries, breaker=BreakerPolicy(failures, open_seconds))

    def behave(self, *modes: str) -> None:
        """ok, unavailable (503), gateway (an unsigned 502), tamper_body, other_key, other_id, other_hash,
        unsigned, hang, not_json."""
        self.modes = list(modes)

    # -- answering ---------------------------------------------------------------------------------------
    async def answer(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        mode = self.modes.pop(0) if self.modes else "ok"
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "gateway":  # the department's load balancer, with nothing behind it: it signs nothing
            return 502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>"
        def header(name: str) -> str:
            return headers.get(name) or headers.get(name.lower()) or ""

        request_hash = ""  # known once the headers are read: a refusal then names the request it refuses
        try:
            request = protocol.read_request_headers(headers, time.time())
            signing_input = protocol.request_signing_input(method, path, request, body)
            request_hash = protocol.sha256(signing_input)
            protocol.verify_detached(header(protocol.HEADER_SIGNATURE), signing_input, self._our_key)
        except protocol.ExchangeRefused as refused:
            message_id = header(protocol.HEADER_ID)
            return self._reply(refused.status, {"type": refused.fault, "message": refused.detail}, message_id,
                               request_hash, None, "ok")
        content = json.loads(body)
        self.received.append((request, content))
        status, reply = self._decide(request, path, content, mode)
        return self._reply(status, reply, request.message_id, request_hash, request, mode)

    def _decide(self, request: protocol.RequestHeaders, path: str, content: dict[str, Any],
                mode: str) -> tuple[int, dict[str, Any]]:
        if request.message_id in self.seen:
            return 401, {"type": "Client.Replayed", "message": "seen"}
        self.seen.add(request.message_id)
        if str(request.client) != self.client:
            return 403, {"type": "Client.UnknownClient", "message": "not registered here"}
        if path != f"/r1/{request.service}" or str(request.service.provider) != self.member:
            return 404, {"type": "Client.UnknownService", "message": "no such service"}
        if request.purpose not in self.purposes:
            return 403, {"type": "Client.PurposeNotAuthorised", "message": request.purpose}
        if mode == "unavailable":
            return 503, {"type": "Server.ServerProxy.ServiceFailed", "message": "down"}
        id_number = content.get("subject", {}).get("id_number")
        if id_number not in self.records:
            return 404, {"type": "Client.UnknownSubject", "message": "no records"}
        return 200, self.records[id_number]

    def _reply(self, status: int, reply: dict[str, Any], message_id: str, request_hash: str,
               request: protocol.RequestHeaders | None, mode: str) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(reply, ensure_ascii=False).encode("utf-8")
        key, kid = (new_key() if mode == "other_key" else (self.key, self.kid))
        signed_id = "0" * 32 if mode == "other_id" else message_id
        signed_hash = protocol.sha256(b"another request") if mode == "other_hash" else request_hash
        signature = protocol.sign_detached(protocol.response_signing_input(status, signed_id, signed_hash, body), key, kid)
        if mode == "tamper_body":
            body = body.replace(b"true", b"false") if b"true" in body else body + b" "
        if mode == "not_json":
            body = b"[1, 2]"
            signature = protocol.sign_detached(protocol.response_signing_input(status, message_id, request_hash, body),
                                               key, kid)
        headers = {"Content-Type": "application/json", protocol.HEADER_ID: signed_id,
                   protocol.HEADER_REQUEST_HASH: signed_hash}
        if mode != "unsigned":
            headers[protocol.HEADER_SIGNATURE] = signature
        if request is not None:
            self.log.append(Logged(request.message_id, request.user, request.purpose, request.represented_party,
                                   request_hash, protocol.sha256(body), status, reply.get("type")))
        return status, headers, body

    def _our_key(self, kid: str) -> Any:
        for jwk in self.our_jwks.get("keys", []):
            if jwk.get("kid") == kid:
                return jwt.PyJWK(jwk, algorithm="ES256").key
        return None

    # -- transports --------------------------------------------------------------------------------------
    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """This department on a real loopback socket (HTTP/1.1, one request per connection); yields its base URL."""
        tasks: set[asyncio.Task[Any]] = set()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ", 2)
                headers = dict(line.split(": ", 1) for line in head[1:] if line)
                lowered = {k.lower(): v for k, v in headers.items()}
                body = await reader.readexactly(int(lowered.get("content-length", "0")))
                status, reply_headers, reply = await self.answer(method, target, lowered, body)
                lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(reply)}", "Connection: close"]
                lines += [f"{k}: {v}" for k, v in reply_headers.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply)
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                tasks.discard(task)

        server = await asyncio.start_server(connection, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        previous, self.base_url = self.base_url, f"http://127.0.0.1:{port}"
        try:
            yield self.base_url
        finally:
            self.base_url = previous
            server.close()
            for task in tasks:
                task.cancel()  # a hanging answer would outlive the test
            await asyncio.gather(*tasks, return_exceptions=True)
            await server.wait_closed()
